import { afterEach, describe, expect, it } from 'vitest';
import jsforce from 'jsforce';
import { Client } from '@hubspot/api-client';
import { FaultInjector } from './faults.ts';
import { EmuHttpError } from './http.ts';
import type { RouteDef } from './http.ts';
import { startEmulatorServer } from './server.ts';
import type { EmulatorServer } from './server.ts';
import { createSalesforceEmulator } from './salesforce/index.ts';
import { createHubSpotEmulator } from './hubspot/index.ts';

const echo: RouteDef[] = [
  {
    api: 'google_ads',
    route: 'echo',
    method: 'POST',
    pattern: /^\/v17\/customers\/(?<customerId>\d+)\/echo$/,
    handler: (req) => ({ status: 200, body: { customerId: req.params['customerId'], got: req.json(), q: req.query.get('q') } }),
  },
  {
    api: 'google_ads',
    route: 'boom',
    method: 'GET',
    pattern: /^\/v17\/customers\/boom$/,
    handler: () => {
      throw new EmuHttpError(418, { error: { code: 418, message: 'teapot', status: 'FAILED_PRECONDITION' } }, { 'x-test': 'yes' });
    },
  },
];

let server: EmulatorServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('emulator server', () => {
  it('routes by method and pattern, parses JSON bodies and query strings', async () => {
    server = await startEmulatorServer({ routes: echo });
    expect(server.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${server.origin}/v17/customers/123/echo?q=x`, { method: 'POST', body: JSON.stringify({ a: 1 }) });
    expect(await res.json()).toEqual({ customerId: '123', got: { a: 1 }, q: 'x' });
    const bad = await fetch(`${server.origin}/v17/customers/123/echo`, { method: 'POST', body: '{nope' });
    expect(bad.status).toBe(400);
    const teapot = await fetch(`${server.origin}/v17/customers/boom`);
    expect(teapot.status).toBe(418);
    expect(teapot.headers.get('x-test')).toBe('yes');
  });

  it('answers unknown routes with a vendor-shaped 404', async () => {
    server = await startEmulatorServer({ routes: echo });
    const sf = await fetch(`${server.origin}/services/data/v62.0/nothing`);
    expect(sf.status).toBe(404);
    expect(await sf.json()).toEqual([{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
    const hs = await fetch(`${server.origin}/crm/v3/nothing`);
    expect(await hs.json()).toMatchObject({ status: 'error', category: 'OBJECT_NOT_FOUND' });
    const g = await fetch(`${server.origin}/elsewhere`);
    expect(await g.json()).toMatchObject({ error: { code: 404, status: 'NOT_FOUND' } });
  });

  it('injects resets, truncated JSON, slow responses and 503s by route', async () => {
    const faults = new FaultInjector('seed=1;google_ads.echo:reset@first=1;google_ads.echo:truncate@every=2;google_ads.echo:slow=20@every=3;google_ads.boom:unavailable@first=1');
    server = await startEmulatorServer({ routes: echo, faults });
    const post = () => fetch(`${server?.origin}/v17/customers/1/echo`, { method: 'POST', body: JSON.stringify({ long: 'x'.repeat(100) }) });
    await expect(post()).rejects.toThrow(); // 1st: connection reset
    const second = await post(); // 2nd: truncated
    expect(second.status).toBe(200);
    await expect(second.json()).rejects.toThrow(SyntaxError);
    const third = await post(); // 3rd: slow but whole
    expect((await third.json()) as unknown).toMatchObject({ customerId: '1' });
    const unavailable = await fetch(`${server.origin}/v17/customers/boom`);
    expect(unavailable.status).toBe(503);
    expect(await unavailable.json()).toMatchObject({ error: { code: 503, status: 'UNAVAILABLE' } });
    expect(server.stats().routes['google_ads.echo']).toEqual({ requests: 3, faults: { reset: 1, truncate: 1, slow: 1 } });
  });

  it('hangs on a timeout fault until the client gives up', async () => {
    server = await startEmulatorServer({ routes: echo, faults: new FaultInjector('google_ads.echo:timeout@first=1') });
    await expect(
      fetch(`${server.origin}/v17/customers/1/echo`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(150) }),
    ).rejects.toThrow();
    const next = await fetch(`${server.origin}/v17/customers/1/echo`, { method: 'POST', body: '{}' });
    expect(next.status).toBe(200);
    expect(server.stats().totalFaults).toEqual({ timeout: 1 });
  });

  it('expires a Salesforce session once; jsforce refreshes through OAuth and carries on', async () => {
    const sf = createSalesforceEmulator(null);
    sf.store.insert('Lead', { LastName: 'A', Company: 'X', Status: 'Open', IsConverted: false, CurrencyIsoCode: 'USD' });
    server = await startEmulatorServer({ routes: sf.routes, faults: new FaultInjector('salesforce.query:expired_token@first=1') });
    const env = sf.env(server.origin);
    const conn = new jsforce.Connection({
      instanceUrl: env['SALESFORCE_INSTANCE_URL'],
      accessToken: env['SALESFORCE_ACCESS_TOKEN'],
      refreshToken: env['SALESFORCE_REFRESH_TOKEN'],
      version: env['SALESFORCE_API_VERSION'],
      oauth2: { clientId: env['SALESFORCE_CLIENT_ID'], clientSecret: env['SALESFORCE_CLIENT_SECRET'], loginUrl: env['SALESFORCE_LOGIN_URL'], redirectUri: 'http://localhost/cb' },
    });
    const res = await conn.query<{ Id: string }>('SELECT Id FROM Lead');
    expect(res.totalSize).toBe(1);
    expect(conn.accessToken).not.toBe(env['SALESFORCE_ACCESS_TOKEN']);
    // The old token stays dead, the refreshed one works.
    const old = await fetch(`${server.origin}/services/data/v62.0/query?q=SELECT+Id+FROM+Lead`, { headers: { authorization: `Bearer ${env['SALESFORCE_ACCESS_TOKEN']}` } });
    expect(old.status).toBe(401);
    expect(server.stats().routes['salesforce.query']?.faults).toEqual({ expired_token: 2 });
    expect(server.stats().routes['salesforce.token']?.requests).toBe(1);
  });

  it('lets the HubSpot client retry a 500 fault', async () => {
    const hs = createHubSpotEmulator(null);
    hs.store.insert('deals', { dealname: 'D' });
    server = await startEmulatorServer({ routes: hs.routes, faults: new FaultInjector('hubspot.list:server_error@first=1') });
    const client = new Client({ accessToken: hs.state.initialAccessToken, basePath: server.origin, numberOfApiCallRetries: 2 });
    const page = await client.crm.deals.basicApi.getPage(10);
    expect(page.results).toHaveLength(1);
    expect(server.stats().routes['hubspot.list']).toEqual({ requests: 2, faults: { server_error: 1 } });
  });
});

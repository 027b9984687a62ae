import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWorld } from '../../world/index.ts';
import { startEmulatorServer } from '../server.ts';
import type { EmulatorServer } from '../server.ts';
import { FaultInjector } from '../faults.ts';
import { createGoogleAdsEmulator } from './index.ts';
import type { GoogleAdsEmulator } from './index.ts';
import { failureExample, searchExample, searchStreamExample, tokenExample } from './fixtures.ts';
import { shapeOf } from './shape.ts';

const world = generateWorld({ seed: 42, scale: 'tiny' });
let emu: GoogleAdsEmulator;
let server: EmulatorServer;
let env: Record<string, string>;
let token: string;

async function getToken(): Promise<string> {
  const res = await fetch(env.GOOGLE_OAUTH_TOKEN_URL as string, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: env.GOOGLE_CLIENT_ID as string,
      client_secret: env.GOOGLE_CLIENT_SECRET as string,
      refresh_token: env.GOOGLE_REFRESH_TOKEN as string,
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

function headers(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = {
    authorization: `Bearer ${token}`,
    'developer-token': env.GOOGLE_ADS_DEVELOPER_TOKEN,
    'login-customer-id': env.GOOGLE_ADS_LOGIN_CUSTOMER_ID,
    'content-type': 'application/json',
    ...extra,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) out[k] = v;
  return out;
}

async function stream(customerId: string, query: string, extra: Record<string, string | undefined> = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${env.GOOGLE_ADS_BASE_URL}/v21/customers/${customerId}/googleAds:searchStream`, {
    method: 'POST',
    headers: headers(extra),
    body: JSON.stringify({ query }),
  });
  return { status: res.status, body: await res.json() };
}

type Row = {
  campaign?: { id?: string; name?: string };
  metrics?: { costMicros?: string; impressions?: string; clicks?: string; conversions?: number; conversionsValue?: number; [k: string]: unknown };
  segments?: { date?: string };
};
type Batch = { results?: Row[]; fieldMask: string; requestId: string };

const customers = world.adAccounts.filter((a) => a.platform === 'google_ads');
const firstCustomer = customers[0]?.id as string;

beforeAll(async () => {
  emu = createGoogleAdsEmulator(world, { batchSize: 50, searchPageSize: 40 });
  server = await startEmulatorServer({ routes: emu.routes });
  env = emu.env(server.origin);
  token = await getToken();
});
afterAll(async () => {
  await server.close();
});

describe('Google Ads emulator: OAuth token endpoint', () => {
  it('answers the refresh_token grant in the documented shape', async () => {
    const res = await fetch(env.GOOGLE_OAUTH_TOKEN_URL as string, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: env.GOOGLE_CLIENT_ID as string, client_secret: env.GOOGLE_CLIENT_SECRET as string, refresh_token: env.GOOGLE_REFRESH_TOKEN as string }),
    });
    const body = await res.json();
    expect(shapeOf(body)).toEqual(shapeOf(tokenExample));
    expect((body as { token_type: string }).token_type).toBe('Bearer');
  });

  it('refuses a wrong refresh token (invalid_grant) and a wrong client (invalid_client)', async () => {
    const post = (form: Record<string, string>) =>
      fetch(env.GOOGLE_OAUTH_TOKEN_URL as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    const badGrant = await post({ grant_type: 'refresh_token', client_id: env.GOOGLE_CLIENT_ID as string, client_secret: env.GOOGLE_CLIENT_SECRET as string, refresh_token: 'nope' });
    expect(badGrant.status).toBe(400);
    expect(await badGrant.json()).toMatchObject({ error: 'invalid_grant' });
    const badClient = await post({ grant_type: 'refresh_token', client_id: 'x', client_secret: 'y', refresh_token: env.GOOGLE_REFRESH_TOKEN as string });
    expect(badClient.status).toBe(401);
    expect(await badClient.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('accepts a service-account JWT-bearer assertion and the token it issues works', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const jwt = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iss: 'svc@p.iam.gserviceaccount.com', scope: 'https://www.googleapis.com/auth/adwords', aud: env.GOOGLE_OAUTH_TOKEN_URL, iat: now, exp: now + 3600 })}.c2ln`;
    const res = await fetch(env.GOOGLE_OAUTH_TOKEN_URL as string, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt }),
    });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    const r = await stream(firstCustomer, 'SELECT customer.id FROM customer', { authorization: `Bearer ${access_token}` });
    expect(r.status).toBe(200);
  });

  it('lets tokens expire by the injected clock', async () => {
    let now = Date.parse('2026-11-01T00:00:00Z');
    const e = createGoogleAdsEmulator(world, { oauth: { now: () => now } });
    const t = e.oauth.issue().access_token;
    expect(e.oauth.check(t)).toBe('ok');
    now += 3600_000;
    expect(e.oauth.check(t)).toBe('expired');
    expect(e.oauth.check(`${t.slice(0, -1)}0`)).not.toBe('ok');
  });
});

describe('Google Ads emulator: searchStream', () => {
  const fullQuery = (from: string, to: string) => `
    SELECT customer.id, customer.currency_code, customer.time_zone, campaign.id, campaign.name, campaign.status,
           campaign.advertising_channel_type, metrics.cost_micros, metrics.impressions, metrics.clicks,
           metrics.conversions, metrics.conversions_value, segments.date
    FROM campaign WHERE segments.date BETWEEN '${from}' AND '${to}'`;

  it('answers in the documented SearchGoogleAdsStreamResponse shape', async () => {
    const r = await stream(firstCustomer, fullQuery('2026-10-01', '2026-10-01'));
    expect(r.status).toBe(200);
    const batches = r.body as Batch[];
    expect(Array.isArray(batches)).toBe(true);
    const example = searchStreamExample[0] as (typeof searchStreamExample)[0];
    const first = batches[0] as Batch;
    expect(shapeOf({ ...first, results: first.results?.slice(0, 1) })).toEqual(shapeOf(example));
    expect(first.fieldMask).toBe(example.fieldMask);
    const row = first.results?.[0] as Row;
    expect(row.metrics?.costMicros).toMatch(/^\d+$/);
    expect(row.segments?.date).toBe('2026-10-01');
  });

  it('serves totals equal to the world adDaily() per customer, in batches of at most batchSize rows', async () => {
    for (const c of customers) {
      const r = await stream(c.id, fullQuery(world.startDate, world.endDate));
      expect(r.status).toBe(200);
      const batches = r.body as Batch[];
      const rows = batches.flatMap((b) => b.results ?? []);
      for (const b of batches) expect((b.results ?? []).length).toBeLessThanOrEqual(50);
      const expected = { cost: 0, clicks: 0, impressions: 0, conv: 0, rows: 0 };
      for (const d of world.adDaily()) {
        if (d.adAccountId !== c.id) continue;
        if (d.spendMicros === 0 && d.impressions === 0 && d.clicks === 0 && d.conversions === 0) continue;
        expected.cost += d.spendMicros;
        expected.clicks += d.clicks;
        expected.impressions += d.impressions;
        expected.conv += d.conversions;
        expected.rows++;
      }
      expect(rows.length).toBe(expected.rows);
      expect(batches.length).toBe(Math.ceil(expected.rows / 50));
      expect(rows.reduce((s, x) => s + Number(x.metrics?.costMicros), 0)).toBe(expected.cost);
      expect(rows.reduce((s, x) => s + Number(x.metrics?.clicks), 0)).toBe(expected.clicks);
      expect(rows.reduce((s, x) => s + Number(x.metrics?.impressions), 0)).toBe(expected.impressions);
      expect(rows.reduce((s, x) => s + Number(x.metrics?.conversions), 0)).toBeCloseTo(expected.conv, 6);
      expect(rows.every((x) => (x.segments?.date ?? '') <= world.endDate)).toBe(true);
    }
  });

  it('aggregates over the range when segments.date is not selected, and filters by campaign.id IN / status', async () => {
    const campaign = emu.store.campaigns.find((c) => c.customerId === firstCustomer);
    expect(campaign).toBeDefined();
    const r = await stream(firstCustomer, `SELECT campaign.id, metrics.clicks FROM campaign WHERE campaign.id IN (${campaign?.id}) AND campaign.status = ENABLED AND segments.date >= '2026-10-01' AND segments.date <= '2026-10-31'`);
    const rows = (r.body as Batch[]).flatMap((b) => b.results ?? []);
    expect(rows).toHaveLength(1);
    let clicks = 0;
    for (const d of world.adDaily()) if (d.campaignId === campaign?.id && d.date >= '2026-10-01') clicks += d.clicks;
    expect(rows[0]?.metrics?.clicks).toBe(String(clicks));
    const none = await stream(firstCustomer, "SELECT campaign.id FROM campaign WHERE campaign.status = 'PAUSED'");
    expect((none.body as Batch[]).flatMap((b) => b.results ?? [])).toHaveLength(0);
  });

  it('orders by a metric descending and applies LIMIT', async () => {
    const r = await stream(firstCustomer, "SELECT campaign.id, segments.date, metrics.clicks FROM campaign WHERE segments.date BETWEEN '2026-09-01' AND '2026-09-30' ORDER BY metrics.clicks DESC LIMIT 5");
    const rows = (r.body as Batch[]).flatMap((b) => b.results ?? []);
    expect(rows).toHaveLength(5);
    const clicks = rows.map((x) => Number(x.metrics?.clicks));
    expect([...clicks].sort((a, b) => b - a)).toEqual(clicks);
  });

  it('returns the customer resource with its currency and time zone', async () => {
    const r = await stream(customers[1]?.id as string, 'SELECT customer.id, customer.descriptive_name, customer.currency_code, customer.time_zone FROM customer');
    const rows = (r.body as Batch[]).flatMap((b) => b.results ?? []) as { customer: Record<string, string> }[];
    expect(rows[0]?.customer).toEqual({
      resourceName: `customers/${customers[1]?.id}`,
      id: customers[1]?.id,
      descriptiveName: customers[1]?.name,
      currencyCode: customers[1]?.currency,
      timeZone: customers[1]?.timeZone,
    });
  });
});

describe('Google Ads emulator: errors', () => {
  it('answers a bad GAQL query with a GoogleAdsFailure', async () => {
    const r = await stream(firstCustomer, 'SELECT campaign.foo FROM campaign');
    expect(r.status).toBe(400);
    expect(shapeOf(r.body)).toEqual(shapeOf(failureExample));
    expect(r.body).toMatchObject({ error: { status: 'INVALID_ARGUMENT', details: [{ errors: [{ errorCode: { queryError: 'UNRECOGNIZED_FIELD' } }] }] } });
  });

  it('rejects a missing developer token, a bad access token, a missing login-customer-id and an unknown customer', async () => {
    const q = 'SELECT customer.id FROM customer';
    const noDev = await stream(firstCustomer, q, { 'developer-token': undefined });
    expect(noDev.status).toBe(400);
    expect(noDev.body).toMatchObject({ error: { details: [{ errors: [{ errorCode: { requestError: 'DEVELOPER_TOKEN_PARAMETER_MISSING' } }] }] } });

    const badToken = await stream(firstCustomer, q, { authorization: 'Bearer ya29.not-a-real-token' });
    expect(badToken.status).toBe(401);
    expect(badToken.body).toMatchObject({ error: { status: 'UNAUTHENTICATED', details: [{ errors: [{ errorCode: { authenticationError: 'OAUTH_TOKEN_INVALID' } }] }] } });

    const noAuth = await stream(firstCustomer, q, { authorization: undefined });
    expect(noAuth.status).toBe(401);

    const noLogin = await stream(firstCustomer, q, { 'login-customer-id': undefined });
    expect(noLogin.status).toBe(403);
    expect(noLogin.body).toMatchObject({ error: { details: [{ errors: [{ errorCode: { authorizationError: 'USER_PERMISSION_DENIED' } }] }] } });

    const unknown = await stream('1111111111', q);
    expect(unknown.status).toBe(403);

    const dashed = await stream('123-456-7890', q);
    expect(dashed.status).toBe(400);
    expect(dashed.body).toMatchObject({ error: { details: [{ errors: [{ errorCode: { requestError: 'INVALID_CUSTOMER_ID' } }] }] } });
  });

  it('refuses metrics on the manager account but lists its customer row', async () => {
    const mgr = env.GOOGLE_ADS_LOGIN_CUSTOMER_ID as string;
    const bad = await stream(mgr, "SELECT metrics.clicks FROM customer");
    expect(bad.body).toMatchObject({ error: { details: [{ errors: [{ errorCode: { queryError: 'REQUESTED_METRICS_FOR_MANAGER' } }] }] } });
    const ok = await stream(mgr, 'SELECT customer.id FROM customer');
    expect(ok.status).toBe(200);
  });

  it('exports a RESOURCE_EXHAUSTED rate-limit error the fault injector can serve', () => {
    const res = emu.rateLimitError(30);
    expect(res.status).toBe(429);
    expect(res.body).toMatchObject({ error: { status: 'RESOURCE_EXHAUSTED', details: [{ errors: [{ errorCode: { quotaError: 'RESOURCE_EXHAUSTED' }, details: { quotaErrorDetails: { retryDelay: '30s' } } }] }] } });
  });

  it('runs behind the shared server with faults injected around the route', async () => {
    const e = createGoogleAdsEmulator(world);
    const s = await startEmulatorServer({ routes: e.routes, faults: new FaultInjector('google_ads.searchStream:rate_limit=2@first=1') });
    try {
      const env2 = e.env(s.origin);
      const t = e.oauth.issue().access_token;
      const call = () =>
        fetch(`${s.origin}/v21/customers/${firstCustomer}/googleAds:searchStream`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t}`, 'developer-token': env2.GOOGLE_ADS_DEVELOPER_TOKEN as string, 'login-customer-id': env2.GOOGLE_ADS_LOGIN_CUSTOMER_ID as string },
          body: JSON.stringify({ query: 'SELECT customer.id FROM customer' }),
        });
      expect((await call()).status).toBe(429);
      expect((await call()).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe('Google Ads emulator: search paging', () => {
  it('pages with nextPageToken and reports totalResultsCount', async () => {
    const query = `SELECT campaign.id, segments.date, metrics.clicks FROM campaign WHERE segments.date BETWEEN '${world.startDate}' AND '${world.endDate}'`;
    const all: Row[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    let total = '';
    do {
      const res = await fetch(`${env.GOOGLE_ADS_BASE_URL}/v21/customers/${firstCustomer}/googleAds:search`, {
        method: 'POST',
        headers: headers(),
        body: JSON.stringify({ query, pageToken, returnTotalResultsCount: true }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { results?: Row[]; nextPageToken?: string; totalResultsCount: string };
      if (pages === 0) expect(shapeOf({ ...body, results: body.results?.slice(0, 1) })).toEqual(shapeOf({ ...searchExample, results: body.results?.slice(0, 1) }));
      all.push(...(body.results ?? []));
      total = body.totalResultsCount;
      pageToken = body.nextPageToken;
      pages++;
    } while (pageToken);
    expect(all.length).toBe(Number(total));
    expect(pages).toBe(Math.ceil(all.length / 40));
    expect(new Set(all.map((r) => `${r.campaign?.id}|${r.segments?.date}`)).size).toBe(all.length);
  });

  it('rejects a page token from another query', async () => {
    const res = await fetch(`${env.GOOGLE_ADS_BASE_URL}/v21/customers/${firstCustomer}/googleAds:search`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ query: 'SELECT campaign.id FROM campaign', pageToken: Buffer.from('abc.40').toString('base64url') }),
    });
    expect(res.status).toBe(400);
  });
});

describe('Google Ads emulator: store mutations', () => {
  const dayQuery = (date: string) => `SELECT campaign.id, metrics.cost_micros, metrics.conversions, segments.date FROM campaign WHERE segments.date = '${date}'`;

  it('makes a restatement visible on the next pull', async () => {
    const campaign = emu.store.campaigns.find((c) => c.customerId === firstCustomer);
    const date = '2026-10-20';
    const before = emu.store.day(campaign?.id as string, date);
    expect(before).toBeDefined();
    emu.store.restate(campaign?.id as string, date, { conversions: (before?.conversions ?? 0) + 4.25, spendMicros: (before?.spendMicros ?? 0) + 10_000 });
    const r = await stream(firstCustomer, dayQuery(date));
    const row = (r.body as Batch[]).flatMap((b) => b.results ?? []).find((x) => x.campaign?.id === campaign?.id);
    expect(row?.metrics?.conversions).toBeCloseTo((before?.conversions ?? 0) + 4.25, 6);
    expect(row?.metrics?.costMicros).toBe(String((before?.spendMicros ?? 0) + 10_000));
  });

  it('no longer serves a day restated to nothing (spend refunded, conversions withdrawn)', async () => {
    const date = '2026-10-22';
    const served = async () => ((await stream(firstCustomer, dayQuery(date))).body as Batch[]).flatMap((b) => b.results ?? []).map((x) => x.campaign?.id);
    const before = await served();
    const campaignId = before[0] as string;
    expect(campaignId).toBeDefined();
    emu.store.restateToNothing(campaignId, date);
    expect(await served()).toEqual(before.filter((id) => id !== campaignId));
    expect(emu.store.day(campaignId, date)).toMatchObject({ spendMicros: 0, impressions: 0, clicks: 0, conversions: 0, conversionsValueMicros: 0 });
  });

  it('serves a malformed row and an unknown (drifted) field when asked to', async () => {
    const campaign = emu.store.campaigns.find((c) => c.customerId === firstCustomer);
    const date = '2026-10-21';
    emu.store.malform(campaign?.id as string, date, 'non_numeric_cost');
    emu.store.addField('metrics.averageTargetRoasMicros', '1500000');
    try {
      const r = await stream(firstCustomer, dayQuery(date));
      const rows = (r.body as Batch[]).flatMap((b) => b.results ?? []);
      const broken = rows.find((x) => x.campaign?.id === campaign?.id);
      expect(broken?.metrics?.costMicros).toBe('NaN');
      expect(rows.every((x) => x.metrics?.averageTargetRoasMicros === '1500000')).toBe(true);
    } finally {
      emu.store.repair(campaign?.id as string, date);
    }
  });

  it('restates trailing days through the data-fault adapter', () => {
    const e = createGoogleAdsEmulator(world);
    const target = e.store.faultTarget();
    const last = e.store.customerDays(firstCustomer).filter((d) => d.date === world.endDate);
    const before = last.reduce((s, d) => s + d.conversions, 0);
    let x = 0.5;
    target.restate?.(3, () => (x = (x * 9301 + 49297) % 233280 / 233280));
    const after = e.store.customerDays(firstCustomer).filter((d) => d.date === world.endDate).reduce((s, d) => s + d.conversions, 0);
    expect(after).toBeGreaterThan(before);
    const old = e.store.customerDays(firstCustomer).filter((d) => d.date === world.startDate);
    expect(old.map((d) => d.conversions)).toEqual(createGoogleAdsEmulator(world).store.customerDays(firstCustomer).filter((d) => d.date === world.startDate).map((d) => d.conversions));
  });
});

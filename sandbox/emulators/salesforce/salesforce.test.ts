import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jsforce from 'jsforce';
import { startEmulatorServer } from '../server.ts';
import type { EmulatorServer } from '../server.ts';
import { createSalesforceEmulator } from './index.ts';
import type { SalesforceEmulator } from './index.ts';

/**
 * Documented example from the REST API Developer Guide, "Query" resource
 * (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm),
 * trimmed to one record: the shape our responses must keep.
 */
const DOC_QUERY_EXAMPLE = {
  totalSize: 3222,
  done: false,
  nextRecordsUrl: '/services/data/v56.0/query/01gRO0000016PIAYA2-500',
  records: [
    {
      attributes: { type: 'Contact', url: '/services/data/v56.0/sobjects/Contact/003RO0000035WQgYAM' },
      Id: '003RO0000035WQgYAM',
      Name: 'John Smith',
    },
  ],
};

/** Bulk API 2.0 "Create a Query Job" example response (api_asynch/query_create_job.htm). */
const DOC_BULK_JOB_EXAMPLE = {
  id: '7986gEXAMPLE4X2OPT',
  operation: 'query',
  object: 'Account',
  createdById: '0055fEXAMPLEtG4AAM',
  createdDate: '2022-01-02T17:38:59.000+0000',
  systemModstamp: '2022-01-02T17:38:59.000+0000',
  state: 'UploadComplete',
  concurrencyMode: 'Parallel',
  contentType: 'CSV',
  apiVersion: 58.0,
  lineEnding: 'LF',
  columnDelimiter: 'COMMA',
};

/** Required properties of DescribeSObjectResult (developer.salesforce.com, SOAP API Developer
 * Guide, "DescribeSObjectResult"; the REST sObject Describe resource returns the same object). */
const DOC_DESCRIBE_REQUIRED = [
  'activateable', 'childRelationships', 'compactLayoutable', 'createable', 'custom', 'customSetting', 'deletable',
  'deprecatedAndHidden', 'feedEnabled', 'fields', 'keyPrefix', 'label', 'labelPlural', 'layoutable', 'mergeable',
  'mruEnabled', 'name', 'namedLayoutInfos', 'queryable', 'recordTypeInfos', 'replicateable', 'retrieveable',
  'searchable', 'undeletable', 'updateable', 'urls',
];

let server: EmulatorServer;
let emu: SalesforceEmulator;
let env: Record<string, string>;
let clock = Date.parse('2025-01-01T00:00:00Z');

function connection(overrides: Partial<{ accessToken: string; refreshToken: string }> = {}): jsforce.Connection {
  return new jsforce.Connection({
    instanceUrl: env['SALESFORCE_INSTANCE_URL'],
    accessToken: overrides.accessToken ?? env['SALESFORCE_ACCESS_TOKEN'],
    refreshToken: overrides.refreshToken ?? env['SALESFORCE_REFRESH_TOKEN'],
    version: env['SALESFORCE_API_VERSION'],
    oauth2: {
      clientId: env['SALESFORCE_CLIENT_ID'],
      clientSecret: env['SALESFORCE_CLIENT_SECRET'],
      loginUrl: env['SALESFORCE_LOGIN_URL'],
      redirectUri: 'http://localhost/callback',
    },
  });
}

beforeAll(async () => {
  emu = createSalesforceEmulator(null, { batchSize: 200, bulkDefaultMaxRecords: 1000, rotateRefreshTokens: true, now: () => clock });
  for (let i = 0; i < 450; i++) {
    clock += 1000;
    emu.store.insert('Lead', { LastName: `Lead ${i}`, Company: 'Acme', Status: 'Open - Not Contacted', IsConverted: false, CurrencyIsoCode: 'USD' });
  }
  server = await startEmulatorServer({ routes: emu.routes });
  env = emu.env(server.origin);
});

afterAll(async () => {
  await server.close();
});

describe('Salesforce emulator via jsforce', () => {
  it('answers a query with the documented shape and Sforce-Limit-Info', async () => {
    const res = await fetch(`${server.origin}/services/data/v62.0/query?q=${encodeURIComponent('SELECT Id, LastName FROM Lead ORDER BY Id')}`, {
      headers: { authorization: `Bearer ${env['SALESFORCE_ACCESS_TOKEN']}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('sforce-limit-info')).toMatch(/^api-usage=\d+\/100000$/);
    const body = (await res.json()) as typeof DOC_QUERY_EXAMPLE;
    expect(Object.keys(body).sort()).toEqual(Object.keys(DOC_QUERY_EXAMPLE).sort());
    expect(body.totalSize).toBe(450);
    expect(body.done).toBe(false);
    expect(body.nextRecordsUrl).toMatch(/^\/services\/data\/v62\.0\/query\/01g[0-9A-Za-z]+-200$/);
    const first = body.records[0] as Record<string, unknown>;
    expect(Object.keys((first['attributes'] as object) ?? {}).sort()).toEqual(['type', 'url']);
    expect(first['attributes']).toEqual({ type: 'Lead', url: `/services/data/v62.0/sobjects/Lead/${String(first['Id'])}` });
    expect(String(first['Id'])).toMatch(/^00Q[0-9A-Za-z]{15}$/);
  });

  it('pages with nextRecordsUrl through conn.query / queryMore', async () => {
    const conn = connection();
    const page1 = await conn.query<{ Id: string }>('SELECT Id FROM Lead ORDER BY Id');
    expect(page1.records).toHaveLength(200);
    expect(page1.done).toBe(false);
    expect(page1.nextRecordsUrl).toBeDefined();
    const page2 = await conn.queryMore<{ Id: string }>(page1.nextRecordsUrl as string);
    const page3 = await conn.queryMore<{ Id: string }>(page2.nextRecordsUrl as string);
    expect(page3.done).toBe(true);
    const all = [...page1.records, ...page2.records, ...page3.records].map((r) => r.Id);
    expect(all).toHaveLength(450);
    expect(new Set(all).size).toBe(450);
    expect([...all].sort()).toEqual(all);
  });

  it('returns deleted rows only through queryAll', async () => {
    const conn = connection();
    const victim = (await conn.query<{ Id: string }>('SELECT Id FROM Lead ORDER BY Id LIMIT 1')).records[0]?.Id as string;
    emu.store.delete(victim);
    const live = await conn.query<{ Id: string }>(`SELECT Id FROM Lead WHERE Id = '${victim}'`);
    expect(live.totalSize).toBe(0);
    const all = await conn.query<{ Id: string; IsDeleted: boolean }>(`SELECT Id, IsDeleted FROM Lead WHERE Id = '${victim}'`, { scanAll: true });
    expect(all.records).toEqual([expect.objectContaining({ Id: victim, IsDeleted: true })]);
  });

  it('reports MALFORMED_QUERY and INVALID_FIELD like Salesforce', async () => {
    const conn = connection();
    await expect(conn.query('SELECT FROM Lead')).rejects.toMatchObject({ errorCode: 'MALFORMED_QUERY' });
    await expect(conn.query('SELECT Nope__c FROM Lead')).rejects.toMatchObject({ errorCode: 'INVALID_FIELD' });
  });

  it('describes objects and lists sobjects', async () => {
    const conn = connection();
    const d = await conn.describe('Lead');
    expect(Object.keys(d)).toEqual(expect.arrayContaining(DOC_DESCRIBE_REQUIRED));
    expect(d.keyPrefix).toBe('00Q');
    const names = d.fields.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['IsConverted', 'ConvertedOpportunityId', 'UTM_Source__c', 'SystemModstamp']));
    expect(d.fields.find((f) => f.name === 'UTM_Source__c')?.custom).toBe(true);
    const g = await conn.describeGlobal();
    expect(g.sobjects.map((s) => s.name)).toEqual(expect.arrayContaining(['Opportunity', 'OpportunityHistory', 'CampaignMember', 'OpportunityContactRole']));
    const limits = await conn.limits();
    expect(limits.DailyApiRequests?.Max).toBe(100000);
    expect(limits.DailyApiRequests?.Remaining).toBeLessThan(100000);
  });

  it('runs a single-page Bulk API 2.0 query through conn.bulk2.query', async () => {
    const conn = connection();
    conn.bulk2.pollInterval = 10;
    const records = await conn.bulk2.query("SELECT Id, LastName, CreatedDate FROM Lead WHERE LastName LIKE 'Lead 1%' ORDER BY Id");
    const rows = (await records.toArray()) as Record<string, string>[];
    // Lead 1, Lead 10..19, Lead 100..199: 111 rows; all fit one page of 1000 (see below).
    expect(rows).toHaveLength(111);
    expect(rows[0]?.['CreatedDate']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/);
  });

  it('pages Bulk API 2.0 results by Sforce-Locator for a job opened and polled by jsforce', async () => {
    // jsforce 3.10's own multi-page result stream ends after the first page ('write after end',
    // jsforce/jsforce#1546), so the connector must follow the locator itself, as done here.
    const conn = connection();
    const created = await conn.request<{ id: string }>({
      method: 'POST',
      url: `/services/data/v${conn.version}/jobs/query`,
      body: JSON.stringify({ operation: 'query', query: 'SELECT Id, LastName FROM Lead ORDER BY Id' }),
      headers: { 'Content-Type': 'application/json' },
    });
    const job = conn.bulk2.job('query', { id: created.id });
    await job.poll(10, 10_000);
    let locator: string | null = null;
    const ids: string[] = [];
    let pages = 0;
    do {
      const url = `${conn.instanceUrl}/services/data/v${conn.version}/jobs/query/${job.id}/results?maxRecords=100${locator ? `&locator=${locator}` : ''}`;
      const res = await fetch(url, { headers: { authorization: `Bearer ${conn.accessToken}` } });
      locator = res.headers.get('sforce-locator');
      const lines = (await res.text()).trim().split('\n');
      expect(lines.length - 1).toBe(Number(res.headers.get('sforce-numberofrecords')));
      for (const line of lines.slice(1)) ids.push(line.split(',')[0] as string);
      pages++;
    } while (locator !== 'null');
    expect(pages).toBe(5);
    expect(ids).toHaveLength(449);
    expect(new Set(ids).size).toBe(449);
  });

  it('creates jobs with the documented shape and pages results by locator', async () => {
    const auth = { authorization: `Bearer ${env['SALESFORCE_ACCESS_TOKEN']}`, 'content-type': 'application/json' };
    const created = await fetch(`${server.origin}/services/data/v62.0/jobs/query`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ operation: 'queryAll', query: 'SELECT Id, IsDeleted FROM Lead' }),
    });
    const job = (await created.json()) as Record<string, unknown>;
    expect(Object.keys(job).sort()).toEqual(Object.keys(DOC_BULK_JOB_EXAMPLE).sort());
    expect(String(job['id'])).toMatch(/^750/);
    const status = async () => ((await (await fetch(`${server.origin}/services/data/v62.0/jobs/query/${String(job['id'])}`, { headers: auth })).json()) as { state: string }).state;
    expect(await status()).toBe('InProgress');
    expect(await status()).toBe('JobComplete');
    let locator: string | null = null;
    let total = 0;
    let pages = 0;
    do {
      const url = `${server.origin}/services/data/v62.0/jobs/query/${String(job['id'])}/results?maxRecords=200${locator ? `&locator=${locator}` : ''}`;
      const res = await fetch(url, { headers: auth });
      locator = res.headers.get('sforce-locator');
      const n = Number(res.headers.get('sforce-numberofrecords'));
      const lines = (await res.text()).trim().split('\n');
      expect(lines[0]).toBe('"Id","IsDeleted"');
      expect(lines.length - 1).toBe(n);
      total += n;
      pages++;
    } while (locator !== 'null');
    expect(total).toBe(450);
    expect(pages).toBe(3);
  });

  it('answers 401 INVALID_SESSION_ID for an unknown token', async () => {
    const res = await fetch(`${server.origin}/services/data/v62.0/limits`, { headers: { authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual([{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
  });

  it('serves mutations made after a page to later pages of the same read', async () => {
    const conn = connection();
    let mutated: string | undefined;
    emu.store.afterPage(1, (ctx) => {
      mutated = ctx.ids[ctx.served];
      emu.store.update(mutated as string, { LastName: 'Changed mid-read' });
    });
    const page1 = await conn.query<{ Id: string; LastName: string }>('SELECT Id, LastName FROM Lead ORDER BY Id');
    const page2 = await conn.queryMore<{ Id: string; LastName: string }>(page1.nextRecordsUrl as string);
    expect(page2.records[0]).toMatchObject({ Id: mutated, LastName: 'Changed mid-read' });
  });
  it('refreshes an expired session through OAuth and rejects a rotated-out refresh token', async () => {
    const conn = connection();
    const oldRefresh = env['SALESFORCE_REFRESH_TOKEN'] as string;
    emu.state.expireAccessToken(env['SALESFORCE_ACCESS_TOKEN'] as string);
    let refreshed = false;
    conn.on('refresh', () => {
      refreshed = true;
    });
    const res = await conn.query<{ Id: string }>('SELECT Id FROM Lead LIMIT 1');
    expect(res.records).toHaveLength(1);
    expect(refreshed).toBe(true);
    expect(conn.accessToken).not.toBe(env['SALESFORCE_ACCESS_TOKEN']);
    // Rotation: the refresh token used above is now revoked.
    const tokenRes = await fetch(`${server.origin}/services/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: oldRefresh, client_id: 'mpm-sandbox-client', client_secret: 'mpm-sandbox-secret' }).toString(),
    });
    expect(tokenRes.status).toBe(400);
    expect(await tokenRes.json()).toEqual({ error: 'invalid_grant', error_description: 'expired access/refresh token' });
  });
});

import nock from 'nock';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { runSync } from '../../pipeline/sync.ts';
import { resetSalesforceSessions } from './index.ts';
import { FakeOrg, INSTANCE, LOGIN, sfId, sfStamp, type FakeField, type FakeRecord } from './nock-org.ts';
import { ensureSalesforceRawTables, sfConnection, storedCheckpoint, streamNamed, syncStream } from './test-support.ts';

/**
 * The Salesforce connector against nock fixtures shaped like Salesforce's documented examples
 * (see nock-org.ts for the responses and their sources), through jsforce, into real Postgres.
 * Each test uses its own connection id, so their rows and checkpoints never meet.
 */

type TestWarehouse = Warehouse & { drop(): Promise<void> };
let warehouse: TestWarehouse;

const NOW = '2026-11-05T00:00:00.000Z';
const at = (iso: string) => () => new Date(iso);
const DAY = 86_400_000;

const OPPORTUNITY_FIELDS: FakeField[] = [
  { name: 'Id', type: 'id' },
  { name: 'IsDeleted', type: 'boolean' },
  { name: 'CreatedDate', type: 'datetime' },
  { name: 'SystemModstamp', type: 'datetime' },
  { name: 'LastModifiedDate', type: 'datetime' },
  { name: 'CurrencyIsoCode', type: 'picklist' },
  { name: 'Name', type: 'string' },
  { name: 'StageName', type: 'picklist' },
  { name: 'CloseDate', type: 'date' },
  { name: 'IsClosed', type: 'boolean' },
  { name: 'IsWon', type: 'boolean' },
  { name: 'AccountId', type: 'reference' },
  { name: 'Amount', type: 'currency' },
  { name: 'Probability', type: 'percent' },
  { name: 'Type', type: 'picklist' },
  { name: 'LeadSource', type: 'picklist' },
  { name: 'CampaignId', type: 'reference' },
  // A formula field: its value changes without a new SystemModstamp.
  { name: 'Days_Open__c', type: 'double' },
];

const HISTORY_FIELDS: FakeField[] = [
  { name: 'Id', type: 'id' },
  { name: 'IsDeleted', type: 'boolean' },
  { name: 'CreatedDate', type: 'datetime' },
  { name: 'SystemModstamp', type: 'datetime' },
  { name: 'CurrencyIsoCode', type: 'picklist' },
  { name: 'OpportunityId', type: 'reference' },
  { name: 'StageName', type: 'picklist' },
  { name: 'Amount', type: 'currency' },
  { name: 'CloseDate', type: 'date' },
  { name: 'Probability', type: 'percent' },
];

/** An Opportunity as the REST API returns it; `minute` spreads SystemModstamps from 2026-11-01 10:00 UTC. */
function opportunity(n: number, minute: number | string = n, extra: Record<string, unknown> = {}): FakeRecord {
  const stamp = typeof minute === 'string' ? sfStamp(minute) : sfStamp(new Date(Date.parse('2026-11-01T10:00:00Z') + minute * 60_000).toISOString());
  return {
    Id: sfId('006D', n),
    IsDeleted: false,
    CreatedDate: '2026-10-01T09:00:00.000+0000',
    SystemModstamp: stamp,
    LastModifiedDate: stamp,
    CurrencyIsoCode: 'USD',
    Name: `Acme - ${n} Widgets`,
    StageName: 'Prospecting',
    CloseDate: '2026-12-31',
    IsClosed: false,
    IsWon: false,
    AccountId: sfId('001D', n % 7),
    Amount: 1000 + n,
    Probability: 10,
    Type: 'New Business',
    LeadSource: 'Web',
    CampaignId: null,
    Days_Open__c: 35,
    ...extra,
  };
}

function history(n: number, minute: number): FakeRecord {
  const stamp = sfStamp(new Date(Date.parse('2026-11-01T10:00:00Z') + minute * 60_000).toISOString());
  return {
    Id: sfId('008D', n),
    IsDeleted: false,
    CreatedDate: stamp,
    SystemModstamp: stamp,
    CurrencyIsoCode: 'EUR',
    OpportunityId: sfId('006D', Math.ceil(n / 3)),
    StageName: ['Prospecting', 'Qualification', 'Closed Won'][n % 3],
    Amount: 500 + n,
    CloseDate: '2026-12-31',
    Probability: [10, 20, 100][n % 3],
  };
}

function org(opportunities: FakeRecord[] = [], histories: FakeRecord[] = []): FakeOrg {
  const o = new FakeOrg();
  o.define('Opportunity', OPPORTUNITY_FIELDS, opportunities);
  o.define('OpportunityHistory', HISTORY_FIELDS, histories);
  o.refreshTokens.add('5Aep861TSESvWeug_configured');
  o.install();
  return o;
}

function settings(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    instanceUrl: INSTANCE,
    loginUrl: LOGIN,
    accessToken: '00DD0000000K1zR!AQ4AQFpYwkaJ.initial',
    refreshToken: '5Aep861TSESvWeug_configured',
    clientId: '3MVG9lKcPoNINVBIPJjdw1J9LLM82HnFVVX19KY1uA5mu0',
    clientSecret: '1955279925675241571',
    pageSize: 200,
    retryBaseMs: 0,
    maxRetries: 2,
    bulkPollIntervalMs: 0,
    ...extra,
  };
}

function sync(id: string, stream: string, opts: { mode?: 'incremental' | 'full'; now?: string; settings?: Record<string, unknown> } = {}) {
  return syncStream(warehouse, sfConnection(settings(opts.settings), id), stream, { mode: opts.mode ?? 'incremental', now: at(opts.now ?? NOW) });
}

async function count(table: string, connection: string, where: Record<string, unknown> = {}): Promise<number> {
  const row = (await warehouse.knex(table).where({ connection_id: connection, ...where }).count({ n: '*' }).first()) as { n: string | number };
  return Number(row.n);
}

async function runStatus(runId: number): Promise<{ status: string; error: string | null }> {
  return (await warehouse.knex('meta.sync_runs').where({ id: runId }).first('status', 'error')) as { status: string; error: string | null };
}

const queryPages = (o: FakeOrg) => o.apiRequests.filter((r) => /\/(query|queryAll)(\?|\/)/.test(r.path));

beforeAll(async () => {
  warehouse = await createTestWarehouse('postgres');
  await ensureSalesforceRawTables(warehouse);
  nock.disableNetConnect();
});

beforeEach(() => resetSalesforceSessions());

afterEach(() => {
  nock.cleanAll();
});

afterAll(async () => {
  nock.enableNetConnect();
  await warehouse?.drop();
});

describe('salesforce connector against nock fixtures', () => {
  it('pages through queryAll with nextRecordsUrl (batchSize 200) and then reads only changes after the cursor', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1)));
    const first = await sync('sf_paging', 'opportunity');
    expect(first, first.error).toMatchObject({ status: 'success', pages: 3, counts: { read: 450, inserted: 450, quarantined: 0 } });
    // COUNT() first (REST or Bulk?), then the read itself; both through queryAll so deletes come along.
    expect(o.queries[0]).toBe('SELECT COUNT() FROM Opportunity');
    expect(o.queries[1]).toMatch(/^SELECT Id, IsDeleted, CreatedDate, SystemModstamp, .* FROM Opportunity ORDER BY SystemModstamp ASC, Id ASC$/);
    const pages = queryPages(o);
    expect(pages.map((p) => p.path.replace(/\?.*/, ''))).toEqual([
      '/services/data/v62.0/queryAll',
      '/services/data/v62.0/queryAll',
      expect.stringMatching(/^\/services\/data\/v62\.0\/query\/01g\w+-200$/),
      expect.stringMatching(/^\/services\/data\/v62\.0\/query\/01g\w+-400$/),
    ]);
    expect(pages.slice(1).map((p) => p.queryOptions)).toEqual(['batchSize=200', 'batchSize=200', 'batchSize=200']);
    expect(await count('raw.salesforce__opportunity', 'sf_paging')).toBe(450);
    expect(await count('core.fct_opportunity', 'sf_paging')).toBe(450);
    const ckpt = (await storedCheckpoint(warehouse, 'opportunity', 'sf_paging')) as { cursor: { ts: string; id: string }; lastFullSyncAt: string };
    expect(ckpt.cursor).toEqual({ ts: '2026-11-01T17:30:00.000Z', id: sfId('006D', 450) });
    expect(ckpt.lastFullSyncAt).toBe(NOW);

    // Three records change; the next run reads exactly those, from after the stored cursor.
    for (const n of [3, 200, 449]) o.update('Opportunity', sfId('006D', n), { StageName: 'Negotiation/Review' }, '2026-11-04T08:00:00Z');
    const second = await sync('sf_paging', 'opportunity', { now: '2026-11-05T01:00:00Z' });
    expect(second).toMatchObject({ status: 'success', pages: 1, counts: { read: 3, updated: 3 } });
    expect(o.queries.at(-1)).toContain(`WHERE ((SystemModstamp = 2026-11-01T17:30:00Z AND Id > '${sfId('006D', 450)}') OR SystemModstamp > 2026-11-01T17:30:00Z) ORDER BY SystemModstamp ASC, Id ASC`);
    expect(await count('core.fct_opportunity', 'sf_paging', { stage: 'Negotiation/Review' })).toBe(3);
  });

  it('refreshes an expired session once on 401 INVALID_SESSION_ID and retries with the new token', async () => {
    const o = org([opportunity(1), opportunity(2)]);
    o.expireAllSessions();
    const r = await sync('sf_refresh', 'opportunity');
    expect(r, r.error).toMatchObject({ status: 'success', counts: { read: 2 } });
    expect(o.tokenRequests).toHaveLength(1);
    expect(Object.fromEntries(o.tokenRequests[0]!)).toMatchObject({ grant_type: 'refresh_token', refresh_token: '5Aep861TSESvWeug_configured', client_id: settings().clientId });
    // Only the first request carried the dead token; every later one the refreshed token.
    expect(o.apiRequests[0]?.token).toBe('00DD0000000K1zR!AQ4AQFpYwkaJ.initial');
    expect(new Set(o.apiRequests.slice(1).map((q) => q.token))).toEqual(new Set(['00DD0000000K1zR!AQ4AQ.refreshed1']));
  });

  it('retries 503 SERVER_UNAVAILABLE, 429 and concurrent REQUEST_LIMIT_EXCEEDED, storing every page once', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1)));
    o.fail(/\/query\/01g\w+-200/, 2, 503, [{ message: 'Server temporarily unavailable, please try again later', errorCode: 'SERVER_UNAVAILABLE' }]);
    o.fail(/\/query\/01g\w+-400/, 1, 429, 'Too Many Requests', { 'content-type': 'text/plain', 'retry-after': '0' });
    o.fail(/\/query\/01g\w+-400/, 1, 403, [{ message: 'ConcurrentPerOrgLongTxn Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]);
    const r = await sync('sf_retry', 'opportunity');
    expect(r, r.error).toMatchObject({ status: 'success', pages: 3, counts: { read: 450, inserted: 450 } });
    // page 2: two 503s then the page; page 3: a 429, a concurrency refusal, then the page.
    expect(queryPages(o).filter((p) => p.path.endsWith('-200'))).toHaveLength(3);
    expect(queryPages(o).filter((p) => p.path.endsWith('-400'))).toHaveLength(3);
    expect(await count('raw.salesforce__opportunity', 'sf_retry')).toBe(450);
  });

  it('honours a long Retry-After by stopping at the last stored page instead of waiting or retrying', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1)));
    o.fail(/\/query\/01g\w+-200/, 99, 429, 'Too Many Requests', { 'content-type': 'text/plain', 'retry-after': '3600' });
    const r = await sync('sf_retry_after', 'opportunity');
    expect(r).toMatchObject({ status: 'failed', pages: 1 });
    expect(r.error).toMatch(/ERROR_HTTP_429/);
    expect(queryPages(o).filter((p) => p.path.endsWith('-200'))).toHaveLength(1);
  });

  it('gives up after maxRetries on a persistent 503 with the checkpoint at the last stored page', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1)));
    o.fail(/\/query\/01g\w+-400/, 99, 503, [{ message: 'Server temporarily unavailable, please try again later', errorCode: 'SERVER_UNAVAILABLE' }]);
    const r = await sync('sf_503', 'opportunity');
    expect(r).toMatchObject({ status: 'failed', pages: 2 });
    expect(r.error).toMatch(/salesforce: query \(next page\): SERVER_UNAVAILABLE/);
    expect(queryPages(o).filter((p) => p.path.endsWith('-400'))).toHaveLength(3); // maxRetries 2: three attempts, no storm
    const ckpt = (await storedCheckpoint(warehouse, 'opportunity', 'sf_503')) as { cursor: { id: string } };
    expect(ckpt.cursor.id).toBe(sfId('006D', 400));
  });

  it('marks queryAll IsDeleted records _deleted in raw and is_deleted in core', async () => {
    const o = org(Array.from({ length: 5 }, (_, i) => opportunity(i + 1)));
    await sync('sf_deletes', 'opportunity');
    o.update('Opportunity', sfId('006D', 2), { IsDeleted: true }, '2026-11-04T09:00:00Z');
    o.update('Opportunity', sfId('006D', 4), { IsDeleted: true }, '2026-11-04T09:01:00Z');
    const r = await sync('sf_deletes', 'opportunity');
    expect(r).toMatchObject({ status: 'success', counts: { read: 2, deleted: 2 } });
    const raw = await warehouse.knex('raw.salesforce__opportunity').where({ connection_id: 'sf_deletes', _deleted: true }).orderBy('record_id').pluck('record_id');
    expect(raw).toEqual([sfId('006D', 2), sfId('006D', 4)]);
    const core = await warehouse.knex('core.fct_opportunity').where({ connection_id: 'sf_deletes', is_deleted: true }).orderBy('opportunity_id').pluck('opportunity_id');
    expect(core).toEqual(raw);
    expect(await count('core.fct_opportunity', 'sf_deletes', { is_deleted: false })).toBe(3);
  });

  it('keeps a field it does not know (schema drift) in raw and loads the record', async () => {
    const o = org([opportunity(1), opportunity(2)]);
    o.drift = { ForecastCategoryName: 'Pipeline', Next_Step_Date__c: '2026-11-20', Territory__r: { Name: 'EMEA' } };
    const r = await sync('sf_drift', 'opportunity');
    expect(r).toMatchObject({ status: 'success', counts: { read: 2, inserted: 2, quarantined: 0 } });
    const raw = (await warehouse.knex('raw.salesforce__opportunity').where({ connection_id: 'sf_drift', record_id: sfId('006D', 1) }).first('payload')) as { payload: Record<string, unknown> };
    expect(raw.payload).toMatchObject({ ForecastCategoryName: 'Pipeline', Next_Step_Date__c: '2026-11-20', Territory__r: { Name: 'EMEA' }, attributes: { type: 'Opportunity' } });
    expect(await count('core.fct_opportunity', 'sf_drift')).toBe(2);
  });

  it('quarantines malformed records with the field and reason while the rest of the page loads', async () => {
    org([
      opportunity(1),
      opportunity(2, 2, { Amount: '1,200.50' }),
      opportunity(3, 3, { CloseDate: '31/12/2026' }),
      opportunity(4, 4, { StageName: '' }),
      opportunity(5, 5, { CurrencyIsoCode: 'usd' }),
      opportunity(6),
    ]);
    const r = await sync('sf_malformed', 'opportunity');
    expect(r).toMatchObject({ status: 'success', pages: 1, counts: { read: 6, quarantined: 4 } });
    const q = await warehouse.knex('meta.quarantine').where({ connection: 'sf_malformed' }).orderBy('record_key').select('record_key', 'error_path', 'error_message');
    expect(q).toEqual([
      { record_key: sfId('006D', 2), error_path: 'Amount', error_message: expect.stringMatching(/^Amount: must be a number/) },
      { record_key: sfId('006D', 3), error_path: 'CloseDate', error_message: 'CloseDate: must be a date YYYY-MM-DD' },
      { record_key: sfId('006D', 4), error_path: 'StageName', error_message: 'StageName: is empty' },
      { record_key: sfId('006D', 5), error_path: 'CurrencyIsoCode', error_message: 'CurrencyIsoCode: must be an ISO 4217 code' },
    ]);
    expect(await warehouse.knex('core.fct_opportunity').where({ connection_id: 'sf_malformed' }).orderBy('opportunity_id').pluck('opportunity_id')).toEqual([sfId('006D', 1), sfId('006D', 6)]);
    // Nothing the vendor sent is dropped: the bad records are in raw as received.
    expect(await count('raw.salesforce__opportunity', 'sf_malformed')).toBe(6);
  });

  it('does not skip records sharing the cursor SystemModstamp: resumes on (SystemModstamp, Id)', async () => {
    // 450 records saved by one bulk update: a single SystemModstamp.
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1, '2026-11-01T12:00:00Z')));
    o.fail(/\/query\/01g\w+-400/, 99, 500, [{ message: 'An unexpected error occurred. Please include this ErrorId if you contact support: 1234-5678 (-1)', errorCode: 'UNKNOWN_EXCEPTION' }]);
    const failed = await sync('sf_ties', 'opportunity');
    expect(failed).toMatchObject({ status: 'failed', pages: 2, counts: { read: 400 } });
    expect(((await storedCheckpoint(warehouse, 'opportunity', 'sf_ties')) as { cursor: unknown }).cursor).toEqual({ ts: '2026-11-01T12:00:00.000Z', id: sfId('006D', 400) });

    o.heal(); // the outage is over
    const resumed = await sync('sf_ties', 'opportunity');
    expect(resumed).toMatchObject({ status: 'success', counts: { read: 50, inserted: 50 } });
    expect(o.queries.at(-1)).toContain(`((SystemModstamp = 2026-11-01T12:00:00Z AND Id > '${sfId('006D', 400)}') OR SystemModstamp > 2026-11-01T12:00:00Z)`);
    expect(await count('raw.salesforce__opportunity', 'sf_ties')).toBe(450);
    expect(await count('core.fct_opportunity', 'sf_ties')).toBe(450);
  });

  it('does not let a record saved during the paged read move the cursor past records still to come', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1)));
    o.livePages = true;
    // While page 2 is requested, a user saves record 10 (already served) and record 350 (page 2).
    const savedAt = new Date(Date.parse(NOW) - 60_000).toISOString();
    o.beforePage = (offset) => {
      if (offset !== 200) return;
      o.update('Opportunity', sfId('006D', 10), { StageName: 'Closed Won', IsClosed: true, IsWon: true }, savedAt);
      o.update('Opportunity', sfId('006D', 350), { StageName: 'Closed Lost', IsClosed: true }, savedAt);
    };
    const first = await sync('sf_live', 'opportunity');
    expect(first).toMatchObject({ status: 'success', counts: { read: 450 } });
    // Record 350 came in page 2 with a stamp newer than the cutoff (now - cursorLagSeconds): the
    // cursor ends at the newest record older than the cutoff, not at record 350's stamp.
    expect(((await storedCheckpoint(warehouse, 'opportunity', 'sf_live')) as { cursor: unknown }).cursor).toEqual({ ts: '2026-11-01T17:30:00.000Z', id: sfId('006D', 450) });
    o.beforePage = undefined;
    const next = await sync('sf_live', 'opportunity', { now: '2026-11-05T00:10:00Z' });
    expect(next).toMatchObject({ status: 'success', counts: { read: 2 } });
    const stages = await warehouse.knex('core.fct_opportunity').where({ connection_id: 'sf_live' }).whereIn('opportunity_id', [sfId('006D', 10), sfId('006D', 350)]).orderBy('opportunity_id').pluck('stage');
    expect(stages).toEqual(['Closed Won', 'Closed Lost']);
  });

  it('keys OpportunityHistory on its own Id: failed pages, resumes and full re-reads never duplicate it', async () => {
    // The last 20 rows are younger than cursorLagSeconds, so every run reads them again.
    const rows = Array.from({ length: 300 }, (_, i) => history(i + 1, i < 280 ? i : 0));
    for (const [i, row] of rows.entries()) {
      if (i >= 280) {
        const stamp = sfStamp(new Date(Date.parse(NOW) - (300 - i) * 1000).toISOString());
        Object.assign(row, { SystemModstamp: stamp, CreatedDate: stamp });
      }
    }
    const o = org([], rows);
    o.fail(/\/query\/01g\w+-200/, 99, 500, [{ message: 'An unexpected error occurred.', errorCode: 'UNKNOWN_EXCEPTION' }]);
    const failed = await sync('sf_history', 'opportunity_history');
    expect(failed).toMatchObject({ status: 'failed', pages: 1 });
    o.heal();
    const resumed = await sync('sf_history', 'opportunity_history');
    expect(resumed).toMatchObject({ status: 'success', counts: { read: 100 } });
    const again = await sync('sf_history', 'opportunity_history', { now: '2026-11-05T00:00:01Z' });
    expect(again.counts).toMatchObject({ read: 20, unchanged: 20, inserted: 0 });
    const full = await sync('sf_history', 'opportunity_history', { mode: 'full', now: '2026-11-05T00:00:02Z' });
    expect(full.counts).toMatchObject({ read: 300, unchanged: 300, inserted: 0, updated: 0 });

    expect(await count('raw.salesforce__opportunity_history', 'sf_history')).toBe(300);
    const stats = (await warehouse.knex('core.fct_opportunity_stage_history').where({ connection_id: 'sf_history' }).first(warehouse.knex.raw('count(*)::int AS n'), warehouse.knex.raw('count(DISTINCT history_id)::int AS ids'))) as { n: number; ids: number };
    expect(stats).toEqual({ n: 300, ids: 300 });
  });

  it('uses the newest refresh token after a rotation, in later runs of the same process', async () => {
    const o = org([opportunity(1)]);
    o.rotateRefreshTokens = true;
    o.expireAllSessions();
    expect((await sync('sf_rotate', 'opportunity')).status).toBe('success');
    o.expireAllSessions();
    o.update('Opportunity', sfId('006D', 1), { Amount: 99 }, '2026-11-04T10:00:00Z');
    const second = await sync('sf_rotate', 'opportunity');
    expect(second, second.error).toMatchObject({ status: 'success', counts: { read: 1, updated: 1 } });
    // The configured token was revoked by the first refresh; the second refresh used its successor.
    expect(o.tokenRequests.map((f) => f.get('refresh_token'))).toEqual(['5Aep861TSESvWeug_configured', '5Aep861.rotated1']);
  });

  it('fails at once with a clear message on invalid_grant, without a retry storm or leaking the token', async () => {
    const o = org([opportunity(1)]);
    o.refreshTokens.clear(); // revoked
    o.expireAllSessions();
    const r = await sync('sf_invalid_grant', 'opportunity');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/token request refused \(invalid_grant: expired access\/refresh token\) by https:\/\/login\.salesforce\.com; the refresh token is expired, revoked or was rotated out: authorize the connected app again and update refreshToken/);
    expect(r.error).not.toContain('5Aep861TSESvWeug_configured');
    expect(o.tokenRequests).toHaveLength(1);
    expect(o.apiRequests).toHaveLength(1); // the 401 that triggered the refresh; nothing after
    expect(await runStatus(r.runId)).toMatchObject({ status: 'failed' });
  });

  it('ends the run partial on the daily limit (403 TotalRequests) with the checkpoint at the last stored page, and resumes', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1)));
    o.fail(/\/query\/01g\w+-400/, 99, 403, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]);
    const r = await sync('sf_daily', 'opportunity');
    expect(r).toMatchObject({ status: 'partial', pages: 2, counts: { read: 400 } });
    expect(r.error).toMatch(/REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded\. \(daily API request limit reached\)/);
    expect(queryPages(o).filter((p) => p.path.endsWith('-400'))).toHaveLength(1); // not retried
    expect(await runStatus(r.runId)).toMatchObject({ status: 'partial' });
    expect(((await storedCheckpoint(warehouse, 'opportunity', 'sf_daily')) as { cursor: { id: string } }).cursor.id).toBe(sfId('006D', 400));

    o.heal(); // the next day
    const next = await sync('sf_daily', 'opportunity', { now: '2026-11-06T00:00:00Z' });
    expect(next).toMatchObject({ status: 'success', counts: { read: 50, inserted: 50 } });
    expect(await count('raw.salesforce__opportunity', 'sf_daily')).toBe(450);
  });

  it('stops partial before the configured share of the daily limit, read from Sforce-Limit-Info', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1)));
    o.apiLimit = 1000;
    o.apiUsed = 795;
    // limits (796), describe (797), COUNT() (798), page 1 (799), page 2 (800 = 80 %): stop before page 3.
    const r = await sync('sf_share', 'opportunity', { settings: { apiUsageShare: 0.8 } });
    expect(r).toMatchObject({ status: 'partial', pages: 2 });
    expect(r.error).toMatch(/800 of the org's 1000 daily API requests are used, at or above apiUsageShare 80 %; stopped at the last stored page/);
    expect(o.apiRequests).toHaveLength(5);
    expect(((await storedCheckpoint(warehouse, 'opportunity', 'sf_share')) as { cursor: { id: string } }).cursor.id).toBe(sfId('006D', 400));
  });

  it('re-reads a stream in full every fullResyncEvery, so formula fields that keep SystemModstamp are refreshed', async () => {
    const o = org(Array.from({ length: 5 }, (_, i) => opportunity(i + 1)));
    const objects = { opportunity: { extraFields: ['Days_Open__c'], fullResyncEvery: '7d' } };
    const day = (n: number) => new Date(Date.parse(NOW) + n * DAY).toISOString();
    const days = async (id: string) =>
      ((await warehouse.knex('raw.salesforce__opportunity').where({ connection_id: 'sf_resync', record_id: id }).first('payload')) as { payload: { Days_Open__c: number } }).payload.Days_Open__c;

    expect((await sync('sf_resync', 'opportunity', { now: day(0), settings: { objects } })).counts.read).toBe(5);
    o.recalculate('Opportunity', sfId('006D', 3), { Days_Open__c: 36 });
    // A day later: incremental, and the recalculated formula is invisible to SystemModstamp.
    const daily = await sync('sf_resync', 'opportunity', { now: day(1), settings: { objects } });
    expect(daily.counts.read).toBe(0);
    expect(o.queries.at(-1)).toContain('WHERE ((SystemModstamp =');
    expect(await days(sfId('006D', 3))).toBe(35);
    // Seven days after the last full read: the whole object again, without a cursor.
    const weekly = await sync('sf_resync', 'opportunity', { now: day(7), settings: { objects } });
    expect(weekly.counts).toMatchObject({ read: 5, updated: 1, unchanged: 4 });
    expect(o.queries.at(-1)).toMatch(/FROM Opportunity ORDER BY SystemModstamp ASC, Id ASC$/);
    expect(await days(sfId('006D', 3))).toBe(36);
    const ckpt = (await storedCheckpoint(warehouse, 'opportunity', 'sf_resync')) as { lastFullSyncAt: string; fullReadStartedAt: string | null };
    expect(ckpt).toMatchObject({ lastFullSyncAt: day(7), fullReadStartedAt: null });
    expect((await sync('sf_resync', 'opportunity', { now: day(8), settings: { objects } })).counts.read).toBe(0);

    expect(() => sfConnection(settings({ objects: { opportunity: { fullResyncEvery: 'weekly' } } }), 'bad')).toThrow(/objects\.opportunity\.fullResyncEvery: must look like '7d', '12h' or '30m'/);
  });

  it('reads large first syncs through a Bulk API 2.0 job, following Sforce-Locator and resuming at the stored locator', async () => {
    const o = org(Array.from({ length: 250 }, (_, i) => opportunity(i + 1)));
    o.fail(/\/jobs\/query\/750\w+\/results\?.*locator=200/, 99, 500, [{ message: 'An unexpected error occurred.', errorCode: 'UNKNOWN_EXCEPTION' }]);
    const bulk = { bulkThreshold: 100, bulkPageSize: 100 };
    const failed = await sync('sf_bulk', 'opportunity', { settings: bulk });
    expect(failed).toMatchObject({ status: 'failed', pages: 2, counts: { read: 200 } });
    const ckpt = (await storedCheckpoint(warehouse, 'opportunity', 'sf_bulk')) as { bulk: { jobId: string; locator: string } };
    expect(ckpt.bulk).toMatchObject({ jobId: expect.stringMatching(/^750/), locator: '200' });
    // One retry policy: maxRetries 2 means three requests for the failing set, not nine.
    expect(o.apiRequests.filter((q) => /locator=200/.test(q.path))).toHaveLength(3);

    o.heal();
    const resumed = await sync('sf_bulk', 'opportunity', { settings: bulk });
    expect(resumed).toMatchObject({ status: 'success', pages: 1, counts: { read: 50, inserted: 50 } });
    expect(o.apiRequests.filter((q) => q.method === 'POST' && q.path.includes('/jobs/query'))).toHaveLength(1); // the job was reused, not recreated
    expect(o.apiRequests.some((q) => q.method === 'DELETE')).toBe(true);
    // CSV rows stored as the REST query returns them: attributes, '+0000' datetimes, JSON types.
    const raw = (await warehouse.knex('raw.salesforce__opportunity').where({ connection_id: 'sf_bulk', record_id: sfId('006D', 7) }).first('payload')) as { payload: Record<string, unknown> };
    expect(raw.payload).toMatchObject({
      attributes: { type: 'Opportunity', url: `/services/data/v62.0/sobjects/Opportunity/${sfId('006D', 7)}` },
      IsClosed: false,
      Amount: 1007,
      Probability: 10,
      CampaignId: null,
      SystemModstamp: '2026-11-01T10:07:00.000+0000',
    });
    expect(await count('core.fct_opportunity', 'sf_bulk')).toBe(250);
    const done = (await storedCheckpoint(warehouse, 'opportunity', 'sf_bulk')) as { bulk: unknown; cursor: { ts: string } };
    expect(done.bulk).toBeNull();
    expect(done.cursor.ts).toBe('2026-11-01T14:10:00.000Z');
    // A REST read of the same unchanged records finds raw identical: nothing updated.
    const bulkPayloads = await warehouse.knex('raw.salesforce__opportunity').where({ connection_id: 'sf_bulk' }).orderBy('record_id').pluck('payload');
    const rest = await sync('sf_bulk', 'opportunity', { mode: 'full' });
    expect(rest).toMatchObject({ status: 'success', counts: { read: 250, inserted: 0, updated: 0, unchanged: 250 } });
    expect(await warehouse.knex('raw.salesforce__opportunity').where({ connection_id: 'sf_bulk' }).orderBy('record_id').pluck('payload')).toEqual(bulkPayloads);
  });
});

/** A Salesforce field list: the system fields every synced object has, then `names` (typed by `types`). */
function fields(names: string[], types: Record<string, string> = {}, system: string[] = ['Id', 'IsDeleted', 'CreatedDate', 'SystemModstamp', 'LastModifiedDate']): FakeField[] {
  const systemTypes: Record<string, string> = { Id: 'id', IsDeleted: 'boolean', CreatedDate: 'datetime', SystemModstamp: 'datetime', LastModifiedDate: 'datetime', CurrencyIsoCode: 'picklist' };
  return [...system, ...names].map((name) => ({ name, type: systemTypes[name] ?? types[name] ?? 'string' }));
}

/** A log that keeps every line, to check what reaches it. */
function capturingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) }), lines };
}

const MY_DOMAIN = INSTANCE; // the client-credentials flow posts to the org's My Domain
const APP = { clientId: '3MVG9lKcPoNINVBIPJjdw1J9LLM82HnFVVX19KY1uA5mu0.cc', clientSecret: 'F3C8A1B2D4E6071829304A5B6C7D8E9F' };

/** A connection with only the connected app's client credentials: no token, no instance URL. */
function clientCredentialsSettings(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { loginUrl: MY_DOMAIN, clientId: APP.clientId, clientSecret: APP.clientSecret, pageSize: 200, retryBaseMs: 0, maxRetries: 2, ...extra };
}

function clientCredentialsOrg(opportunities: FakeRecord[]): FakeOrg {
  const o = new FakeOrg();
  o.expireAllSessions(); // no token exists before the flow issues one
  o.define('Opportunity', OPPORTUNITY_FIELDS, opportunities);
  o.clientCredentials = { ...APP };
  o.install(MY_DOMAIN);
  return o;
}

describe('salesforce OAuth client-credentials flow', () => {
  it('gets a token with grant_type client_credentials from the login URL, learns the instance URL from it, syncs, and asks again when the session expires', async () => {
    const o = clientCredentialsOrg([opportunity(1), opportunity(2)]);
    const conn = sfConnection(clientCredentialsSettings(), 'sf_cc');
    const r = await syncStream(warehouse, conn, 'opportunity', { now: at(NOW) });
    expect(r, r.error).toMatchObject({ status: 'success', counts: { read: 2, inserted: 2 } });
    expect(o.tokenRequests).toHaveLength(1);
    expect(Object.fromEntries(o.tokenRequests[0]!)).toEqual({ grant_type: 'client_credentials', client_id: APP.clientId, client_secret: APP.clientSecret });
    // Every API call carried the issued token, at the instance_url of the token response.
    expect(new Set(o.apiRequests.map((q) => q.token))).toEqual(new Set(['00DD0000000K1zR!AQ4AQ.refreshed1']));
    expect(await count('core.fct_opportunity', 'sf_cc')).toBe(2);

    // No refresh token in this flow: an expired session is replaced by a new client-credentials token.
    o.expireAllSessions();
    o.update('Opportunity', sfId('006D', 2), { Amount: 7 }, '2026-11-04T10:00:00Z');
    const again = await syncStream(warehouse, conn, 'opportunity', { now: at(NOW) });
    expect(again, again.error).toMatchObject({ status: 'success', counts: { read: 1, updated: 1 } });
    expect(o.tokenRequests.map((f) => f.get('grant_type'))).toEqual(['client_credentials', 'client_credentials']);
  });

  it('retries a token endpoint that is briefly unavailable, and an echoed client secret reaches neither the log nor the run', async () => {
    const o = clientCredentialsOrg([opportunity(1)]);
    // A proxy error page that echoes the request body, secret included.
    const echo = `<html><body>503 Service Unavailable. Request: grant_type=client_credentials client_id=${APP.clientId} secret ${APP.clientSecret}</body></html>`;
    o.fail(/\/services\/oauth2\/token/, 2, 503, echo, { 'content-type': 'text/html' });
    const { log, lines } = capturingLog();
    const conn = sfConnection(clientCredentialsSettings(), 'sf_cc_503');
    const r = await runSync({ warehouse, connection: conn, stream: streamNamed('opportunity'), mode: 'incremental', log, now: at(NOW) });
    expect(r, r.error).toMatchObject({ status: 'success', counts: { read: 1 } });
    expect(o.tokenRequests).toHaveLength(3); // two 503s, then the token (maxRetries 2)
    const retries = lines.filter((l) => l.includes('retrying'));
    expect(retries).toHaveLength(2);
    expect(retries[0]).toContain('503 Service Unavailable');
    expect(lines.join('\n')).not.toContain(APP.clientSecret);

    // A token endpoint that stays down fails the run; the error carries the page, not the secret.
    o.fail(/\/services\/oauth2\/token/, 99, 503, echo, { 'content-type': 'text/html' });
    resetSalesforceSessions();
    const down = await runSync({ warehouse, connection: sfConnection(clientCredentialsSettings(), 'sf_cc_down'), stream: streamNamed('opportunity'), mode: 'incremental', log, now: at(NOW) });
    expect(down.status).toBe('failed');
    expect(down.error).toMatch(/^salesforce: token request failed: <html><body>503 Service Unavailable/);
    expect(down.error).not.toContain(APP.clientSecret);
    expect((await runStatus(down.runId)).error).not.toContain(APP.clientSecret);
    expect(lines.join('\n')).not.toContain(APP.clientSecret);
  });

  it('fails at once on invalid_client (a wrong secret) with a message naming the settings, without retrying or leaking the secret', async () => {
    const o = clientCredentialsOrg([opportunity(1)]);
    const wrong = 'WRONG0000000000000000000000000000';
    const r = await syncStream(warehouse, sfConnection(clientCredentialsSettings({ clientSecret: wrong }), 'sf_cc_wrong'), 'opportunity', { now: at(NOW) });
    expect(r.status).toBe('failed');
    expect(r.error).toBe(`salesforce: token request refused (invalid_client: invalid client credentials) by ${MY_DOMAIN}; check clientId/clientSecret and the connected app`);
    expect(o.tokenRequests).toHaveLength(1);
    expect(o.tokenRequests[0]?.get('client_secret')).toBe(wrong);
    expect(o.apiRequests).toHaveLength(0);
  });
});

describe('salesforce currencies', () => {
  it('keeps each record’s CurrencyIsoCode in a multi-currency org, even over a configured defaultCurrency', async () => {
    org(
      [opportunity(1, 1, { CurrencyIsoCode: 'USD' }), opportunity(2, 2, { CurrencyIsoCode: 'EUR' }), opportunity(3, 3, { CurrencyIsoCode: 'JPY', Amount: 150000 })],
      [{ ...history(1, 1), CurrencyIsoCode: 'EUR' }, { ...history(2, 2), CurrencyIsoCode: 'JPY' }],
    );
    for (const stream of ['opportunity', 'opportunity_history']) {
      const r = await sync('sf_multi_ccy', stream, { settings: { defaultCurrency: 'GBP' } });
      expect(r, r.error).toMatchObject({ status: 'success' });
    }
    const opps = await warehouse.knex('core.fct_opportunity').where({ connection_id: 'sf_multi_ccy' }).orderBy('opportunity_id').select('opportunity_id', 'currency');
    expect(opps).toEqual([
      { opportunity_id: sfId('006D', 1), currency: 'USD' },
      { opportunity_id: sfId('006D', 2), currency: 'EUR' },
      { opportunity_id: sfId('006D', 3), currency: 'JPY' },
    ]);
    const hist = await warehouse.knex('core.fct_opportunity_stage_history').where({ connection_id: 'sf_multi_ccy' }).orderBy('history_id').pluck('currency');
    expect(hist).toEqual(['EUR', 'JPY']);
  });

  it('uses the org’s DefaultCurrencyIsoCode in a single-currency org (no CurrencyIsoCode field), unless defaultCurrency is set', async () => {
    const o = new FakeOrg();
    const singleCurrency = OPPORTUNITY_FIELDS.filter((f) => f.name !== 'CurrencyIsoCode');
    o.define('Opportunity', singleCurrency, [1, 2].map((n) => {
      const { CurrencyIsoCode: _ccy, ...rec } = opportunity(n);
      return rec;
    }));
    o.define('Organization', fields(['DefaultCurrencyIsoCode'], { DefaultCurrencyIsoCode: 'picklist' }, ['Id', 'IsDeleted', 'SystemModstamp']), [
      { Id: '00DD0000000K1zRMAS', IsDeleted: false, SystemModstamp: sfStamp('2026-01-01T00:00:00Z'), DefaultCurrencyIsoCode: 'CHF' },
    ]);
    o.install();
    const r = await sync('sf_single_ccy', 'opportunity');
    expect(r, r.error).toMatchObject({ status: 'success', counts: { read: 2 } });
    expect(o.queries).toContain('SELECT DefaultCurrencyIsoCode FROM Organization');
    expect(o.queries.find((q) => q.includes('FROM Opportunity ORDER BY'))).not.toContain('CurrencyIsoCode');
    expect(await warehouse.knex('core.fct_opportunity').where({ connection_id: 'sf_single_ccy' }).pluck('currency')).toEqual(['CHF', 'CHF']);

    // A configured defaultCurrency wins and the Organization is not asked.
    const asked = o.queries.length;
    const configured = await sync('sf_single_ccy_cfg', 'opportunity', { settings: { defaultCurrency: 'GBP' } });
    expect(configured, configured.error).toMatchObject({ status: 'success', counts: { read: 2 } });
    expect(o.queries.slice(asked)).not.toContain('SELECT DefaultCurrencyIsoCode FROM Organization');
    expect(await warehouse.knex('core.fct_opportunity').where({ connection_id: 'sf_single_ccy_cfg' }).pluck('currency')).toEqual(['GBP', 'GBP']);
  });
});

describe('salesforce windows (backfill and --from/--to)', () => {
  // 20 opportunities, one every 6 hours from 2026-11-01T16:00Z to 2026-11-06T10:00Z.
  const spread = () => Array.from({ length: 20 }, (_, i) => opportunity(i + 1, (i + 1) * 360));
  const inWindow = (o: FakeOrg, from: string, to: string) =>
    o
      .records('Opportunity')
      .filter((r) => r.SystemModstamp >= sfStamp(`${from}T00:00:00Z`) && r.SystemModstamp < sfStamp(new Date(Date.parse(`${to}T00:00:00Z`) + DAY).toISOString()))
      .map((r) => r.Id)
      .sort();
  const rawIds = async (connection: string) => warehouse.knex('raw.salesforce__opportunity').where({ connection_id: connection }).orderBy('record_id').pluck('record_id');
  const windowCheckpoint = async (connection: string, scope: string) =>
    ((await warehouse.knex('meta.sync_state').where({ connection, stream: 'opportunity', scope }).first('cursor')) as { cursor: unknown } | undefined)?.cursor;
  const later = '2026-11-07T00:00:00.000Z';

  it('backfills SystemModstamp in [from, to + 1 day) under the window’s own checkpoint, by REST or by Bulk as COUNT() decides', async () => {
    const o = org(spread());
    const window = { from: '2026-11-02', to: '2026-11-03' };
    const expected = inWindow(o, window.from, window.to);
    expect(expected).toHaveLength(8);
    const r = await syncStream(warehouse, sfConnection(settings(), 'sf_backfill'), 'opportunity', { mode: 'backfill', window, now: at(later) });
    expect(r, r.error).toMatchObject({ status: 'success', counts: { read: 8, inserted: 8 } });
    const bounds = 'WHERE SystemModstamp >= 2026-11-02T00:00:00Z AND SystemModstamp < 2026-11-04T00:00:00Z';
    expect(o.queries).toEqual([`SELECT COUNT() FROM Opportunity ${bounds}`, expect.stringMatching(new RegExp(`^SELECT Id, .* FROM Opportunity ${bounds} ORDER BY SystemModstamp ASC, Id ASC$`))]);
    expect(await rawIds('sf_backfill')).toEqual(expected);
    // The window keeps its own checkpoint; the scheduled cursor does not exist yet.
    expect(await storedCheckpoint(warehouse, 'opportunity', 'sf_backfill')).toBeUndefined();
    expect(await windowCheckpoint('sf_backfill', 'window:2026-11-02..2026-11-03')).toEqual({ cursor: { ts: '2026-11-03T22:00:00.000Z', id: sfId('006D', 10) }, fullReadStartedAt: null, lastFullSyncAt: later, bulk: null });
    // The same window again (`sync --from/--to` twice): a completed window is read again from its first day.
    const again = await syncStream(warehouse, sfConnection(settings(), 'sf_backfill'), 'opportunity', { mode: 'backfill', window, now: at(later) });
    expect(again, again.error).toMatchObject({ status: 'success', counts: { read: 8, unchanged: 8 } });
    expect(o.queries.at(-1)).toMatch(new RegExp(`FROM Opportunity ${bounds} ORDER BY`));

    // A window of at least bulkThreshold records: a Bulk API 2.0 queryAll job with the same bounds.
    const bulkWindow = { from: '2026-11-05', to: '2026-11-05' };
    const r2 = await syncStream(warehouse, sfConnection(settings({ bulkThreshold: 4 }), 'sf_backfill'), 'opportunity', { mode: 'backfill', window: bulkWindow, now: at(later) });
    expect(r2, r2.error).toMatchObject({ status: 'success', counts: { read: 4, inserted: 4 } });
    expect(o.queries.at(-1)).toBe('SELECT COUNT() FROM Opportunity WHERE SystemModstamp >= 2026-11-05T00:00:00Z AND SystemModstamp < 2026-11-06T00:00:00Z');
    const jobs = o.apiRequests.filter((q) => q.method === 'POST' && q.path.endsWith('/jobs/query'));
    expect(jobs).toHaveLength(1);
    expect(await rawIds('sf_backfill')).toEqual([...expected, ...inWindow(o, bulkWindow.from, bulkWindow.to)].sort());

    // The first scheduled sync is still a complete first read; the 12 backfilled records are not inserted again.
    const scheduled = await sync('sf_backfill', 'opportunity', { now: later });
    expect(scheduled).toMatchObject({ status: 'success', counts: { read: 20, inserted: 8 } });
    expect(await count('core.fct_opportunity', 'sf_backfill')).toBe(20);
  });

  it('resumes an interrupted backfill window after its last stored page, within the window', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1))); // all on 2026-11-01
    o.fail(/\/query\/01g\w+-400/, 99, 500, [{ message: 'An unexpected error occurred.', errorCode: 'UNKNOWN_EXCEPTION' }]);
    const window = { from: '2026-11-01', to: '2026-11-01' };
    const failed = await syncStream(warehouse, sfConnection(settings(), 'sf_backfill_resume'), 'opportunity', { mode: 'backfill', window, now: at(later) });
    expect(failed).toMatchObject({ status: 'failed', pages: 2, counts: { read: 400 } });
    o.heal();
    const resumed = await syncStream(warehouse, sfConnection(settings(), 'sf_backfill_resume'), 'opportunity', { mode: 'backfill', window, now: at(later) });
    expect(resumed, resumed.error).toMatchObject({ status: 'success', counts: { read: 50, inserted: 50 } });
    expect(o.queries.at(-1)).toContain(`WHERE ((SystemModstamp = 2026-11-01T16:40:00Z AND Id > '${sfId('006D', 400)}') OR SystemModstamp > 2026-11-01T16:40:00Z) AND SystemModstamp < 2026-11-02T00:00:00Z ORDER BY`);
    expect(await count('raw.salesforce__opportunity', 'sf_backfill_resume')).toBe(450);
  });

  it('a windowed sync outside backfill mode reads just the window and leaves the scheduled checkpoint as it was', async () => {
    const o = org(spread());
    const objects = { opportunity: { extraFields: ['Days_Open__c'] } };
    const first = await sync('sf_window', 'opportunity', { now: later, settings: { objects } });
    expect(first).toMatchObject({ status: 'success', counts: { read: 20 } });
    const before = await storedCheckpoint(warehouse, 'opportunity', 'sf_window');
    // Records of 2 November edited without a new SystemModstamp (a recalculation): only a re-read of those days shows it.
    for (const id of inWindow(o, '2026-11-02', '2026-11-02')) o.recalculate('Opportunity', id, { Days_Open__c: 99 });

    const window = { from: '2026-11-02', to: '2026-11-02' };
    const r = await syncStream(warehouse, sfConnection(settings({ objects }), 'sf_window'), 'opportunity', { mode: 'incremental', window, now: at(later) });
    expect(r, r.error).toMatchObject({ status: 'success', counts: { read: 4, updated: 4 } });
    expect(o.queries.at(-1)).toMatch(/FROM Opportunity WHERE SystemModstamp >= 2026-11-02T00:00:00Z AND SystemModstamp < 2026-11-03T00:00:00Z ORDER BY SystemModstamp ASC, Id ASC$/);
    expect(await storedCheckpoint(warehouse, 'opportunity', 'sf_window')).toEqual(before);
    const payloads = await warehouse.knex('raw.salesforce__opportunity').where({ connection_id: 'sf_window' }).whereRaw("(payload->>'Days_Open__c')::int = 99").count({ n: '*' });
    expect(Number((payloads[0] as { n: string }).n)).toBe(4);

    // Without a scheduled checkpoint yet, the window stores an empty one: the next scheduled sync reads everything.
    const fresh = await syncStream(warehouse, sfConnection(settings(), 'sf_window_first'), 'opportunity', { mode: 'incremental', window, now: at(later) });
    expect(fresh).toMatchObject({ status: 'success', counts: { read: 4 } });
    expect(await storedCheckpoint(warehouse, 'opportunity', 'sf_window_first')).toEqual({ cursor: null, fullReadStartedAt: null, lastFullSyncAt: null, bulk: null });
    expect((await sync('sf_window_first', 'opportunity', { now: later })).counts).toMatchObject({ read: 20, inserted: 16, unchanged: 4 });
  });
});

describe('salesforce session refused after refresh', () => {
  it('stops after two fresh tokens are refused in a row instead of refreshing forever', async () => {
    const o = org([opportunity(1)]);
    o.acceptIssuedTokens = false;
    o.expireAllSessions();
    const r = await sync('sf_refused', 'opportunity');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/the session is refused even right after a token refresh \(INVALID_SESSION_ID\)/);
    expect(o.tokenRequests).toHaveLength(2);
    expect(o.apiRequests.length).toBeLessThanOrEqual(3);
  });
});

describe('salesforce field mapping into core', () => {
  const c = (n: number) => sfId('003D', n);
  const stamp = sfStamp('2026-10-20T08:30:00Z');
  const base = (id: string) => ({ Id: id, IsDeleted: false, CreatedDate: '2026-10-01T09:15:00.000+0000', SystemModstamp: stamp, LastModifiedDate: stamp });

  function mappingOrg(): FakeOrg {
    const o = new FakeOrg();
    o.define('Lead', fields(['LastName', 'Company', 'Status', 'IsConverted', 'FirstName', 'Email', 'Title', 'LeadSource', 'ConvertedDate', 'ConvertedContactId', 'ConvertedAccountId', 'ConvertedOpportunityId'], { IsConverted: 'boolean', ConvertedDate: 'date', ConvertedContactId: 'reference', ConvertedAccountId: 'reference', ConvertedOpportunityId: 'reference' }), [
      { ...base(sfId('00QD', 1)), LastName: 'Levy', FirstName: 'Ada', Company: 'Grand Hotels & Resorts Ltd', Status: 'Closed - Converted', IsConverted: true, Email: 'Ada.Levy@GrandHotels.example', Title: 'VP Sales', LeadSource: 'Web', ConvertedDate: '2026-10-15', ConvertedContactId: c(1), ConvertedAccountId: sfId('001D', 1), ConvertedOpportunityId: sfId('006D', 1) },
      { ...base(sfId('00QD', 2)), LastName: 'Chen', FirstName: null, Company: 'Pyramid Construction Inc.', Status: 'Open - Not Contacted', IsConverted: false, Email: null, Title: null, LeadSource: 'Trade Show', ConvertedDate: null, ConvertedContactId: null, ConvertedAccountId: null, ConvertedOpportunityId: null },
    ]);
    o.define('Campaign', fields(['Name', 'Type', 'Status', 'StartDate', 'EndDate', 'BudgetedCost', 'ActualCost', 'IsActive', 'ParentId', 'CurrencyIsoCode'], { StartDate: 'date', EndDate: 'date', BudgetedCost: 'currency', ActualCost: 'currency', IsActive: 'boolean', ParentId: 'reference' }), [
      { ...base(sfId('701D', 1)), Name: 'DM Campaign to Top Customers - Nov 12-23, 2001', Type: 'Direct Mail', Status: 'Completed', StartDate: '2026-09-01', EndDate: '2026-09-30', BudgetedCost: 25000, ActualCost: 23175.5, IsActive: false, ParentId: null, CurrencyIsoCode: 'EUR' },
      { ...base(sfId('701D', 2)), Name: 'User Conference - Jun 17-19, 2002', Type: 'Conference', Status: 'Planned', StartDate: null, EndDate: null, BudgetedCost: null, ActualCost: null, IsActive: true, ParentId: sfId('701D', 1), CurrencyIsoCode: 'USD' },
    ]);
    o.define('CampaignMember', fields(['CampaignId', 'LeadId', 'ContactId', 'Status', 'HasResponded', 'FirstRespondedDate'], { CampaignId: 'reference', LeadId: 'reference', ContactId: 'reference', HasResponded: 'boolean', FirstRespondedDate: 'date' }), [
      // Responded: the touch is the first response; a converted lead's membership follows the contact.
      { ...base(sfId('00vD', 1)), CampaignId: sfId('701D', 1), LeadId: sfId('00QD', 1), ContactId: c(1), Status: 'Responded', HasResponded: true, FirstRespondedDate: '2026-09-12' },
      // Not responded: the touch is when the member was added.
      { ...base(sfId('00vD', 2)), CreatedDate: '2026-09-03T14:45:10.000+0000', CampaignId: sfId('701D', 1), LeadId: sfId('00QD', 2), ContactId: null, Status: 'Sent', HasResponded: false, FirstRespondedDate: null },
    ]);
    o.define('Account', fields(['Name', 'Website', 'Industry', 'BillingCountry', 'Type', 'NumberOfEmployees'], { NumberOfEmployees: 'int' }), [
      { ...base(sfId('001D', 1)), Name: 'Grand Hotels & Resorts Ltd', Website: 'https://www.GrandHotels.example/about?x=1', Industry: 'Hospitality', BillingCountry: 'United States', Type: 'Customer - Direct', NumberOfEmployees: 5600 },
      { ...base(sfId('001D', 2)), Name: 'Edge Communications', Website: null, Industry: null, BillingCountry: null, Type: null, NumberOfEmployees: null },
    ]);
    o.define('OpportunityContactRole', fields(['OpportunityId', 'ContactId', 'Role', 'IsPrimary'], { OpportunityId: 'reference', ContactId: 'reference', IsPrimary: 'boolean' }), [
      { ...base(sfId('00KD', 1)), OpportunityId: sfId('006D', 1), ContactId: c(1), Role: 'Decision Maker', IsPrimary: true },
      { ...base(sfId('00KD', 2)), OpportunityId: sfId('006D', 1), ContactId: c(2), Role: null, IsPrimary: false },
    ]);
    o.install();
    return o;
  }

  it('maps Lead conversion, Campaign, CampaignMember, Account and OpportunityContactRole fields to their core columns', async () => {
    mappingOrg();
    const id = 'sf_mapping';
    for (const stream of ['lead', 'campaign', 'campaign_member', 'account', 'opportunity_contact_role']) {
      const r = await sync(id, stream);
      expect(r, `${stream}: ${r.error ?? ''}`).toMatchObject({ status: 'success', counts: { read: 2, inserted: 2, quarantined: 0 } });
    }
    const k = warehouse.knex;
    const iso = (col: string) => k.raw(`to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS ${col}`);
    const day = (col: string) => k.raw(`${col}::text AS ${col}`);

    const leads = await k('core.dim_person')
      .where({ connection_id: id })
      .orderBy('person_id')
      .select('person_id', 'person_type', 'email', 'first_name', 'last_name', 'company', 'lead_status', 'lead_source', 'is_converted', iso('converted_at'), 'converted_contact_id', 'converted_account_id', 'converted_opportunity_id', iso('lead_at'));
    expect(leads).toEqual([
      {
        person_id: sfId('00QD', 1), person_type: 'lead', email: 'ada.levy@grandhotels.example', first_name: 'Ada', last_name: 'Levy', company: 'Grand Hotels & Resorts Ltd',
        lead_status: 'Closed - Converted', lead_source: 'Web', is_converted: true, converted_at: '2026-10-15T00:00:00Z',
        converted_contact_id: c(1), converted_account_id: sfId('001D', 1), converted_opportunity_id: sfId('006D', 1), lead_at: '2026-10-01T09:15:00Z',
      },
      {
        person_id: sfId('00QD', 2), person_type: 'lead', email: null, first_name: null, last_name: 'Chen', company: 'Pyramid Construction Inc.',
        lead_status: 'Open - Not Contacted', lead_source: 'Trade Show', is_converted: false, converted_at: null,
        converted_contact_id: null, converted_account_id: null, converted_opportunity_id: null, lead_at: '2026-10-01T09:15:00Z',
      },
    ]);

    const campaigns = await k('core.dim_campaign')
      .where({ connection_id: id })
      .orderBy('campaign_id')
      .select('campaign_id', 'name', 'campaign_type', 'status', day('start_date'), day('end_date'), k.raw('budgeted_cost::float8 AS budgeted_cost'), k.raw('actual_cost::float8 AS actual_cost'), 'currency', 'parent_campaign_id');
    expect(campaigns).toEqual([
      { campaign_id: sfId('701D', 1), name: 'DM Campaign to Top Customers - Nov 12-23, 2001', campaign_type: 'Direct Mail', status: 'Completed', start_date: '2026-09-01', end_date: '2026-09-30', budgeted_cost: 25000, actual_cost: 23175.5, currency: 'EUR', parent_campaign_id: null },
      { campaign_id: sfId('701D', 2), name: 'User Conference - Jun 17-19, 2002', campaign_type: 'Conference', status: 'Planned', start_date: null, end_date: null, budgeted_cost: null, actual_cost: null, currency: 'USD', parent_campaign_id: sfId('701D', 1) },
    ]);

    const touches = await k('core.fct_touchpoint').where({ connection_id: id }).orderBy('touchpoint_id').select('touchpoint_id', 'person_id', 'touch_type', 'campaign_id', 'status', 'responded', iso('occurred_at'));
    expect(touches).toEqual([
      { touchpoint_id: sfId('00vD', 1), person_id: c(1), touch_type: 'campaign_member', campaign_id: sfId('701D', 1), status: 'Responded', responded: true, occurred_at: '2026-09-12T00:00:00Z' },
      { touchpoint_id: sfId('00vD', 2), person_id: sfId('00QD', 2), touch_type: 'campaign_member', campaign_id: sfId('701D', 1), status: 'Sent', responded: false, occurred_at: '2026-09-03T14:45:10Z' },
    ]);

    const accounts = await k('core.dim_account').where({ connection_id: id }).orderBy('account_id').select('account_id', 'name', 'domain', 'industry', 'country', iso('created_at'), iso('updated_at'));
    expect(accounts).toEqual([
      { account_id: sfId('001D', 1), name: 'Grand Hotels & Resorts Ltd', domain: 'grandhotels.example', industry: 'Hospitality', country: 'United States', created_at: '2026-10-01T09:15:00Z', updated_at: '2026-10-20T08:30:00Z' },
      { account_id: sfId('001D', 2), name: 'Edge Communications', domain: null, industry: null, country: null, created_at: '2026-10-01T09:15:00Z', updated_at: '2026-10-20T08:30:00Z' },
    ]);

    const roles = await k('core.bridge_opportunity_person').where({ connection_id: id }).orderBy('person_id').select('opportunity_id', 'person_id', 'role', 'is_primary');
    expect(roles).toEqual([
      { opportunity_id: sfId('006D', 1), person_id: c(1), role: 'Decision Maker', is_primary: true },
      { opportunity_id: sfId('006D', 1), person_id: c(2), role: null, is_primary: false },
    ]);
  });
});

describe('salesforce API version', () => {
  it('sends every request, REST and Bulk, to the configured version (/services/data/v61.0/)', async () => {
    const o = org(Array.from({ length: 450 }, (_, i) => opportunity(i + 1)));
    o.version = '61.0';
    const rest = await sync('sf_v61', 'opportunity', { settings: { apiVersion: '61.0' } });
    expect(rest, rest.error).toMatchObject({ status: 'success', pages: 3, counts: { read: 450 } });
    const bulk = await sync('sf_v61_bulk', 'opportunity', { settings: { apiVersion: '61.0', bulkThreshold: 100, bulkPageSize: 200 } });
    expect(bulk, bulk.error).toMatchObject({ status: 'success', counts: { read: 450 } });
    const paths = o.apiRequests.map((q) => q.path);
    expect(paths.some((p) => p.includes('/jobs/query/750'))).toBe(true);
    expect(paths.filter((p) => !p.startsWith('/services/data/v61.0/'))).toEqual([]);

    // The default version is not this org's: the describe answers 404 and the run fails.
    const other = await sync('sf_v62', 'opportunity');
    expect(other.status).toBe('failed');
    expect(o.apiRequests.at(-1)?.path).toMatch(/^\/services\/data\/v62\.0\//);
  });
});

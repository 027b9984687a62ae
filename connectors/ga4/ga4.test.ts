import nock from 'nock';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rawTableName, type ConnectorDefinition } from '../core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { runSync } from '../../pipeline/sync.ts';
import { ensureRawTable } from '../../warehouse/migrate.ts';
import { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import { daysToRead } from '../core/dates.ts';
import { ga4Connector, metricProblem, parseMetric } from './index.ts';

/**
 * A fake GA4 Data API with nock: the token endpoint, getMetadata and runReport answering from an
 * in-memory table in the documented RunReportResponse shape (dimensionHeaders, metricHeaders with
 * type, rows of { dimensionValues, metricValues } strings, rowCount across pages, metadata with
 * timeZone; developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/RunReportResponse
 * and .../data/v1/basics "Report response").
 */
const log = pino({ level: 'silent' });
const API = 'https://ga4.example.test';
const TOKEN_URL = 'https://oauth.example.test/token';
const PROPERTY = '312345678';

interface FakeRow {
  date: string;
  source: string;
  medium: string;
  campaign: string;
  channel: string;
  sessions: string;
  engaged: string;
  keyEvents: string;
  users: string;
  /** Served in place of the built row (malformed rows). */
  raw?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

type Body = { dateRanges: Array<{ startDate: string; endDate: string }>; limit?: string; offset?: string; dimensions?: Array<{ name: string }>; metrics?: Array<{ name: string }>; returnPropertyQuota?: boolean };

class FakeGa4 {
  rows = new Map<string, FakeRow>();
  requests: Body[] = [];
  tokensIssued = 0;
  injected: Array<{ status: number; body: unknown; headers?: Record<string, string> }> = [];
  /** Remaining tokens reported in propertyQuota (decremented by 1 a report). */
  hourlyLeft = 40_000;
  dailyLeft = 200_000;
  serverErrorsLeft = 10;
  /** Ranges longer than this many days answer with an "(other)" row and dataLossFromOtherRow. */
  otherAboveDays = Infinity;
  metricTypes: Record<string, string> = { sessions: 'TYPE_INTEGER', engagedSessions: 'TYPE_INTEGER', keyEvents: 'TYPE_FLOAT', totalUsers: 'TYPE_INTEGER', averageSessionDuration: 'TYPE_SECONDS' };

  put(row: FakeRow) {
    this.rows.set(`${row.date}|${row.source}|${row.medium}|${row.campaign}|${row.channel}`, row);
  }

  install() {
    nock(new URL(TOKEN_URL).origin)
      .persist()
      .post('/token')
      .reply(() => {
        this.tokensIssued++;
        return [200, { access_token: `ya29.token-${this.tokensIssued}`, expires_in: 3599, token_type: 'Bearer' }];
      });
    nock(API)
      .persist()
      .get(`/v1beta/properties/${PROPERTY}/metadata`)
      .reply(200, {
        name: `properties/${PROPERTY}/metadata`,
        dimensions: ['date', 'sessionSource', 'sessionMedium', 'sessionCampaignName', 'sessionDefaultChannelGroup', 'deviceCategory'].map((apiName) => ({ apiName, uiName: apiName, description: '', category: 'x' })),
        metrics: Object.entries(this.metricTypes).map(([apiName, type]) => ({ apiName, uiName: apiName, description: '', type, category: 'x' })),
      });
    nock(API)
      .persist()
      .post(`/v1beta/properties/${PROPERTY}:runReport`)
      .reply((_uri, body) => {
        const req = body as Body;
        this.requests.push(req);
        const injected = this.injected.shift();
        if (injected) return [injected.status, injected.body, injected.headers ?? {}];
        return [200, this.answer(req)];
      });
  }

  answer(req: Body): Record<string, unknown> {
    const range = req.dateRanges[0]!;
    const dims = (req.dimensions ?? []).map((d) => d.name);
    const mets = (req.metrics ?? []).map((m) => m.name);
    this.hourlyLeft -= 1;
    this.dailyLeft -= 1;
    const base = {
      dimensionHeaders: dims.map((name) => ({ name })),
      metricHeaders: mets.map((name) => ({ name, type: this.metricTypes[name] })),
      metadata: { currencyCode: 'USD', timeZone: 'America/Los_Angeles' } as Record<string, unknown>,
      propertyQuota: {
        tokensPerDay: { consumed: 1, remaining: this.dailyLeft },
        tokensPerHour: { consumed: 1, remaining: this.hourlyLeft },
        concurrentRequests: { consumed: 0, remaining: 10 },
        serverErrorsPerProjectPerHour: { consumed: 0, remaining: this.serverErrorsLeft },
        potentiallyThresholdedRequestsPerHour: { consumed: 0, remaining: 120 },
        tokensPerProjectPerHour: { consumed: 1, remaining: this.hourlyLeft },
      },
      kind: 'analyticsData#runReport',
    };
    if (dims.length === 0) return { ...base, rows: [{ metricValues: [{ value: '1' }] }], rowCount: 1 };
    const from = range.startDate;
    const to = range.endDate;
    const order = (r: FakeRow) => `${r.date}|${r.source}|${r.medium}|${r.campaign}|${r.channel}`;
    let rows = [...this.rows.values()].filter((r) => r.date >= from && r.date <= to).sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
    const days = (Date.parse(to) - Date.parse(from)) / 86_400_000 + 1;
    let built: unknown[] = rows.map((r) => r.raw ?? {
      dimensionValues: [r.date.replaceAll('-', ''), r.source, r.medium, r.campaign, r.channel, ...dims.slice(5).map(() => 'desktop')].map((value) => ({ value })),
      metricValues: [r.sessions, r.engaged, r.keyEvents, r.users, ...mets.slice(4).map(() => '61.5')].map((value) => ({ value })),
      ...r.extra,
    });
    if (days > this.otherAboveDays && rows.length > 0) {
      rows = rows.slice(0, 1);
      built = [...built.slice(0, 1), { dimensionValues: [{ value: from.replaceAll('-', '') }, ...dims.slice(1).map(() => ({ value: '(other)' }))], metricValues: mets.map(() => ({ value: '1' })) }];
      base.metadata.dataLossFromOtherRow = true;
    }
    const offset = Number(req.offset ?? 0);
    const limit = Number(req.limit ?? 10_000);
    const page = built.slice(offset, offset + limit);
    return { ...base, ...(page.length ? { rows: page } : {}), ...(built.length ? { rowCount: built.length } : {}) };
  }
}

const baseSettings = {
  propertyIds: PROPERTY,
  clientId: 'client-id.apps.googleusercontent.com',
  clientSecret: 'client-secret-xyz',
  refreshToken: '1//refresh-token-abc',
  oauthUrl: TOKEN_URL,
  baseUrl: API,
  maxRetries: 2,
};

const at = (iso: string) => () => new Date(iso);
const row = (date: string, campaign: string, sessions: number, extra: Partial<FakeRow> = {}): FakeRow => ({
  date,
  source: 'google',
  medium: 'cpc',
  campaign,
  channel: 'Paid Search',
  sessions: String(sessions),
  engaged: String(Math.floor(sessions / 2)),
  keyEvents: String(sessions % 3),
  users: String(sessions - 1),
  ...extra,
});

describe('ga4 connector', () => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  beforeAll(async () => {
    warehouse = await createTestWarehouse('postgres');
    for (const stream of ga4Connector.streams) await ensureRawTable(warehouse.knex, rawTableName('ga4', stream.name), stream.description);
    nock.disableNetConnect();
  });
  afterEach(() => nock.cleanAll());
  afterAll(async () => {
    nock.enableNetConnect();
    await warehouse?.drop();
  });

  const connect = (id: string, settings: Record<string, unknown> = {}) => buildConnection(id, ga4Connector as ConnectorDefinition<unknown>, { ...baseSettings, ...settings }, 'file');
  const stream = ga4Connector.streams[0]!;
  const sync = (id: string, options: Partial<Parameters<typeof runSync>[0]> & { settings?: Record<string, unknown> } = {}) => {
    const { settings, ...rest } = options;
    return runSync({ warehouse, connection: connect(id, settings), stream, mode: 'incremental', log, ...rest });
  };
  const trafficRows = (connection: string) =>
    warehouse.knex('core.fct_web_traffic_daily').where({ connection_id: connection }).orderBy(['date', 'campaign']).select('property_id', 'date', 'source', 'medium', 'campaign', 'default_channel_group', 'sessions', 'engaged_sessions', 'key_events', 'total_users', 'extra');
  const reports = (fake: FakeGa4) => fake.requests.filter((r) => (r.dimensions ?? []).length > 0);

  it('reads metric values by their header type', () => {
    expect(parseMetric('12', 'TYPE_INTEGER')).toBe(12);
    expect(parseMetric('61.25', 'TYPE_SECONDS')).toBe(61.25);
    expect(parseMetric('1.5e3', 'TYPE_FLOAT')).toBe(1500);
    expect(metricProblem('12.5', 'TYPE_INTEGER')).toMatch(/whole number \(metric header type TYPE_INTEGER\)/);
    expect(metricProblem('abc', 'TYPE_CURRENCY')).toMatch(/must be a number/);
    expect(metricProblem('1', 'TYPE_NEW')).toMatch(/no known metric header type/);
    expect(() => parseMetric('9007199254740993', 'TYPE_INTEGER')).toThrow(/exceeds 2\^53/);
  });

  it('plans days with a 3-day lookback by default', () => {
    const cfg = ga4Connector.configSchema.parse(baseSettings) as { startDate?: string; lookbackDays: number };
    expect(cfg.lookbackDays).toBe(3);
    expect(daysToRead(cfg, { mode: 'incremental', window: undefined }, '2026-03-11', '2026-03-10')).toEqual({ from: '2026-03-08', to: '2026-03-10' });
  });

  it('pages runReport with limit/offset per date chunk, keeps unknown fields in raw and quarantines malformed rows', async () => {
    const fake = new FakeGa4();
    for (const date of ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05']) {
      for (const c of ['brand', 'generic', 'retarget']) fake.put(row(date, c, 10 + date.charCodeAt(9)));
    }
    fake.put(row('2026-03-02', 'drift', 5, { extra: { sessionAttribution: 'data_driven' } }));
    // A metric that is not a number for its TYPE_INTEGER header, and a row with a YYYY-MM-DD date.
    fake.put(row('2026-03-03', 'broken', 1, { sessions: 'n/a' }));
    fake.put(row('2026-03-04', 'baddate', 1, { raw: { dimensionValues: [{ value: '2026-03-04' }, { value: 'google' }, { value: 'cpc' }, { value: 'baddate' }, { value: 'Paid Search' }], metricValues: [{ value: '1' }, { value: '1' }, { value: '0' }, { value: '1' }] } }));
    fake.install();

    const result = await sync('ga4_paging', { mode: 'full', now: at('2026-03-06T18:00:00Z'), settings: { startDate: '2026-03-01', chunkDays: 3, pageSize: 4 } });
    expect(result).toMatchObject({ status: 'success', counts: { read: 18, quarantined: 2 } });
    // Chunks 03-01..03-03 (11 rows: 3 pages of 4) and 03-04..03-05 (7 rows: 2 pages).
    expect(reports(fake).map((r) => `${r.dateRanges[0]!.startDate}..${r.dateRanges[0]!.endDate}@${r.offset}/${r.limit}`)).toEqual([
      '2026-03-01..2026-03-03@0/4', '2026-03-01..2026-03-03@4/4', '2026-03-01..2026-03-03@8/4',
      '2026-03-04..2026-03-05@0/4', '2026-03-04..2026-03-05@4/4',
    ]);
    expect(reports(fake).every((r) => r.returnPropertyQuota === true)).toBe(true);
    expect(reports(fake)[0]!.dimensions!.map((d) => d.name)).toEqual(['date', 'sessionSource', 'sessionMedium', 'sessionCampaignName', 'sessionDefaultChannelGroup']);
    expect(reports(fake)[0]!.metrics!.map((d) => d.name)).toEqual(['sessions', 'engagedSessions', 'keyEvents', 'totalUsers']);

    const rows = await trafficRows('ga4_paging');
    expect(rows).toHaveLength(16);
    expect(rows[0]).toEqual({ property_id: PROPERTY, date: '2026-03-01', source: 'google', medium: 'cpc', campaign: 'brand', default_channel_group: 'Paid Search', sessions: 59, engaged_sessions: 29, key_events: '2', total_users: 58, extra: {} });
    const raw = await warehouse.knex(rawTableName('ga4', 'traffic_daily')).where({ connection_id: 'ga4_paging', record_id: `${PROPERTY}|20260302|google|cpc|drift` }).first('payload');
    expect(raw.payload.sessionAttribution).toBe('data_driven');
    expect(raw.payload.metricValues[0]).toEqual({ value: '5' });
    const quarantine = await warehouse.knex('meta.quarantine').where({ connection: 'ga4_paging' }).orderBy('record_key').select('record_key', 'error_message');
    expect(quarantine).toEqual([
      { record_key: `${PROPERTY}|2026-03-04|google|cpc|baddate`, error_message: expect.stringContaining('must be a GA4 date YYYYMMDD') },
      { record_key: `${PROPERTY}|20260303|google|cpc|broken`, error_message: expect.stringContaining('must be a whole number (metric header type TYPE_INTEGER), got "n/a"') },
    ]);
    const state = await warehouse.knex('meta.sync_state').where({ connection: 'ga4_paging', stream: 'traffic_daily' }).first('cursor');
    // 18:00 UTC is 10:00 in Los Angeles on 03-06: yesterday there is 03-05.
    expect(state.cursor).toEqual({ properties: { [PROPERTY]: { through: '2026-03-05' } } });
  });

  it('re-reads the last 3 days and overwrites restated ones: totals after several syncs equal a fresh pull', async () => {
    const fake = new FakeGa4();
    const days = ['2026-04-01', '2026-04-02', '2026-04-03', '2026-04-04', '2026-04-05', '2026-04-06'];
    for (const [i, date] of days.entries()) for (const c of ['a', 'b']) fake.put(row(date, c, 10 + i));
    fake.install();
    const settings = { startDate: '2026-04-01' };
    await sync('ga4_restate', { now: at('2026-04-05T18:00:00Z'), settings });
    // GA4 keeps processing: 04-03 and 04-04 gain sessions; 04-05 arrives.
    fake.put(row('2026-04-03', 'a', 40));
    fake.put(row('2026-04-04', 'b', 41, { keyEvents: '3' }));
    const second = await sync('ga4_restate', { now: at('2026-04-06T18:00:00Z'), settings });
    expect(reports(fake).at(-1)!.dateRanges[0]).toEqual({ startDate: '2026-04-03', endDate: '2026-04-05' });
    expect(second.counts).toMatchObject({ read: 6, inserted: 2, updated: 2, unchanged: 2 });
    fake.put(row('2026-04-05', 'a', 1));
    await sync('ga4_restate', { now: at('2026-04-07T18:00:00Z'), settings });

    await sync('ga4_restate_fresh', { mode: 'full', now: at('2026-04-07T18:00:00Z'), settings });
    expect(await trafficRows('ga4_restate')).toEqual(await trafficRows('ga4_restate_fresh'));
    const totals = await warehouse.knex('core.fct_web_traffic_daily').where({ connection_id: 'ga4_restate' }).groupBy('date').orderBy('date').select('date', warehouse.knex.raw('sum(sessions)::int AS sessions'), warehouse.knex.raw('count(*)::int AS n'));
    expect(totals).toEqual([
      { date: '2026-04-01', sessions: 20, n: 2 },
      { date: '2026-04-02', sessions: 22, n: 2 },
      { date: '2026-04-03', sessions: 52, n: 2 },
      { date: '2026-04-04', sessions: 54, n: 2 },
      { date: '2026-04-05', sessions: 15, n: 2 },
      { date: '2026-04-06', sessions: 30, n: 2 },
    ]);
  });

  it('sums rows that differ only by the channel group into one core row, also across a page boundary, and keeps every row in raw', async () => {
    const fake = new FakeGa4();
    fake.put(row('2026-03-10', 'brand', 10));
    fake.put(row('2026-03-10', 'brand', 4, { channel: 'Cross-network', keyEvents: '1.5' }));
    fake.put(row('2026-03-10', 'generic', 6));
    fake.install();
    const settings = { startDate: '2026-03-10', pageSize: 1 };
    const result = await sync('ga4_split', { now: at('2026-03-11T18:00:00Z'), settings });
    expect(result).toMatchObject({ status: 'success', counts: { read: 2, quarantined: 0 }, warnings: [] });
    // Three pages of one row; the brand group's two rows straddle the first page boundary.
    expect(reports(fake).map((r) => r.offset)).toEqual(['0', '1', '2']);
    expect(await trafficRows('ga4_split')).toEqual([
      // sessions 10 + 4, engaged 5 + 2, key events 1 + 1.5, users 9 + 3; the channel group of the larger row.
      { property_id: PROPERTY, date: '2026-03-10', source: 'google', medium: 'cpc', campaign: 'brand', default_channel_group: 'Paid Search', sessions: 14, engaged_sessions: 7, key_events: '2.5', total_users: 12, extra: {} },
      { property_id: PROPERTY, date: '2026-03-10', source: 'google', medium: 'cpc', campaign: 'generic', default_channel_group: 'Paid Search', sessions: 6, engaged_sessions: 3, key_events: '0', total_users: 5, extra: {} },
    ]);
    const raw = await warehouse.knex(rawTableName('ga4', 'traffic_daily')).where({ connection_id: 'ga4_split', record_id: `${PROPERTY}|20260310|google|cpc|brand` }).first('payload');
    expect(raw.payload.dimensionValues[4]).toEqual({ value: 'Cross-network' });
    expect(raw.payload.sameKeyRows).toEqual([
      { dimensionValues: ['20260310', 'google', 'cpc', 'brand', 'Paid Search'].map((value) => ({ value })), metricValues: ['10', '5', '1', '9'].map((value) => ({ value })) },
    ]);
    // The split goes away once GA4 settles: the next re-read overwrites the sum with the one row.
    fake.rows.delete('2026-03-10|google|cpc|brand|Cross-network');
    await sync('ga4_split', { now: at('2026-03-12T18:00:00Z'), settings });
    expect((await trafficRows('ga4_split'))[0]).toMatchObject({ campaign: 'brand', sessions: 10, key_events: '1', default_channel_group: 'Paid Search' });
    const after = await warehouse.knex(rawTableName('ga4', 'traffic_daily')).where({ connection_id: 'ga4_split', record_id: `${PROPERTY}|20260310|google|cpc|brand` }).first('payload');
    expect(after.payload.sameKeyRows).toBeUndefined();
  });

  it('marks a row that vanishes when GA4 settles deleted in raw and core, for the re-read days only', async () => {
    const fake = new FakeGa4();
    for (const date of ['2026-04-10', '2026-04-11', '2026-04-12', '2026-04-13']) for (const c of ['a', 'b']) fake.put(row(date, c, 8));
    fake.install();
    const settings = { startDate: '2026-04-10', pageSize: 3 };
    expect(await sync('ga4_vanish', { now: at('2026-04-14T18:00:00Z'), settings })).toMatchObject({ status: 'success', counts: { read: 8 } });
    // Sessions of 'b' on 04-12 are reattributed once the data settles: the row is gone. 04-10's
    // 'a' is gone too, but 04-10 is not re-read (lookback 3 before yesterday 04-14: 04-12..04-14).
    fake.rows.delete('2026-04-12|google|cpc|b|Paid Search');
    fake.rows.delete('2026-04-10|google|cpc|a|Paid Search');
    fake.put(row('2026-04-14', 'a', 3));
    const second = await sync('ga4_vanish', { now: at('2026-04-15T18:00:00Z'), settings });
    expect(reports(fake).at(-1)!.dateRanges[0]).toEqual({ startDate: '2026-04-12', endDate: '2026-04-14' });
    expect(second).toMatchObject({ status: 'success', counts: { deleted: 1 } });
    const rawDeleted = await warehouse.knex(rawTableName('ga4', 'traffic_daily')).where({ connection_id: 'ga4_vanish', _deleted: true }).pluck('record_id');
    expect(rawDeleted).toEqual([`${PROPERTY}|20260412|google|cpc|b`]);
    const deleted = await warehouse.knex('core.fct_web_traffic_daily').where({ connection_id: 'ga4_vanish', is_deleted: true }).select('date', 'campaign', 'sessions');
    expect(deleted).toEqual([{ date: '2026-04-12', campaign: 'b', sessions: 8 }]);
    expect(await warehouse.knex('core.fct_web_traffic_daily').where({ connection_id: 'ga4_vanish', is_deleted: false }).count({ n: '*' }).first()).toEqual({ n: 8 });
  });

  it('refreshes the OAuth token once on a 401 and retries', async () => {
    const fake = new FakeGa4();
    fake.put(row('2026-05-01', 'a', 7));
    fake.install();
    fake.injected.push({ status: 401, body: { error: { code: 401, message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.', status: 'UNAUTHENTICATED' } } });
    const result = await sync('ga4_refresh', { mode: 'full', now: at('2026-05-02T18:00:00Z'), settings: { startDate: '2026-05-01' } });
    expect(result.status).toBe('success');
    expect(fake.tokensIssued).toBe(2);
    expect((await trafficRows('ga4_refresh')).map((r) => r.sessions)).toEqual([7]);
  });

  it('waits a short Retry-After in place and backs off until the hourly quota window resets', async () => {
    const fake = new FakeGa4();
    for (const date of ['2026-06-01', '2026-06-02']) fake.put(row(date, 'a', 3));
    fake.install();
    const hourly = { status: 429, body: { error: { code: 429, message: 'Exhausted property tokens per hour. These quota tokens will return in under an hour.', status: 'RESOURCE_EXHAUSTED' } } };
    // 1 s before the hour: the hourly refill is that close, so the connector waits for it.
    const start = Date.now();
    const clock = () => new Date(Date.parse('2026-06-03T17:59:59.000Z') + (Date.now() - start));
    // The probe succeeds, then the first chunk meets a short 429 and the hourly quota.
    const probeAnswer = fake.answer({ dateRanges: [{ startDate: '2026-06-02', endDate: '2026-06-02' }], metrics: [{ name: 'sessions' }] });
    fake.injected.push({ status: 200, body: probeAnswer }, { status: 429, body: { error: { code: 429, message: 'Too many requests', status: 'RESOURCE_EXHAUSTED' } }, headers: { 'retry-after': '0' } }, hourly);
    const result = await sync('ga4_hourly', { mode: 'full', now: clock, settings: { startDate: '2026-06-01' } });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('success');
    // probe, the 429 with Retry-After, the hourly 429, then the same chunk again after the refill.
    expect(fake.injected).toEqual([]);
    expect(fake.requests).toHaveLength(4);
    expect(fake.requests[3]).toEqual(fake.requests[1]);
    expect(await trafficRows('ga4_hourly')).toHaveLength(2);
  });

  it('ends the run partial with a clear message when the daily quota is exhausted, at the last stored chunk', async () => {
    const fake = new FakeGa4();
    for (const date of ['2026-06-01', '2026-06-02', '2026-06-03', '2026-06-04']) fake.put(row(date, 'a', 3));
    fake.install();
    const daily = { status: 429, body: { error: { code: 429, message: 'Exhausted property tokens per day. These quota tokens will return at midnight Pacific time.', status: 'RESOURCE_EXHAUSTED' } } };
    fake.injected.push(
      { status: 200, body: fake.answer({ dateRanges: [{ startDate: '2026-06-04', endDate: '2026-06-04' }], metrics: [{ name: 'sessions' }] }) },
      { status: 200, body: fake.answer({ dateRanges: [{ startDate: '2026-06-01', endDate: '2026-06-02' }], dimensions: ['date', 'sessionSource', 'sessionMedium', 'sessionCampaignName', 'sessionDefaultChannelGroup'].map((name) => ({ name })), metrics: ['sessions', 'engagedSessions', 'keyEvents', 'totalUsers'].map((name) => ({ name })) }) },
      daily,
    );
    const result = await sync('ga4_daily', { mode: 'full', now: at('2026-06-05T18:00:00Z'), settings: { startDate: '2026-06-01', chunkDays: 2 } });
    expect(result.status).toBe('partial');
    expect(result.error).toMatch(/GA4 property 312345678: daily quota exhausted \(Exhausted property tokens per day.*\); resume after the daily refill \(midnight Pacific time\)/);
    expect(await trafficRows('ga4_daily')).toHaveLength(2);
    const state = await warehouse.knex('meta.sync_state').where({ connection: 'ga4_daily', stream: 'traffic_daily' }).first('cursor');
    expect(state.cursor).toEqual({ properties: { [PROPERTY]: { through: '2026-06-02' } } });
    const run = await warehouse.knex('meta.sync_runs').where({ id: result.runId }).first('status', 'error');
    expect(run).toMatchObject({ status: 'partial', error: expect.stringContaining('daily quota exhausted') });
  });

  it('slows down when hourly tokens run low, stops (partial) before exhausting the daily tokens propertyQuota reports, and when the hourly refill is too far away', async () => {
    const fake = new FakeGa4();
    for (const date of ['2026-07-01', '2026-07-02', '2026-07-03', '2026-07-04']) fake.put(row(date, 'a', 3));
    fake.install();
    fake.dailyLeft = 2_003; // the probe and the first chunk bring it to 2,001, the second to 2,000 - 1
    const lines: string[] = [];
    const captured = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const result = await sync('ga4_guard', { mode: 'full', log: captured, now: at('2026-07-05T18:00:00Z'), settings: { startDate: '2026-07-01', chunkDays: 1, quota: { minDailyTokens: 2_000, minHourlyTokens: 0, slowDownHourlyTokens: 50_000, slowDownMs: 1, maxHourlyWaitMs: 0 } } });
    // Hourly tokens (39,999 and fewer) are below slowDownHourlyTokens: every later request waits first.
    expect(lines.filter((l) => l.includes('GA4 hourly tokens running low: slowing down'))).toHaveLength(3);
    expect(lines.join('\n')).not.toMatch(/client-secret-xyz|refresh-token-abc|ya29\.token/);
    expect(result.status).toBe('partial');
    expect(result.error).toMatch(/1999 daily tokens left \(below quota\.minDailyTokens 2000\); stopped before exhausting them/);
    expect(reports(fake)).toHaveLength(3);
    expect(await trafficRows('ga4_guard')).toHaveLength(3);
    // Hourly tokens low and the refill too far away: partial, not a failure.
    nock.cleanAll();
    const fake2 = new FakeGa4();
    fake2.put(row('2026-07-01', 'a', 3));
    fake2.install();
    fake2.hourlyLeft = 100;
    const hourly = await sync('ga4_guard2', { mode: 'full', now: at('2026-07-02T18:10:00Z'), settings: { startDate: '2026-07-01', quota: { minHourlyTokens: 500, maxHourlyWaitMs: 60_000 } } });
    expect(hourly.status).toBe('partial');
    expect(hourly.error).toMatch(/98 hourly tokens left|99 hourly tokens left/);
    expect(hourly.error).toMatch(/refills in 50 min/);
  });

  it('retries a 5xx, but stops (partial) instead of retrying into the server-errors-per-hour lockout', async () => {
    const fake = new FakeGa4();
    for (const date of ['2026-07-10', '2026-07-11']) fake.put(row(date, 'a', 3));
    fake.install();
    const error500 = { status: 500, body: { error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } } };
    fake.injected.push(error500);
    const retried = await sync('ga4_5xx', { mode: 'full', now: at('2026-07-12T18:00:00Z'), settings: { startDate: '2026-07-10', retryBaseMs: 1 } });
    expect(retried.status).toBe('success');
    nock.cleanAll();
    const fake2 = new FakeGa4();
    for (const date of ['2026-07-10', '2026-07-11']) fake2.put(row(date, 'a', 3));
    fake2.serverErrorsLeft = 3;
    fake2.install();
    // The probe reports 3 server errors left; two 500s in a row leave 1: no third try.
    fake2.injected.push({ status: 200, body: fake2.answer({ dateRanges: [{ startDate: '2026-07-11', endDate: '2026-07-11' }], metrics: [{ name: 'sessions' }] }) }, error500, error500, error500);
    const stopped = await sync('ga4_5xx_stop', { mode: 'full', now: at('2026-07-12T18:00:00Z'), settings: { startDate: '2026-07-10', retryBaseMs: 1 } });
    expect(stopped.status).toBe('partial');
    expect(stopped.error).toMatch(/GA4 property 312345678: 1 server error\(s\) per project per hour left after .*HTTP 500.*; stopped rather than retrying into the hourly lockout/);
    expect(fake2.injected).toHaveLength(1);
  });

  it('warns in sync_runs and re-requests smaller chunks when GA4 folds rows into "(other)"', async () => {
    const fake = new FakeGa4();
    for (const date of ['2026-08-01', '2026-08-02', '2026-08-03', '2026-08-04']) for (const c of ['a', 'b']) fake.put(row(date, c, 4));
    fake.otherAboveDays = 1;
    fake.install();
    const result = await sync('ga4_other', { mode: 'full', now: at('2026-08-05T18:00:00Z'), settings: { startDate: '2026-08-01', chunkDays: 4 } });
    expect(result.status).toBe('success');
    expect(result.warnings[0]).toMatch(/2026-08-01\.\.2026-08-04 folded rows into "\(other\)" \(dataLossFromOtherRow\); re-requesting in 2-day chunks/);
    expect(reports(fake).map((r) => `${r.dateRanges[0]!.startDate}..${r.dateRanges[0]!.endDate}`)).toEqual([
      '2026-08-01..2026-08-04', '2026-08-01..2026-08-02', '2026-08-01..2026-08-01', '2026-08-02..2026-08-02', '2026-08-03..2026-08-03', '2026-08-04..2026-08-04',
    ]);
    const rows = await trafficRows('ga4_other');
    expect(rows).toHaveLength(8);
    expect(rows.some((r) => r.campaign === '(other)')).toBe(false);
    const run = await warehouse.knex('meta.sync_runs').where({ id: result.runId }).first('warnings');
    expect(JSON.stringify(run.warnings)).toContain('(other)');
  });

  it('validates extra dimensions and metrics against the property metadata, and stores them in extra', async () => {
    const fake = new FakeGa4();
    fake.put(row('2026-09-01', 'a', 8));
    fake.install();
    const bad = await sync('ga4_extra_bad', { mode: 'full', now: at('2026-09-02T18:00:00Z'), settings: { startDate: '2026-09-01', extraMetrics: ['averageSessionDuration', 'bounceRatio'] } });
    expect(bad.status).toBe('failed');
    expect(bad.error).toBe('connection ga4_extra_bad (ga4): extraMetrics: bounceRatio is not a metric of property 312345678');
    const good = await sync('ga4_extra', { mode: 'full', now: at('2026-09-02T18:00:00Z'), settings: { startDate: '2026-09-01', extraMetrics: ['averageSessionDuration'] } });
    expect(good.status).toBe('success');
    expect((await trafficRows('ga4_extra'))[0]!.extra).toEqual({ averageSessionDuration: 61.5 });
  });

  it('configures from the environment and names bad settings', () => {
    const settings = ga4Connector.fromEnv({ GA4_PROPERTY_ID: 'properties/312345678, 401', GOOGLE_CLIENT_ID: 'id', GOOGLE_CLIENT_SECRET: 'secret', GOOGLE_REFRESH_TOKEN: 'refresh', GA4_BASE_URL: 'http://127.0.0.1:9', GOOGLE_OAUTH_TOKEN_URL: 'http://127.0.0.1:9/token' });
    const connection = buildConnection('ga4', ga4Connector as ConnectorDefinition<unknown>, settings!, 'env');
    expect(connection.config).toMatchObject({ propertyIds: ['312345678', '401'], baseUrl: 'http://127.0.0.1:9', oauthUrl: 'http://127.0.0.1:9/token', lookbackDays: 3, chunkDays: 30 });
    expect(ga4Connector.fromEnv({})).toBeUndefined();
    expect(() => buildConnection('x', ga4Connector as ConnectorDefinition<unknown>, { propertyIds: 'UA-1234', clientId: 'a', pageSize: 300_000, extraMetrics: ['sessions'] }, 'file')).toThrow(
      /propertyIds\.0: must be a numeric GA4 property id.*pageSize.*/,
    );
  });
});

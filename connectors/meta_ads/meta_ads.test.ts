import { createHmac } from 'node:crypto';
import nock from 'nock';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorDefinition } from '../core/connector.ts';
import { rawTableName } from '../core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { runSync } from '../../pipeline/sync.ts';
import { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import { adAccountExample, campaignsPageExample, insightsPageExample, reportRunExample, tokenErrorExample, throttleErrorExample } from '../../sandbox/emulators/meta_ads/fixtures.ts';
import { addDays } from './dates.ts';
import { ACCOUNT_FIELDS, MetaAdsApi, classifyGraphResponse, readUsage } from './api.ts';
import { metaAdsConfigSchema } from './config.ts';
import { addDecimals, metaAdsConnector, sumActions } from './index.ts';

/**
 * A fake Graph API with nock, answering from the documented example shapes
 * (sandbox/emulators/meta_ads/fixtures.ts): the ad account, campaigns, synchronous insights with
 * cursor paging, and the async report-run flow, over a table of daily rows the tests edit.
 */

const BASE = 'https://graph.test.example';
const V = 'v26.0';
const ACCOUNT = '1234567890';
const TOKEN = 'EAAtest-token-0123456789';
const log = pino({ level: 'silent' });

type Row = Record<string, unknown>;

class FakeGraph {
  rows = new Map<string, Row>();
  /** Every request (method, path, query) in order. */
  requests: Array<{ method: string; path: string; query: URLSearchParams }> = [];
  /** Synchronous insights over more days than this are refused with "reduce the amount of data". */
  maxSyncDays = Infinity;
  /** Scripted statuses per created report run (consumed per poll; the last one repeats). */
  runScripts: Array<Array<[string, number]>> = [];
  runs = new Map<string, { since: string; until: string; script: Array<[string, number]> }>();
  /** The Graph API version the routes answer under; a request under any other is unmatched (nock refuses it). */
  version = V;

  put(campaignId: string, date: string, over: Row = {}): void {
    const template = insightsPageExample.data[0] as Row;
    this.rows.set(`${campaignId}|${date}`, { ...template, account_id: ACCOUNT, campaign_id: campaignId, campaign_name: `Campaign ${campaignId}`, date_start: date, date_stop: date, ...over });
  }

  private inRange(since: string, until: string): Row[] {
    return [...this.rows.values()]
      .filter((r) => String(r.date_start) >= since && String(r.date_start) <= until)
      .sort((a, b) => `${a.date_start}|${a.campaign_id}`.localeCompare(`${b.date_start}|${b.campaign_id}`));
  }

  private page(path: string, query: URLSearchParams, rows: Row[]): Row {
    const limit = Number(query.get('limit') ?? 25);
    const offset = Number(Buffer.from(query.get('after') ?? 'MA==', 'base64').toString());
    const data = rows.slice(offset, offset + limit);
    const body: Row = { data, paging: { cursors: { before: Buffer.from(String(offset)).toString('base64'), after: Buffer.from(String(offset + data.length)).toString('base64') } } };
    if (offset + limit < rows.length) {
      const next = new URLSearchParams(query);
      next.set('after', Buffer.from(String(offset + limit)).toString('base64'));
      (body.paging as Row).next = `${BASE}${path}?${next.toString()}`;
    }
    return body;
  }

  install(): void {
    const record = (method: string, uri: string) => {
      const url = new URL(uri, BASE);
      this.requests.push({ method, path: url.pathname, query: url.searchParams });
      return url;
    };
    const range = (q: URLSearchParams) => JSON.parse(q.get('time_range') ?? '{}') as { since: string; until: string };
    nock(BASE, { reqheaders: { authorization: `Bearer ${TOKEN}` } })
      .persist()
      .get(new RegExp(`^/${this.version}/act_\\d+\\?`))
      .reply((uri) => {
        record('GET', uri);
        return [200, adAccountExample];
      })
      .get(new RegExp(`^/${this.version}/act_\\d+/campaigns\\?`))
      .reply((uri) => {
        const url = record('GET', uri);
        const list = [...(campaignsPageExample.data as Row[]), { ...(campaignsPageExample.data[0] as Row), id: '120210000000000002', name: 'Old', status: 'DELETED', effective_status: 'DELETED', stop_time: '2026-08-20T00:00:00-0700' }];
        return [200, this.page(url.pathname, url.searchParams, list)];
      })
      .get(new RegExp(`^/${this.version}/act_\\d+/insights\\?`))
      .reply((uri) => {
        const url = record('GET', uri);
        const r = range(url.searchParams);
        const days = Math.round((Date.parse(r.until) - Date.parse(r.since)) / 86_400_000) + 1;
        if (days > this.maxSyncDays) return [400, { error: { message: "Please reduce the amount of data you're asking for, then retry your request", type: 'OAuthException', code: 100, error_subcode: 1487534, fbtrace_id: 'Atrace' } }];
        return [200, this.page(url.pathname, url.searchParams, this.inRange(r.since, r.until))];
      })
      .post(new RegExp(`^/${this.version}/act_\\d+/insights\\?`))
      .reply((uri) => {
        const url = record('POST', uri);
        const id = String(6023920149050 + this.runs.size);
        this.runs.set(id, { ...range(url.searchParams), script: this.runScripts.shift() ?? [['Job Running', 50], ['Job Completed', 100]] });
        return [200, { report_run_id: id }];
      })
      .get(new RegExp(`^/${this.version}/\\d+(\\?|$)`))
      .reply((uri) => {
        const url = record('GET', uri);
        const run = this.runs.get(url.pathname.split('/')[2] ?? '');
        if (!run) return [400, { error: { message: 'Unsupported get request.', type: 'GraphMethodException', code: 100, error_subcode: 33 } }];
        const [status, percent] = (run.script.length > 1 ? run.script.shift() : run.script[0]) as [string, number];
        const body: Row = { ...reportRunExample, id: url.pathname.split('/')[2], async_status: status, async_percent_completion: percent, date_start: run.since, date_stop: run.until };
        if (status === 'Job Failed') Object.assign(body, { error_code: 100, error_subcode: 1487534, error_message: "Please reduce the amount of data you're asking for, then retry your request" });
        return [200, body];
      })
      .get(new RegExp(`^/${this.version}/\\d+/insights(\\?|$)`))
      .reply((uri) => {
        const url = record('GET', uri);
        const run = this.runs.get(url.pathname.split('/')[2] ?? '');
        if (!run) return [400, { error: { message: 'no such run', type: 'OAuthException', code: 100 } }];
        return [200, this.page(url.pathname, url.searchParams, this.inRange(run.since, run.until))];
      });
  }

  insightRanges(): string[] {
    return this.requests
      .filter((r) => r.path.endsWith('/insights') && r.path.includes('/act_') && !r.query.has('after'))
      .map((r) => `${r.method} ${range(r.query)}`);
    function range(q: URLSearchParams): string {
      const t = JSON.parse(q.get('time_range') ?? '{}') as { since: string; until: string };
      return `${t.since}..${t.until}`;
    }
  }
}

const baseSettings = {
  accessToken: TOKEN,
  adAccountIds: `act_${ACCOUNT}`,
  baseUrl: BASE,
  pageSize: 2,
  pollIntervalMs: 0,
  asyncStallTimeoutMs: 60_000,
  rateLimitWaitMs: 5,
  throttleMaxDelayMs: 0,
  maxRetries: 2,
};

/** 12:00 UTC on 2026-09-01 is 05:00 in Los Angeles (the example account's zone): yesterday is 08-31. */
const NOW = () => new Date('2026-09-01T12:00:00Z');

describe('meta_ads connector (nock, documented examples)', () => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  beforeAll(async () => {
    warehouse = await createTestWarehouse('postgres');
    nock.disableNetConnect();
  });
  afterEach(() => nock.cleanAll());
  afterAll(async () => {
    nock.enableNetConnect();
    await warehouse?.drop();
  });

  const connect = (id: string, settings: Record<string, unknown> = {}) =>
    buildConnection(id, metaAdsConnector as ConnectorDefinition<unknown>, { ...baseSettings, ...settings }, 'file');
  const stream = (name: string) => {
    const s = metaAdsConnector.streams.find((x) => x.name === name);
    if (!s) throw new Error(`no stream ${name}`);
    return s;
  };
  const sync = (id: string, name: string, options: { settings?: Record<string, unknown>; mode?: 'full' | 'incremental' | 'backfill'; now?: () => Date } = {}) =>
    runSync({ warehouse, connection: connect(id, options.settings), stream: stream(name), mode: options.mode ?? 'incremental', log, now: options.now ?? NOW });
  const spendRows = (connection: string) =>
    warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: connection }).orderBy(['date', 'campaign_id']).select('campaign_id', 'date', 'spend', 'impressions', 'clicks', 'conversions', 'conversion_value', 'currency', 'account_id', 'channel_hint');
  const cursor = async (connection: string, name = 'campaign_insights_daily') =>
    ((await warehouse.knex('meta.sync_state').where({ connection, stream: name, scope: 'incremental' }).first('cursor')) as { cursor: unknown } | undefined)?.cursor;

  it('sums decimal strings exactly and only the configured action types', () => {
    expect(addDecimals(['0.1', '0.2'])).toBe('0.3');
    expect(addDecimals(['1.5', '2.25', '3'])).toBe('6.75');
    expect(addDecimals([])).toBe('0');
    expect(addDecimals(['-1.5', '1'])).toBe('-0.5');
    const actions = [
      { action_type: 'link_click', value: '43' },
      { action_type: 'offsite_conversion.fb_pixel_lead', value: '2' },
      { action_type: 'lead', value: '2' },
      { action_type: 'purchase', value: '1' },
    ];
    expect(sumActions(actions, ['lead', 'purchase'])).toBe('3');
    expect(sumActions(undefined, ['lead'])).toBe('0');
  });

  it('reads the usage headers and maps Graph errors (throttle codes, token, reduce data)', () => {
    const headers = new Headers({
      'x-business-use-case-usage': JSON.stringify({ [ACCOUNT]: [{ type: 'ads_insights', call_count: 95, total_cputime: 20, total_time: 20, estimated_time_to_regain_access: 3 }] }),
      'x-ad-account-usage': JSON.stringify({ acc_id_util_pct: 9.67, reset_time_duration: 0 }),
    });
    expect(readUsage(headers)).toEqual({ percent: 95, regainMs: 180_000 });
    const throttled = classifyGraphResponse({ status: 400, headers, data: throttleErrorExample, text: '' }, 1000);
    expect(throttled).toMatchObject({ name: 'RateLimitError', retryAfterMs: 180_000 });
    for (const code of [4, 17, 32, 613, 80004]) {
      const e = classifyGraphResponse({ status: 400, headers: new Headers(), data: { error: { message: 'limit', type: 'OAuthException', code } }, text: '' }, 1234);
      expect(e).toMatchObject({ name: 'RateLimitError', retryAfterMs: 1234 });
    }
    expect(classifyGraphResponse({ status: 400, headers: new Headers(), data: tokenErrorExample, text: '' }, 1)).toMatchObject({ name: 'AuthError' });
    expect(classifyGraphResponse({ status: 400, headers: new Headers(), data: { error: { message: "Please reduce the amount of data you're asking for", code: 1 } }, text: '' }, 1)).toMatchObject({ name: 'ReduceDataError' });
    expect(classifyGraphResponse({ status: 400, headers: new Headers(), data: { error: { message: '(#100) bogus is not valid for fields param', code: 100 } }, text: '' }, 1)).toMatchObject({ name: 'RequestError' });
  });

  it('spaces requests out as the usage headers climb (none below throttleAtPercent, the maximum at 100 %)', async () => {
    const client = new MetaAdsApi(metaAdsConfigSchema.parse({ ...baseSettings, throttleAtPercent: 80, throttleMaxDelayMs: 1000 }));
    nock(BASE)
      .get(`/${V}/act_${ACCOUNT}`)
      .query(true)
      .reply(200, adAccountExample, { 'x-ad-account-usage': JSON.stringify({ acc_id_util_pct: 90, reset_time_duration: 0, ads_api_access_tier: 'standard_access' }) });
    await client.account(ACCOUNT);
    expect(client.usagePercent).toBe(90);
    expect(client.pacingDelayMs()).toBe(500);
    client.usagePercent = 79;
    expect(client.pacingDelayMs()).toBe(0);
    client.usagePercent = 100;
    expect(client.pacingDelayMs()).toBe(1000);
  });

  it('sends the token as access_token with appsecret_proof when so configured, never in a header', async () => {
    const proof = createHmac('sha256', 'app-secret-xyz').update(TOKEN).digest('hex');
    nock(BASE, { badheaders: ['authorization'] })
      .get(`/${V}/act_${ACCOUNT}`)
      .query({ fields: ACCOUNT_FIELDS.join(','), access_token: TOKEN, appsecret_proof: proof })
      .reply(200, adAccountExample);
    const result = await sync('query_token', 'ad_accounts', { settings: { tokenIn: 'query', appSecret: 'app-secret-xyz' } });
    expect(result).toMatchObject({ status: 'success', counts: { read: 1 } });
  });

  it('validates settings with errors naming the field, and reads META_* env variables', () => {
    expect(() => connect('bad', { adAccountIds: 'act_12x' })).toThrow(/adAccountIds.*numeric ad account id/);
    expect(() => connect('bad2', { apiVersion: '26' })).toThrow(/apiVersion: must look like v26.0/);
    expect(metaAdsConnector.fromEnv({})).toBeUndefined();
    const env = { META_ACCESS_TOKEN: TOKEN, META_AD_ACCOUNT_ID: 'act_1, 2', META_BASE_URL: BASE, META_API_VERSION: 'v25.0' };
    const conn = buildConnection('meta_ads', metaAdsConnector as ConnectorDefinition<unknown>, metaAdsConnector.fromEnv(env) ?? {}, 'env');
    expect(conn.config).toMatchObject({ adAccountIds: ['1', '2'], baseUrl: BASE, apiVersion: 'v25.0', lookbackDays: 28 });
  });

  it('pages synchronous insights, keeps unknown fields in raw, quarantines malformed rows and normalizes spend in account currency', async () => {
    const fake = new FakeGraph();
    for (const date of ['2026-08-27', '2026-08-28', '2026-08-29']) fake.put('111', date);
    fake.put('222', '2026-08-28', { spend: '1234.5', impressions: '9007199254740', quality_ranking: 'ABOVE_AVERAGE' });
    fake.put('333', '2026-08-29', { spend: 'N/A' });
    fake.put('444', '2026-08-30', { actions: 'lead:2' });
    fake.install();

    const result = await sync('sync_read', 'campaign_insights_daily', { mode: 'full', settings: { startDate: '2026-08-27' } });
    expect(result).toMatchObject({ status: 'success', counts: { read: 6, quarantined: 2 } });
    // 5 days < asyncMinDays (8): one synchronous read, paged by 2 rows through paging.next.
    expect(fake.insightRanges()).toEqual(['GET 2026-08-27..2026-08-31']);
    expect(fake.requests.filter((r) => r.path.endsWith('/insights')).length).toBe(3);
    const first = fake.requests.find((r) => r.path.endsWith(`act_${ACCOUNT}/insights`));
    expect(first?.query.get('level')).toBe('campaign');
    expect(first?.query.get('time_increment')).toBe('1');
    expect(first?.query.get('fields')).toBe('account_id,account_currency,campaign_id,campaign_name,spend,impressions,clicks,actions,action_values');

    const rows = await spendRows('sync_read');
    expect(rows).toHaveLength(4);
    expect(rows.find((r) => r.campaign_id === '111')).toEqual({
      campaign_id: '111', date: '2026-08-27', spend: '80.11', impressions: 5413, clicks: 43, conversions: '2', conversion_value: '120', currency: 'USD', account_id: ACCOUNT, channel_hint: 'paid_social',
    });
    expect(rows.find((r) => r.campaign_id === '222')).toMatchObject({ spend: '1234.5', impressions: 9007199254740 });
    const raw = await warehouse.knex(rawTableName('meta_ads', 'campaign_insights_daily')).where({ connection_id: 'sync_read', record_id: `${ACCOUNT}|222|2026-08-28` }).first('payload');
    expect(raw.payload.quality_ranking).toBe('ABOVE_AVERAGE');
    const quarantine = await warehouse.knex('meta.quarantine').where({ connection: 'sync_read' }).orderBy('record_key').select('record_key', 'error_message');
    expect(quarantine).toEqual([
      { record_key: `${ACCOUNT}|333|2026-08-29`, error_message: expect.stringContaining('spend: must be a decimal number') },
      { record_key: `${ACCOUNT}|444|2026-08-30`, error_message: expect.stringContaining('actions') },
    ]);
    expect(await cursor('sync_read')).toEqual({ accounts: { [ACCOUNT]: { through: '2026-08-31' } } });
  });

  it('reads the ad account and campaigns (deleted ones flagged)', async () => {
    const fake = new FakeGraph();
    fake.install();
    expect(await sync('lists', 'ad_accounts')).toMatchObject({ status: 'success', counts: { read: 1 } });
    const acc = await warehouse.knex(rawTableName('meta_ads', 'ad_accounts')).where({ connection_id: 'lists' }).first('payload');
    expect(acc.payload).toMatchObject({ currency: 'USD', timezone_name: 'America/Los_Angeles' });
    expect(await sync('lists', 'campaigns')).toMatchObject({ status: 'success', counts: { read: 2, deleted: 1 } });
    const campaigns = await warehouse.knex('core.dim_campaign').where({ connection_id: 'lists' }).orderBy('campaign_id').select('campaign_id', 'status', 'campaign_type', 'channel_hint', 'currency', 'time_zone', 'start_date', 'end_date', 'is_deleted');
    // A campaign has no currency of its own: the ad account's (currency, timezone_name) is added to each.
    expect(campaigns).toEqual([
      { campaign_id: '120210000000000001', status: 'ACTIVE', campaign_type: 'OUTCOME_LEADS', channel_hint: 'paid_social', currency: 'USD', time_zone: 'America/Los_Angeles', start_date: '2026-08-01', end_date: null, is_deleted: false },
      { campaign_id: '120210000000000002', status: 'DELETED', campaign_type: 'OUTCOME_LEADS', channel_hint: 'paid_social', currency: 'USD', time_zone: 'America/Los_Angeles', start_date: '2026-08-01', end_date: '2026-08-19', is_deleted: true },
    ]);
    const raw = await warehouse.knex(rawTableName('meta_ads', 'campaigns')).where({ connection_id: 'lists', record_id: '120210000000000001' }).first('payload');
    expect(raw.payload).toMatchObject({ account_currency: 'USD', account_timezone_name: 'America/Los_Angeles', objective: 'OUTCOME_LEADS' });
  });

  it('sends insights, report runs and their pages to /{apiVersion}/ for a non-default version (META_API_VERSION)', async () => {
    const fake = new FakeGraph();
    fake.version = 'v25.0';
    for (const date of ['2026-08-20', '2026-08-29']) fake.put('111', date);
    fake.install();
    const result = await sync('version', 'campaign_insights_daily', { mode: 'full', settings: { apiVersion: 'v25.0', startDate: '2026-08-18', chunkDays: 10, asyncMinDays: 8 } });
    expect(result).toMatchObject({ status: 'success', counts: { read: 2 } });
    // One async report (10 days) and one synchronous read (4 days), both under act_{id}/insights.
    expect(fake.insightRanges()).toEqual(['POST 2026-08-18..2026-08-27', 'GET 2026-08-28..2026-08-31']);
    expect(fake.requests.filter((r) => r.path === `/v25.0/act_${ACCOUNT}/insights`).map((r) => r.method)).toEqual(['POST', 'GET']);
    expect(fake.requests.filter((r) => !r.path.startsWith('/v25.0/'))).toEqual([]);
  });

  it('runs the async report flow: create, poll until Job Completed at 100 %, read the pages', async () => {
    const fake = new FakeGraph();
    for (const date of ['2026-08-20', '2026-08-25', '2026-08-31']) fake.put('111', date);
    fake.runScripts.push([['Job Not Started', 0], ['Job Running', 40], ['Job Completed', 90], ['Job Completed', 100]]);
    fake.install();
    const result = await sync('async', 'campaign_insights_daily', { mode: 'full', settings: { startDate: '2026-08-18', asyncMinDays: 8 } });
    expect(result).toMatchObject({ status: 'success', counts: { read: 3 } });
    expect(fake.insightRanges()).toEqual(['POST 2026-08-18..2026-08-31']);
    // 'Job Completed' at 90 % is not done yet (Meta sets the status before the percentage).
    expect(fake.requests.filter((r) => /^\/v26\.0\/\d+$/.test(r.path))).toHaveLength(4);
    expect(fake.requests.filter((r) => /^\/v26\.0\/\d+\/insights$/.test(r.path))).toHaveLength(2);
    expect((await spendRows('async')).map((r) => r.date)).toEqual(['2026-08-20', '2026-08-25', '2026-08-31']);
  });

  it('overwrites restated days inside the 28-day lookback instead of adding rows, and totals equal a fresh pull', async () => {
    const fake = new FakeGraph();
    for (let d = '2026-07-20'; d <= '2026-08-31'; d = addDays(d, 1)) fake.put('111', d, { spend: '10.5' });
    fake.install();
    const settings = { startDate: '2026-07-20', asyncMinDays: 100, chunkDays: 60, pageSize: 100 };
    expect(await sync('restate', 'campaign_insights_daily', { settings })).toMatchObject({ status: 'success' });
    // The next day: late conversions and a cost correction land on 08-30.
    fake.put('111', '2026-08-30', { spend: '12.75', actions: [{ action_type: 'lead', value: '5' }] });
    fake.put('111', '2026-09-01', { spend: '1' });
    fake.requests = [];
    const second = await sync('restate', 'campaign_insights_daily', { settings, now: () => new Date('2026-09-02T12:00:00Z') });
    expect(second).toMatchObject({ status: 'success' });
    // Lookback 28 days before yesterday (09-01): 08-05..09-01.
    expect(fake.insightRanges()).toEqual(['GET 2026-08-05..2026-09-01']);
    const rows = await spendRows('restate');
    expect(rows).toHaveLength(44);
    expect(rows.find((r) => r.date === '2026-08-30')).toMatchObject({ spend: '12.75', conversions: '5' });
    const total = await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'restate' }).sum({ s: 'spend' }).first();
    expect(Number(total?.s)).toBeCloseTo(42 * 10.5 + 12.75 + 1, 6);
    // A fresh full pull gives the same table.
    await sync('restate_fresh', 'campaign_insights_daily', { settings, mode: 'full', now: () => new Date('2026-09-02T12:00:00Z') });
    expect(await spendRows('restate_fresh')).toEqual(rows);
  });

  const rawFlags = async (connection: string) =>
    Object.fromEntries(
      ((await warehouse.knex(rawTableName('meta_ads', 'campaign_insights_daily')).where({ connection_id: connection }).select('record_id', '_deleted')) as Array<{ record_id: string; _deleted: boolean }>).map((r) => [r.record_id, r._deleted]),
    );
  const coreDeleted = async (connection: string) =>
    ((await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: connection, is_deleted: true }).orderBy(['date', 'campaign_id']).select('campaign_id', 'date', 'spend')) as Array<Record<string, unknown>>);

  it('marks a campaign-day that a lookback re-pull no longer returns deleted in raw and core (across pages), and only in the re-read days', async () => {
    const fake = new FakeGraph();
    for (let d = '2026-08-20'; d <= '2026-08-31'; d = addDays(d, 1)) for (const c of ['111', '222']) fake.put(c, d, { spend: '10' });
    fake.install();
    const settings = { startDate: '2026-08-20', lookbackDays: 5, asyncMinDays: 100, pageSize: 3 };
    expect(await sync('vanish', 'campaign_insights_daily', { settings })).toMatchObject({ status: 'success', counts: { read: 24, deleted: 0 } });
    // Meta restates 222's spend on 08-30 to nothing: the row is no longer returned. 08-22 vanishes
    // too, but lies before the next lookback window (08-28..09-01), so nothing says it is gone.
    fake.rows.delete('222|2026-08-30');
    fake.rows.delete('111|2026-08-22');
    const second = await sync('vanish', 'campaign_insights_daily', { settings, now: () => new Date('2026-09-02T12:00:00Z') });
    expect(fake.insightRanges().at(-1)).toBe('GET 2026-08-28..2026-09-01');
    expect(second).toMatchObject({ status: 'success', counts: { deleted: 1 } });
    const flags = await rawFlags('vanish');
    expect(flags[`${ACCOUNT}|222|2026-08-30`]).toBe(true);
    expect(flags[`${ACCOUNT}|111|2026-08-22`]).toBe(false);
    expect(Object.values(flags).filter(Boolean)).toHaveLength(1);
    // The core row keeps its last values, flagged, so the marts leave it out.
    expect(await coreDeleted('vanish')).toEqual([{ campaign_id: '222', date: '2026-08-30', spend: '10' }]);
    const run = await warehouse.knex('meta.sync_runs').where({ id: second.runId }).first('rows_deleted');
    expect(run.rows_deleted).toBe(1);
    // A day totals what a fresh pull of it gives.
    const live = await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'vanish', date: '2026-08-30', is_deleted: false }).sum({ s: 'spend' }).first();
    expect(Number(live?.s)).toBe(10);

    // Spend comes back on a later restatement: the row is live again.
    fake.put('222', '2026-08-30', { spend: '3.5' });
    expect(await sync('vanish', 'campaign_insights_daily', { settings, now: () => new Date('2026-09-03T12:00:00Z') })).toMatchObject({ status: 'success', counts: { deleted: 0 } });
    expect(await coreDeleted('vanish')).toEqual([]);
    expect((await rawFlags('vanish'))[`${ACCOUNT}|222|2026-08-30`]).toBe(false);
    expect((await spendRows('vanish')).find((r) => r.campaign_id === '222' && r.date === '2026-08-30')).toMatchObject({ spend: '3.5' });
  });

  it('a re-pull that fails halfway through a range deletes nothing it has not finished reading; the next run does', async () => {
    const fake = new FakeGraph();
    for (let d = '2026-08-26'; d <= '2026-08-31'; d = addDays(d, 1)) for (const c of ['111', '222', '333']) fake.put(c, d);
    fake.install();
    const settings = { startDate: '2026-08-26', lookbackDays: 6, chunkDays: 3, asyncMinDays: 100, pageSize: 2, maxRetries: 0 };
    expect(await sync('vanish_resume', 'campaign_insights_daily', { settings })).toMatchObject({ status: 'success', counts: { read: 18 } });
    // Two rows vanish: one in the first chunk (08-26..08-28), one in the second (08-29..08-31).
    fake.rows.delete('333|2026-08-27');
    fake.rows.delete('111|2026-08-31');
    // The second chunk's second page fails after its first page was stored.
    nock.cleanAll();
    nock(BASE)
      .get((uri) => uri.includes('/insights?') && uri.includes('after=') && decodeURIComponent(uri).includes('"since":"2026-08-29"'))
      .reply(400, { error: { message: '(#100) Invalid parameter', type: 'OAuthException', code: 100 } });
    fake.install();
    const failed = await sync('vanish_resume', 'campaign_insights_daily', { settings });
    expect(failed.status).toBe('failed');
    expect(failed.pages).toBeGreaterThan(3);
    expect(await coreDeleted('vanish_resume')).toEqual([{ campaign_id: '333', date: '2026-08-27', spend: '80.11' }]);
    expect((await rawFlags('vanish_resume'))[`${ACCOUNT}|111|2026-08-31`]).toBe(false);
    // The next run reads the second chunk again from its first day, and only then sweeps it.
    const resumed = await sync('vanish_resume', 'campaign_insights_daily', { settings });
    expect(resumed).toMatchObject({ status: 'success', counts: { deleted: 1 } });
    expect(await coreDeleted('vanish_resume')).toEqual([
      { campaign_id: '333', date: '2026-08-27', spend: '80.11' },
      { campaign_id: '111', date: '2026-08-31', spend: '80.11' },
    ]);
  });

  it('sweeps only its own ad account and connection', async () => {
    const fake = new FakeGraph();
    for (const c of ['111', '222']) fake.put(c, '2026-08-31');
    fake.install();
    const settings = { startDate: '2026-08-31', asyncMinDays: 100 };
    await sync('sweep_a', 'campaign_insights_daily', { settings });
    await sync('sweep_b', 'campaign_insights_daily', { settings });
    // A row of another ad account stored under sweep_a (as a second account of the connection would).
    await warehouse.knex(rawTableName('meta_ads', 'campaign_insights_daily')).insert({
      connection_id: 'sweep_a',
      record_id: '999|111|2026-08-31',
      payload: JSON.stringify({ ...(insightsPageExample.data[0] as Row), account_id: '999', campaign_id: '111', date_start: '2026-08-31', date_stop: '2026-08-31' }),
    });
    fake.rows.delete('222|2026-08-31');
    expect(await sync('sweep_a', 'campaign_insights_daily', { settings, now: () => new Date('2026-09-01T20:00:00Z') })).toMatchObject({ status: 'success', counts: { deleted: 1 } });
    const flags = await rawFlags('sweep_a');
    expect(flags).toEqual({ [`${ACCOUNT}|111|2026-08-31`]: false, [`${ACCOUNT}|222|2026-08-31`]: true, '999|111|2026-08-31': false });
    expect(Object.values(await rawFlags('sweep_b')).some(Boolean)).toBe(false);
  });

  it('splits a range Meta refuses ("Please reduce the amount of data") in half, recursively', async () => {
    const fake = new FakeGraph();
    for (let d = '2026-08-25'; d <= '2026-08-31'; d = addDays(d, 1)) fake.put('111', d);
    fake.maxSyncDays = 2;
    fake.install();
    const result = await sync('split', 'campaign_insights_daily', { mode: 'full', settings: { startDate: '2026-08-25' } });
    expect(result.status).toBe('success');
    expect(result.warnings.some((w) => w.includes('split in two'))).toBe(true);
    expect(fake.insightRanges()).toEqual([
      'GET 2026-08-25..2026-08-31',
      'GET 2026-08-25..2026-08-28',
      'GET 2026-08-25..2026-08-26',
      'GET 2026-08-27..2026-08-28',
      'GET 2026-08-29..2026-08-31',
      'GET 2026-08-29..2026-08-30',
      'GET 2026-08-31..2026-08-31',
    ]);
    expect(await spendRows('split')).toHaveLength(7);
  });

  it('splits an async run that fails, and leaves a stalled run running (never cancelled) while asking for smaller ranges', async () => {
    const fake = new FakeGraph();
    for (let d = '2026-08-28'; d <= '2026-08-31'; d = addDays(d, 1)) fake.put('111', d);
    fake.runScripts.push([['Job Running', 10], ['Job Failed', 10]]); // 08-28..08-31 fails
    fake.runScripts.push([['Job Running', 30], ['Job Running', 30]]); // 08-28..08-29 stalls at 30 %
    fake.install();
    const result = await sync('async_split', 'campaign_insights_daily', { mode: 'full', settings: { startDate: '2026-08-28', asyncMinDays: 0, asyncStallTimeoutMs: 0 } });
    expect(result.status).toBe('success');
    expect(fake.insightRanges()).toEqual([
      'POST 2026-08-28..2026-08-31',
      'POST 2026-08-28..2026-08-29',
      'POST 2026-08-28..2026-08-28',
      'POST 2026-08-29..2026-08-29',
      'POST 2026-08-30..2026-08-31',
    ]);
    expect(fake.requests.some((r) => r.method !== 'GET' && r.method !== 'POST')).toBe(false);
    expect(await spendRows('async_split')).toHaveLength(4);
  });

  it('keeps polling a slow run for as long as its percentage rises, however long that takes (no split, no second run)', async () => {
    const fake = new FakeGraph();
    fake.put('111', '2026-08-31');
    const script: Array<[string, number]> = [['Job Not Started', 0]];
    for (let p = 5; p < 100; p += 5) script.push(['Job Running', p]);
    script.push(['Job Completed', 100]);
    fake.runScripts.push([...script]);
    fake.install();
    // A stall timeout of 0: any poll without progress would count as stalled; none happens.
    const result = await sync('slow', 'campaign_insights_daily', { mode: 'full', settings: { startDate: '2026-08-25', asyncMinDays: 0, asyncStallTimeoutMs: 0 } });
    expect(result).toMatchObject({ status: 'success', counts: { read: 1 }, warnings: [] });
    expect(fake.insightRanges()).toEqual(['POST 2026-08-25..2026-08-31']);
    expect(fake.requests.filter((r) => /^\/v26\.0\/\d+$/.test(r.path))).toHaveLength(script.length);
  });

  it('gives up on one day that keeps failing after asyncDayAttempts, keeping the checkpoint before it', async () => {
    const fake = new FakeGraph();
    fake.put('111', '2026-08-30');
    fake.put('111', '2026-08-31');
    fake.runScripts.push([['Job Completed', 100]], [['Job Failed', 0]], [['Job Failed', 0]]);
    fake.install();
    const result = await sync('day_fail', 'campaign_insights_daily', { settings: { startDate: '2026-08-30', asyncMinDays: 0, chunkDays: 1, asyncDayAttempts: 2 } });
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/act_1234567890 on 2026-08-31 failed 2 time/);
    expect(await cursor('day_fail')).toEqual({ accounts: { [ACCOUNT]: { through: '2026-08-30' } } });
  });

  it('fails clearly on a refused token without leaking it, and leaves the checkpoint alone', async () => {
    nock(BASE).get(new RegExp(`^/${V}/act_\\d+\\?`)).reply(400, { error: { ...tokenErrorExample.error, message: `Error validating access token ${TOKEN}: Session has expired` } });
    const result = await sync('token', 'campaign_insights_daily', { settings: { startDate: '2026-08-30' } });
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/access token was refused \(#190\/463\)/);
    expect(result.error).not.toContain(TOKEN);
    expect(await cursor('token')).toBeUndefined();
  });

  it('waits out a short throttle (code 17) and retries; a long one (80004) ends the run with a rate-limit error', async () => {
    const fake = new FakeGraph();
    fake.put('111', '2026-08-31');
    nock(BASE).get(new RegExp(`^/${V}/act_\\d+/insights\\?`)).reply(400, { error: { message: 'User request limit reached', type: 'OAuthException', code: 17, is_transient: true } });
    fake.install();
    const ok = await sync('throttle', 'campaign_insights_daily', { settings: { startDate: '2026-08-31' } });
    expect(ok).toMatchObject({ status: 'success', counts: { read: 1 } });
    expect(fake.insightRanges()).toEqual(['GET 2026-08-31..2026-08-31']);

    nock.cleanAll();
    nock(BASE)
      .get(new RegExp(`^/${V}/act_\\d+/insights\\?`))
      .reply(400, { error: { message: 'There have been too many calls to this ad-account.', type: 'OAuthException', code: 80004, error_subcode: 2446079 } }, {
        'x-business-use-case-usage': JSON.stringify({ [ACCOUNT]: [{ type: 'ads_management', call_count: 100, total_cputime: 40, total_time: 40, estimated_time_to_regain_access: 30 }] }),
      });
    fake.install();
    const before = await cursor('throttle');
    const limited = await sync('throttle', 'campaign_insights_daily', { settings: { startDate: '2026-08-31', maxRetryWaitMs: 60_000 }, now: () => new Date('2026-09-02T12:00:00Z') });
    expect(limited.status).toBe('failed');
    expect(limited.error).toMatch(/rate limited \(#80004\/2446079\).*retry after 1800 s/);
    expect(await cursor('throttle')).toEqual(before);
  });
});

describe('meta_ads window sweep on the embedded warehouse (PGlite)', () => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  beforeAll(async () => {
    warehouse = await createTestWarehouse('pglite');
    nock.disableNetConnect();
  });
  afterEach(() => nock.cleanAll());
  afterAll(async () => {
    nock.enableNetConnect();
    await warehouse?.drop();
  });

  it('flags the campaign-day a re-pull no longer returns, as on Postgres', async () => {
    const fake = new FakeGraph();
    for (const d of ['2026-08-30', '2026-08-31']) for (const c of ['111', '222']) fake.put(c, d);
    fake.install();
    const connection = buildConnection('pglite_sweep', metaAdsConnector as ConnectorDefinition<unknown>, { ...baseSettings, startDate: '2026-08-30', asyncMinDays: 100 }, 'file');
    const stream = metaAdsConnector.streams.find((s) => s.name === 'campaign_insights_daily')!;
    const sync = (now: string) => runSync({ warehouse, connection, stream, mode: 'incremental', log, now: () => new Date(now) });
    expect(await sync('2026-09-01T12:00:00Z')).toMatchObject({ status: 'success', counts: { read: 4 } });
    fake.rows.delete('111|2026-08-30');
    expect(await sync('2026-09-01T13:00:00Z')).toMatchObject({ status: 'success', counts: { read: 3, deleted: 1 } });
    const raw = await warehouse.knex(rawTableName('meta_ads', 'campaign_insights_daily')).where({ _deleted: true }).pluck('record_id');
    expect(raw).toEqual([`${ACCOUNT}|111|2026-08-30`]);
    const core = await warehouse.knex('core.fct_ad_spend_daily').where({ is_deleted: true }).select('campaign_id', 'date');
    expect(core).toEqual([{ campaign_id: '111', date: '2026-08-30' }]);
  });
});

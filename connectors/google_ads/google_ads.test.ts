import nock from 'nock';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rawTableName, type ConnectorDefinition } from '../core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { runSync } from '../../pipeline/sync.ts';
import { ensureRawTable } from '../../warehouse/migrate.ts';
import { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import { daysToRead } from '../core/dates.ts';
import { googleAdsConnector, microsToDecimal } from './index.ts';

/**
 * A fake Google Ads REST API with nock: the token endpoint and searchStream, answering GAQL from an
 * in-memory store in the documented shapes (a JSON array of { results, fieldMask, requestId }
 * batches, lowerCamelCase fields, int64 values as strings; developers.google.com/google-ads/api/rest/common/search).
 */
const log = pino({ level: 'silent' });
const API = 'https://ads.example.test';
const TOKEN_URL = 'https://oauth.example.test/token';
const CUSTOMER = '1234567890';
const MANAGER = '9998887776';

interface DayRow {
  campaignId: string;
  date: string;
  costMicros: string;
  impressions: string;
  clicks: string;
  conversions: number;
  conversionsValue: number;
  extra?: Record<string, unknown>;
  raw?: Record<string, unknown>;
}

class FakeAds {
  rows = new Map<string, DayRow>();
  batchSize = 2;
  queries: string[] = [];
  tokensIssued = 0;
  /** Responses served before the store answers (errors to inject), in order. */
  injected: Array<{ status: number; body: unknown }> = [];
  authHeaders: string[] = [];
  /** The API version searchStream answers under; a request under any other is unmatched (nock refuses it). */
  version = 'v26';

  put(row: DayRow) {
    this.rows.set(`${row.campaignId}|${row.date}`, row);
  }

  install() {
    nock(new URL(TOKEN_URL).origin)
      .persist()
      .post('/token')
      .reply(() => {
        this.tokensIssued++;
        return [200, { access_token: `ya29.token-${this.tokensIssued}`, expires_in: 3599, token_type: 'Bearer' }];
      });
    nock(API, { reqheaders: { 'developer-token': 'dev-token-123', 'login-customer-id': MANAGER } })
      .persist()
      .post(`/${this.version}/customers/${CUSTOMER}/googleAds:searchStream`)
      .reply((_uri, body) => {
        const query = (body as { query: string }).query;
        this.queries.push(query);
        const injected = this.injected.shift();
        if (injected) return [injected.status, injected.body];
        return [200, this.answer(query)];
      });
  }

  customer() {
    return { resourceName: `customers/${CUSTOMER}`, id: CUSTOMER, currencyCode: 'EUR', timeZone: 'America/New_York', descriptiveName: 'Acme DE' };
  }

  answer(query: string): unknown[] {
    let results: unknown[];
    if (/FROM customer\b/.test(query)) {
      results = [{ customer: this.customer() }];
    } else if (!query.includes('segments.date BETWEEN')) {
      results = [
        { customer: this.customer(), campaign: { resourceName: `customers/${CUSTOMER}/campaigns/111`, id: '111', name: 'Brand Search', status: 'ENABLED', advertisingChannelType: 'SEARCH' } },
        { customer: this.customer(), campaign: { resourceName: `customers/${CUSTOMER}/campaigns/222`, id: '222', name: 'Old Display', status: 'REMOVED', advertisingChannelType: 'DISPLAY' } },
      ];
    } else {
      const m = /BETWEEN '(\d{4}-\d{2}-\d{2})' AND '(\d{4}-\d{2}-\d{2})'/.exec(query)!;
      const [from, to] = [m[1]!, m[2]!];
      results = [...this.rows.values()]
        .filter((r) => r.date >= from && r.date <= to)
        .sort((a, b) => (a.date + a.campaignId < b.date + b.campaignId ? -1 : 1))
        .map(
          (r) =>
            r.raw ?? {
              customer: this.customer(),
              campaign: { resourceName: `customers/${CUSTOMER}/campaigns/${r.campaignId}`, id: r.campaignId, name: `Campaign ${r.campaignId}`, status: 'ENABLED', advertisingChannelType: 'SEARCH' },
              segments: { date: r.date },
              metrics: { costMicros: r.costMicros, impressions: r.impressions, clicks: r.clicks, conversions: r.conversions, conversionsValue: r.conversionsValue },
              ...r.extra,
            },
        );
    }
    const batches: unknown[] = [];
    for (let i = 0; i < results.length; i += this.batchSize) {
      batches.push({ results: results.slice(i, i + this.batchSize), fieldMask: 'customer.id,campaign.id,segments.date,metrics.costMicros', requestId: `req-${this.queries.length}-${i}` });
    }
    return batches.length ? batches : [{ fieldMask: 'customer.id', requestId: 'empty' }];
  }
}

const baseSettings = {
  customerIds: '123-456-7890',
  loginCustomerId: '999-888-7776',
  developerToken: 'dev-token-123',
  clientId: 'client-id.apps.googleusercontent.com',
  clientSecret: 'client-secret-xyz',
  refreshToken: '1//refresh-token-abc',
  oauthUrl: TOKEN_URL,
  baseUrl: API,
  maxRetries: 2,
};

const at = (iso: string) => () => new Date(iso);

describe('google_ads connector', () => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  beforeAll(async () => {
    warehouse = await createTestWarehouse('postgres');
    for (const stream of googleAdsConnector.streams) {
      await ensureRawTable(warehouse.knex, rawTableName('google_ads', stream.name), stream.description);
    }
    nock.disableNetConnect();
  });
  afterEach(() => nock.cleanAll());
  afterAll(async () => {
    nock.enableNetConnect();
    await warehouse?.drop();
  });

  const connect = (id: string, settings: Record<string, unknown> = {}) =>
    buildConnection(id, googleAdsConnector as ConnectorDefinition<unknown>, { ...baseSettings, ...settings }, 'file');
  const stream = (name: string) => googleAdsConnector.streams.find((s) => s.name === name)!;
  const sync = (id: string, name: string, options: Partial<Parameters<typeof runSync>[0]> & { settings?: Record<string, unknown> } = {}) => {
    const { settings, ...rest } = options;
    return runSync({ warehouse, connection: connect(id, settings), stream: stream(name), mode: 'incremental', log, ...rest });
  };
  const spendRows = (connection: string) =>
    warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: connection }).orderBy(['date', 'campaign_id']).select('campaign_id', 'date', 'spend', 'impressions', 'clicks', 'conversions', 'conversion_value', 'currency', 'account_id', 'channel_hint');

  it('converts micros to exact decimals without float error', () => {
    expect(microsToDecimal('0')).toBe('0');
    expect(microsToDecimal('1230000')).toBe('1.23');
    expect(microsToDecimal('500')).toBe('0.0005');
    expect(microsToDecimal('123456789012345678')).toBe('123456789012.345678');
    expect(microsToDecimal('-2500000')).toBe('-2.5');
    // 0.1 + 0.2 style: 300000 + 100000 micros stay exact.
    expect(microsToDecimal('400000')).toBe('0.4');
  });

  it('plans the restatement window: lookback, gaps and backfill resume', () => {
    const cfg = { startDate: '2026-01-01', lookbackDays: 30 };
    expect(daysToRead(cfg, { mode: 'incremental', window: undefined }, '2026-03-11', '2026-03-09')).toEqual({ from: '2026-02-09', to: '2026-03-10' });
    expect(daysToRead(cfg, { mode: 'incremental', window: undefined }, '2026-03-11', '2026-01-15')).toEqual({ from: '2026-01-16', to: '2026-03-10' });
    expect(daysToRead({ lookbackDays: 0, startDate: undefined }, { mode: 'incremental', window: undefined }, '2026-03-11', '2026-03-10')).toEqual({ from: '2026-03-11', to: '2026-03-10' });
    expect(daysToRead(cfg, { mode: 'full', window: undefined }, '2026-03-11', '2026-03-10')).toEqual({ from: '2026-01-01', to: '2026-03-10' });
    const window = { from: '2026-02-01', to: '2026-02-28' };
    expect(daysToRead(cfg, { mode: 'backfill', window }, '2026-03-11', '2026-02-10')).toEqual({ from: '2026-02-11', to: '2026-02-28' });
    expect(daysToRead(cfg, { mode: 'backfill', window }, '2026-03-11', '2026-02-28')).toEqual(window);
  });

  it('reads multi-batch searchStream responses in chunks, parses int64 strings, keeps unknown fields in raw and quarantines bad rows', async () => {
    const fake = new FakeAds();
    for (const date of ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-06', '2026-03-09']) {
      fake.put({ campaignId: '111', date, costMicros: '123456789012', impressions: '9007199254740', clicks: '42', conversions: 3.5, conversionsValue: 120.25 });
    }
    fake.put({ campaignId: '222', date: '2026-03-02', costMicros: '990000', impressions: '10', clicks: '1', conversions: 0, conversionsValue: 0, extra: { adGroupCriterion: { newField: 'drift' } } });
    // A number where the REST API sends an int64 string: quarantined, not guessed.
    fake.put({ campaignId: '333', date: '2026-03-03', costMicros: '1', impressions: '1', clicks: '1', conversions: 0, conversionsValue: 0, raw: { customer: fake.customer(), campaign: { id: '333' }, segments: { date: '2026-03-03' }, metrics: { costMicros: 1500000 } } });
    fake.put({ campaignId: '444', date: '2026-03-04', costMicros: '1', impressions: '1', clicks: '1', conversions: 0, conversionsValue: 0, raw: { customer: fake.customer(), campaign: { id: '444' }, segments: { date: '20260304' }, metrics: {} } });
    fake.install();

    const result = await sync('ads_full', 'campaign_daily', { mode: 'full', now: at('2026-03-11T03:00:00Z'), settings: { startDate: '2026-03-01', chunkDays: 5 } });
    expect(result).toMatchObject({ status: 'success', counts: { read: 8, quarantined: 2 } });
    // 03:00 UTC is still 2026-03-10 in New York: yesterday there is 03-09.
    expect(fake.queries.filter((q) => q.includes('BETWEEN'))).toEqual([
      expect.stringContaining("BETWEEN '2026-03-01' AND '2026-03-05'"),
      expect.stringContaining("BETWEEN '2026-03-06' AND '2026-03-09'"),
    ]);
    expect(fake.queries[1]).toMatch(/^SELECT customer\.id, .*metrics\.cost_micros, metrics\.impressions, metrics\.clicks, metrics\.conversions, metrics\.conversions_value FROM campaign WHERE/);

    const rows = await spendRows('ads_full');
    expect(rows).toHaveLength(6);
    expect(rows[0]).toEqual({
      campaign_id: '111', date: '2026-03-01', spend: '123456.789012', impressions: 9007199254740, clicks: 42, conversions: '3.5', conversion_value: '120.25', currency: 'EUR', account_id: CUSTOMER, channel_hint: 'paid_search',
    });
    const raw = await warehouse.knex(rawTableName('google_ads', 'campaign_daily')).where({ connection_id: 'ads_full', record_id: `${CUSTOMER}|222|2026-03-02` }).first('payload');
    expect(raw.payload.adGroupCriterion).toEqual({ newField: 'drift' });
    expect(raw.payload.metrics.costMicros).toBe('990000');

    const quarantine = await warehouse.knex('meta.quarantine').where({ connection: 'ads_full' }).orderBy('record_key').select('record_key', 'error_message');
    expect(quarantine).toEqual([
      { record_key: `${CUSTOMER}|333|2026-03-03`, error_message: expect.stringContaining('metrics.costMicros') },
      { record_key: `${CUSTOMER}|444|20260304`, error_message: expect.stringContaining('segments.date: must be a date YYYY-MM-DD') },
    ]);
    const state = await warehouse.knex('meta.sync_state').where({ connection: 'ads_full', stream: 'campaign_daily' }).first('cursor');
    expect(state.cursor).toEqual({ customers: { [CUSTOMER]: { through: '2026-03-09' } } });
  });

  it('overwrites restated days on every sync: totals after several syncs equal a fresh pull', async () => {
    const fake = new FakeAds();
    const days = ['2026-04-01', '2026-04-02', '2026-04-03', '2026-04-04', '2026-04-05', '2026-04-06'];
    for (const [i, date] of days.entries()) {
      for (const campaignId of ['111', '222']) fake.put({ campaignId, date, costMicros: String((i + 1) * 1_110_000), impressions: '100', clicks: '10', conversions: 1, conversionsValue: 10 });
    }
    fake.install();
    const settings = { startDate: '2026-04-01', lookbackDays: 3, chunkDays: 30 };
    // Day 1: through 04-04 (now is 04-05 in New York).
    await sync('ads_restate', 'campaign_daily', { now: at('2026-04-05T16:00:00Z'), settings });
    // Google restates conversions (and cost) of 04-03 and 04-04; a new day 04-05 arrives.
    fake.put({ campaignId: '111', date: '2026-04-03', costMicros: '4440000', impressions: '100', clicks: '10', conversions: 2.75, conversionsValue: 31.5 });
    fake.put({ campaignId: '222', date: '2026-04-04', costMicros: '4440000', impressions: '120', clicks: '11', conversions: 4, conversionsValue: 44 });
    const second = await sync('ads_restate', 'campaign_daily', { now: at('2026-04-06T16:00:00Z'), settings });
    expect(fake.queries.at(-1)).toContain("BETWEEN '2026-04-03' AND '2026-04-05'");
    expect(second.counts).toMatchObject({ read: 6, inserted: 2, updated: 2, unchanged: 2 });
    // A further restatement of 04-05 on the third sync.
    fake.put({ campaignId: '111', date: '2026-04-05', costMicros: '1', impressions: '100', clicks: '10', conversions: 0.5, conversionsValue: 5 });
    await sync('ads_restate', 'campaign_daily', { now: at('2026-04-07T16:00:00Z'), settings });

    // A fresh connection pulling everything once, now.
    await sync('ads_fresh', 'campaign_daily', { mode: 'full', now: at('2026-04-07T16:00:00Z'), settings });
    expect(await spendRows('ads_restate')).toEqual(await spendRows('ads_fresh'));
    const totals = await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'ads_restate' }).groupBy('date').orderBy('date').select('date', warehouse.knex.raw('sum(spend)::text AS spend'), warehouse.knex.raw('sum(conversions)::text AS conversions'), warehouse.knex.raw('count(*)::int AS n'));
    expect(totals.map((t) => t.n)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(totals.find((t) => t.date === '2026-04-03')).toMatchObject({ spend: '7.77', conversions: '3.75' });
    expect(totals.find((t) => t.date === '2026-04-05')).toMatchObject({ spend: '5.550001', conversions: '1.5' });
  });

  it('marks a campaign-day the lookback re-pull no longer returns deleted in raw and core, only once its chunk is read completely', async () => {
    const fake = new FakeAds();
    const days = ['2026-07-01', '2026-07-02', '2026-07-03', '2026-07-04', '2026-07-05', '2026-07-06'];
    for (const date of days) for (const campaignId of ['111', '222']) fake.put({ campaignId, date, costMicros: '2000000', impressions: '50', clicks: '5', conversions: 1, conversionsValue: 10 });
    fake.install();
    const settings = { startDate: '2026-07-01', lookbackDays: 4, chunkDays: 2 };
    expect(await sync('ads_vanish', 'campaign_daily', { now: at('2026-07-07T16:00:00Z'), settings })).toMatchObject({ status: 'success', counts: { read: 12 } });
    // Google restates both rows to nothing (invalid clicks refunded): searchStream no longer returns
    // them. 07-03 is in the first chunk of the re-pull (07-03..07-04), 07-05 in the second.
    fake.rows.delete('222|2026-07-03');
    fake.rows.delete('111|2026-07-05');
    // The second chunk's request fails after the first chunk is stored.
    fake.injected.push({ status: 200, body: fake.answer('FROM customer') }, { status: 200, body: fake.answer("segments.date BETWEEN '2026-07-03' AND '2026-07-04'") }, {
      status: 400,
      body: { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } },
    });
    const failed = await sync('ads_vanish', 'campaign_daily', { now: at('2026-07-07T16:00:00Z'), settings });
    expect(failed.status).toBe('failed');
    const deleted = () => warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'ads_vanish', is_deleted: true }).orderBy(['date', 'campaign_id']).select('campaign_id', 'date', 'spend');
    expect(await deleted()).toEqual([{ campaign_id: '222', date: '2026-07-03', spend: '2' }]);
    const rawDeleted = () => warehouse.knex(rawTableName('google_ads', 'campaign_daily')).where({ connection_id: 'ads_vanish', _deleted: true }).orderBy('record_id').pluck('record_id');
    expect(await rawDeleted()).toEqual([`${CUSTOMER}|222|2026-07-03`]);
    // The next run reads the second chunk again and sweeps it.
    const next = await sync('ads_vanish', 'campaign_daily', { now: at('2026-07-07T16:00:00Z'), settings });
    expect(next).toMatchObject({ status: 'success', counts: { deleted: 1 } });
    expect(await rawDeleted()).toEqual([`${CUSTOMER}|111|2026-07-05`, `${CUSTOMER}|222|2026-07-03`]);
    // Live rows equal a fresh pull.
    await sync('ads_vanish_fresh', 'campaign_daily', { mode: 'full', now: at('2026-07-07T16:00:00Z'), settings });
    const live = (connection: string) => warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: connection, is_deleted: false }).orderBy(['date', 'campaign_id']).select('campaign_id', 'date', 'spend', 'conversions');
    expect(await live('ads_vanish')).toEqual(await live('ads_vanish_fresh'));
    expect(await live('ads_vanish')).toHaveLength(10);
  });

  it('refreshes the OAuth token once on a 401 and retries', async () => {
    const fake = new FakeAds();
    fake.put({ campaignId: '111', date: '2026-05-01', costMicros: '1000000', impressions: '1', clicks: '1', conversions: 0, conversionsValue: 0 });
    fake.injected.push({ status: 401, body: { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } } });
    fake.install();
    const result = await sync('ads_refresh', 'campaign_daily', { mode: 'full', now: at('2026-05-02T16:00:00Z'), settings: { startDate: '2026-05-01' } });
    expect(result.status).toBe('success');
    expect(fake.tokensIssued).toBe(2);
    expect((await spendRows('ads_refresh')).map((r) => r.spend)).toEqual(['1']);
  });

  it('waits a short RESOURCE_EXHAUSTED retryDelay in place, and stops at the last stored chunk on a long one', async () => {
    const quota = (delay: string) => ({
      status: 429,
      body: {
        error: {
          code: 429,
          message: 'Resource has been exhausted (e.g. check quota).',
          status: 'RESOURCE_EXHAUSTED',
          details: [
            {
              '@type': 'type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure',
              errors: [{ errorCode: { quotaError: 'RESOURCE_TEMPORARILY_EXHAUSTED' }, message: 'Too many requests.', details: { quotaErrorDetails: { rateScope: 'ACCOUNT', rateName: 'Requests per account', retryDelay: delay } } }],
            },
          ],
        },
      },
    });
    const fake = new FakeAds();
    for (const date of ['2026-06-01', '2026-06-02', '2026-06-03', '2026-06-04']) fake.put({ campaignId: '111', date, costMicros: '1000000', impressions: '1', clicks: '1', conversions: 0, conversionsValue: 0 });
    fake.install();
    fake.injected.push(quota('0.05s'));
    const short = await sync('ads_quota', 'campaign_daily', { mode: 'full', now: at('2026-06-05T16:00:00Z'), settings: { startDate: '2026-06-01', chunkDays: 2 } });
    expect(short.status).toBe('success');
    expect(await spendRows('ads_quota')).toHaveLength(4);

    // Long delay on the second chunk: the run fails with a RateLimitError; chunk one stays stored.
    fake.injected.push({ status: 200, body: fake.answer('FROM customer') }, { status: 200, body: fake.answer("segments.date BETWEEN '2026-06-01' AND '2026-06-02'") }, quota('5603s'));
    const long = await sync('ads_quota2', 'campaign_daily', { mode: 'full', now: at('2026-06-05T16:00:00Z'), settings: { startDate: '2026-06-01', chunkDays: 2 } });
    expect(long.status).toBe('failed');
    expect(long.error).toMatch(/Google Ads: quota exhausted \(RESOURCE_EXHAUSTED \[quotaError\.RESOURCE_TEMPORARILY_EXHAUSTED\]: Too many requests\.\), retry after 5603 s/);
    expect(await spendRows('ads_quota2')).toHaveLength(2);
    const state = await warehouse.knex('meta.sync_state').where({ connection: 'ads_quota2', stream: 'campaign_daily' }).first('cursor');
    expect(state.cursor).toEqual({ customers: { [CUSTOMER]: { through: '2026-06-02' } } });
  });

  it('sends searchStream to /{apiVersion}/customers/{id}/googleAds:searchStream for a non-default version', async () => {
    const fake = new FakeAds();
    fake.version = 'v25';
    fake.put({ campaignId: '111', date: '2026-05-01', costMicros: '2500000', impressions: '1', clicks: '1', conversions: 0, conversionsValue: 0 });
    fake.install();
    const result = await sync('ads_version', 'campaign_daily', { mode: 'full', now: at('2026-05-02T16:00:00Z'), settings: { startDate: '2026-05-01', apiVersion: 'v25' } });
    expect(result.status, result.error).toBe('success');
    // The customer query and the day chunk, both answered under /v25 only.
    expect(fake.queries).toEqual([expect.stringMatching(/FROM customer\b/), expect.stringContaining("BETWEEN '2026-05-01' AND '2026-05-01'")]);
    expect((await spendRows('ads_version')).map((r) => r.spend)).toEqual(['2.5']);
  });

  it('syncs campaigns to dim_campaign with the customer currency and time zone; REMOVED is deleted', async () => {
    new FakeAds().install();
    const result = await sync('ads_campaigns', 'campaigns');
    expect(result).toMatchObject({ status: 'success', counts: { read: 2, deleted: 1 } });
    const rows = await warehouse.knex('core.dim_campaign').where({ connection_id: 'ads_campaigns' }).orderBy('campaign_id').select('campaign_id', 'name', 'status', 'campaign_type', 'channel_hint', 'currency', 'time_zone', 'account_id', 'is_deleted', 'source_system');
    expect(rows).toEqual([
      { campaign_id: '111', name: 'Brand Search', status: 'ENABLED', campaign_type: 'SEARCH', channel_hint: 'paid_search', currency: 'EUR', time_zone: 'America/New_York', account_id: CUSTOMER, is_deleted: false, source_system: 'google_ads' },
      { campaign_id: '222', name: 'Old Display', status: 'REMOVED', campaign_type: 'DISPLAY', channel_hint: 'display', currency: 'EUR', time_zone: 'America/New_York', account_id: CUSTOMER, is_deleted: true, source_system: 'google_ads' },
    ]);
  });

  it('configures from the environment and names missing settings', () => {
    const settings = googleAdsConnector.fromEnv({
      GOOGLE_ADS_CUSTOMER_ID: '123-456-7890, 2223334445',
      GOOGLE_ADS_DEVELOPER_TOKEN: 'dev',
      GOOGLE_CLIENT_ID: 'id',
      GOOGLE_CLIENT_SECRET: 'secret',
      GOOGLE_REFRESH_TOKEN: 'refresh',
      GOOGLE_OAUTH_TOKEN_URL: 'http://127.0.0.1:9/token',
    });
    const connection = buildConnection('google_ads', googleAdsConnector as ConnectorDefinition<unknown>, settings!, 'env');
    expect(connection.config).toMatchObject({ customerIds: ['1234567890', '2223334445'], oauthUrl: 'http://127.0.0.1:9/token', lookbackDays: 30, apiVersion: 'v26' });
    expect(googleAdsConnector.fromEnv({})).toBeUndefined();
    expect(() => buildConnection('x', googleAdsConnector as ConnectorDefinition<unknown>, { customerIds: '12345', developerToken: 'd', clientId: 'a' }, 'file')).toThrow(
      /customerIds\.0: must be a 10-digit Google Ads customer id.*clientSecret: Google credentials are incomplete: missing clientSecret, refreshToken/,
    );
  });
});

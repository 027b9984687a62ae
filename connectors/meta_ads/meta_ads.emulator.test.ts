import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorDefinition } from '../core/connector.ts';
import { rawTableName } from '../core/connector.ts';
import { buildConnection, type Connection } from '../../pipeline/config/connections.ts';
import { runSync, type SyncResult } from '../../pipeline/sync.ts';
import { createTestWarehouse, tableHash } from '../../test/helpers/warehouse.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import type { MetaAdsStore } from '../../sandbox/emulators/meta_ads/index.ts';
import { mulberry32 } from '../../sandbox/emulators/prng.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { addDays } from './dates.ts';
import { metaAdsConnector } from './index.ts';

/**
 * The connector against the sandbox's Meta Ads emulator (tiny world: two ad accounts, USD and
 * EUR, three months of daily spend), reached only through META_* configuration.
 */

const log = pino({ level: 'silent' });
type TestWarehouse = Warehouse & { drop(): Promise<void> };

/** 20:00 UTC the day after `day`: 'yesterday' is `day` in both Los Angeles and Dublin. */
const dayAfter = (day: string) => () => new Date(`${addDays(day, 1)}T20:00:00Z`);

const FAST = { pollIntervalMs: 0, rateLimitWaitMs: 5, throttleMaxDelayMs: 0, asyncStallTimeoutMs: 60_000 };

function connection(sandbox: Sandbox, id: string, settings: Record<string, unknown> = {}): Connection {
  const fromEnv = metaAdsConnector.fromEnv(sandbox.env);
  if (!fromEnv) throw new Error('the sandbox env does not configure meta_ads');
  return buildConnection(id, metaAdsConnector as ConnectorDefinition<unknown>, { ...fromEnv, startDate: sandbox.world.startDate, ...FAST, ...settings }, 'file');
}

function stream(name: string) {
  const s = metaAdsConnector.streams.find((x) => x.name === name);
  if (!s) throw new Error(`no stream ${name}`);
  return s;
}

async function sync(warehouse: Warehouse, conn: Connection, name: string, opts: { mode?: 'full' | 'incremental' | 'backfill'; now: () => Date; window?: { from: string; to: string } }): Promise<SyncResult> {
  const result = await runSync({ warehouse, connection: conn, stream: stream(name), mode: opts.mode ?? 'incremental', log, now: opts.now, ...(opts.window ? { window: opts.window } : {}) });
  return result;
}

/** Per day and currency, spend in whole cents, from the warehouse. */
async function warehouseCents(warehouse: Warehouse, connectionId: string): Promise<Record<string, number>> {
  const rows = (await warehouse.knex('core.fct_ad_spend_daily')
    .where({ connection_id: connectionId })
    .groupBy('date', 'currency')
    .select('date', 'currency', warehouse.knex.raw('(sum(spend) * 100)::bigint AS cents'))) as Array<{ date: string; currency: string; cents: string | number }>;
  return Object.fromEntries(rows.map((r) => [`${r.date}|${r.currency}`, Number(r.cents)]));
}

/** Per day and currency, spend in whole cents, as the emulator serves it now (restatements included). */
function storeCents(store: MetaAdsStore): Record<string, number> {
  const out: Record<string, number> = {};
  for (const account of store.accounts) {
    for (const d of store.accountDays(account.id, '0000-01-01', '9999-12-31')) {
      const k = `${d.date}|${account.currency}`;
      out[k] = (out[k] ?? 0) + d.spendMicros / 10_000;
    }
  }
  return out;
}

describe('meta_ads connector against the sandbox emulator', () => {
  let sandbox: Sandbox;
  let store: MetaAdsStore;
  /** a: backfill + incremental syncs; b: the fresh full sync they are compared with; c: the rest. */
  let a: TestWarehouse;
  let b: TestWarehouse;
  let c: TestWarehouse;

  beforeAll(async () => {
    sandbox = await startSandbox({ scale: 'tiny', seed: 42 });
    store = sandbox.stores.meta_ads as MetaAdsStore;
    [a, b, c] = await Promise.all([createTestWarehouse('postgres'), createTestWarehouse('postgres'), createTestWarehouse('postgres')]);
  });
  afterAll(async () => {
    await sandbox?.stop();
    await Promise.all([a?.drop(), b?.drop(), c?.drop()]);
  });

  it('is configured by the sandbox env alone (META_BASE_URL, META_ACCESS_TOKEN, META_AD_ACCOUNT_ID)', () => {
    expect(sandbox.apis).toContain('meta_ads');
    const conn = connection(sandbox, 'meta_env');
    expect((conn.config as { baseUrl: string }).baseUrl).toBe(sandbox.url);
    expect((conn.config as { adAccountIds: string[] }).adAccountIds).toEqual(sandbox.world.adAccounts.filter((x) => x.platform === 'meta_ads').map((x) => x.id));
  });

  it("a full sync's daily spend matches the world's truth to the cent, per currency", async () => {
    const conn = connection(sandbox, 'truth');
    const end = sandbox.world.endDate;
    for (const name of ['ad_accounts', 'campaigns', 'campaign_insights_daily']) {
      const r = await sync(c, conn, name, { mode: 'full', now: dayAfter(end) });
      expect({ name, status: r.status, error: r.error }).toEqual({ name, status: 'success', error: undefined });
    }
    const truth: Record<string, number> = {};
    for (const d of sandbox.world.adDaily()) {
      if (d.platform !== 'meta_ads' || d.spendMicros === 0) continue;
      const k = `${d.date}|${d.currency}`;
      truth[k] = (truth[k] ?? 0) + d.spendMicros / 10_000;
    }
    expect(Object.keys(truth).length).toBeGreaterThan(80);
    expect(await warehouseCents(c, 'truth')).toEqual(truth);
    const campaigns = await c.knex('core.dim_campaign').where({ connection_id: 'truth' }).pluck('campaign_id');
    expect(campaigns.sort()).toEqual(sandbox.world.campaigns.filter((c) => c.platform === 'meta_ads').map((c) => c.id).sort());
    // Ranges of 30 days went through the async report flow.
    expect(store.allRuns().length).toBeGreaterThan(0);
  });

  it('a two-year backfill, then daily incremental syncs with restatements in between, equals a fresh full sync (table hashes)', async () => {
    const world = sandbox.world;
    const end = world.endDate;
    // Two years of history before the scheduled syncs take over. The tiny world spans three months
    // of them: the chunks before its start are empty answers, as for an account opened mid-way.
    const window = { from: addDays(end, -6 - 730), to: addDays(end, -6) };
    expect(window.from < world.startDate).toBe(true);
    const incremental = connection(sandbox, 'meta', { startDate: window.from });
    const runsBefore = store.allRuns().length;
    // Backfill the history in its own checkpoint scope, then the scheduled syncs take over.
    const backfill = await sync(a, incremental, 'campaign_insights_daily', { mode: 'backfill', window, now: dayAfter(end) });
    expect(backfill).toMatchObject({ status: 'success' });
    expect(backfill.counts.read).toBeGreaterThan(0);
    // The backfill asked Meta for every day of the two years, per account, and nothing else.
    const backfillRuns = store.allRuns().slice(runsBefore);
    for (const account of store.accounts) {
      const ranges = backfillRuns.filter((r) => r.accountId === account.id).map((r) => [r.since, r.until] as const).sort();
      expect(ranges[0]?.[0]).toBe(window.from);
      expect(ranges.at(-1)?.[1]).toBe(window.to);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]?.[0], `${account.id}: a gap or overlap after ${ranges[i - 1]?.[1]}`).toBe(addDays(ranges[i - 1]?.[1] ?? '', 1));
    }
    const voided: string[] = [];
    for (let k = 6; k >= 0; k--) {
      const day = addDays(end, -k);
      const result = await sync(a, incremental, 'campaign_insights_daily', { now: dayAfter(day) });
      expect(result.status).toBe('success');
      // Late conversions and cost corrections restate the last days, as Meta does within 28 days.
      store.faultTarget().restate?.(3, mulberry32(100 + k));
      // A stored campaign-day a week back is restated to nothing: Insights no longer returns it.
      const served = store.accounts.flatMap((account) => store.accountDays(account.id, addDays(day, -7), addDays(day, -7)));
      const gone = served[k % served.length]!;
      store.restateToNothing(gone.campaignId, gone.date);
      voided.push(`${gone.campaignId}|${gone.date}`);
    }
    // The final numbers, read once more by the scheduled sync of the last day.
    expect((await sync(a, incremental, 'campaign_insights_daily', { now: dayAfter(end) })).status).toBe('success');

    const fresh = connection(sandbox, 'meta', { startDate: window.from });
    expect((await sync(b, fresh, 'campaign_insights_daily', { mode: 'full', now: dayAfter(end) })).status).toBe('success');

    // The live rows equal the fresh pull; the voided days are kept, flagged deleted, in raw and core.
    for (const [table, live] of [['core.fct_ad_spend_daily', 'NOT is_deleted'], [rawTableName('meta_ads', 'campaign_insights_daily'), 'NOT _deleted']] as const) {
      const [ha, hb] = await Promise.all([tableHash(a, table, undefined, live), tableHash(b, table)]);
      expect(ha).toBe(hb);
    }
    const deleted = (await a.knex('core.fct_ad_spend_daily').where({ connection_id: 'meta', is_deleted: true }).select('campaign_id', 'date')) as Array<{ campaign_id: string; date: string }>;
    expect(deleted.map((r) => `${r.campaign_id}|${r.date}`).sort()).toEqual([...voided].sort());
    expect(await a.knex(rawTableName('meta_ads', 'campaign_insights_daily')).where({ connection_id: 'meta', _deleted: true }).count({ n: '*' }).first()).toEqual({ n: voided.length });
    const [count] = (await a.knex('core.fct_ad_spend_daily').where({ connection_id: 'meta' }).count({ n: '*' })) as Array<{ n: string }>;
    expect(Number(count?.n)).toBe([...world.adDaily()].filter((d) => d.platform === 'meta_ads' && (d.spendMicros > 0 || d.impressions > 0 || d.clicks > 0 || d.conversions > 0)).length);
  });

  it('async report runs that fail ("Please reduce the amount of data") or stall are split and retried; no run is cancelled', async () => {
    const warehouse = c;
    const before = store.allRuns().length;
    const maxAsyncRows = store.maxAsyncRows;
    store.maxAsyncRows = 20; // a run over more than 20 campaign-days fails, as large real jobs do
    store.queueRunFates('stall', 1);
    try {
      const conn = connection(sandbox, 'meta_split', { chunkDays: 92, asyncMinDays: 0, asyncStallTimeoutMs: 0 });
      const result = await sync(warehouse, conn, 'campaign_insights_daily', { mode: 'full', now: dayAfter(sandbox.world.endDate) });
      expect(result.status).toBe('success');
      expect(result.warnings.some((w) => w.includes('split in two (stalled'))).toBe(true);
      expect(result.warnings.some((w) => w.includes('split in two (failed'))).toBe(true);
      const runs = store.allRuns().slice(before);
      expect(runs.some((r) => r.status === 'Job Failed')).toBe(true);
      // The stalled run was left as it was, still running.
      expect(runs.filter((r) => r.fate === 'stall').map((r) => r.status)).toEqual(['Job Running']);
      expect(await warehouseCents(warehouse, 'meta_split')).toEqual(storeCents(store));
    } finally {
      store.maxAsyncRows = maxAsyncRows;
    }
  });
});

describe('meta_ads connector against an emulator with injected faults', () => {
  let sandbox: Sandbox;
  let warehouse: TestWarehouse;
  beforeAll(async () => {
    sandbox = await startSandbox({
      scale: 'tiny',
      seed: 42,
      faults: 'seed=3;meta_ads.insights_async:rate_limit=0@first=2;meta_ads.report_run:unavailable@every=4;meta_ads.report_insights:truncate@first=1;meta_ads:malform=2',
    });
    warehouse = await createTestWarehouse('postgres');
  });
  afterAll(async () => {
    await sandbox?.stop();
    await warehouse?.drop();
  });

  it('waits out throttling codes, retries 503s and truncated bodies, and quarantines the malformed rows', async () => {
    const conn = connection(sandbox, 'faulty');
    const result = await sync(warehouse, conn, 'campaign_insights_daily', { mode: 'full', now: dayAfter(sandbox.world.endDate) });
    expect(result.status).toBe('success');
    const stats = sandbox.stats().routes;
    expect(stats['meta_ads.insights_async']?.faults.rate_limit).toBe(2);
    expect(stats['meta_ads.report_insights']?.faults.truncate).toBe(1);
    // The malformed days that Meta serves (days with delivery) are quarantined, the rest loads.
    const store = sandbox.stores.meta_ads as MetaAdsStore;
    const malformed = sandbox.dataFaultsApplied.filter((f) => f.rule.api === 'meta_ads' && f.rule.fault === 'malform').flatMap((f) => f.ids);
    expect(malformed).toHaveLength(2);
    const served = malformed.filter((k) => {
      const [campaignId = '', date = ''] = k.split('|');
      const d = store.day(campaignId, date);
      return d !== undefined && (d.spendMicros > 0 || d.impressions > 0 || d.clicks > 0 || d.conversions > 0);
    });
    expect(served.length).toBeGreaterThan(0);
    expect(result.counts.quarantined).toBe(served.length);
    const quarantined = await warehouse.knex('meta.quarantine').where({ connection: 'faulty' }).select('error_message');
    expect(quarantined).toHaveLength(served.length);
  });
});

import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawTableName, type ConnectorDefinition } from '../core/connector.ts';
import { buildConnection, type Connection } from '../../pipeline/config/connections.ts';
import { runSync, type SyncResult } from '../../pipeline/sync.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import type { GoogleAdsStore } from '../../sandbox/emulators/google_ads/index.ts';
import { ensureRawTable } from '../../warehouse/migrate.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { createTestWarehouse, tableHash } from '../../test/helpers/warehouse.ts';
import { addDays } from '../core/dates.ts';
import { googleAdsConnector } from './index.ts';

/**
 * google_ads against the sandbox's Google Ads emulator (OAuth token endpoint, searchStream over
 * GAQL, manager + client customers in USD/New York and EUR/Berlin), into real Postgres: a
 * two-year backfill, then day-by-day incremental syncs while Google restates recent days, must
 * end in the same raw and core tables as one fresh full sync, with spend equal to the world's.
 */

type TestWarehouse = Warehouse & { drop(): Promise<void> };
const log = pino({ level: 'silent' });
const TABLES = [
  rawTableName('google_ads', 'customers'),
  rawTableName('google_ads', 'campaigns'),
  rawTableName('google_ads', 'campaign_daily'),
  'core.dim_campaign',
  'core.fct_ad_spend_daily',
];

let sb: Sandbox;
let store: GoogleAdsStore;
const warehouses: TestWarehouse[] = [];

async function newWarehouse(): Promise<TestWarehouse> {
  const w = await createTestWarehouse('postgres');
  for (const stream of googleAdsConnector.streams) await ensureRawTable(w.knex, rawTableName('google_ads', stream.name), stream.description);
  warehouses.push(w);
  return w;
}

function connection(settings: Record<string, unknown>): Connection {
  const fromEnv = googleAdsConnector.fromEnv(sb.env);
  if (!fromEnv) throw new Error('the sandbox did not configure google_ads');
  return buildConnection('google_ads', googleAdsConnector as ConnectorDefinition<unknown>, { ...fromEnv, ...settings }, 'file');
}

function stream(name: string) {
  const s = googleAdsConnector.streams.find((x) => x.name === name);
  if (!s) throw new Error(`no stream ${name}`);
  return s;
}

async function sync(warehouse: Warehouse, conn: Connection, name: string, mode: 'incremental' | 'full' | 'backfill', now: string, window?: { from: string; to: string }): Promise<SyncResult> {
  const r = await runSync({ warehouse, connection: conn, stream: stream(name), mode, window, log, now: () => new Date(now) });
  expect(r.status, `${name} ${mode} at ${now}: ${r.error ?? ''}`).toBe('success');
  return r;
}

/** Hashes of the live rows (rows flagged deleted are kept, as history, only where a sweep found them gone). */
async function hashes(w: Warehouse): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of TABLES) out[t] = await tableHash(w, t, undefined, t.startsWith('raw.') ? 'NOT _deleted' : 'NOT is_deleted');
  return out;
}

beforeAll(async () => {
  // Google restates the trailing week (late conversions, some cost corrections) before the first sync.
  sb = await startSandbox({ seed: 7, scale: 'tiny', faults: 'seed=3;google_ads:restate=7' });
  store = sb.stores.google_ads as GoogleAdsStore;
  if (!store) throw new Error('the sandbox has no Google Ads emulator');
});

afterAll(async () => {
  for (const w of warehouses) await w.drop();
  await sb?.stop();
});

describe('google_ads against the sandbox emulator', () => {
  it('a two-year backfill plus daily incremental syncs through restatements equals a fresh full sync; spend matches the world to the cent', async () => {
    const end = sb.world.endDate; // 2026-10-31: the emulator has data through this day
    const firstDay = addDays(end, -5); // the backfill runs on this day ...
    const window = { from: addDays(firstDay, -730), to: addDays(firstDay, -1) }; // ... over the two years before it
    const settings = { startDate: window.from, lookbackDays: 7, chunkDays: 90, maxRetries: 2 };
    const noon = (day: string) => `${day}T12:00:00.000Z`; // the same calendar day in New York and Berlin

    const a = await newWarehouse();
    const conn = connection(settings);
    await sync(a, conn, 'customers', 'incremental', noon(firstDay));
    await sync(a, conn, 'campaigns', 'incremental', noon(firstDay));
    const backfill = await sync(a, conn, 'campaign_daily', 'backfill', noon(firstDay), window);
    // The tiny world spans 92 days of the two years; every earlier chunk is an empty answer.
    expect(backfill.counts.read).toBeGreaterThan(0);
    expect(backfill.counts.quarantined).toBe(0);

    // Day by day: the clock moves on, Google restates days inside the lookback, new days arrive.
    const restated = new Set<string>();
    let seed = 11;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const campaigns = store.campaigns.map((c) => c.id);
    const dailyReads: number[] = [];
    const voided = new Set<string>();
    for (let day = addDays(firstDay, 1); day <= addDays(end, 1); day = addDays(day, 1)) {
      for (const campaignId of campaigns) {
        const date = addDays(day, -1 - Math.floor(rand() * 5));
        const row = store.day(campaignId, date);
        if (!row) continue;
        const cents = Math.round(rand() * 2000) - 1000; // ± 10.00 in account currency
        store.restate(campaignId, date, {
          spendMicros: Math.max(0, row.spendMicros + cents * 10_000),
          conversions: Math.round((row.conversions + rand() * 2) * 100) / 100,
          clicks: row.clicks + 1,
        });
        restated.add(`${campaignId}|${date}`);
      }
      // One stored campaign-day six days back is restated to nothing (invalid clicks refunded):
      // searchStream stops returning it, and the next lookback re-pull must mark it deleted.
      const oldDay = addDays(day, -6);
      const gone = campaigns.map((id) => store.day(id, oldDay)).find((d) => d !== undefined && d.spendMicros > 0 && !voided.has(`${d.campaignId}|${oldDay}`));
      if (gone) {
        store.restateToNothing(gone.campaignId, oldDay);
        voided.add(`${gone.campaignId}|${oldDay}`);
      }
      await sync(a, conn, 'customers', 'incremental', noon(day));
      await sync(a, conn, 'campaigns', 'incremental', noon(day));
      dailyReads.push((await sync(a, conn, 'campaign_daily', 'incremental', noon(day))).counts.read);
    }
    // After the first incremental (no scheduled cursor yet: startDate to yesterday), each day
    // re-reads only the 7-day lookback: at most 7 rows per campaign.
    for (const n of dailyReads.slice(1)) expect(n).toBeLessThanOrEqual(7 * campaigns.length);
    expect(restated.size).toBeGreaterThan(5);
    // Each voided row was re-read by the same day's sync (its lookback covers six days back) and flagged.
    expect(voided.size).toBeGreaterThan(3);
    const flagged = (await a.knex('core.fct_ad_spend_daily').where({ connection_id: 'google_ads', is_deleted: true }).select('campaign_id', 'date')) as Array<{ campaign_id: string; date: string }>;
    expect(flagged.map((r) => `${r.campaign_id}|${r.date}`).sort()).toEqual([...voided].sort());

    const b = await newWarehouse();
    const lastNow = noon(addDays(end, 1));
    const fresh = connection(settings);
    await sync(b, fresh, 'customers', 'full', lastNow);
    await sync(b, fresh, 'campaigns', 'full', lastNow);
    await sync(b, fresh, 'campaign_daily', 'full', lastNow);
    expect(await hashes(a)).toEqual(await hashes(b));

    // Spend per campaign per day against the world's adDaily stream, in cents; days Google
    // restated (the start-up fault and this test) against their restated value.
    const worldCents = new Map<string, number>();
    for (const d of sb.world.adDaily()) if (d.platform === 'google_ads') worldCents.set(`${d.campaignId}|${d.date}`, d.spendMicros / 10_000);
    for (const key of worldCents.keys()) {
      const [campaignId, date] = key.split('|') as [string, string];
      const now = store.day(campaignId, date);
      if (now && now.spendMicros / 10_000 !== worldCents.get(key)) restated.add(key);
    }
    const rows = (await a
      .knex('core.fct_ad_spend_daily')
      .where({ connection_id: 'google_ads', is_deleted: false })
      .select('campaign_id', 'date', a.knex.raw('(spend * 100)::numeric AS cents'), 'currency')) as Array<{ campaign_id: string; date: string; cents: string; currency: string }>;
    expect(rows).toHaveLength(worldCents.size - voided.size);
    let checkedAgainstWorld = 0;
    for (const row of rows) {
      const key = `${row.campaign_id}|${row.date}`;
      const truth = restated.has(key) ? (store.day(row.campaign_id, row.date)?.spendMicros ?? Number.NaN) / 10_000 : worldCents.get(key);
      expect(Number(row.cents), key).toBe(truth);
      if (!restated.has(key)) checkedAgainstWorld++;
    }
    expect(checkedAgainstWorld).toBeGreaterThan(rows.length / 2);
    // Each account's currency rides on its rows.
    const currencies = new Map(sb.world.adAccounts.filter((x) => x.platform === 'google_ads').map((x) => [x.id, x.currency]));
    const byAccount = (await a.knex('core.fct_ad_spend_daily').where({ connection_id: 'google_ads' }).distinct('account_id', 'currency')) as Array<{ account_id: string; currency: string }>;
    for (const r of byAccount) expect(r.currency).toBe(currencies.get(r.account_id));
  });
});

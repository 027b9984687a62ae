import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawTableName, type ConnectorDefinition } from '../core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { runSync } from '../../pipeline/sync.ts';
import { ensureRawTable } from '../../warehouse/migrate.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { createTestWarehouse, tableHash } from '../../test/helpers/warehouse.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { createGa4Emulator, type Ga4Emulator, type Ga4Store } from '../../sandbox/emulators/ga4/index.ts';
import { startEmulatorServer } from '../../sandbox/emulators/server.ts';
import { generateWorld } from '../../sandbox/world/index.ts';
import { addDays } from '../core/dates.ts';
import { ga4Connector } from './index.ts';

/**
 * The ga4 connector against the sandbox's GA4 emulator (scale 'tiny': 2026-08-01..2026-10-31 in
 * America/New_York), reached only through configuration (GA4_BASE_URL, GOOGLE_OAUTH_TOKEN_URL).
 */
const log = pino({ level: 'silent' });
const stream = ga4Connector.streams[0]!;
type TestWarehouse = Warehouse & { drop(): Promise<void> };

async function prepared(kind: 'postgres' | 'pglite'): Promise<TestWarehouse> {
  const w = await createTestWarehouse(kind);
  await ensureRawTable(w.knex, rawTableName('ga4', stream.name), stream.description);
  return w;
}

const connect = (env: Record<string, string>, settings: Record<string, unknown> = {}) =>
  buildConnection('ga4', ga4Connector as ConnectorDefinition<unknown>, { ...ga4Connector.fromEnv(env), ...settings }, 'env');

/** Sessions per day in the warehouse. */
async function dailySessions(w: Warehouse): Promise<Map<string, number>> {
  const rows = (await w.knex('core.fct_web_traffic_daily').where({ is_deleted: false }).groupBy('date').select('date', w.knex.raw('sum(sessions)::int AS sessions'))) as Array<{ date: string; sessions: number }>;
  return new Map(rows.map((r) => [r.date, r.sessions]));
}

function storeSessions(store: Ga4Store): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of store.rows()) out.set(r.date, (out.get(r.date) ?? 0) + r.sessions);
  return out;
}

describe('ga4 connector against the sandbox emulator', () => {
  let sandbox: Sandbox;
  /** The sandbox's and the syncs' clock, moved day by day. */
  let clock = Date.parse('2026-10-24T15:00:00Z');
  const warehouses: TestWarehouse[] = [];
  beforeAll(async () => {
    sandbox = await startSandbox({ scale: 'tiny', now: () => clock });
  });
  afterAll(async () => {
    await sandbox?.stop();
    for (const w of warehouses) await w.drop();
  });

  it('a 2-year backfill, then daily incremental syncs with GA4 restating recent days, equals a fresh full sync; totals match the world', async () => {
    expect(sandbox.apis).toContain('ga4');
    const store = sandbox.stores.ga4 as Ga4Store;
    const incremental = await prepared('postgres');
    const fresh = await prepared('postgres');
    warehouses.push(incremental, fresh);
    const now = () => new Date(clock);

    // Backfill two years up to 2026-10-16 (the world starts 2026-08-01: the first ~21 months are empty).
    const backfill = await runSync({ warehouse: incremental, connection: connect(sandbox.env, { chunkDays: 61 }), stream, mode: 'backfill', window: { from: '2024-11-01', to: '2026-10-16' }, log, now });
    expect(backfill).toMatchObject({ status: 'success', warnings: [] });
    // Daily syncs from 10-24 to 11-01; after each, GA4 finishes processing yesterday (+ sessions).
    const settings = { startDate: '2026-10-17' };
    const removed: string[] = [];
    for (let day = 0; day < 9; day++) {
      const result = await runSync({ warehouse: incremental, connection: connect(sandbox.env, settings), stream, mode: 'incremental', log, now });
      expect(result.status).toBe('success');
      const yesterday = addDays(new Date(clock).toISOString().slice(0, 10), -1);
      const late = store.rows().filter((r) => r.date === yesterday);
      for (const r of late.slice(0, 3)) store.restate(r, { sessions: r.sessions + 2, totalUsers: r.totalUsers + 1 });
      // As the day settles, one row's sessions are reattributed (the row is gone) and part of
      // another's lands in a second channel group (two rows of one date x source x medium x campaign).
      const [gone, split] = late.slice(3).filter((r) => r.sessions >= 2);
      if (gone && split) {
        store.remove(gone);
        removed.push(`${gone.date}|${gone.sessionSource}|${gone.sessionMedium}|${gone.sessionCampaignName}`);
        store.splitChannelGroup(split, split.sessionDefaultChannelGroup === 'Cross-network' ? 'Unassigned' : 'Cross-network', { sessions: 1, engagedSessions: 0, keyEvents: 0, totalUsers: 1 });
      }
      clock += 86_400_000;
    }
    // The last restatement (10-31) is read by one more sync on 11-02: the lookback re-reads 10-30..11-01.
    const last = await runSync({ warehouse: incremental, connection: connect(sandbox.env, settings), stream, mode: 'incremental', log, now });
    expect(last.status).toBe('success');

    const full = await runSync({ warehouse: fresh, connection: connect(sandbox.env, { startDate: '2024-11-01', chunkDays: 366 }), stream, mode: 'full', log, now });
    expect(full.status).toBe('success');
    // One record per date x source x medium x campaign: a split key's two rows travel together.
    const keyOf = (r: { date: string; sessionSource: string; sessionMedium: string; sessionCampaignName: string }) => `${r.date}|${r.sessionSource}|${r.sessionMedium}|${r.sessionCampaignName}`;
    expect(store.rows().length).toBeGreaterThan(new Set(store.rows().map(keyOf)).size);
    expect(full.counts.read).toBe(new Set(store.rows().map(keyOf)).size);
    // The live rows equal the fresh pull; the removed rows are kept, flagged deleted.
    expect(await tableHash(incremental, 'core.fct_web_traffic_daily', undefined, 'NOT is_deleted')).toBe(await tableHash(fresh, 'core.fct_web_traffic_daily'));
    expect(await tableHash(incremental, rawTableName('ga4', stream.name), undefined, 'NOT _deleted')).toBe(await tableHash(fresh, rawTableName('ga4', stream.name)));
    expect(removed.length).toBe(9);
    const flagged = (await incremental.knex('core.fct_web_traffic_daily').where({ is_deleted: true }).select('date', 'source', 'medium', 'campaign')) as Array<{ date: string; source: string; medium: string; campaign: string }>;
    expect(flagged.map((r) => `${r.date}|${r.source}|${r.medium}|${r.campaign}`).sort()).toEqual([...removed].sort());

    // Totals per day equal the emulator's truth (the world plus the restatements) ...
    expect(await dailySessions(incremental)).toEqual(storeSessions(store));
    // ... and the world itself on every day GA4 did not restate.
    const world = new Map<string, number>();
    for (const r of sandbox.world.ga4Daily()) world.set(r.date, (world.get(r.date) ?? 0) + r.sessions);
    const got = await dailySessions(incremental);
    for (const [date, sessions] of world) if (date < '2026-10-23') expect([date, got.get(date)]).toEqual([date, sessions]);
    expect(got.size).toBe(world.size);
  }, 180_000);
});

describe('failures GA4 users report, against the emulator', () => {
  const world = generateWorld({ seed: 42, scale: 'tiny' });
  let warehouse: TestWarehouse;
  beforeAll(async () => {
    warehouse = await prepared('postgres');
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  const worldSessions = (from: string, to: string) => {
    const out = new Map<string, number>();
    for (const r of world.ga4Daily()) if (r.date >= from && r.date <= to) out.set(r.date, (out.get(r.date) ?? 0) + r.sessions);
    return out;
  };
  const connectionSessions = async (id: string) => {
    const rows = (await warehouse.knex('core.fct_web_traffic_daily').where({ connection_id: id }).groupBy('date').select('date', warehouse.knex.raw('sum(sessions)::int AS sessions'))) as Array<{ date: string; sessions: number }>;
    return new Map(rows.map((r) => [r.date, r.sessions]));
  };
  const sync = (id: string, env: Record<string, string>, settings: Record<string, unknown>, now: () => Date, mode: 'full' | 'incremental' = 'incremental') =>
    runSync({ warehouse, connection: buildConnection(id, ga4Connector as ConnectorDefinition<unknown>, { ...ga4Connector.fromEnv(env), ...settings }, 'env'), stream, mode, log, now });

  it('high cardinality: "(other)" is reported as a warning, the range re-requested in smaller chunks, and daily totals stay whole', async () => {
    const clock = Date.parse('2026-10-11T15:00:00Z');
    const emu = createGa4Emulator(world, { now: () => clock, otherRowLimit: 12 });
    const server = await startEmulatorServer({ routes: emu.routes });
    try {
      const result = await sync('ga4_other', emu.env(server.origin), { startDate: '2026-10-01', chunkDays: 10 }, () => new Date(clock), 'full');
      expect(result.status).toBe('success');
      expect(result.warnings[0]).toMatch(/2026-10-01\.\.2026-10-10 folded rows into "\(other\)" \(dataLossFromOtherRow\); re-requesting in 5-day chunks/);
      const run = await warehouse.knex('meta.sync_runs').where({ id: result.runId }).first('warnings');
      expect(run.warnings).toEqual(result.warnings);
      // Only one-day requests that still overflow keep an "(other)" row, and say so.
      const others = (await warehouse.knex('core.fct_web_traffic_daily').where({ connection_id: 'ga4_other', campaign: '(other)' }).pluck('date')) as string[];
      for (const date of others) expect(result.warnings.some((w) => w.includes(`${date} still has an "(other)" row at one day per request`))).toBe(true);
      expect(await connectionSessions('ga4_other')).toEqual(worldSessions('2026-10-01', '2026-10-10'));
    } finally {
      await server.close();
    }
  });

  it('per-property hourly quota: backs off until the window resets; a refill too far away ends the run partial with a clear message, and the next run finishes', async () => {
    // The emulator's and the connector's clock: 0.1 s before the hour until the first 429, then the
    // next hour (the refill has come by the time the connector's wait is over).
    let t = Date.parse('2026-11-01T14:59:59.900Z');
    let jumpOnRefusal = true;
    let emu: Ga4Emulator | undefined;
    const clock = () => (jumpOnRefusal && emu && emu.quota.refused > 0 ? t + 3_600_000 : t);
    emu = createGa4Emulator(world, { now: clock, quota: { tokensPerHour: 6, tokensPerProjectPerHour: 6 }, tokenCost: () => 1 });
    const server = await startEmulatorServer({ routes: emu.routes });
    const env = emu.env(server.origin);
    const settings = { startDate: '2026-10-01', chunkDays: 5 };
    const quota = { slowDownMs: 5 };
    try {
      // 1) At the edge of the hour the connector meets 429 "Exhausted property tokens per hour" and waits for the refill.
      const waited = await sync('ga4_hourly_wait', env, { ...settings, quota: { ...quota, minHourlyTokens: 0 } }, () => new Date(clock()), 'full');
      expect(waited.error).toBeUndefined();
      expect(waited.status).toBe('success');
      expect(emu.quota.refused).toBe(1);
      expect(await connectionSessions('ga4_hourly_wait')).toEqual(worldSessions('2026-10-01', '2026-10-31'));

      // 2) Mid-hour (50 min to the refill): stop cleanly before exhausting the tokens, partial.
      jumpOnRefusal = false;
      t = Date.parse('2026-11-01T16:10:00Z');
      const refusedBefore = emu.quota.refused;
      const partial = await sync('ga4_hourly_stop', env, { ...settings, quota: { ...quota, minHourlyTokens: 1 } }, () => new Date(clock()));
      expect(partial.status).toBe('partial');
      expect(partial.error).toMatch(/^GA4 property \d+: 0 hourly tokens left \(below quota\.minHourlyTokens 1\); the hourly quota refills in 50 min \(more than quota\.maxHourlyWaitMs\), stopped at the last stored page$/);
      expect(emu.quota.refused).toBe(refusedBefore); // stopped before a 429
      const stored = await connectionSessions('ga4_hourly_stop');
      expect(stored.size).toBeGreaterThan(0);
      expect(stored.size).toBe(25); // probe + 5 chunks of 5 days spent the 6 tokens
      const state = await warehouse.knex('meta.sync_state').where({ connection: 'ga4_hourly_stop', stream: 'traffic_daily' }).first('cursor');
      const through = (state.cursor as { properties: Record<string, { through: string }> }).properties[world.ga4Property.id]!.through;
      expect(stored.get(through)).toBeDefined();
      expect([...stored.keys()].every((d) => d <= through)).toBe(true);

      // 3) After the refill the next run resumes from the checkpoint and completes the month.
      t += 3_600_000;
      const resumed = await sync('ga4_hourly_stop', env, { ...settings, quota: { ...quota, minHourlyTokens: 0 } }, () => new Date(clock()));
      expect(resumed.status).toBe('success');
      expect(await connectionSessions('ga4_hourly_stop')).toEqual(worldSessions('2026-10-01', '2026-10-31'));
    } finally {
      await server.close();
    }
  });
});

describe('ga4 connector through sandbox faults', () => {
  it('rides out 429s with Retry-After, 5xx, resets, truncated bodies and expired tokens; malformed rows are quarantined, the rest match the world', async () => {
    const clock = Date.parse('2026-11-01T15:00:00Z');
    const sandbox = await startSandbox({
      scale: 'tiny',
      now: () => clock,
      faults: 'seed=3;ga4.runReport:server_error@every=5;ga4.runReport:truncate@every=7;ga4.runReport:rate_limit=0@every=6;ga4.runReport:expired_token@every=9;ga4.runReport:reset@every=11;ga4:malform=3',
    });
    const warehouse = await prepared('postgres');
    try {
      const store = sandbox.stores.ga4 as Ga4Store;
      const malformed = sandbox.dataFaultsApplied.find((a) => a.rule.api === 'ga4')?.ids ?? [];
      expect(malformed).toHaveLength(3);
      const result = await runSync({ warehouse, connection: connect(sandbox.env, { startDate: '2026-08-01', chunkDays: 7, retryBaseMs: 10 }), stream, mode: 'full', log, now: () => new Date(clock) });
      expect(result.error).toBeUndefined();
      expect(result).toMatchObject({ status: 'success', counts: { read: store.rows().length, quarantined: 3 } });
      expect(sandbox.stats().routes['ga4.runReport']?.faults).toMatchObject({ server_error: expect.any(Number), truncate: expect.any(Number), rate_limit: expect.any(Number), expired_token: expect.any(Number), reset: expect.any(Number) });
      // Every day's sessions equal the world's, minus the quarantined rows.
      const expected = storeSessions(store);
      for (const key of malformed) {
        const [date, sessionSource, sessionMedium, sessionCampaignName] = key.split('\t') as [string, string, string, string];
        const r = store.row({ date, sessionSource, sessionMedium, sessionCampaignName });
        expected.set(date, (expected.get(date) ?? 0) - (r?.sessions ?? 0));
      }
      for (const [date, n] of expected) if (n === 0) expected.delete(date);
      expect(await dailySessions(warehouse)).toEqual(expected);
    } finally {
      await sandbox.stop();
      await warehouse.drop();
    }
  }, 120_000);
});

import fs from 'node:fs';
import http from 'node:http';
import { Job, type Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../connectors/core/errors/index.ts';
import { runSync } from '../pipeline/sync.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { createTestWarehouse } from '../test/helpers/warehouse.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { cancelBackfill, enqueueBackfill, getBackfill, parseChunk, planChunks, runBackfillInline } from './backfill.ts';
import { StreamLocks } from './lock.ts';
import { enqueueSync, retryFailed } from './ops.ts';
import { backfillProgress, formatProgress } from './progress.ts';
import { JobQueues, syncQueueName } from './queues.ts';
import { listSchedules, plannedSchedules, reconcileSchedules } from './schedules.ts';
import { jobsSettings, type JobsSettings } from './settings.ts';
import {
  configOf,
  dropPrefix,
  googleAdsConnection,
  hashes,
  probeConnection,
  rawAndCoreTables,
  salesforceConnection,
  testLog,
  streamOf,
  testSettings,
  TEST_LOG_FILE,
  waitFor,
} from './test-support.ts';
import { startUi } from './ui.ts';
import { startWorker, type WorkerHandle } from './worker.ts';

type TestWarehouse = Warehouse & { drop(): Promise<void> };

const WINDOW = { from: '2026-10-01', to: '2026-10-10' };
const warehouses: TestWarehouse[] = [];
const prefixes: string[] = [];
const sandboxes: Sandbox[] = [];
let baseSandbox: Sandbox;
/** Raw and core hashes after a clean inline backfill of WINDOW (3-day chunks). */
let clean: Record<string, string>;
let cleanSearchRequests: number;

async function newWarehouse(): Promise<TestWarehouse> {
  const w = await createTestWarehouse('postgres');
  warehouses.push(w);
  return w;
}

function settingsFor(overrides: Partial<JobsSettings> = {}): JobsSettings {
  const s = testSettings(overrides);
  prefixes.push(s.prefix);
  return s;
}

async function sandbox(faults?: string): Promise<Sandbox> {
  const sb = await startSandbox({ scale: 'tiny', seed: 42, ...(faults ? { faults } : {}) });
  sandboxes.push(sb);
  return sb;
}

function searchRequests(sb: Sandbox): number {
  return sb.stats().routes['google_ads.searchStream']?.requests ?? 0;
}

async function backfillEnded(warehouse: Warehouse, id: string) {
  return waitFor(`backfill ${id} to end with its transform`, async () => {
    const { backfill } = await getBackfill(warehouse.knex, id);
    return backfill.status !== 'running' && backfill.transformStatus !== null ? backfill : undefined;
  });
}

/** Polls a job until `done(job)` holds. */
async function waitForJob(queue: Queue, id: string, what: string, done: (job: Job) => Promise<boolean>): Promise<Job> {
  return waitFor(what, async () => {
    const job = await Job.fromId(queue, id);
    // Read it again once done: the first read may predate the state change done() saw.
    return job && (await done(job)) ? Job.fromId(queue, id) : undefined;
  });
}

/** [start, end] of every run of each stream that really ran (not skipped). */
async function runIntervals(warehouse: Warehouse): Promise<Map<string, Array<[number, number]>>> {
  const rows = (await warehouse.knex('meta.sync_runs').whereNot({ status: 'skipped' }).select('connection', 'stream', 'started_at', 'finished_at')) as Array<{ connection: string; stream: string; started_at: Date; finished_at: Date | null }>;
  const out = new Map<string, Array<[number, number]>>();
  for (const r of rows) {
    const key = `${r.connection}.${r.stream}`;
    const list = out.get(key) ?? [];
    list.push([r.started_at.getTime(), (r.finished_at ?? new Date(8.64e15)).getTime()]);
    out.set(key, list);
  }
  return out;
}

function overlaps(intervals: Array<[number, number]>): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let n = 0;
  for (let i = 1; i < sorted.length; i++) if (sorted[i]![0] < sorted[i - 1]![1]) n++;
  return n;
}

beforeAll(async () => {
  baseSandbox = await sandbox();
  const w = await newWarehouse();
  const connection = googleAdsConnection(baseSandbox);
  const before = searchRequests(baseSandbox);
  const r = await runBackfillInline({ warehouse: w, log: testLog, connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 3, force: false });
  expect(r.status).toBe('done');
  expect(r.transform).toBe('success');
  cleanSearchRequests = searchRequests(baseSandbox) - before;
  clean = await hashes(w, await rawAndCoreTables(w));
  expect(clean['raw.google_ads__campaign_daily']).toMatch(/^20:/); // 10 days x 2 customers
}, 60_000);

afterAll(async () => {
  fs.rmSync(TEST_LOG_FILE, { force: true });
  for (const sb of sandboxes) await sb.stop();
  for (const w of warehouses) await w.drop().catch(() => undefined);
  for (const p of prefixes) await dropPrefix(p);
});

describe('backfill planning and settings', () => {
  it('splits a window into inclusive chunks; the last one may be shorter', () => {
    expect(planChunks({ from: '2026-10-01', to: '2026-10-10' }, 3)).toEqual([
      { from: '2026-10-01', to: '2026-10-03' },
      { from: '2026-10-04', to: '2026-10-06' },
      { from: '2026-10-07', to: '2026-10-09' },
      { from: '2026-10-10', to: '2026-10-10' },
    ]);
    expect(planChunks({ from: '2024-02-28', to: '2024-03-01' }, 7)).toEqual([{ from: '2024-02-28', to: '2024-03-01' }]);
    expect(() => planChunks({ from: '2026-10-02', to: '2026-10-01' }, 1)).toThrow(ConfigError);
  });

  it('parses --chunk as days or weeks and names a bad value', () => {
    expect(parseChunk('7d')).toBe(7);
    expect(parseChunk('2w')).toBe(14);
    expect(parseChunk('5')).toBe(5);
    expect(() => parseChunk('0d')).toThrow(/--chunk: "0d"/);
    expect(() => parseChunk('1h')).toThrow(ConfigError);
  });

  it('needs REDIS_URL and says so; validates the job environment', () => {
    expect(() => jobsSettings(undefined, '`mpm worker`', {})).toThrow(/`mpm worker` needs REDIS_URL/);
    expect(() => jobsSettings('redis://x', 'w', { MPM_JOB_ATTEMPTS: '0' })).toThrow(/MPM_JOB_ATTEMPTS/);
    expect(() => jobsSettings('redis://x', 'w', { MPM_QUEUE_PREFIX: 'a:b' })).toThrow(/MPM_QUEUE_PREFIX/);
    const s = jobsSettings('redis://x', 'w', { MPM_JOB_LOCK_MS: '2000' });
    expect(s).toMatchObject({ prefix: 'mpm', lockDurationMs: 2000, stalledIntervalMs: 2000, attempts: 5 });
  });

  it('formats progress with chunks, rows, rate and ETA', async () => {
    const w = await newWarehouse();
    const connection = googleAdsConnection(baseSandbox);
    const r = await runBackfillInline({ warehouse: w, log: testLog, connection, streams: [streamOf(connection, 'campaign_daily')], window: { from: '2026-10-01', to: '2026-10-04' }, chunkDays: 2, force: false });
    const p = await backfillProgress(w.knex, r.id);
    expect(p).toMatchObject({ chunksTotal: 2, chunksFinished: 2, rows: 8 });
    const line = formatProgress(p, 2000, { rows: 0, chunks: 0 }, 10);
    expect(line).toBe('[##########] 2/2 chunks  8 rows  4 rows/s  ETA 0:00  done');
  });
});

describe('inline backfills', () => {
  it('an interrupted inline backfill says so; running it again resumes: nothing stored is fetched again, no duplicates', async () => {
    const w = await newWarehouse();
    const connection = googleAdsConnection(baseSandbox);
    const input = { warehouse: w, log: testLog, connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 3, force: false };
    const controller = new AbortController();
    let calls = 0;
    const before = searchRequests(baseSandbox);
    // onProgress runs after each chunk is prepared, each stored page and each finished chunk:
    // call 10 is the first stored page of the second chunk. Stop there, as on Ctrl-C.
    const interrupted = await runBackfillInline({
      ...input,
      signal: controller.signal,
      onProgress: () => {
        if (++calls === 10) controller.abort();
      },
    });
    expect(interrupted.status).toBe('cancelled');
    const { backfill, chunks } = await getBackfill(w.knex, interrupted.id);
    expect(backfill.error).toMatch(/interrupted; run the same `mpm backfill` again/);
    expect(chunks.map((c) => c.status)).toEqual(['done', 'cancelled', 'cancelled', 'cancelled']);
    const afterFirst = searchRequests(baseSandbox);

    const resumed = await runBackfillInline(input);
    expect(resumed.status).toBe('done');
    expect((await getBackfill(w.knex, resumed.id)).chunks.map((c) => c.status)).toEqual(['skipped', 'done', 'done', 'done']);
    expect(await hashes(w, await rawAndCoreTables(w))).toEqual(clean);
    const total = searchRequests(baseSandbox) - before;
    // At most the request in flight when it stopped is sent again.
    expect(total).toBeLessThanOrEqual(cleanSearchRequests + 1);
    expect(searchRequests(baseSandbox) - afterFirst).toBeLessThan(cleanSearchRequests - 6);
  }, 60_000);
});

describe('schedules', () => {
  it('plans defaults per connector and honours overrides, "off" and cron with a time zone', () => {
    const ga = googleAdsConnection(baseSandbox);
    const sf = salesforceConnection(baseSandbox);
    const planned = plannedSchedules(configOf([ga, sf]));
    expect(planned.find((p) => p.id === 'sync-google_ads.campaign_daily')?.spec).toEqual({ every: 6 * 3_600_000 });
    expect(planned.find((p) => p.id === 'sync-salesforce.opportunity')?.spec).toEqual({ every: 3_600_000 });
    const custom = plannedSchedules(
      configOf([ga, sf], { schedules: { salesforce: false, 'google_ads.customers': 'off', 'google_ads.campaign_daily': { cron: '15 3 * * *', tz: 'Europe/Berlin' }, google_ads: { every: '2h' } } }),
    );
    expect(custom.map((p) => [p.id, p.spec])).toEqual([
      ['sync-google_ads.campaigns', { every: 7_200_000 }],
      ['sync-google_ads.campaign_daily', { cron: '15 3 * * *', tz: 'Europe/Berlin' }],
    ]);
    expect(() => plannedSchedules(configOf([ga], { schedules: { nope: { every: '1h' } } }))).toThrow(/schedules.nope: no connection "nope"/);
    expect(() => plannedSchedules(configOf([ga], { schedules: { google_ads: { every: 'soon' } } }))).toThrow(/schedules.google_ads: .*not a duration/);
    // Checked as BullMQ's cron parser reads them, before anything is registered.
    expect(() => plannedSchedules(configOf([ga], { schedules: { 'google_ads.campaigns': { cron: '61 * * * *' } } })))
      .toThrow(/schedules.google_ads.campaigns: cron: "61 \* \* \* \*" is not a valid cron expression: .*0-59/);
    expect(() => plannedSchedules(configOf([ga], { schedules: { google_ads: { cron: '0 5 * * *', tz: 'Europe/Berln' } } })))
      .toThrow(/schedules.google_ads: tz: must be an IANA time zone/);
  });

  it('upserting twice never doubles a schedule; a removed stream loses its schedule', async () => {
    const queues = new JobQueues(settingsFor());
    try {
      const ga = googleAdsConnection(baseSandbox);
      await reconcileSchedules(queues, configOf([ga]));
      await reconcileSchedules(queues, configOf([ga]));
      const first = await queues.schedule().getJobSchedulers(0, -1, true);
      expect(first.map((s) => s.key).sort()).toEqual(['sync-google_ads.campaign_daily', 'sync-google_ads.campaigns', 'sync-google_ads.customers']);
      const counts = await queues.schedule().getJobCounts('waiting', 'delayed', 'prioritized');
      expect((counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0)).toBe(3); // one next tick per schedule, not six

      const r = await reconcileSchedules(queues, configOf([ga], { schedules: { 'google_ads.customers': false } }));
      expect(r.removed).toEqual(['sync-google_ads.customers']);
      const states = await listSchedules(queues, configOf([ga], { schedules: { 'google_ads.customers': false } }));
      expect(states.map((s) => [s.id, s.inConfig, s.inRedis])).toEqual([
        ['sync-google_ads.campaign_daily', true, true],
        ['sync-google_ads.campaigns', true, true],
      ]);
    } finally {
      await queues.close();
    }
  });

  it('a schedule fires and lands data, then the transform runs; a tick that finds the stream busy is skipped and recorded', async () => {
    const sb = await sandbox();
    const w = await newWarehouse();
    const settings = settingsFor();
    const ga = googleAdsConnection(sb, { startDate: '2026-10-20', chunkDays: 31 });
    const config = configOf([ga], { schedules: { google_ads: false, 'google_ads.campaign_daily': { every: '2s' } } });
    // Hold the stream's lock as another worker would during a long run.
    const queues = new JobQueues(settings);
    const locks = new StreamLocks(queues.connection, settings.prefix, 60_000);
    const held = await locks.acquire('google_ads', 'campaign_daily');
    expect(held).toBeDefined();
    const handle = await startWorker({ settings, config, warehouse: w, log: testLog });
    try {
      await waitFor('a skipped scheduled run', async () => (await w.knex('meta.sync_runs').where({ stream: 'campaign_daily', status: 'skipped' }).first()) as unknown);
      expect(await queues.sync('google_ads').getWaitingCount()).toBe(0); // not queued behind the busy run
      await held?.release();
      const run = (await waitFor('a successful scheduled run', async () => (await w.knex('meta.sync_runs').where({ stream: 'campaign_daily', status: 'success' }).first()) as { rows_read: string } | undefined)) as { rows_read: string };
      expect(Number(run.rows_read)).toBeGreaterThan(0);
      const raw = (await w.knex('raw.google_ads__campaign_daily').count({ n: '*' }).first()) as { n: string };
      expect(Number(raw.n)).toBeGreaterThan(0);
      await waitFor('the transform after the scheduled sync', async () => (await queues.transform().getCompletedCount()) > 0 || undefined);
      const skipped = (await w.knex('meta.sync_runs').where({ status: 'skipped' }).first('error')) as { error: string };
      expect(skipped.error).toMatch(/another run of this stream was in progress/);
    } finally {
      await handle.close();
      await queues.close();
    }
  }, 90_000);
});

describe('queued backfills', () => {
  it('runs chunks as a flow, then the transform; the result equals an inline run; running it again fetches nothing; an incremental cursor is not moved back', async () => {
    const sb = await sandbox();
    const w = await newWarehouse();
    const settings = settingsFor();
    const ga = googleAdsConnection(sb, { startDate: '2026-10-20', chunkDays: 31 });
    // The scheduled cursor first: a later backfill of older days must not move it.
    const incremental = await runSync({ warehouse: w, connection: ga, stream: streamOf(ga, 'campaign_daily'), mode: 'incremental', log: testLog });
    expect(incremental.status).toBe('success');
    const cursorBefore = (await w.knex('meta.sync_state').where({ connection: 'google_ads', stream: 'campaign_daily', scope: 'incremental' }).first('cursor')) as { cursor: unknown };
    await w.knex('raw.google_ads__campaign_daily').delete(); // compare the backfill's rows alone
    await w.knex('core.fct_ad_spend_daily').delete();

    const connection = googleAdsConnection(sb);
    const handle = await startWorker({ settings, config: configOf([connection]), warehouse: w, log: testLog, schedules: false });
    try {
      const id = await enqueueBackfill(handle.queues, w.knex, { connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 3, force: false });
      const done = await backfillEnded(w, id);
      expect(done.status).toBe('done');
      expect(done.transformStatus).toBe('success');
      const { chunks } = await getBackfill(w.knex, id);
      expect(chunks.map((c) => c.status)).toEqual(['done', 'done', 'done', 'done']);
      const tables = await rawAndCoreTables(w);
      expect(await hashes(w, tables)).toEqual(clean);
      const cursorAfter = (await w.knex('meta.sync_state').where({ connection: 'google_ads', stream: 'campaign_daily', scope: 'incremental' }).first('cursor')) as { cursor: unknown };
      expect(cursorAfter.cursor).toEqual(cursorBefore.cursor);

      // The same backfill again: every chunk is already complete, nothing is fetched, nothing added.
      const requests = searchRequests(sb);
      const again = await enqueueBackfill(handle.queues, w.knex, { connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 3, force: false });
      await backfillEnded(w, again);
      expect((await getBackfill(w.knex, again)).chunks.map((c) => c.status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
      expect(searchRequests(sb)).toBe(requests);
      expect(await hashes(w, tables)).toEqual(clean);

      // --force reads every chunk again (and still adds no duplicates).
      const forced = await enqueueBackfill(handle.queues, w.knex, { connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 3, force: true });
      await backfillEnded(w, forced);
      expect((await getBackfill(w.knex, forced)).chunks.every((c) => c.status === 'done')).toBe(true);
      expect(searchRequests(sb) - requests).toBe(cleanSearchRequests);
      expect(await hashes(w, tables)).toEqual(clean);
    } finally {
      await handle.close();
    }
  }, 120_000);

  it('two workers on the same queues never run one stream concurrently; rows equal one clean run', async () => {
    const sb = await sandbox('seed=5;google_ads.searchStream:slow=30@p=1');
    const w = await newWarehouse();
    const settings = settingsFor();
    const connection = googleAdsConnection(sb);
    const config = configOf([connection]);
    const a = await startWorker({ settings, config, warehouse: w, log: testLog, schedules: false, concurrency: 3 });
    const b = await startWorker({ settings, config, warehouse: w, log: testLog, schedules: false, concurrency: 3 });
    try {
      const id = await enqueueBackfill(a.queues, w.knex, { connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 1, force: false });
      // Manual syncs of the same stream (its own window scope) compete for it too.
      await enqueueSync(b.queues, connection, [streamOf(connection, 'campaign_daily')], 'backfill', { from: '2026-10-01', to: '2026-10-10' });
      await enqueueSync(a.queues, connection, [streamOf(connection, 'campaign_daily')], 'backfill', { from: '2026-10-01', to: '2026-10-10' });
      await backfillEnded(w, id);
      await waitFor('the manual syncs', async () => (await w.knex('meta.sync_runs').where({ window_from: '2026-10-01', window_to: '2026-10-10', status: 'success' }).count({ n: '*' }).first().then((r) => Number((r as { n: string }).n))) >= 2 || undefined);
      await waitFor('the queues to drain', async () => {
        const counts = await a.queues.sync('google_ads').getJobCounts('active', 'waiting', 'delayed');
        return (counts.active ?? 0) + (counts.waiting ?? 0) + (counts.delayed ?? 0) === 0 || undefined;
      });
      const intervals = await runIntervals(w);
      expect(intervals.get('google_ads.campaign_daily')?.length).toBe(12); // 10 chunks + 2 manual runs
      expect(overlaps(intervals.get('google_ads.campaign_daily') ?? [])).toBe(0);
      const ranBy = new Set<string>();
      for (const job of await a.queues.sync('google_ads').getCompleted(0, -1)) if (job.processedBy) ranBy.add(job.processedBy);
      expect(ranBy.size).toBe(2); // both workers took jobs
      expect(await hashes(w, await rawAndCoreTables(w))).toEqual(clean);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 120_000);

  it('429 storms and 5xx: 0 records lost, 429s wait out Retry-After without spending attempts, requests stay within 1.1 x clean + retried', async () => {
    const listRequests = (sb: Sandbox) => sb.stats().routes['hubspot.list']?.requests ?? 0;
    // The clean run, inline.
    const cleanSandbox = await sandbox();
    const cw = await newWarehouse();
    const cleanConnection = await probeConnection(cw, cleanSandbox);
    const cleanRun = await runSync({ warehouse: cw, connection: cleanConnection, stream: streamOf(cleanConnection, 'deals'), mode: 'full', log: testLog });
    expect(cleanRun.status).toBe('success');
    const cleanRequests = listRequests(cleanSandbox);
    expect(cleanRequests).toBeGreaterThan(5);
    const cleanHashes = await hashes(cw, ['raw.jobs_probe__deals']);

    const sb = await sandbox('seed=9;hubspot.list:rate_limit=1@every=3;hubspot.list:server_error@every=4');
    const w = await newWarehouse();
    const connection = await probeConnection(w, sb);
    // One attempt per job: a 429 that spent one would fail the sync.
    const settings = settingsFor({ attempts: 1 });
    const handle = await startWorker({ settings, config: configOf([connection]), warehouse: w, log: testLog, schedules: false });
    try {
      const [id] = await enqueueSync(handle.queues, connection, [streamOf(connection, 'deals')], 'full');
      const queue = handle.queues.sync('jobs_probe');
      const job = await waitForJob(queue, id ?? '', 'the sync job to finish', async (j) => (await j.isCompleted()) || (await j.isFailed()));
      expect(job.failedReason).toBeUndefined();
      expect(await job.isCompleted()).toBe(true);
      expect(await hashes(w, ['raw.jobs_probe__deals'])).toEqual(cleanHashes);
      const stats = sb.stats().routes['hubspot.list'];
      const faults = Object.values(stats?.faults ?? {}).reduce((n, v) => n + (v ?? 0), 0);
      expect(stats?.faults.rate_limit ?? 0).toBeGreaterThan(1);
      expect(stats?.faults.server_error ?? 0).toBeGreaterThan(1);
      expect(listRequests(sb)).toBeLessThanOrEqual(Math.floor(1.1 * cleanRequests) + faults);
      const waits = await handle.metrics.registry.getSingleMetricAsString('mpm_rate_limit_waits_total');
      expect(waits).toContain(`mpm_rate_limit_waits_total{queue="sync-jobs_probe"} ${stats?.faults.rate_limit}`);
    } finally {
      await handle.close();
    }
  }, 120_000);
});

describe('operations', () => {
  it('graceful shutdown stores the current page and leaves no job active; another worker finishes the backfill', async () => {
    const sb = await sandbox('seed=3;google_ads.searchStream:slow=150@p=1');
    const w = await newWarehouse();
    const settings = settingsFor();
    const connection = googleAdsConnection(sb);
    const config = configOf([connection]);
    const first = await startWorker({ settings, config, warehouse: w, log: testLog, schedules: false, concurrency: 1 });
    const id = await enqueueBackfill(first.queues, w.knex, { connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 5, force: false });
    await waitFor('a stored page', async () => (await backfillProgress(w.knex, id)).rows > 0 || undefined);
    await first.close();
    const queues = new JobQueues(settings);
    try {
      for (const q of await queues.discover()) expect(await q.getActiveCount()).toBe(0);
      const { chunks } = await getBackfill(w.knex, id);
      expect(chunks.some((c) => c.status === 'pending')).toBe(true);
      expect(chunks.every((c) => c.status === 'pending' || c.status === 'done')).toBe(true);
      const cancelled = (await w.knex('meta.sync_runs').where({ status: 'cancelled' }).first('rows_read')) as { rows_read: string } | undefined;
      expect(Number(cancelled?.rows_read)).toBeGreaterThan(0); // the page in hand was stored
      const second = await startWorker({ settings, config, warehouse: w, log: testLog, schedules: false });
      try {
        expect((await backfillEnded(w, id)).status).toBe('done');
        expect(await hashes(w, await rawAndCoreTables(w))).toEqual(clean);
      } finally {
        await second.close();
      }
    } finally {
      await queues.close();
    }
  }, 120_000);

  it('backfill cancel drops queued chunks from any process; the flow parent then skips the transform', async () => {
    const w = await newWarehouse();
    const settings = settingsFor();
    const connection = googleAdsConnection(baseSandbox);
    const queues = new JobQueues(settings);
    try {
      const id = await enqueueBackfill(queues, w.knex, { connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 3, force: false });
      expect(await cancelBackfill(w.knex, id, queues)).toEqual({ removedJobs: 4 });
      const { backfill, chunks } = await getBackfill(w.knex, id);
      expect(backfill.status).toBe('cancelled');
      expect(chunks.map((c) => c.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
      await expect(cancelBackfill(w.knex, 'bf-nope', queues)).rejects.toThrow(/no backfill "bf-nope"/);
      const handle = await startWorker({ settings, config: configOf([connection]), warehouse: w, log: testLog, schedules: false });
      try {
        const parent = await waitForJob(queues.transform(), `transform-${id}`, 'the transform parent to finish', (j) => j.isCompleted());
        expect(parent.returnvalue).toEqual({ outcome: 'skipped', detail: 'backfill cancelled' });
        const runs = (await w.knex('meta.sync_runs').count({ n: '*' }).first()) as { n: string };
        expect(Number(runs.n)).toBe(0);
      } finally {
        await handle.close();
      }
    } finally {
      await queues.close();
    }
  }, 60_000);

  it('auth errors fail at once with what to fix; failed jobs keep error and attempts; jobs retry re-runs them', async () => {
    const sb = await sandbox();
    const w = await newWarehouse();
    const settings = settingsFor();
    const broken = googleAdsConnection(sb, { refreshToken: 'revoked-token' });
    const handle = await startWorker({ settings, config: configOf([broken]), warehouse: w, log: testLog, schedules: false });
    try {
      const [jobId] = await enqueueSync(handle.queues, broken, [streamOf(broken, 'customers')], 'incremental');
      const queue = handle.queues.sync('google_ads');
      const failed = await waitForJob(queue, jobId ?? '', 'the job to fail', (j) => j.isFailed());
      expect(failed.attemptsStarted).toBe(1); // unrecoverable: no retries of a refused credential
      expect(failed.attemptsMade).toBeLessThanOrEqual(1);
      expect(failed.failedReason).toMatch(/google_ads\.customers: credentials were refused: .*Fix the connection's credentials/);
      expect(failed.failedReason).not.toContain('revoked-token');
      const firstFinish = failed.finishedOn;
      expect(await retryFailed(handle.queues, { id: jobId ?? '' })).toEqual([`${syncQueueName('google_ads')}/${jobId}`]);
      await waitForJob(queue, jobId ?? '', 'the retried job to fail again', async (j) => (await j.isFailed()) && j.finishedOn !== firstFinish);
      expect(await retryFailed(handle.queues, { all: true })).toEqual([`${syncQueueName('google_ads')}/${jobId}`]);
      await expect(retryFailed(handle.queues, { id: 'no-such-job' })).rejects.toThrow(/no job "no-such-job"/);
    } finally {
      await handle.close();
    }
  }, 60_000);

  it('a transform job with a configuration problem fails at once with what to fix; its backfill says its transform failed', async () => {
    const w = await newWarehouse();
    const settings = settingsFor();
    const connection = googleAdsConnection(baseSandbox);
    // A direct channel the grouping rules never give (a worker started by \`mpm worker\` refuses it at start).
    const handle = await startWorker({ settings, config: configOf([connection], { transform: { directChannels: ['direct'] } }), warehouse: w, log: testLog, schedules: false });
    try {
      const id = await enqueueBackfill(handle.queues, w.knex, { connection, streams: [streamOf(connection, 'campaign_daily')], window: WINDOW, chunkDays: 5, force: false });
      const done = await backfillEnded(w, id);
      expect(done.status).toBe('done');
      expect(done.transformStatus).toBe('failed');
      const failed = await waitForJob(handle.queues.transform(), `transform-${id}`, 'the transform to fail', (j) => j.isFailed());
      expect(failed.attemptsStarted).toBe(1); // unrecoverable: no retries of a configuration problem
      expect(failed.failedReason).toMatch(/^transform: configuration problem: transform: directChannels\.0: "direct" is not a channel of the grouping rules .*Fix mpm\.config\.json, then `mpm jobs retry`$/);
    } finally {
      await handle.close();
    }
  }, 60_000);

  it('serves Prometheus /metrics: runs by status, rows, durations, queue depth and freshness', async () => {
    const sb = await sandbox();
    const w = await newWarehouse();
    const settings = settingsFor();
    const connection = googleAdsConnection(sb, { startDate: '2026-10-25', chunkDays: 31 });
    const handle: WorkerHandle = await startWorker({ settings, config: configOf([connection]), warehouse: w, log: testLog, schedules: false, metricsPort: 0 });
    try {
      await enqueueSync(handle.queues, connection, [streamOf(connection, 'campaigns')], 'incremental');
      await waitFor('the sync', async () => (await w.knex('meta.sync_runs').where({ status: 'success' }).first()) as unknown);
      const body = await waitFor('the run in the metrics', async () => {
        const text = await new Promise<string>((resolve, reject) => {
          http.get(`http://127.0.0.1:${handle.metricsPort}/metrics`, (res) => {
            let data = '';
            res.on('data', (c: Buffer) => (data += c.toString()));
            res.on('end', () => resolve(data));
          }).on('error', reject);
        });
        return text.includes('mpm_sync_runs_total{') ? text : undefined;
      });
      expect(body).toMatch(/mpm_sync_runs_total\{connection="google_ads",stream="campaigns",mode="incremental",status="success"\} 1/);
      expect(body).toMatch(/mpm_sync_rows_total\{connection="google_ads",stream="campaigns",outcome="read"\} [1-9]/);
      expect(body).toMatch(/mpm_sync_duration_seconds_count\{connection="google_ads",stream="campaigns",mode="incremental"\} 1/);
      expect(body).toMatch(/mpm_queue_jobs\{queue="sync-google_ads",state="failed"\} 0/);
      expect(body).toMatch(/mpm_stream_freshness_seconds\{connection="google_ads",stream="campaigns"\} \d/);
      expect(body).toContain('# TYPE mpm_rate_limit_waits_total counter');
    } finally {
      await handle.close();
    }
  }, 60_000);

  it('Bull Board: refuses a non-loopback bind without credentials; basic auth guards it', async () => {
    const queues = new JobQueues(settingsFor());
    try {
      await expect(startUi(queues, { host: '0.0.0.0', port: 0 })).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 without credentials/);
      await expect(startUi(queues, { port: 0, user: 'ops' })).rejects.toThrow(/set both the user and the password/);
      const ui = await startUi(queues, { host: '127.0.0.1', port: 0, user: 'ops', password: 's3cret-pw' });
      try {
        const get = (auth?: string) =>
          new Promise<number>((resolve, reject) => {
            http.get(`${ui.url}api/queues`, { headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} }, (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            }).on('error', reject);
          });
        expect(await get()).toBe(401);
        expect(await get('ops:wrong')).toBe(401);
        expect(await get('ops:s3cret-pw')).toBe(200);
      } finally {
        await ui.close();
      }
    } finally {
      await queues.close();
    }
  });
});

// Runs last (the file's describes run in order): what every test above made the workers log.
describe('worker logs', () => {
  it('log every job failure with its reason, never a secret, and no error of their own', () => {
    const lines = fs.readFileSync(TEST_LOG_FILE, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string; err?: unknown });
    const failed = lines.filter((l) => l.msg === 'job failed');
    expect(failed.length).toBeGreaterThan(0);
    for (const l of failed) expect(typeof l.reason).toBe('string');
    // A logging error of the worker itself (a serializer that threw lost every 'job failed' line).
    expect(lines.filter((l) => l.msg === 'worker error' && JSON.stringify(l.err).includes('TypeError'))).toEqual([]);
    const secrets = [
      'revoked-token',
      ...Object.entries(baseSandbox.env).filter(([k, v]) => /TOKEN|SECRET|PASSWORD/.test(k) && v.length >= 6).map(([, v]) => v),
    ];
    expect(secrets.length).toBeGreaterThan(2);
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of secrets) expect(text.includes(secret), `a secret (${secret.slice(0, 3)}...) in the worker logs`).toBe(false);
  });
});

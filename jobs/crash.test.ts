import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../sandbox/emulators/prng.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { createTestWarehouse } from '../test/helpers/warehouse.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { enqueueBackfill, getBackfill, planChunks, runBackfillInline } from './backfill.ts';
import { JobQueues } from './queues.ts';
import { dropPrefix, googleAdsConnection, googleAdsSettings, hashes, rawAndCoreTables, REDIS_URL, testLog, streamOf, TEST_LOG_FILE, testSettings, waitFor } from './test-support.ts';

/**
 * Crash safety: a worker process running a multi-chunk backfill is killed with SIGKILL at 10
 * seeded points (mid-page, between the raw and the core upsert, after a page's commit, after a
 * run's commit before the job's ack) and restarted each time; the final raw and core tables equal
 * a clean run's and every chunk is done.
 */

type TestWarehouse = Warehouse & { drop(): Promise<void>; url?: string };

const root = path.resolve(import.meta.dirname, '..');
const WINDOW = { from: '2026-10-01', to: '2026-10-21' };
const CHUNK_DAYS = 3; // 7 chunks x 3 days x 2 customers: 42 pages
const KINDS = ['fetch', 'core', 'page', 'finished'] as const;

/** Ten crash points from a fixed seed; every kind appears. Each is reached well before the backfill ends. */
function crashPoints(seed: number): string[] {
  const rand = mulberry32(seed);
  return Array.from({ length: 10 }, (_, i) => {
    const kind = KINDS[i % KINDS.length] ?? 'page';
    const n = 1 + Math.floor(rand() * (kind === 'finished' ? 2 : 3));
    return `${kind}:${n}`;
  });
}

let sb: Sandbox;
const warehouses: TestWarehouse[] = [];
let prefix = '';

beforeAll(async () => {
  sb = await startSandbox({ scale: 'tiny', seed: 42 });
});

afterAll(async () => {
  fs.rmSync(TEST_LOG_FILE, { force: true });
  await sb?.stop();
  for (const w of warehouses) await w.drop().catch(() => undefined);
  if (prefix) await dropPrefix(prefix);
});

function startChild(env: Record<string, string>): { child: ChildProcess; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'jobs/test-crash-worker.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      if (code !== null && code !== 0) process.stderr.write(`crash worker exited ${code}: ${stderr}\n`);
      resolve({ code, signal });
    });
  });
  return { child, exit };
}

describe('crash safety', () => {
  it('a worker killed with SIGKILL at 10 points of a multi-chunk backfill loses no chunk; the warehouse equals a clean run', async () => {
    const connection = googleAdsConnection(sb);
    const stream = streamOf(connection, 'campaign_daily');

    const cleanWarehouse = await createTestWarehouse('postgres');
    warehouses.push(cleanWarehouse);
    const cleanRun = await runBackfillInline({ warehouse: cleanWarehouse, log: testLog, connection, streams: [stream], window: WINDOW, chunkDays: CHUNK_DAYS, force: false });
    expect(cleanRun.status).toBe('done');
    const tables = await rawAndCoreTables(cleanWarehouse);
    const clean = await hashes(cleanWarehouse, tables);
    expect(clean['raw.google_ads__campaign_daily']).toMatch(/^42:/);

    const w = await createTestWarehouse('postgres');
    warehouses.push(w);
    const settings = testSettings({ lockDurationMs: 2000, stalledIntervalMs: 1000, maxStalledCount: 50, streamLockTtlMs: 1500 });
    prefix = settings.prefix;
    const queues = new JobQueues(settings);
    const env = {
      REDIS_URL,
      MPM_QUEUE_PREFIX: settings.prefix,
      MPM_JOB_LOCK_MS: String(settings.lockDurationMs),
      MPM_STALLED_INTERVAL_MS: String(settings.stalledIntervalMs),
      MPM_MAX_STALLED: String(settings.maxStalledCount),
      MPM_STREAM_LOCK_TTL_MS: String(settings.streamLockTtlMs),
      MPM_JOB_BACKOFF_MS: '100',
      CRASH_DATABASE_URL: w.url ?? '',
      CRASH_SETTINGS: JSON.stringify(googleAdsSettings(sb.env)),
    };
    try {
      const id = await enqueueBackfill(queues, w.knex, { connection, streams: [stream], window: WINDOW, chunkDays: CHUNK_DAYS, force: false });
      const ended = async () => {
        const { backfill } = await getBackfill(w.knex, id);
        return backfill.status !== 'running' && backfill.transformStatus !== null ? backfill : undefined;
      };

      const points = crashPoints(20261123);
      const killed: string[] = [];
      for (const [i, point] of points.entries()) {
        const debug: Record<string, string> = process.env.JOBS_CRASH_DEBUG ? { CRASH_LOG: path.join(process.env.JOBS_CRASH_DEBUG, `crash-${i}.log`) } : {};
        const { child, exit } = startChild({ ...env, ...debug, CRASH_AT: point });
        const outcome = await Promise.race([exit.then((e) => ({ exited: e })), waitFor(`the backfill or a crash at ${point}`, ended, 120_000, 200).then(() => ({ exited: undefined }))]);
        if (!outcome.exited) {
          child.kill('SIGTERM');
          await exit;
          break;
        }
        expect(outcome.exited.signal, `crash point ${point}`).toBe('SIGKILL');
        killed.push(point);
      }
      expect(killed).toEqual(points); // every crash happened before the backfill could end

      const { child, exit } = startChild(env);
      const final = await waitFor('the backfill to finish after the last restart', ended, 120_000, 200);
      child.kill('SIGTERM');
      expect((await exit).code).toBe(0);

      expect(final.status).toBe('done');
      expect(final.transformStatus).toBe('success');
      const { chunks } = await getBackfill(w.knex, id);
      expect(chunks.map((c) => [c.window.from, c.status])).toEqual(planChunks(WINDOW, CHUNK_DAYS).map((c) => [c.from, 'done']));
      for (const c of chunks) {
        const ok = await w.knex('meta.sync_runs').where({ stream: 'campaign_daily', mode: 'backfill', status: 'success', window_from: c.window.from, window_to: c.window.to }).first('id');
        expect(ok, `chunk ${c.window.from}`).toBeDefined();
      }
      expect(await hashes(w, tables)).toEqual(clean);
      const stuck = await w.knex('meta.sync_runs').where({ status: 'running' }).count({ n: '*' }).first();
      expect(Number((stuck as { n: string }).n)).toBe(0);
      for (const q of await queues.discover()) {
        const c = await q.getJobCounts('active', 'failed', 'waiting', 'delayed');
        expect({ active: c.active ?? 0, failed: c.failed ?? 0, waiting: c.waiting ?? 0, delayed: c.delayed ?? 0 }, q.name).toEqual({ active: 0, failed: 0, waiting: 0, delayed: 0 });
      }
    } finally {
      await queues.close();
    }
  }, 300_000);
});

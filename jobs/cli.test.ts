import { execFile, spawn } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import { createTestWarehouse } from '../test/helpers/warehouse.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { dropPrefix, googleAdsSettings, REDIS_URL } from './test-support.ts';

/** The job commands through the real CLI (bin/mpm.ts), with and without REDIS_URL. */

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const tsx = path.join(root, 'node_modules/.bin/tsx');
// For signal tests: node --import tsx, not the tsx binary. The binary relays SIGTERM to its child and
// SIGKILLs it (exit 143) when the child does not acknowledge within 30 ms, which a loaded CI machine misses.
const tsxLoader = ['--import', pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href];

let sb: Sandbox;
let warehouse: Warehouse & { drop(): Promise<void>; url?: string };
let dir: string;
const prefix = `mpmcli${process.pid}`;

async function mpm(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tsx, [path.join(root, 'bin/mpm.ts'), ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'warn', DATABASE_URL: warehouse.url ?? '', ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  sb = await startSandbox({ scale: 'tiny', seed: 42 });
  warehouse = await createTestWarehouse('postgres');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-jobs-cli-'));
  const config = {
    connections: [{ id: 'google_ads', connector: 'google_ads', ...googleAdsSettings(sb.env) }],
    schedules: { 'google_ads.customers': false, 'google_ads.campaign_daily': { cron: '0 5 * * *', tz: 'Europe/Berlin' } },
  };
  fs.writeFileSync(path.join(dir, 'mpm.config.json'), JSON.stringify(config, null, 2));
});

afterAll(async () => {
  await sb?.stop();
  await warehouse?.drop();
  await dropPrefix(prefix);
});

describe('job commands', () => {
  it('worker and schedule need REDIS_URL: exit 2 with a message saying so; a bad transform section or a taken metrics port stops the worker at start', { timeout: 120_000 }, async () => {
    const worker = await mpm(['worker']);
    expect(worker.code).toBe(2);
    expect(worker.stderr).toMatch(/`mpm worker` needs REDIS_URL/);
    // With Redis, a bad transform section stops the worker at start, naming what is wrong.
    const bad = path.join(dir, 'bad.config.json');
    fs.writeFileSync(bad, JSON.stringify({ connections: [], transform: { directChannels: ['direct'] } }));
    const refused = await mpm(['worker', '--no-metrics-port'], { REDIS_URL, MPM_QUEUE_PREFIX: prefix, MPM_CONFIG: bad });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/transform: directChannels\.0: "direct" is not a channel of the grouping rules/);
    expect(refused.stdout).not.toContain('worker started');
    // A start that fails late (its metrics port is taken) closes what it opened and exits, instead of hanging on Redis connections.
    const busy = http.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const late = await mpm(['worker', '--metrics-port', String(port)], { REDIS_URL, MPM_QUEUE_PREFIX: `${prefix}busy` });
      expect(late.code).toBe(1);
      expect(late.stderr).toMatch(/EADDRINUSE/);
    } finally {
      busy.close();
      await dropPrefix(`${prefix}busy`);
    }
    const schedule = await mpm(['schedule', 'list']);
    expect(schedule.code).toBe(2);
    expect(schedule.stderr).toMatch(/`mpm schedule` needs REDIS_URL/);
  });

  it('backfill runs inline without REDIS_URL with progress; status reads it from another process', async () => {
    const r = await mpm(['backfill', 'google_ads.campaign_daily', '--from', '2026-10-01', '--to', '2026-10-04', '--chunk', '2d']);
    expect(r.code).toBe(0);
    const id = /backfill (bf-\S+): done; transform: success/.exec(r.stdout)?.[1];
    expect(id, r.stdout + r.stderr).toBeDefined();
    expect(r.stderr).toMatch(/\[#+\] 2\/2 chunks {2}8 rows/);
    const status = await mpm(['backfill', 'status', id ?? '']);
    expect(status.stdout).toContain(`${id}: done  google_ads [campaign_daily] 2026-10-01..2026-10-04 in 2-day chunks (inline)`);
    expect(status.stdout).toContain('chunks: 2 total, 2 done');
    const bad = await mpm(['backfill', 'google_ads.campaign_daily', '--from', '2026-10-05', '--to', '2026-10-04']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from: must not be after --to/);
  }, 240_000);

  it('with REDIS_URL: schedule sync/list, backfill queued, status shows queue state and lag, jobs retry', async () => {
    const env = { REDIS_URL, MPM_QUEUE_PREFIX: prefix };
    const synced = await mpm(['schedule', 'sync'], env);
    expect(synced.code).toBe(0);
    expect(synced.stdout).toContain('registered sync-google_ads.campaign_daily: cron "0 5 * * *" (Europe/Berlin) [schedules.google_ads.campaign_daily]');
    expect(synced.stdout).toContain('2 schedule(s) registered, 0 removed');
    const list = await mpm(['schedule', 'list'], env);
    expect(list.stdout).toMatch(/sync-google_ads\.campaigns {2}every 6h \[default \(google_ads\)\] {2}next \S+ {2}registered/);
    expect(list.stdout).not.toContain('sync-google_ads.customers');

    const queued = await mpm(['backfill', 'google_ads.campaigns', '--from', '2026-10-01', '--to', '2026-10-02'], env);
    expect(queued.code).toBe(0);
    expect(queued.stdout).toMatch(/^bf-\S+\nqueued; follow it with `mpm backfill status bf-/);

    // A run of its own, so the lag line does not depend on an earlier test having synced.
    const inline = await mpm(['sync', 'google_ads.customers', '--inline', '--no-transform'], env);
    expect(inline.code, inline.stderr).toBe(0);
    const status = await mpm(['status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/queue sync-google_ads: 1 waiting, 0 active, 0 delayed, 0 failed/);
    expect(status.stdout).toMatch(/queue transform: 1 waiting, 0 active, 0 delayed, 0 failed/);
    expect(status.stdout).toMatch(/last success: \S+ \(lag \d+[smhd]/);

    // With REDIS_URL, `mpm sync` queues for the workers (stream lock, rate limits, then the transform).
    const sync = await mpm(['sync', 'google_ads.customers'], env);
    expect(sync.code, sync.stderr).toBe(0);
    const syncId = /^queued (\S+)$/m.exec(sync.stdout)?.[1];
    expect(syncId, sync.stdout).toBeDefined();
    const syncQueue = new Queue('sync-google_ads', { connection: { url: REDIS_URL }, prefix });
    try {
      expect(await (await syncQueue.getJob(syncId ?? ''))?.getState()).toBe('waiting');
    } finally {
      await syncQueue.close();
    }

    const retry = await mpm(['jobs', 'retry', '--all-failed'], env);
    expect(retry.stdout).toContain('0 job(s) retried');
    const both = await mpm(['jobs', 'retry', 'x', '--all-failed'], env);
    expect(both.code).toBe(2);
  }, 240_000);

  it('mpm worker serves /metrics and stops cleanly on SIGTERM; mpm ui refuses a public bind without credentials', async () => {
    const env = { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'warn', DATABASE_URL: warehouse.url ?? '', REDIS_URL, MPM_QUEUE_PREFIX: prefix };
    const child = spawn(process.execPath, [...tsxLoader, path.join(root, 'bin/mpm.ts'), 'worker', '--metrics-port', '0', '--no-schedules'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /metrics on :(\d+)\/metrics/.exec(out);
        if (m?.[1]) {
          clearInterval(timer);
          resolve(m[1]);
        }
      }, 100);
      void exit.then((code) => {
        clearInterval(timer);
        reject(new Error(`worker exited ${code}: ${out}`));
      });
    });
    const body = await new Promise<string>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/metrics`, (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve(data));
      }).on('error', reject);
    });
    expect(body).toContain('# TYPE mpm_sync_runs_total counter');
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).toContain('worker stopped');

    const ui = await mpm(['ui', '--host', '0.0.0.0'], { REDIS_URL, MPM_QUEUE_PREFIX: prefix });
    expect(ui.code).toBe(2);
    expect(ui.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without credentials/);
  }, 240_000);
});

import type { Command } from 'commander';
import type { Knex } from 'knex';
import { z } from 'zod';
import { queueStates, type QueueState } from '../../jobs/ops.ts';
import { JobQueues } from '../../jobs/queues.ts';
import { jobsSettings } from '../../jobs/settings.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';
import { isStreamRunning } from '../../pipeline/stream-lock.ts';

export interface StreamStatus {
  connection: string;
  stream: string;
  lastRun: {
    id: number;
    mode: string;
    status: string;
    startedAt: Date;
    finishedAt: Date | null;
    rowsRead: number;
    rowsInserted: number;
    rowsUpdated: number;
    rowsQuarantined: number;
    error: string | null;
    /** Marked running, but no live process holds its stream: it was killed (the next run marks it failed). */
    interrupted?: boolean;
  } | null;
  lastSuccessAt: Date | null;
  /** Seconds since the last successful sync (null: never succeeded). */
  lagSeconds: number | null;
  checkpoint: unknown;
  checkpointUpdatedAt: Date | null;
  openQuarantine: number;
}

/** One entry per connection x stream that has run, has a checkpoint or has quarantined records. */
export async function streamStatus(knex: Knex): Promise<StreamStatus[]> {
  const runs = (await knex.raw(`
    SELECT DISTINCT ON (connection, stream) id, connection, stream, mode, status, started_at, finished_at,
           rows_read, rows_inserted, rows_updated, rows_quarantined, error
    FROM meta.sync_runs ORDER BY connection, stream, id DESC`)).rows as Array<Record<string, unknown>>;
  const success = (await knex.raw(`
    SELECT connection, stream, max(finished_at) AS at, extract(epoch FROM now() - max(finished_at))::float8 AS lag
    FROM meta.sync_runs WHERE status = 'success' GROUP BY connection, stream`)).rows as Array<{ connection: string; stream: string; at: Date; lag: number | string }>;
  const states = (await knex('meta.sync_state').where({ scope: 'incremental' }).select('connection', 'stream', 'cursor', 'updated_at')) as Array<{ connection: string; stream: string; cursor: unknown; updated_at: Date }>;
  const quarantine = (await knex('meta.quarantine').whereNull('resolved_at').groupBy('connection', 'stream').select('connection', 'stream').count({ n: '*' })) as Array<{ connection: string; stream: string; n: number | string }>;

  const byKey = new Map<string, StreamStatus>();
  const entry = (connection: string, stream: string) => {
    const key = `${connection}.${stream}`;
    let s = byKey.get(key);
    if (!s) byKey.set(key, (s = { connection, stream, lastRun: null, lastSuccessAt: null, lagSeconds: null, checkpoint: null, checkpointUpdatedAt: null, openQuarantine: 0 }));
    return s;
  };
  for (const r of runs) {
    entry(String(r.connection), String(r.stream)).lastRun = {
      id: Number(r.id),
      mode: String(r.mode),
      status: String(r.status),
      startedAt: r.started_at as Date,
      finishedAt: (r.finished_at as Date | null) ?? null,
      rowsRead: Number(r.rows_read),
      rowsInserted: Number(r.rows_inserted),
      rowsUpdated: Number(r.rows_updated),
      rowsQuarantined: Number(r.rows_quarantined),
      error: (r.error as string | null) ?? null,
    };
  }
  for (const s of success) Object.assign(entry(s.connection, s.stream), { lastSuccessAt: s.at, lagSeconds: Math.max(0, Math.round(Number(s.lag))) });
  for (const s of states) Object.assign(entry(s.connection, s.stream), { checkpoint: s.cursor, checkpointUpdatedAt: s.updated_at });
  for (const q of quarantine) entry(q.connection, q.stream).openQuarantine = Number(q.n);
  return [...byKey.values()].sort((a, b) => `${a.connection}.${a.stream}`.localeCompare(`${b.connection}.${b.stream}`));
}

export function register(program: Command, rt: Runtime): void {
  program
    .command('status')
    .description('last run, last success and lag, checkpoint and open quarantine of every stream; job queue state with REDIS_URL')
    .option('--json', 'print JSON')
    .action(async (raw: unknown) => {
      const opts = parseOptions(z.object({ json: z.boolean().optional() }), raw, 'status');
      const warehouse = await rt.warehouse();
      const streams = await streamStatus(warehouse.knex);
      for (const s of streams) {
        if (s.lastRun?.status === 'running') s.lastRun.interrupted = !(await isStreamRunning(warehouse, s.connection, s.stream));
      }
      let queues: QueueState[] | undefined;
      if (rt.env.REDIS_URL) {
        const jobQueues = new JobQueues(jobsSettings(rt.env.REDIS_URL, '`mpm status`'));
        rt.onClose(() => jobQueues.close());
        queues = await queueStates(jobQueues);
      }
      if (opts.json) {
        say(JSON.stringify({ warehouse: { kind: warehouse.kind, location: warehouse.location }, queues: queues ?? null, streams }, null, 2));
        return;
      }
      say(`warehouse: ${warehouse.kind} (${warehouse.location})`);
      if (!queues) say('queues: none (REDIS_URL not set: syncs run inline)');
      else if (queues.length === 0) say('queues: none yet (start `mpm worker`)');
      for (const q of queues ?? []) say(`queue ${q.queue}: ${q.waiting} waiting, ${q.active} active, ${q.delayed} delayed, ${q.failed} failed`);
      if (streams.length === 0) say('no syncs yet: try `mpm sources`, then `mpm sync <connection>`');
      for (const s of streams) {
        const run = s.lastRun;
        const state = run?.interrupted ? `${run.status}, interrupted: its process is gone (the next run marks it failed and resumes)` : run?.status;
        const last = run ? `last run ${run.id} ${state} (${run.mode}) at ${run.startedAt.toISOString()}: read ${run.rowsRead}, inserted ${run.rowsInserted}, updated ${run.rowsUpdated}, quarantined ${run.rowsQuarantined}` : 'never run';
        say(`${s.connection}.${s.stream}`);
        say(`  ${last}`);
        if (run?.error) say(`  error: ${run.error}`);
        say(`  last success: ${s.lastSuccessAt ? `${s.lastSuccessAt.toISOString()} (lag ${formatLag(s.lagSeconds ?? 0)})` : 'never'}`);
        say(`  checkpoint: ${s.checkpoint === null ? 'none' : JSON.stringify(s.checkpoint)}`);
        say(`  open quarantine: ${s.openQuarantine}`);
      }
    });
}

/** 42s, 5m 3s, 2h 10m, 3d 4h. */
export function formatLag(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { DateWindow } from '../connectors/core/connector.ts';
import { ConfigError } from '../connectors/core/errors/index.ts';
import type { Connection } from '../pipeline/config/connections.ts';
import type { AnyStream } from '../pipeline/loader.ts';
import { checkpointScope, runSync, type SyncResult } from '../pipeline/sync.ts';
import { lockBackfill } from '../pipeline/stream-lock.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { jobId, retryOptions, syncQueueName, TRANSFORM_QUEUE, type JobQueues } from './queues.ts';
import { runTransformStage } from './transform.ts';
import type { SyncJobData, TransformJobData } from './types.ts';

const DAY = 86_400_000;

function dayIndex(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / DAY;
}
function dayString(index: number): string {
  return new Date(index * DAY).toISOString().slice(0, 10);
}

/** '7d', '2w' or a bare number of days. */
export function parseChunk(value: string): number {
  const m = /^(\d+)\s*(d|w)?$/.exec(value.trim());
  const n = m ? Number(m[1]) * (m[2] === 'w' ? 7 : 1) : NaN;
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`--chunk: "${value}" is not a number of days such as 7d or 2w`);
  return n;
}

/** Consecutive inclusive windows of `days` days covering from..to; the last one may be shorter. */
export function planChunks(window: DateWindow, days: number): DateWindow[] {
  const start = dayIndex(window.from);
  const end = dayIndex(window.to);
  if (end < start) throw new ConfigError('--from must not be after --to');
  const out: DateWindow[] = [];
  for (let s = start; s <= end; s += days) out.push({ from: dayString(s), to: dayString(Math.min(s + days - 1, end)) });
  return out;
}

export type BackfillStatus = 'running' | 'done' | 'failed' | 'cancelled';
export type ChunkStatus = 'pending' | 'running' | 'done' | 'skipped' | 'failed' | 'cancelled';

export interface BackfillRow {
  id: string;
  connection: string;
  streams: string[];
  window: DateWindow;
  chunkDays: number;
  force: boolean;
  execution: 'queued' | 'inline';
  status: BackfillStatus;
  transformStatus: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  error: string | null;
}

export interface ChunkRow {
  stream: string;
  window: DateWindow;
  status: ChunkStatus;
  runId: number | null;
  rowsRead: number;
  attempts: number;
  error: string | null;
}

export class UnknownBackfillError extends ConfigError {}

function isoDate(v: unknown): string {
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  return String(v).slice(0, 10);
}

export async function getBackfill(knex: Knex, id: string): Promise<{ backfill: BackfillRow; chunks: ChunkRow[] }> {
  const row = (await knex('meta.backfills').where({ id }).first()) as Record<string, unknown> | undefined;
  if (!row) throw new UnknownBackfillError(`no backfill "${id}" (see meta.backfills)`);
  const chunks = (await knex('meta.backfill_chunks').where({ backfill_id: id }).orderBy(['stream', 'chunk_from'])) as Array<Record<string, unknown>>;
  return {
    backfill: {
      id: String(row.id),
      connection: String(row.connection),
      streams: row.streams as string[],
      window: { from: isoDate(row.window_from), to: isoDate(row.window_to) },
      chunkDays: Number(row.chunk_days),
      force: Boolean(row.force),
      execution: row.execution as 'queued' | 'inline',
      status: row.status as BackfillStatus,
      transformStatus: (row.transform_status as string | null) ?? null,
      createdAt: row.created_at as Date,
      finishedAt: (row.finished_at as Date | null) ?? null,
      error: (row.error as string | null) ?? null,
    },
    chunks: chunks.map((c) => ({
      stream: String(c.stream),
      window: { from: isoDate(c.chunk_from), to: isoDate(c.chunk_to) },
      status: c.status as ChunkStatus,
      runId: c.run_id === null ? null : Number(c.run_id),
      rowsRead: Number(c.rows_read),
      attempts: Number(c.attempts),
      error: (c.error as string | null) ?? null,
    })),
  };
}

/**
 * "Complete" for a backfill window: a meta.sync_runs row of this connection stream in mode
 * backfill with exactly this window and status success (the latest one is returned). Such chunks
 * are skipped unless --force.
 */
export async function windowComplete(knex: Knex, connection: string, stream: string, window: DateWindow, startedSince?: Date): Promise<{ id: number; rowsRead: number } | undefined> {
  const row = (await knex('meta.sync_runs')
    .where({ connection, stream, mode: 'backfill', status: 'success', window_from: window.from, window_to: window.to })
    .modify((q) => {
      if (startedSince) q.where('started_at', '>=', startedSince);
    })
    .orderBy('id', 'desc')
    .first('id', 'rows_read')) as { id: number | string; rows_read: number | string } | undefined;
  return row ? { id: Number(row.id), rowsRead: Number(row.rows_read) } : undefined;
}

export interface CreateBackfillInput {
  connection: Connection;
  streams: readonly AnyStream[];
  window: DateWindow;
  chunkDays: number;
  force: boolean;
  execution: 'queued' | 'inline';
}

/** Records a backfill and its chunks (status pending) in Postgres; returns its id. */
export async function createBackfill(knex: Knex, input: CreateBackfillInput): Promise<{ id: string; chunks: Array<{ stream: string; window: DateWindow }> }> {
  const id = `bf-${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
  const windows = planChunks(input.window, input.chunkDays);
  const chunks = input.streams.flatMap((s) => windows.map((w) => ({ stream: s.name, window: w })));
  await knex.transaction(async (trx) => {
    await trx('meta.backfills').insert({
      id,
      connection: input.connection.id,
      streams: JSON.stringify(input.streams.map((s) => s.name)),
      window_from: input.window.from,
      window_to: input.window.to,
      chunk_days: input.chunkDays,
      force: input.force,
      execution: input.execution,
    });
    for (let i = 0; i < chunks.length; i += 500) {
      await trx('meta.backfill_chunks').insert(
        chunks.slice(i, i + 500).map((c) => ({ backfill_id: id, stream: c.stream, chunk_from: c.window.from, chunk_to: c.window.to })),
      );
    }
  });
  return { id, chunks };
}

export async function setChunk(knex: Knex, backfillId: string, stream: string, window: DateWindow, patch: Partial<{ status: ChunkStatus; run_id: number; rows_read: number; error: string | null }>, bumpAttempt = false): Promise<void> {
  const q = knex('meta.backfill_chunks').where({ backfill_id: backfillId, stream, chunk_from: window.from });
  await q.update({ ...patch, updated_at: knex.fn.now(), ...(bumpAttempt ? { attempts: knex.raw('attempts + 1') } : {}) });
}

/** Recomputes a backfill's status from its chunks (a cancelled one stays cancelled). */
export async function refreshBackfillStatus(knex: Knex, backfillId: string): Promise<BackfillStatus> {
  const { backfill, chunks } = await getBackfill(knex, backfillId);
  if (backfill.status === 'cancelled') return 'cancelled';
  const open = chunks.some((c) => c.status === 'pending' || c.status === 'running');
  const failed = chunks.filter((c) => c.status === 'failed');
  const status: BackfillStatus = open ? 'running' : failed.length ? 'failed' : 'done';
  await knex('meta.backfills')
    .where({ id: backfillId })
    .whereNot({ status: 'cancelled' })
    .update({
      status,
      finished_at: open ? null : knex.fn.now(),
      error: failed.length ? `${failed.length} chunk(s) failed: ${failed.slice(0, 3).map((c) => `${c.stream} ${c.window.from}..${c.window.to}: ${c.error ?? 'unknown error'}`).join('; ')}` : null,
    });
  return status;
}

/**
 * Prepares one chunk run (the caller holds the stream's lock). With --force, the chunk's first
 * attempt forgets the window's checkpoint, so everything in it is read again; later attempts
 * (after a crash, a shutdown or a 429) resume from it like any run.
 */
export async function prepareChunk(knex: Knex, backfillId: string, connection: string, stream: string, window: DateWindow, force: boolean): Promise<'run' | 'already-complete' | 'cancelled'> {
  const row = (await knex('meta.backfill_chunks').where({ backfill_id: backfillId, stream, chunk_from: window.from }).first('status', 'attempts')) as { status: ChunkStatus; attempts: number } | undefined;
  const bf = (await knex('meta.backfills').where({ id: backfillId }).first('status', 'created_at')) as { status: BackfillStatus; created_at: Date } | undefined;
  if (!row || !bf) throw new UnknownBackfillError(`backfill ${backfillId} has no chunk ${stream} ${window.from}..${window.to}`);
  if (bf.status === 'cancelled') {
    await setChunk(knex, backfillId, stream, window, { status: 'cancelled' });
    return 'cancelled';
  }
  if (row.status === 'done' || row.status === 'skipped') return 'already-complete';
  const complete = await windowComplete(knex, connection, stream, window);
  // An earlier attempt of this very chunk finished its run but died before recording it (a crash
  // after commit, before the ack): done. Otherwise an earlier backfill did the work: skipped.
  const completedHere = complete && Number(row.attempts) > 0 ? await windowComplete(knex, connection, stream, window, bf.created_at) : undefined;
  if (completedHere) {
    await setChunk(knex, backfillId, stream, window, { status: 'done', run_id: completedHere.id, rows_read: completedHere.rowsRead, error: null });
    return 'already-complete';
  }
  if (complete && !force) {
    await setChunk(knex, backfillId, stream, window, { status: 'skipped' });
    return 'already-complete';
  }
  if (force && Number(row.attempts) === 0) {
    await knex('meta.sync_state').where({ connection, stream, scope: checkpointScope('backfill', window) }).delete();
  }
  await setChunk(knex, backfillId, stream, window, { status: 'running' }, true);
  return 'run';
}

export async function isCancelled(knex: Knex, backfillId: string): Promise<boolean> {
  const bf = (await knex('meta.backfills').where({ id: backfillId }).first('status')) as { status: BackfillStatus } | undefined;
  return bf?.status === 'cancelled';
}

/** Records a finished chunk run. */
export async function finishChunk(knex: Knex, backfillId: string, stream: string, window: DateWindow, result: SyncResult, final: boolean): Promise<void> {
  const status: ChunkStatus = result.status === 'success' ? 'done' : result.status === 'cancelled' ? (final ? 'cancelled' : 'pending') : final ? 'failed' : 'pending';
  await setChunk(knex, backfillId, stream, window, { status, run_id: result.runId, rows_read: result.counts.read, error: result.error ?? null });
  await refreshBackfillStatus(knex, backfillId);
}

/**
 * Enqueues a backfill as one BullMQ flow: children = chunks (sync jobs in mode backfill, in the
 * connector's sync queue), parent = the transform of the affected range, which BullMQ runs once
 * every child is done (a child that fails for good does not block it: ignoreDependencyOnFailure).
 * Job ids are deterministic per backfill and chunk, so re-enqueueing adds nothing.
 */
export async function enqueueBackfill(queues: JobQueues, knex: Knex, input: Omit<CreateBackfillInput, 'execution'>): Promise<string> {
  const { id, chunks } = await createBackfill(knex, { ...input, execution: 'queued' });
  const retry = retryOptions(queues.settings);
  const transform: TransformJobData = { reason: `backfill ${id}`, window: input.window, backfillId: id };
  await queues.flows().add({
    name: 'transform',
    queueName: TRANSFORM_QUEUE,
    data: transform,
    opts: { jobId: jobId('transform', id), ...retry },
    children: chunks.map((c) => {
      const data: SyncJobData = { connection: input.connection.id, stream: c.stream, mode: 'backfill', window: c.window, trigger: 'backfill', backfillId: id };
      return {
        name: 'backfill-chunk',
        queueName: syncQueueName(input.connection.connector.name),
        data,
        opts: { jobId: jobId(id, `${input.connection.id}.${c.stream}`, c.window.from), ...retry, ignoreDependencyOnFailure: true },
      };
    }),
  });
  return id;
}

/** Marks a backfill cancelled; workers skip its pending chunks and stop a running one after its current page. */
export async function cancelBackfill(knex: Knex, id: string, queues?: JobQueues): Promise<{ removedJobs: number }> {
  const { backfill, chunks } = await getBackfill(knex, id);
  if (backfill.status === 'done' || backfill.status === 'failed') throw new ConfigError(`backfill ${id} already ended (${backfill.status})`);
  await knex('meta.backfills').where({ id }).update({ status: 'cancelled', finished_at: knex.fn.now() });
  await knex('meta.backfill_chunks').where({ backfill_id: id, status: 'pending' }).update({ status: 'cancelled', updated_at: knex.fn.now() });
  let removedJobs = 0;
  if (queues && backfill.execution === 'queued') {
    // Waiting chunk jobs are removed; a running one sees the flag and stops after its page.
    for (const c of chunks.filter((c) => c.status === 'pending')) {
      const connectorQueueJob = await findChunkJob(queues, backfill.connection, id, c);
      if (connectorQueueJob && (await connectorQueueJob.isWaiting())) {
        await connectorQueueJob.remove().then(() => removedJobs++).catch(() => undefined);
      }
    }
  }
  return { removedJobs };
}

async function findChunkJob(queues: JobQueues, connection: string, backfillId: string, chunk: ChunkRow) {
  const id = jobId(backfillId, `${connection}.${chunk.stream}`, chunk.window.from);
  for (const q of await queues.discover()) {
    if (!q.name.startsWith('sync-')) continue;
    const job = await q.getJob(id);
    if (job) return job;
  }
  return undefined;
}

export interface InlineBackfillOptions extends Omit<CreateBackfillInput, 'execution'> {
  warehouse: Warehouse;
  log: Logger;
  signal?: AbortSignal;
  /** The config file's `transform` and `goals` sections, for the transform after the chunks. */
  transform?: { config?: unknown; goals?: unknown };
  /** Called once the backfill is recorded, with its id. */
  onStart?(id: string): void;
  /** Called after every stored page and chunk, for progress output. */
  onProgress?(): void;
}

/**
 * Runs a backfill in this process (no Redis): chunk after chunk with the same bookkeeping as the
 * worker, then the transform. Returns the backfill id.
 */
export async function runBackfillInline(options: InlineBackfillOptions): Promise<{ id: string; status: BackfillStatus; transform: string }> {
  const knex = options.warehouse.knex;
  const { id, chunks } = await createBackfill(knex, { ...options, execution: 'inline' });
  // Held while this process runs it: `mpm backfill status` tells a killed run from a live one.
  const lock = await lockBackfill(options.warehouse, id);
  try {
    options.onStart?.(id);
    return { id, ...(await continueInline(options, id, chunks)) };
  } finally {
    await lock.release();
  }
}

async function continueInline(options: InlineBackfillOptions, id: string, chunks: Array<{ stream: string; window: DateWindow }>): Promise<{ status: BackfillStatus; transform: string }> {
  const knex = options.warehouse.knex;
  for (const c of chunks) {
    if (options.signal?.aborted) break;
    const stream = options.streams.find((s) => s.name === c.stream);
    if (!stream) continue;
    const prepared = await prepareChunk(knex, id, options.connection.id, c.stream, c.window, options.force);
    options.onProgress?.();
    if (prepared !== 'run') continue;
    const result = await runSync({
      warehouse: options.warehouse,
      connection: options.connection,
      stream,
      mode: 'backfill',
      window: c.window,
      log: options.log,
      ...(options.signal ? { signal: options.signal } : {}),
      onPage: () => options.onProgress?.(),
    });
    await finishChunk(knex, id, c.stream, c.window, result, true);
    options.onProgress?.();
  }
  if (options.signal?.aborted) {
    // Nothing runs it any more: say so, rather than leave it 'running'. Its stored pages stay,
    // under each chunk window's checkpoint, for the next run of the same backfill to resume.
    await knex('meta.backfill_chunks').where({ backfill_id: id }).whereIn('status', ['pending', 'running']).update({ status: 'cancelled', updated_at: knex.fn.now() });
    await knex('meta.backfills').where({ id }).update({ status: 'cancelled', finished_at: knex.fn.now(), error: 'interrupted; run the same `mpm backfill` again to continue (finished chunks are skipped, the interrupted one resumes from its last stored page)' });
    return { status: 'cancelled', transform: 'not run' };
  }
  const status = await refreshBackfillStatus(knex, id);
  let transform = 'not run';
  if (status === 'done') {
    try {
      await runTransformStage({ warehouse: options.warehouse, log: options.log, config: options.transform?.config, goals: options.transform?.goals, reason: `backfill ${id}` });
      transform = 'success';
    } catch (err) {
      transform = 'failed';
      await knex('meta.backfills').where({ id }).update({ error: err instanceof Error ? err.message : String(err) });
    }
    await knex('meta.backfills').where({ id }).update({ transform_status: transform });
  }
  return { status, transform };
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { AuthError, ConfigError, MpmError, RateLimitError, RequestError, SchemaError } from '../connectors/core/errors/index.ts';
import type { Connection, MpmConfig } from '../pipeline/config/connections.ts';
import type { AnyStream } from '../pipeline/loader.ts';
import { scrub } from '../pipeline/secrets.ts';
import { runSync, type SyncResult } from '../pipeline/sync.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { finishChunk, getBackfill, isCancelled, prepareChunk, refreshBackfillStatus } from './backfill.ts';
import { vendorLimit } from './limits.ts';
import { StreamLocks } from './lock.ts';
import { JobMetrics } from './metrics.ts';
import { jobId, redisConnection, retryOptions, SCHEDULE_QUEUE, syncQueueName, TRANSFORM_QUEUE, JobQueues } from './queues.ts';
import { plannedSchedules, reconcileSchedules } from './schedules.ts';
import type { JobsSettings } from './settings.ts';
import { runTransformStage } from './transform.ts';
import type { CycleJobData, SyncJobData, SyncJobResult, TransformJobData, TransformJobResult } from './types.ts';

export interface WorkerOptions {
  settings: JobsSettings;
  config: MpmConfig;
  warehouse: Warehouse;
  log: Logger;
  /** Sync jobs per vendor queue this worker runs at once. Default: each vendor's limit (jobs/limits.ts). */
  concurrency?: number;
  /** Reconcile schedules with the config at start. Default true. */
  schedules?: boolean;
  /** Serve Prometheus /metrics on this port (0: any free port). Default: not served. */
  metricsPort?: number;
  /** This worker's name, recorded on every job it processes (job.processedBy). Default: <host>-<pid>-<random>. */
  name?: string;
}

export interface WorkerHandle {
  queues: JobQueues;
  metrics: JobMetrics;
  metricsPort: number | undefined;
  /** Stops taking jobs, lets running syncs store their current page and stop, then closes (bounded by MPM_SHUTDOWN_TIMEOUT_MS). */
  close(): Promise<void>;
}

/** What to do about a failure a connector raised, in words a person can act on. */
export function explainUnrecoverable(err: MpmError, connection: string, stream: string): string {
  const where = `${connection}.${stream}`;
  if (err instanceof AuthError) return `${where}: credentials were refused: ${err.message}. Fix the connection's credentials (token, client secret, refresh token), then \`mpm jobs retry\``;
  if (err instanceof ConfigError) return `${where}: configuration problem: ${err.message}. Fix mpm.config.json or the environment, then \`mpm jobs retry\``;
  if (err instanceof RequestError) return `${where}: the vendor refused the request (HTTP ${err.status}): ${err.message}. Check the connection's settings (ids, fields, API version) and permissions`;
  if (err instanceof SchemaError) return `${where}: the vendor's response did not have the documented shape${err.path ? ` at ${err.path}` : ''}: ${err.message}. The connector needs an update for this API change`;
  return `${where}: ${err.message} (not retryable)`;
}

/**
 * The error that decides what the job system does. Transport layers may wrap a refused credential
 * (an AuthError from a token refresh) in a retryable error; a non-retryable MpmError anywhere in
 * the cause chain wins, so the job fails at once with what to fix.
 */
export function decisiveError(err: unknown): unknown {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof MpmError && !e.retryable) return e;
  }
  return err;
}

/** Lets the job system see the error class a connector raised (runSync records only its message). */
function observeErrors(stream: AnyStream, sink: { error?: unknown }): AnyStream {
  return {
    ...stream,
    read(ctx, checkpoint) {
      const inner = stream.read(ctx, checkpoint);
      return (async function* () {
        try {
          yield* inner;
        } catch (err) {
          sink.error = err;
          throw err;
        }
      })();
    },
  };
}


/**
 * Starts the workers of one process: a sync worker per connector queue of the configured
 * connections (with that vendor's concurrency and limiter), the transform worker and the schedule
 * worker that turns each scheduled tick into a flow (sync, then transform).
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const { settings, config, warehouse, log } = options;
  // The schedules are checked before any connection opens: a bad one is a ConfigError here.
  if (options.schedules !== false) plannedSchedules(config);
  const knex = warehouse.knex;
  const queues = new JobQueues(settings);
  const lockRedis = redisConnection(settings);
  const locks = new StreamLocks(lockRedis, settings.prefix, settings.streamLockTtlMs);
  const metrics = new JobMetrics(queues, knex);
  const shutdown = new AbortController();
  const workers: Worker[] = [];
  // BullMQ does not close connections it was given; these are closed with the worker.
  const connections: Array<ReturnType<typeof redisConnection>> = [];
  const connection = () => {
    const c = redisConnection(settings);
    connections.push(c);
    return c;
  };
  const retry = retryOptions(settings);
  const base = {
    name: options.name ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    prefix: settings.prefix,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: settings.maxStalledCount,
  };

  const findStream = (connectionId: string, streamName: string): { connection: Connection; stream: AnyStream } => {
    const connection = config.connections.find((c) => c.id === connectionId);
    if (!connection) throw new UnrecoverableError(`connection "${connectionId}" is not in this worker's configuration (configured: ${config.connections.map((c) => c.id).join(', ') || 'none'}); start the worker with the same mpm.config.json as the producer`);
    const stream = connection.connector.streams.find((s) => s.name === streamName);
    if (!stream) throw new UnrecoverableError(`connection ${connectionId} has no stream "${streamName}" in this build`);
    return { connection, stream };
  };

  async function recordSkipped(data: SyncJobData, reason: string): Promise<void> {
    await knex('meta.sync_runs').insert({
      connection: data.connection,
      stream: data.stream,
      mode: data.mode,
      window_from: data.window?.from ?? null,
      window_to: data.window?.to ?? null,
      status: 'skipped',
      finished_at: knex.fn.now(),
      error: reason,
    });
    metrics.recordRun({ connection: data.connection, stream: data.stream, mode: data.mode }, 'skipped', 0);
  }

  async function processSync(worker: Worker, job: Job<SyncJobData, SyncJobResult>, token: string | undefined): Promise<SyncJobResult> {
    const data = job.data;
    const { connection, stream } = findStream(data.connection, data.stream);
    const jobLog = log.child({ job: job.id, queue: job.queueName });
    // A scheduled tick never waits (a busy stream means it is skipped); a chunk or a manual run
    // waits for the stream a while in place (cheaper than re-queueing, which also spends the
    // vendor queue's limiter), then goes back to the queue.
    let lock = await locks.acquire(data.connection, data.stream);
    const waitUntil = Date.now() + settings.streamLockWaitMs;
    while (!lock && data.trigger !== 'schedule' && !shutdown.signal.aborted && Date.now() < waitUntil) {
      await new Promise((r) => setTimeout(r, 200 + Math.floor(Math.random() * 100)));
      lock = await locks.acquire(data.connection, data.stream);
    }
    if (!lock) {
      if (data.trigger === 'schedule') {
        jobLog.info({ connection: data.connection, stream: data.stream }, 'stream busy: scheduled run skipped');
        await recordSkipped(data, 'another run of this stream was in progress');
        return { outcome: 'skipped' };
      }
      // A chunk or manual run waits its turn without spending an attempt.
      await job.moveToDelayed(Date.now() + 500 + Math.floor(Math.random() * 1000), token);
      throw new DelayedError();
    }
    const controller = new AbortController();
    const stop = () => controller.abort();
    let cancelPoll: NodeJS.Timeout | undefined;
    let result: SyncResult;
    const sink: { error?: unknown } = {};
    const started = performance.now();
    try {
      if (data.backfillId) {
        const force = (await getBackfill(knex, data.backfillId)).backfill.force;
        const prepared = await prepareChunk(knex, data.backfillId, data.connection, data.stream, data.window ?? { from: '', to: '' }, force);
        if (prepared !== 'run') {
          await refreshBackfillStatus(knex, data.backfillId);
          return { outcome: prepared };
        }
        const id = data.backfillId;
        cancelPoll = setInterval(() => {
          isCancelled(knex, id).then((c) => c && controller.abort()).catch(() => undefined);
        }, 1000);
        cancelPoll.unref();
      }
      shutdown.signal.addEventListener('abort', stop);
      lock.lost.addEventListener('abort', stop);
      if (shutdown.signal.aborted) controller.abort();
      // runSync() takes the stream's warehouse lock too, and marks a run its dead worker left
      // `running` as failed (pipeline/stream-lock.ts).
      result = await runSync({
        warehouse,
        connection,
        stream: observeErrors(stream, sink),
        mode: data.mode,
        window: data.window,
        log: jobLog,
        signal: controller.signal,
        onPage: (p) => {
          // A full read that stored a page continues from it on a retry (429, crash, shutdown)
          // instead of starting over: the stored checkpoint is the full read's own progress.
          if (data.mode === 'full' && p.pages === 1) void job.updateData({ ...data, mode: 'incremental' }).catch(() => undefined);
          void job.updateProgress({ pages: p.pages, rows: p.counts.read }).catch(() => undefined);
        },
      });
    } finally {
      clearInterval(cancelPoll);
      shutdown.signal.removeEventListener('abort', stop);
      await lock.release();
    }
    const seconds = (performance.now() - started) / 1000;
    const labels = { connection: data.connection, stream: data.stream, mode: data.mode };
    metrics.recordRun(labels, result.status, seconds, result.counts);

    if (result.status === 'success' || result.status === 'partial') {
      if (data.backfillId && data.window) await finishChunk(knex, data.backfillId, data.stream, data.window, result, true);
      return { outcome: 'ran', runId: result.runId, status: result.status, rowsRead: result.counts.read };
    }
    if (result.status === 'cancelled') {
      if (data.backfillId && data.window && (await isCancelled(knex, data.backfillId))) {
        await finishChunk(knex, data.backfillId, data.stream, data.window, result, true);
        return { outcome: 'cancelled', runId: result.runId };
      }
      if (data.backfillId && data.window) await finishChunk(knex, data.backfillId, data.stream, data.window, result, false);
      // Shutdown or a lost lock: back to the queue at once, without spending an attempt; the
      // next run resumes from the page just stored.
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    const err = decisiveError(sink.error);
    if (err instanceof RateLimitError) {
      const waitMs = Math.max(1000, err.retryAfterMs);
      metrics.rateLimitWaits.inc({ queue: job.queueName });
      metrics.rateLimitWaitSeconds.inc({ queue: job.queueName }, waitMs / 1000);
      jobLog.warn({ waitMs }, 'vendor rate limit: pausing this vendor queue');
      if (data.backfillId && data.window) await finishChunk(knex, data.backfillId, data.stream, data.window, result, false);
      await worker.rateLimit(waitMs);
      throw Worker.RateLimitError();
    }
    const unrecoverable = err instanceof MpmError && !err.retryable;
    const final = unrecoverable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (data.backfillId && data.window) await finishChunk(knex, data.backfillId, data.stream, data.window, result, final);
    if (unrecoverable) throw new UnrecoverableError(scrub(explainUnrecoverable(err, data.connection, data.stream)));
    throw new Error(`${data.connection}.${data.stream}: ${result.error ?? 'sync failed'} (run ${result.runId})`);
  }

  async function processTransform(job: Job<TransformJobData, TransformJobResult>, token: string | undefined): Promise<TransformJobResult> {
    const data = job.data;
    if (data.backfillId) {
      const status = await refreshBackfillStatus(knex, data.backfillId);
      if (status === 'cancelled') return { outcome: 'skipped', detail: 'backfill cancelled' };
    } else {
      // Children that failed for good leave no value; skipped ones (stream busy) changed nothing.
      const children = Object.values(await job.getChildrenValues<SyncJobResult>());
      if (children.every((c) => c.outcome !== 'ran')) return { outcome: 'skipped', detail: 'no sync ran' };
    }
    const lock = await locks.acquire('__transform', 'all');
    if (!lock) {
      await job.moveToDelayed(Date.now() + 2000, token);
      throw new DelayedError();
    }
    try {
      await runTransformStage({ warehouse, log: log.child({ job: job.id }), config: config.sections.transform, goals: config.sections.goals, reason: data.reason });
      if (data.backfillId) await knex('meta.backfills').where({ id: data.backfillId }).update({ transform_status: 'success' });
      return { outcome: 'ran' };
    } catch (err) {
      // A configuration problem (the transform or goals section) fails at once with what to fix.
      const decisive = decisiveError(err);
      const unrecoverable = decisive instanceof MpmError && !decisive.retryable;
      if (data.backfillId && (unrecoverable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1))) {
        await knex('meta.backfills').where({ id: data.backfillId }).update({ transform_status: 'failed' });
      }
      if (unrecoverable) {
        const what = decisive instanceof ConfigError ? `configuration problem: ${decisive.message}. Fix mpm.config.json, then \`mpm jobs retry\`` : `${decisive.message} (not retryable)`;
        throw new UnrecoverableError(scrub(`transform: ${what}`));
      }
      throw err;
    } finally {
      await lock.release();
    }
  }

  async function processCycle(job: Job<CycleJobData>): Promise<{ flow: string }> {
    const { connection, stream } = findStream(job.data.connection, job.data.stream);
    const tick = String(job.id ?? job.timestamp);
    const syncData: SyncJobData = { connection: connection.id, stream: stream.name, mode: 'incremental', trigger: 'schedule' };
    const transformData: TransformJobData = { reason: `scheduled sync of ${connection.id}.${stream.name}` };
    const flow = await queues.flows().add({
      name: 'transform',
      queueName: TRANSFORM_QUEUE,
      data: transformData,
      opts: { jobId: jobId('transform', tick), ...retry },
      children: [{ name: 'sync', queueName: syncQueueName(connection.connector.name), data: syncData, opts: { jobId: jobId('sync', tick), ...retry, ignoreDependencyOnFailure: true } }],
    });
    return { flow: flow.job.id ?? '' };
  }

  const connectors = [...new Set(config.connections.map((c) => c.connector.name))];
  for (const name of connectors) {
    const limit = vendorLimit(name);
    const worker: Worker<SyncJobData, SyncJobResult> = new Worker<SyncJobData, SyncJobResult>(
      syncQueueName(name),
      (job, token) => processSync(worker, job, token),
      {
        ...base,
        connection: connection(),
        concurrency: options.concurrency ?? limit.concurrency,
        ...(limit.limiter ? { limiter: { max: limit.limiter.max, duration: limit.limiter.durationMs } } : {}),
      },
    );
    workers.push(worker);
  }
  workers.push(new Worker<TransformJobData, TransformJobResult>(TRANSFORM_QUEUE, processTransform, { ...base, connection: connection(), concurrency: 1 }));
  workers.push(new Worker<CycleJobData>(SCHEDULE_QUEUE, processCycle, { ...base, connection: connection(), concurrency: 1 }));
  for (const w of workers) {
    w.on('failed', (job, err) => log.warn({ job: job?.id, queue: w.name, attemptsMade: job?.attemptsMade, reason: scrub(err.message) }, 'job failed'));
    w.on('error', (err) => log.error({ queue: w.name, err }, 'worker error'));
  }
  // The Redis connections the queues, the stream locks and the workers hold (BullMQ does not close those it was given).
  const closeConnections = async () => {
    await queues.close().catch(() => undefined);
    await lockRedis.quit().catch(() => undefined);
    for (const c of connections) await c.quit().catch(() => undefined);
  };
  let served: Awaited<ReturnType<JobMetrics['serve']>> | undefined;
  try {
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    if (options.schedules !== false) {
      const r = await reconcileSchedules(queues, config);
      log.info({ schedules: r.upserted.length, removed: r.removed }, 'schedules reconciled');
    }
    served = options.metricsPort !== undefined ? await metrics.serve(options.metricsPort) : undefined;
  } catch (err) {
    // Nothing started is left open (Redis connections would keep the process alive).
    await Promise.all(workers.map((w) => w.close(true).catch(() => undefined)));
    await closeConnections();
    throw err;
  }
  log.info({ queues: workers.map((w) => w.name), prefix: settings.prefix, metricsPort: served?.port }, 'worker started');

  let closing: Promise<void> | undefined;
  return {
    queues,
    metrics,
    metricsPort: served?.port,
    close() {
      closing ??= (async () => {
        // Stop taking jobs at once; running syncs get the abort and store their current page.
        shutdown.abort();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), settings.shutdownTimeoutMs);
        });
        const done = await Promise.race([Promise.all(workers.map((w) => w.close())).then(() => 'closed' as const), timeout]);
        clearTimeout(timer);
        if (done === 'timeout') {
          log.warn({ timeoutMs: settings.shutdownTimeoutMs }, 'shutdown timed out: closing with jobs still active (they are picked up again after their lock expires)');
          await Promise.all(workers.map((w) => w.close(true).catch(() => undefined)));
        }
        await served?.close();
        await closeConnections();
        log.info('worker stopped');
      })();
      return closing;
    },
  };
}

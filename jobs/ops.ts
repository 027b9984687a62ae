import { randomBytes } from 'node:crypto';
import type { DateWindow, SyncMode } from '../connectors/core/connector.ts';
import { ConfigError } from '../connectors/core/errors/index.ts';
import type { Connection } from '../pipeline/config/connections.ts';
import type { AnyStream } from '../pipeline/loader.ts';
import { jobId, retryOptions, syncQueueName, TRANSFORM_QUEUE, type JobQueues } from './queues.ts';
import type { SyncJobData, TransformJobData } from './types.ts';

export class UnknownJobError extends ConfigError {}

/** Retries one failed job (by id, in whichever mpm queue holds it) or every failed job. Returns '<queue>/<id>' of each. */
export async function retryFailed(queues: JobQueues, which: { id: string } | { all: true }): Promise<string[]> {
  const out: string[] = [];
  for (const q of await queues.discover()) {
    if ('all' in which) {
      for (const job of await q.getFailed(0, -1)) {
        await job.retry('failed');
        out.push(`${q.name}/${job.id}`);
      }
      continue;
    }
    const job = await q.getJob(which.id);
    if (!job) continue;
    if (!(await job.isFailed())) throw new ConfigError(`job ${which.id} in ${q.name} is ${await job.getState()}, not failed`);
    await job.retry('failed');
    out.push(`${q.name}/${job.id}`);
  }
  if (!('all' in which) && out.length === 0) throw new UnknownJobError(`no job "${which.id}" in any mpm queue (prefix ${queues.prefix}); see \`mpm jobs list\``);
  return out;
}

/**
 * Enqueues a manual sync of the given streams as one flow (syncs, then the transform). Returns the
 * sync job ids. A window (mode backfill) reads those days under their own checkpoint scope.
 */
export async function enqueueSync(queues: JobQueues, connection: Connection, streams: readonly AnyStream[], mode: SyncMode, window?: DateWindow): Promise<string[]> {
  if ((mode === 'backfill') !== (window !== undefined)) throw new ConfigError('a windowed sync needs mode backfill and a window, and only then');
  const tag = `manual-${Date.now()}-${randomBytes(3).toString('hex')}`;
  const retry = retryOptions(queues.settings);
  const transform: TransformJobData = { reason: `manual sync of ${connection.id}` };
  const children = streams.map((s) => {
    const data: SyncJobData = { connection: connection.id, stream: s.name, mode, trigger: 'manual', ...(window ? { window } : {}) };
    return { name: 'sync', queueName: syncQueueName(connection.connector.name), data, opts: { jobId: jobId('sync', `${connection.id}.${s.name}`, tag), ...retry, ignoreDependencyOnFailure: true } };
  });
  await queues.flows().add({ name: 'transform', queueName: TRANSFORM_QUEUE, data: transform, opts: { jobId: jobId('transform', tag), ...retry }, children });
  return children.map((c) => c.opts.jobId);
}

export interface QueueState {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/** Job counts of every mpm queue under the prefix (waiting includes prioritized and flow parents waiting for children). */
export async function queueStates(queues: JobQueues): Promise<QueueState[]> {
  const out: QueueState[] = [];
  for (const q of await queues.discover()) {
    const c = await q.getJobCounts('waiting', 'prioritized', 'waiting-children', 'active', 'delayed', 'failed');
    out.push({ queue: q.name, waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 });
  }
  return out;
}

import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { JobsSettings } from './settings.ts';
import type { CycleJobData, SyncJobData, TransformJobData } from './types.ts';

/** Queue names: one sync queue per connector (so one vendor's 429 pauses only it), one transform queue, one schedule queue. */
export const TRANSFORM_QUEUE = 'transform';
export const SCHEDULE_QUEUE = 'schedule';
export function syncQueueName(connector: string): string {
  return `sync-${connector}`;
}

/** BullMQ job ids must not contain ':'; ours are built from ids that never do, this keeps it so. */
export function jobId(...parts: string[]): string {
  return parts.join('-').replace(/:/g, '_');
}

export function redisConnection(settings: Pick<JobsSettings, 'redisUrl'>): Redis {
  // Workers block on Redis; BullMQ requires maxRetriesPerRequest null for them.
  return new Redis(settings.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
}

/**
 * The queues one process uses, created on first use and closed together. Shares one Redis
 * connection for the producers (queues and the flow producer).
 */
export class JobQueues {
  readonly connection: Redis;
  private readonly queues = new Map<string, Queue>();
  private flowProducer?: FlowProducer;

  constructor(readonly settings: JobsSettings) {
    this.connection = redisConnection(settings);
  }

  get prefix(): string {
    return this.settings.prefix;
  }

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix });
      this.queues.set(name, q);
    }
    return q;
  }

  sync(connector: string): Queue<SyncJobData> {
    return this.queue(syncQueueName(connector)) as Queue<SyncJobData>;
  }

  transform(): Queue<TransformJobData> {
    return this.queue(TRANSFORM_QUEUE) as Queue<TransformJobData>;
  }

  schedule(): Queue<CycleJobData> {
    return this.queue(SCHEDULE_QUEUE) as Queue<CycleJobData>;
  }

  flows(): FlowProducer {
    this.flowProducer ??= new FlowProducer({ connection: this.connection, prefix: this.prefix });
    return this.flowProducer;
  }

  /** Every mpm queue that exists in Redis under this prefix (found by its meta key), plus the ones opened here. */
  async discover(): Promise<Queue[]> {
    const names = new Set(this.queues.keys());
    let cursor = '0';
    do {
      const [next, keys] = await this.connection.scan(cursor, 'MATCH', `${this.prefix}:*:meta`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const name = key.slice(this.prefix.length + 1, -':meta'.length);
        if (name && !name.includes(':')) names.add(name);
      }
    } while (cursor !== '0');
    return [...names].sort().map((n) => this.queue(n));
  }

  async close(): Promise<void> {
    await this.flowProducer?.close();
    for (const q of this.queues.values()) await q.close();
    this.queues.clear();
    await this.connection.quit().catch(() => undefined);
  }
}

/** Standard retry policy: exponential backoff with jitter (BullMQ backoff.jitter is a 0..1 share). */
export function retryOptions(settings: Pick<JobsSettings, 'attempts' | 'backoffMs'>) {
  return {
    attempts: settings.attempts,
    backoff: { type: 'exponential' as const, delay: settings.backoffMs, jitter: 0.5 },
    // Keep failures (error, stack, attempts) for `mpm jobs` and the UI; bound completed history.
    removeOnComplete: { count: 1000 },
    removeOnFail: false,
  };
}

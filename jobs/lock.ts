import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Renews only while we still own the lock (a stalled owner whose key expired must not steal it back). */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface HeldLock {
  /** Aborted when the lock was lost (renewal found another owner or Redis failed): stop after the current page. */
  lost: AbortSignal;
  release(): Promise<void>;
}

/**
 * One run per stream at a time, across every worker and machine: a Redis key with a TTL, renewed
 * every third of the TTL while the sync runs. A crashed worker's lock expires after the TTL.
 */
export class StreamLocks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  key(connection: string, stream: string): string {
    return `${this.prefix}:lock:stream:${connection}.${stream}`;
  }

  /** The lock, or undefined when another run holds it. */
  async acquire(connection: string, stream: string): Promise<HeldLock | undefined> {
    const key = this.key(connection, stream);
    const token = randomUUID();
    const ok = await this.redis.set(key, token, 'PX', this.ttlMs, 'NX');
    if (ok !== 'OK') return undefined;
    const lost = new AbortController();
    const timer = setInterval(() => {
      this.redis
        .eval(RENEW, 1, key, token, String(this.ttlMs))
        .then((renewed) => {
          if (renewed !== 1) lost.abort();
        })
        .catch(() => lost.abort());
    }, Math.max(100, Math.floor(this.ttlMs / 3)));
    timer.unref();
    return {
      lost: lost.signal,
      release: async () => {
        clearInterval(timer);
        await this.redis.eval(RELEASE, 1, key, token).catch(() => undefined);
      },
    };
  }

  async isHeld(connection: string, stream: string): Promise<boolean> {
    return (await this.redis.exists(this.key(connection, stream))) === 1;
  }
}

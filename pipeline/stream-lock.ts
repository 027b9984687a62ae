import type { Knex } from 'knex';
import { MpmError } from '../connectors/core/errors/index.ts';
import type { Warehouse } from '../warehouse/db.ts';

/** Another run of the same stream holds its lock: this one does not start. Retryable later. */
export class StreamBusyError extends MpmError {
  readonly retryable = true;
}

/** What meta.sync_runs says of a run its process did not finish. */
export const ORPHAN_RUN_MESSAGE = 'the process running this sync stopped without finishing (crash or kill); the next run resumed from the last stored page';

export interface SessionLock {
  release(): Promise<void>;
}

/** What a lock guards: 'sync' (a connection's stream) or 'backfill' (an inline backfill's run). */
type LockKind = 'sync' | 'backfill';

/** Locks taken on the embedded warehouse, which one process owns. */
const heldInProcess = new Set<string>();

const advisoryKey = `hashtext(?::text), hashtext(?::text)`;

/** Knex's own calls that open and close a connection outside its pool. */
interface RawConnections {
  acquireRawConnection(): Promise<{ __knexUid?: string }>;
  destroyRawConnection(c: unknown): Promise<void>;
}

let lockConnections = 0;

/**
 * A session lock on Postgres lives on a connection of its own, opened for it outside the pool: a
 * run holds its lock for as long as it runs, and locks taken from the pool would leave the runs
 * of a busy worker no connection to write with (each waiting for one while holding its own).
 */
async function tryLock(warehouse: Warehouse, kind: LockKind, name: string): Promise<SessionLock | undefined> {
  if (warehouse.kind !== 'postgres') {
    const held = `${kind}:${name}`;
    if (heldInProcess.has(held)) return undefined;
    heldInProcess.add(held);
    return { release: async () => void heldInProcess.delete(held) };
  }
  const knex = warehouse.knex;
  const client = knex.client as RawConnections;
  const conn = await client.acquireRawConnection();
  conn.__knexUid = `mpm_lock_${++lockConnections}`;
  const run = (sql: string) => knex.raw(sql, [`mpm.${kind}`, name]).connection(conn as never);
  let locked = false;
  try {
    locked = Boolean(((await run(`SELECT pg_try_advisory_lock(${advisoryKey}) AS locked`)) as { rows: Array<{ locked: boolean }> }).rows[0]?.locked);
  } finally {
    if (!locked) await client.destroyRawConnection(conn);
  }
  if (!locked) return undefined;
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      // Unlocked explicitly: a closed session releases its locks too, but only once its server
      // process has exited, which a run started right after this one must not wait for.
      try {
        await run(`SELECT pg_advisory_unlock(${advisoryKey})`);
      } finally {
        await client.destroyRawConnection(conn);
      }
    },
  };
}

/** Whether a live process holds the lock (Postgres: any process; PGlite: this one). */
export async function isLockHeld(warehouse: Warehouse, kind: LockKind, name: string): Promise<boolean> {
  const probe = await tryLock(warehouse, kind, name);
  if (!probe) return true;
  await probe.release();
  return false;
}

const streamName = (connection: string, stream: string) => `${connection}/${stream}`;

/** Whether a run of the stream is in progress in a live process. */
export const isStreamRunning = (warehouse: Warehouse, connection: string, stream: string) => isLockHeld(warehouse, 'sync', streamName(connection, stream));

/**
 * One run of a stream at a time, whoever starts it (an inline `mpm sync`, a backfill, a worker):
 * the run holds the stream's session lock. Holding it, a run still marked `running` in
 * meta.sync_runs is one whose process died: it is marked failed (its stored pages stay; this run
 * resumes from the last checkpoint).
 */
export async function lockStream(warehouse: Warehouse, connection: string, stream: string): Promise<SessionLock> {
  const knex = warehouse.knex;
  const lock = await tryLock(warehouse, 'sync', streamName(connection, stream));
  if (!lock) {
    const holder = await knex('meta.sync_runs').where({ connection, stream, status: 'running' }).orderBy('id', 'desc').first('id', 'started_at');
    const since = holder ? ` (run ${holder.id}, started ${new Date(holder.started_at as string).toISOString()})` : '';
    throw new StreamBusyError(`another run of ${connection}.${stream} is in progress${since}; wait for it to finish or stop it, then run again`);
  }
  try {
    await markOrphanedRuns(knex, connection, stream);
  } catch (err) {
    await lock.release();
    throw err;
  }
  return lock;
}

/** An inline backfill holds this while it runs, so `mpm backfill status` can tell a dead one. */
export async function lockBackfill(warehouse: Warehouse, id: string): Promise<SessionLock> {
  const lock = await tryLock(warehouse, 'backfill', id);
  if (!lock) throw new StreamBusyError(`backfill ${id} is already running in another process`);
  return lock;
}

export const isBackfillRunning = (warehouse: Warehouse, id: string) => isLockHeld(warehouse, 'backfill', id);

async function markOrphanedRuns(knex: Knex, connection: string, stream: string): Promise<void> {
  await knex('meta.sync_runs')
    .where({ connection, stream, status: 'running' })
    .update({ status: 'failed', finished_at: knex.fn.now(), error: ORPHAN_RUN_MESSAGE });
}

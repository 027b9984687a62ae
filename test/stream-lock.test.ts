import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { runSync } from '../pipeline/sync.ts';
import { isStreamRunning, lockStream, ORPHAN_RUN_MESSAGE, StreamBusyError } from '../pipeline/stream-lock.ts';
import type { AnyStream } from '../pipeline/loader.ts';
import { fixtureConnection } from './helpers/fixture-connector.ts';
import { createTestWarehouse, WAREHOUSE_KINDS } from './helpers/warehouse.ts';

const log = pino({ level: 'silent' });

/** The fixture stream, held before its first page until `open()` is called. */
function gatedStream(stream: AnyStream): { stream: AnyStream; started: Promise<void>; open(): void } {
  let open!: () => void;
  let markStarted!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  return {
    started,
    open,
    stream: {
      ...stream,
      async *read(ctx, checkpoint) {
        markStarted();
        await gate;
        yield* stream.read(ctx, checkpoint);
      },
    },
  };
}

describe.each(WAREHOUSE_KINDS)('one run of a stream at a time, on %s', (kind) => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('refuses a second run of a stream while one runs, lets other connections run, and frees the stream after', async () => {
    const connection = await fixtureConnection(warehouse, { pages: 2, pageSize: 10 }, 'busy_a');
    const other = await fixtureConnection(warehouse, { pages: 1, pageSize: 10 }, 'busy_b');
    const gated = gatedStream(connection.connector.streams[0]!);
    const first = runSync({ warehouse, connection, stream: gated.stream, mode: 'full', log });
    await gated.started;
    expect(await isStreamRunning(warehouse, 'busy_a', 'spend')).toBe(true);
    expect(await isStreamRunning(warehouse, 'busy_b', 'spend')).toBe(false);

    const second = runSync({ warehouse, connection, stream: connection.connector.streams[0]!, mode: 'full', log });
    await expect(second).rejects.toThrow(StreamBusyError);
    await expect(second).rejects.toThrow(/another run of busy_a\.spend is in progress/);
    // The refused run left no trace in meta.sync_runs.
    expect(Number((await warehouse.knex('meta.sync_runs').where({ connection: 'busy_a' }).count({ n: '*' }).first())!.n)).toBe(1);

    const elsewhere = await runSync({ warehouse, connection: other, stream: other.connector.streams[0]!, mode: 'full', log });
    expect(elsewhere.status).toBe('success');

    gated.open();
    expect((await first).status).toBe('success');
    expect(await isStreamRunning(warehouse, 'busy_a', 'spend')).toBe(false);
    const again = await runSync({ warehouse, connection, stream: connection.connector.streams[0]!, mode: 'full', log });
    expect(again).toMatchObject({ status: 'success', counts: { inserted: 0, unchanged: 20 } });
  });

  it('runs more streams at once than the warehouse pool has connections (locks do not take pooled connections)', async () => {
    // The pool holds 4 connections on Postgres; six runs hold their locks while every one of them writes.
    const connections = await Promise.all(Array.from({ length: 6 }, (_, i) => fixtureConnection(warehouse, { pages: 3, pageSize: 20 }, `many_${i}`)));
    const gates = connections.map((c) => gatedStream(c.connector.streams[0]!));
    const runs = connections.map((connection, i) => runSync({ warehouse, connection, stream: gates[i]!.stream, mode: 'full', log }));
    await Promise.all(gates.map((g) => g.started)); // every run holds its lock
    for (const g of gates) g.open();
    const results = await Promise.all(runs);
    expect(results.map((r) => [r.status, r.counts.inserted])).toEqual(connections.map(() => ['success', 60]));
  });

  it('marks a run its dead process left `running` as failed, and resumes', async () => {
    const connection = await fixtureConnection(warehouse, { pages: 1, pageSize: 5 }, 'orphan');
    const [row] = (await warehouse.knex('meta.sync_runs').insert({ connection: 'orphan', stream: 'spend', mode: 'incremental' }).returning('id')) as Array<{ id: number }>;
    const result = await runSync({ warehouse, connection, stream: connection.connector.streams[0]!, mode: 'incremental', log });
    expect(result.status).toBe('success');
    const orphan = await warehouse.knex('meta.sync_runs').where({ id: row!.id }).first('status', 'error', 'finished_at');
    expect(orphan).toMatchObject({ status: 'failed', error: ORPHAN_RUN_MESSAGE });
    expect(orphan.finished_at).not.toBeNull();
  });
});

describe('the Postgres lock dies with its process', () => {
  it('frees the stream when the process holding it is killed (SIGKILL, nothing released)', async () => {
    const warehouse = await createTestWarehouse('postgres');
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./helpers/hold-stream-lock.ts', import.meta.url)), 'gone', 'spend'], {
      env: { ...process.env, DATABASE_URL: warehouse.url! },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
      });
      await expect(lockStream(warehouse, 'gone', 'spend')).rejects.toThrow(StreamBusyError);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      // The server notices the closed socket at once; allow it a moment to end the session.
      let lock;
      for (let i = 0; i < 50 && !lock; i++) {
        lock = await lockStream(warehouse, 'gone', 'spend').catch((err: unknown) => {
          if (!(err instanceof StreamBusyError)) throw err;
          return undefined;
        });
        if (!lock) await new Promise((r) => setTimeout(r, 100));
      }
      expect(lock).toBeDefined();
      await lock!.release();
    } finally {
      child.kill('SIGKILL');
      await warehouse.drop();
    }
  });
});

import type { Logger } from 'pino';
import type { DateWindow, StreamContext, SyncMode } from '../connectors/core/connector.ts';
import { ConfigError, MpmError, UsageLimitError } from '../connectors/core/errors/index.ts';
import type { Warehouse } from '../warehouse/db.ts';
import type { Connection } from './config/connections.ts';
import { addCounts, emptyCounts, finishPage, loadPageRaw, newLoadState, preparePageForLoad, type AnyStream, type PageCounts } from './loader.ts';
import { scrub } from './secrets.ts';
import { lockStream } from './stream-lock.ts';
import { sweepWindow, WindowSweeper } from './window-sweep.ts';

export type RunStatus = 'success' | 'partial' | 'failed' | 'cancelled';

export interface SyncOptions {
  warehouse: Warehouse;
  connection: Connection;
  stream: AnyStream;
  /** full: start without a cursor; incremental: resume the stored cursor; backfill: read `window` under its own checkpoint scope. */
  mode: SyncMode;
  window?: DateWindow | undefined;
  log: Logger;
  signal?: AbortSignal;
  now?: () => Date;
  /** Called after every stored page. */
  onPage?(progress: SyncProgress): void;
}

export interface SyncProgress {
  runId: number;
  pages: number;
  counts: PageCounts;
}

export interface SyncResult {
  runId: number;
  connection: string;
  stream: string;
  status: RunStatus;
  counts: PageCounts;
  pages: number;
  error?: string;
  warnings: string[];
}

/** A page whose transaction is open (see runLocked). */
interface InFlightPage {
  /** Resolves once the page's raw rows are written (never rejects). */
  rawWritten: Promise<void>;
  /** Settles when the transaction has committed or failed. */
  committed: Promise<void>;
  /** The page must commit before the next one starts (it rewrites raw rows: a window sweep). */
  alone: boolean;
}

/** Checkpoint scope: the scheduled cursor, or a backfill window's own, so backfills never move it backwards. */
export function checkpointScope(mode: SyncMode, window: DateWindow | undefined): string {
  return mode === 'backfill' && window ? `window:${window.from}..${window.to}` : 'incremental';
}

export async function readCheckpoint(warehouse: Warehouse, connection: string, stream: string, scope: string): Promise<unknown> {
  const row = await warehouse.knex('meta.sync_state').where({ connection, stream, scope }).first('cursor');
  return row ? (row as { cursor: unknown }).cursor : undefined;
}

/**
 * Runs one stream of one connection: pages from the connector's read(), each stored with its
 * checkpoint in one transaction by the loader. A failure leaves the checkpoint at the last stored
 * page; the next run resumes there. Every run is recorded in meta.sync_runs. One run of a stream
 * at a time: a second one throws StreamBusyError before it starts.
 */
export async function runSync(options: SyncOptions): Promise<SyncResult> {
  const lock = await lockStream(options.warehouse, options.connection.id, options.stream.name);
  try {
    return await runLocked(options);
  } finally {
    await lock.release();
  }
}

/** runSync() once the stream's lock (pipeline/stream-lock.ts) is held. */
async function runLocked(options: SyncOptions): Promise<SyncResult> {
  const { warehouse, connection, stream, mode, log } = options;
  const knex = warehouse.knex;
  if (mode === 'backfill' && !options.window) throw new ConfigError('a backfill needs a window (--from and --to)');
  const scope = checkpointScope(mode, options.window);
  const [inserted] = (await knex('meta.sync_runs')
    .insert({
      connection: connection.id,
      stream: stream.name,
      mode,
      window_from: options.window?.from ?? null,
      window_to: options.window?.to ?? null,
    })
    .returning('id')) as Array<{ id: number }>;
  if (!inserted) throw new Error('meta.sync_runs insert returned no id');
  const runId = inserted.id;
  const runLog = log.child({ connection: connection.id, stream: stream.name, runId });
  const warnings: string[] = [];
  let counts = emptyCounts();
  let pages = 0;
  let status: RunStatus = 'success';
  let error: string | undefined;
  const signal = options.signal ?? new AbortController().signal;

  try {
    let checkpoint: unknown;
    const stored = await readCheckpoint(warehouse, connection.id, stream.name, scope);
    if (mode !== 'full') {
      if (stored !== undefined) {
        const parsed = stream.checkpointSchema.safeParse(stored);
        if (!parsed.success) {
          throw new ConfigError(
            `stored checkpoint of ${connection.id}.${stream.name} (${scope}) does not match this version of the stream; run \`mpm sync ${connection.id}.${stream.name} --full\``,
          );
        }
        checkpoint = parsed.data;
      }
    }
    const ctx: StreamContext<unknown> = {
      connectionId: connection.id,
      config: connection.config,
      mode,
      window: options.window,
      log: runLog,
      signal,
      now: options.now ?? (() => new Date()),
      warn(message, detail) {
        warnings.push(message);
        runLog.warn(detail ?? {}, message);
      },
      ...(mode === 'full' && stored !== undefined ? { previousCheckpoint: stored } : {}),
    };
    const hasOpenQuarantine = Boolean(
      await knex('meta.quarantine').where({ connection: connection.id, stream: stream.name }).whereNull('resolved_at').first('id'),
    );
    runLog.info({ mode, scope, checkpoint }, 'sync started');

    // Pipelined: while page N is written in its transaction, page N+1 is fetched, validated and
    // serialized for COPY. On Postgres page N+1's transaction also starts early, on a second
    // connection: it writes its raw rows while page N's transaction writes the core rows and
    // commits, so the two halves of the database work run on two server processes. It goes on to
    // its core rows and checkpoint only once page N has committed, and rolls back if page N
    // failed: pages commit strictly in order, each in one transaction, and a stored checkpoint
    // never passes a page that is not stored. See OVERLAP below for why this cannot deadlock.
    const iterator = stream.read(ctx, checkpoint)[Symbol.asyncIterator]();
    const normalizeContext = { connectionId: connection.id, config: connection.config };
    const batchMeta = { connectionId: connection.id, sourceSystem: connection.connector.name, runId };
    const state = newLoadState();
    let openQuarantine = hasOpenQuarantine;
    const sweeper = WindowSweeper.of(stream); // deletes by absence over re-read days (pipeline/window-sweep.ts)
    const overlap = warehouse.kind === 'postgres';
    /** Pages whose transactions are open, oldest first (at most two). */
    const inFlight: InFlightPage[] = [];
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        const prepared = await preparePageForLoad(warehouse.kind, stream, next.value.records, normalizeContext, batchMeta);
        const sweep = sweeper?.note(prepared, next.value.sweep);
        // OVERLAP: a page's transaction starts once the one before last has committed and the last
        // one has written its raw rows. While the two overlap, the older one writes only core,
        // quarantine and meta rows and the newer one only raw rows, so the older never waits for
        // the newer (the newer may wait for the older: a key both pages carry), and Postgres's
        // lock waits cannot close a cycle with the newer one's wait for the older one's commit.
        // A window sweep rewrites raw rows, so its page runs alone.
        while (inFlight.length > 1) await inFlight.shift()!.committed;
        const last = inFlight[0];
        if (last) {
          if (!overlap || last.alone) await inFlight.shift()!.committed;
          else await Promise.race([last.rawWritten, last.committed]);
        }
        const input = {
          kind: warehouse.kind,
          state,
          connectionId: connection.id,
          connector: connection.connector.name,
          stream,
          runId,
          checkpoint: next.value.checkpoint,
          scope,
          hasOpenQuarantine: openQuarantine,
        };
        openQuarantine ||= prepared.quarantine.length > 0;
        const previous = inFlight.at(-1)?.committed;
        let rawWritten!: () => void;
        const page: InFlightPage = {
          rawWritten: new Promise<void>((resolve) => (rawWritten = resolve)),
          committed: knex
            .transaction(async (trx) => {
              const written = await loadPageRaw(trx, input, prepared);
              rawWritten();
              if (previous) await previous; // its failure rolls this page back too
              const loaded = await finishPage(trx, input, written);
              return sweep ? addCounts(loaded, await sweepWindow(trx, input, normalizeContext, sweep)) : loaded;
            })
            .then((pageCounts) => {
              counts = addCounts(counts, pageCounts);
              pages++;
              runLog.debug({ page: pages, ...pageCounts }, 'page stored');
              options.onPage?.({ runId, pages, counts });
            }),
          alone: sweep !== undefined,
        };
        page.committed.catch(() => undefined); // observed below; avoids an unhandled rejection meanwhile
        inFlight.push(page);
        if (signal.aborted) break;
      }
      // In order: the first failure is the one reported (a later page fails with the same error).
      for (const page of inFlight.splice(0)) await page.committed;
    } finally {
      for (const page of inFlight) await page.committed.catch(() => undefined);
      await iterator.return?.();
    }
    if (signal.aborted) {
      status = 'cancelled';
      error = 'stopped on request after the last stored page';
    }
  } catch (err) {
    if (err instanceof UsageLimitError) {
      status = 'partial';
    } else if (signal.aborted) {
      status = 'cancelled';
    } else {
      status = 'failed';
    }
    error = scrub(err instanceof Error ? err.message : String(err));
    if (!(err instanceof MpmError) || status === 'failed') runLog.error({ err }, 'sync failed');
    else runLog.warn({ err }, `sync stopped: ${error}`);
  }

  await knex('meta.sync_runs')
    .where({ id: runId })
    .update({ status, finished_at: knex.fn.now(), error: error ?? null, warnings: JSON.stringify(warnings) });
  runLog.info({ status, pages, ...counts }, 'sync finished');
  return { runId, connection: connection.id, stream: stream.name, status, counts, pages, ...(error ? { error } : {}), warnings };
}

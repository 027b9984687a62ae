import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { z } from 'zod';
import type { NormalizeContext, StreamDefinition } from '../connectors/core/connector.ts';
import { rawTableName } from '../connectors/core/connector.ts';
import { coreRowSchema, coreTables, isCoreTableName, type CoreTableName, type SqlType } from '../warehouse/core-tables.ts';
import type { WarehouseKind } from '../warehouse/db.ts';
import { scrub } from './secrets.ts';

/**
 * The loader: one page in, one transaction out. Inside the caller's transaction it
 *   1. upserts the vendor records into raw.<connector>__<stream> (payload unchanged),
 *   2. upserts the normalized rows into their core tables,
 *   3. quarantines the records that failed validation (and resolves ones that now pass),
 *   4. advances the checkpoint and the run's counters.
 * Rows are staged in bulk (COPY on Postgres, unnest() of arrays on PGlite) and merged with
 * INSERT ... ON CONFLICT DO UPDATE ... WHERE ... IS DISTINCT FROM, so unchanged rows are not rewritten.
 */

export type AnyStream = StreamDefinition<unknown, unknown, unknown>;

export interface PageCounts {
  read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  quarantined: number;
  deleted: number;
}

export const emptyCounts = (): PageCounts => ({ read: 0, inserted: 0, updated: 0, unchanged: 0, quarantined: 0, deleted: 0 });

export function addCounts(a: PageCounts, b: PageCounts): PageCounts {
  return {
    read: a.read + b.read,
    inserted: a.inserted + b.inserted,
    updated: a.updated + b.updated,
    unchanged: a.unchanged + b.unchanged,
    quarantined: a.quarantined + b.quarantined,
    deleted: a.deleted + b.deleted,
  };
}

export interface QuarantineEntry {
  recordKey: string;
  payload: unknown;
  errorPath: string;
  errorMessage: string;
}

interface RawRow {
  key: string;
  payload: string;
  deleted: boolean;
}

/** A page after validation and normalization, before any database work. */
export interface PreparedPage {
  raw: RawRow[];
  /** Normalized rows per core table, deduplicated by the table's key (last record wins). */
  core: Map<CoreTableName, Array<Record<string, unknown>>>;
  quarantine: QuarantineEntry[];
  /** Keys of records that loaded fully: their open quarantine entries are resolved. */
  validKeys: string[];
}

function valueAt(record: unknown, path: string): unknown {
  if (!path.includes('.')) return record !== null && typeof record === 'object' ? (record as Record<string, unknown>)[path] : undefined;
  let current: unknown = record;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** JSON with object keys sorted at every depth. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The record's id: its primary-key values joined by '|', or a content hash when one is missing. */
export function recordKey(stream: Pick<AnyStream, 'primaryKey'>, record: unknown): { key: string; complete: boolean } {
  const parts: string[] = [];
  for (const path of stream.primaryKey) {
    const v = valueAt(record, path);
    if (v === undefined || v === null || v === '' || typeof v === 'object') {
      // Canonical JSON: jsonb does not keep key order, and the key must survive a round trip through raw.
      const hash = createHash('sha256').update(canonicalJson(record)).digest('hex').slice(0, 32);
      return { key: `#${hash}`, complete: false };
    }
    parts.push(String(v));
  }
  return { key: parts.join('|'), complete: true };
}

function describeIssues(error: z.ZodError): { path: string; message: string } {
  const first = error.issues[0];
  const path = first ? first.path.map(String).join('.') : '';
  const message = error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(record)'}: ${issue.message}`)
    .join('; ');
  return { path: path || '(record)', message };
}

const keyColumnsCache = new Map<CoreTableName, readonly string[]>();

/** The key columns of a core table other than connection_id (the loader adds that one). */
function rowKeyColumns(table: CoreTableName): readonly string[] {
  let cols = keyColumnsCache.get(table);
  if (!cols) keyColumnsCache.set(table, (cols = coreTables[table].key.filter((c) => c !== 'connection_id')));
  return cols;
}

function rowKey(columns: readonly string[], row: Record<string, unknown>): string {
  let key = String(row[columns[0]!]);
  for (let i = 1; i < columns.length; i++) key += `\u0001${String(row[columns[i]!])}`;
  return key;
}

type Normalized =
  | { ok: true; rows: Array<[CoreTableName, Record<string, unknown>]> }
  | { ok: false; path: string; message: string };

/** Validates one record and its normalized rows; never throws for bad data. */
function normalizeRecord(stream: AnyStream, data: unknown, deleted: boolean, ctx: NormalizeContext<unknown>): Normalized {
  let rows;
  try {
    rows = stream.normalize(data, ctx);
  } catch (err) {
    return { ok: false, path: '(normalize)', message: scrub(err instanceof Error ? err.message : String(err)) };
  }
  const out: Array<[CoreTableName, Record<string, unknown>]> = [];
  for (const table in rows) {
    if (!isCoreTableName(table) || !stream.targets.includes(table)) {
      throw new Error(`stream ${stream.name} wrote to ${table}, which is not one of its targets`);
    }
    const schema = coreRowSchema(table);
    for (const row of rows[table] ?? []) {
      const result = schema.safeParse(row);
      if (!result.success) {
        const { path, message } = describeIssues(result.error);
        return { ok: false, path: `${table}.${path}`, message };
      }
      const parsed = result.data as Record<string, unknown>;
      if (deleted) parsed.is_deleted = true;
      out.push([table, parsed]);
    }
  }
  return { ok: true, rows: out };
}

/** Validates and normalizes a page in memory. Pure: no I/O. */
export function preparePage(stream: AnyStream, records: readonly unknown[], ctx: NormalizeContext<unknown>): PreparedPage {
  const raw = new Map<string, RawRow>();
  const core = new Map<CoreTableName, Map<string, Record<string, unknown>>>();
  const quarantine = new Map<string, QuarantineEntry>();
  const valid = new Set<string>();

  for (const record of records) {
    const { key, complete } = recordKey(stream, record);
    const parsed = stream.recordSchema.safeParse(record);
    const deleted = parsed.success && stream.isDeleted ? stream.isDeleted(parsed.data) : false;
    // Nothing the vendor sends is dropped: even an invalid record lands in raw as received.
    raw.set(key, { key, payload: JSON.stringify(record), deleted });

    let failure: { path: string; message: string } | undefined;
    let rows: Array<[CoreTableName, Record<string, unknown>]> = [];
    if (!complete) {
      failure = { path: stream.primaryKey.join(','), message: `missing primary key field(s) ${stream.primaryKey.join(', ')}` };
    } else if (!parsed.success) {
      failure = describeIssues(parsed.error);
    } else {
      const normalized = normalizeRecord(stream, parsed.data, deleted, ctx);
      if (normalized.ok) rows = normalized.rows;
      else failure = normalized;
    }
    if (failure) {
      valid.delete(key);
      quarantine.set(key, { recordKey: key, payload: record, errorPath: failure.path, errorMessage: failure.message });
      continue;
    }
    quarantine.delete(key);
    valid.add(key);
    for (const [table, row] of rows) {
      let byKey = core.get(table);
      if (!byKey) core.set(table, (byKey = new Map()));
      // A key repeated within one page (e.g. a record modified during a paged read) keeps the last
      // version: ON CONFLICT cannot touch the same row twice in one statement.
      const k = rowKey(rowKeyColumns(table), row);
      byKey.delete(k);
      byKey.set(k, row);
    }
  }

  return {
    raw: [...raw.values()],
    core: new Map([...core].map(([t, m]) => [t, [...m.values()]])),
    quarantine: [...quarantine.values()],
    validKeys: [...valid],
  };
}

// ---------------------------------------------------------------------------------------------
// Bulk staging: rows go to the database as text columns, then are cast in one INSERT ... SELECT.

interface StageColumn {
  name: string;
  sql: SqlType;
}

function encode(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

/** COPY text format: backslash escapes, \N for NULL. */
function copyField(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

let stageSeq = 0;

/**
 * Makes `rows` (one array of values per row, in `columns` order) available as a relation named `s`
 * and returns the FROM clause plus its bindings. On Postgres the rows are COPYed into a temporary
 * table that empties itself at commit; on PGlite they are passed as one text[] per column to unnest().
 */
async function stage(
  trx: Knex.Transaction,
  kind: WarehouseKind,
  columns: readonly StageColumn[],
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
): Promise<{ from: string; bindings: Array<Array<string | null>> }> {
  if (kind === 'postgres' && !process.env.MPM_UNNEST) {
    const table = `mpm_stage_${columns.length}_${createHash('md5').update(columns.map((c) => c.name).join(',')).digest('hex').slice(0, 12)}`;
    const defs = columns.map((c) => `"${c.name}" text`).join(', ');
    await trx.raw(`CREATE TEMP TABLE IF NOT EXISTS ${table} (${defs}) ON COMMIT DELETE ROWS`);
    // The transaction's own connection: COPY must run inside the same transaction.
    const conn = (await trx.client.acquireConnection()) as pg.PoolClient;
    const copy = conn.query(copyFrom(`COPY ${table} (${columns.map((c) => `"${c.name}"`).join(', ')}) FROM STDIN`));
    await pipeline(Readable.from(copyChunks(rows)), copy);
    return { from: `${table} s`, bindings: [] };
  }
  stageSeq++;
  const arrays = columns.map((_, i) => rows.map((r) => encode(r[i])));
  const placeholders = columns.map(() => '?::text[]').join(', ');
  return {
    from: `unnest(${placeholders}) AS s(${columns.map((c) => `"${c.name}"`).join(', ')})`,
    bindings: arrays,
  };
}

function* copyChunks(rows: ReadonlyArray<ReadonlyArray<unknown>>): Generator<string> {
  let buffer = '';
  for (const row of rows) {
    buffer += row.map((v) => copyField(encode(v))).join('\t') + '\n';
    if (buffer.length > 1 << 20) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer) yield buffer;
}

function cast(column: StageColumn): string {
  return column.sql === 'text' ? `s."${column.name}"` : `s."${column.name}"::${column.sql}`;
}

interface UpsertCounts {
  inserted: number;
  updated: number;
  deleted: number;
}

async function upsertRaw(trx: Knex.Transaction, kind: WarehouseKind, table: string, connectionId: string, runId: number | null, rows: RawRow[]): Promise<UpsertCounts> {
  if (rows.length === 0) return { inserted: 0, updated: 0, deleted: 0 };
  const columns: StageColumn[] = [
    { name: 'record_id', sql: 'text' },
    { name: 'payload', sql: 'jsonb' },
    { name: 'deleted', sql: 'boolean' },
  ];
  const source = await stage(trx, kind, columns, rows.map((r) => [r.key, r.payload, r.deleted]));
  // Counted before the upsert: a RETURNING clause would have to materialize every row.
  const before = (await trx.raw(
    `SELECT count(r.record_id)::int AS existing,
            count(*) FILTER (WHERE s.deleted::boolean AND (r.record_id IS NULL OR NOT r._deleted OR r.payload IS DISTINCT FROM s.payload::jsonb))::int AS deleted
     FROM ${source.from} LEFT JOIN ${table} r ON r.connection_id = ? AND r.record_id = s.record_id`,
    [...source.bindings, connectionId] as Knex.RawBinding[],
  )).rows[0] as { existing: number; deleted: number };
  const result = await trx.raw(
    `INSERT INTO ${table} AS r (connection_id, record_id, payload, _deleted, _run_id, _synced_at)
     SELECT ?, s.record_id, s.payload::jsonb, s.deleted::boolean, ?::bigint, now() FROM ${source.from}
     ON CONFLICT (connection_id, record_id) DO UPDATE
       SET payload = excluded.payload, _deleted = excluded._deleted, _run_id = excluded._run_id, _synced_at = excluded._synced_at
       WHERE (r.payload, r._deleted) IS DISTINCT FROM (excluded.payload, excluded._deleted)`,
    [connectionId, runId, ...source.bindings] as Knex.RawBinding[],
  );
  const changed = rowCount(result);
  const inserted = rows.length - before.existing;
  return { inserted, updated: changed - inserted, deleted: before.deleted };
}

/** The affected-row count of a statement, on pg and PGlite alike. */
function rowCount(result: unknown): number {
  const r = result as { rowCount?: number | null; affectedRows?: number };
  return Number(r.rowCount ?? r.affectedRows ?? 0);
}

/** Upserts normalized rows into a core table; returns how many rows were inserted or changed. */
export async function upsertCore(
  trx: Knex.Transaction,
  kind: WarehouseKind,
  tableName: CoreTableName,
  meta: { connectionId: string; sourceSystem: string; runId: number | null },
  rows: ReadonlyArray<Record<string, unknown>>,
): Promise<{ changed: number }> {
  if (rows.length === 0) return { changed: 0 };
  const def = coreTables[tableName];
  const columns: StageColumn[] = Object.entries(def.columns).map(([name, c]) => ({ name, sql: c.sql }));
  const source = await stage(trx, kind, columns, rows.map((row) => columns.map((c) => row[c.name])));
  const names = columns.map((c) => `"${c.name}"`);
  const keySet = new Set(def.key);
  const updatable = columns.filter((c) => !keySet.has(c.name)).map((c) => `"${c.name}"`);
  const compared = [...updatable, 'source_system'];
  // No RETURNING: materializing it would double the cost, and core counts are not reported.
  const result = await trx.raw(
    `INSERT INTO ${def.name} AS t (connection_id, source_system, _run_id, _synced_at, ${names.join(', ')})
     SELECT ?, ?, ?::bigint, now(), ${columns.map(cast).join(', ')} FROM ${source.from}
     ON CONFLICT (${def.key.map((k) => `"${k}"`).join(', ')}) DO UPDATE
       SET ${[...compared, '_run_id', '_synced_at'].map((c) => `${c} = excluded.${c}`).join(', ')}
       WHERE (${compared.map((c) => `t.${c}`).join(', ')}) IS DISTINCT FROM (${compared.map((c) => `excluded.${c}`).join(', ')})`,
    [meta.connectionId, meta.sourceSystem, meta.runId, ...source.bindings] as Knex.RawBinding[],
  );
  return { changed: rowCount(result) };
}

export async function quarantineRecords(
  trx: Knex.Transaction,
  entries: readonly QuarantineEntry[],
  meta: { connectionId: string; stream: string; runId: number | null },
): Promise<void> {
  if (entries.length === 0) return;
  await trx('meta.quarantine')
    .insert(
      entries.map((e) => ({
        run_id: meta.runId,
        connection: meta.connectionId,
        stream: meta.stream,
        record_key: e.recordKey,
        payload: JSON.stringify(e.payload ?? null),
        error_path: e.errorPath,
        error_message: scrub(e.errorMessage).slice(0, 2000),
      })),
    )
    .onConflict(['connection', 'stream', 'record_key'])
    .merge({
      run_id: trx.raw('excluded.run_id'),
      payload: trx.raw('excluded.payload'),
      error_path: trx.raw('excluded.error_path'),
      error_message: trx.raw('excluded.error_message'),
      last_seen: trx.fn.now(),
      resolved_at: null,
    });
}

export async function resolveQuarantine(trx: Knex.Transaction, connectionId: string, stream: string, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  return trx('meta.quarantine')
    .where({ connection: connectionId, stream })
    .whereNull('resolved_at')
    .whereRaw('record_key = ANY(?::text[])', [[...keys]])
    .update({ resolved_at: trx.fn.now() });
}

export async function saveCheckpoint(trx: Knex.Transaction, connectionId: string, stream: string, scope: string, cursor: unknown): Promise<void> {
  await trx.raw(
    `INSERT INTO meta.sync_state (connection, stream, scope, cursor, updated_at) VALUES (?, ?, ?, ?::jsonb, now())
     ON CONFLICT (connection, stream, scope) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
    [connectionId, stream, scope, JSON.stringify(cursor ?? null)],
  );
}

export interface LoadPageInput {
  kind: WarehouseKind;
  connectionId: string;
  connector: string;
  stream: AnyStream;
  /** The meta.sync_runs row; null for work outside a run (quarantine retry). */
  runId: number | null;
  checkpoint: unknown;
  /** meta.sync_state scope the checkpoint is stored under. */
  scope: string;
  /** Skip the resolve query when the stream has no open quarantine entries. */
  hasOpenQuarantine: boolean;
}

/** Stores one prepared page atomically inside `trx`: data, quarantine, checkpoint and run counters. */
export async function loadPage(trx: Knex.Transaction, input: LoadPageInput, prepared: PreparedPage): Promise<PageCounts> {
  const counts = await storePrepared(trx, input, prepared);
  await saveCheckpoint(trx, input.connectionId, input.stream.name, input.scope, input.checkpoint);
  if (input.runId !== null) {
    await trx('meta.sync_runs')
      .where({ id: input.runId })
      .increment({
        rows_read: counts.read,
        rows_inserted: counts.inserted,
        rows_updated: counts.updated,
        rows_unchanged: counts.unchanged,
        rows_quarantined: counts.quarantined,
        rows_deleted: counts.deleted,
        pages: 1,
      });
  }
  return counts;
}

/** Raw, core and quarantine writes of a prepared page (no checkpoint). Also used by quarantine retry. */
export async function storePrepared(
  trx: Knex.Transaction,
  input: Pick<LoadPageInput, 'kind' | 'connectionId' | 'connector' | 'stream' | 'runId' | 'hasOpenQuarantine'>,
  prepared: PreparedPage,
): Promise<PageCounts> {
  const raw = await upsertRaw(trx, input.kind, rawTableName(input.connector, input.stream.name), input.connectionId, input.runId, prepared.raw);
  for (const [table, rows] of prepared.core) {
    await upsertCore(trx, input.kind, table, { connectionId: input.connectionId, sourceSystem: input.connector, runId: input.runId }, rows);
  }
  await quarantineRecords(trx, prepared.quarantine, { connectionId: input.connectionId, stream: input.stream.name, runId: input.runId });
  if (input.hasOpenQuarantine) await resolveQuarantine(trx, input.connectionId, input.stream.name, prepared.validKeys);
  return {
    read: prepared.raw.length,
    inserted: raw.inserted,
    updated: raw.updated,
    unchanged: prepared.raw.length - raw.inserted - raw.updated,
    quarantined: prepared.quarantine.length,
    deleted: raw.deleted,
  };
}

import { createHash } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { z } from 'zod';
import type { NormalizeContext, StreamDefinition } from '../connectors/core/connector.ts';
import { rawTableName } from '../connectors/core/connector.ts';
import { coreRowParser, coreTables, isCoreTableName, type CoreTableName, type SqlType } from '../warehouse/core-tables.ts';
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

/** A raw row, its fields named as raw.<connector>__<stream> columns (the bulk writer reads them by name). */
type RawRow = {
  record_id: string;
  /** The vendor record as JSON text, exactly as received. */
  payload: string;
  _deleted: boolean;
};

/** A page after validation and normalization, before any database work. */
export interface PreparedPage {
  raw: RawRow[];
  /** Normalized rows per core table, deduplicated by the table's key (last record wins). */
  core: Map<CoreTableName, Array<Record<string, unknown>>>;
  quarantine: QuarantineEntry[];
  /** Keys of records that loaded fully: their open quarantine entries are resolved. */
  validKeys: string[];
  /** Per owned-rows rule of the stream: the page's parents and the child keys it still emits (see StreamDefinition.ownedRows). */
  owned?: OwnedRows[];
  /** Set by encodePage(): the rows as COPY data (raw and core are then empty). */
  batches?: PageBatches;
  /**
   * Set by prepareEncodedSteps(), which does not look for keys repeated within the page: every raw
   * key in page order, and the deduplicating preparation of the same records, which storePrepared()
   * switches to when a write may meet a repeat (see there).
   */
  unchecked?: { keys: readonly string[]; dedupe: () => Promise<PreparedPage> };
}

export interface OwnedRows {
  table: CoreTableName;
  parent: readonly string[];
  /** Child key columns (the table's key without connection_id). */
  key: readonly string[];
  /** One array per parent column, row-aligned. */
  parents: string[][];
  /** One array per key column, row-aligned. */
  children: string[][];
}

function ownedRowsOf(stream: AnyStream, core: ReadonlyMap<CoreTableName, ReadonlyMap<string, Record<string, unknown>>>): OwnedRows[] | undefined {
  if (!stream.ownedRows?.length) return undefined;
  return stream.ownedRows.map((rule) => {
    const key = rowKeyColumns(rule.table);
    const parentSet = new Map<string, string[]>();
    for (const row of core.get(rule.from)?.values() ?? []) {
      const values = rule.parent.map((c) => String(row[c]));
      parentSet.set(values.join('\u0001'), values);
    }
    const childRows = [...(core.get(rule.table)?.values() ?? [])];
    return {
      table: rule.table,
      parent: rule.parent,
      key,
      parents: rule.parent.map((_, i) => [...parentSet.values()].map((v) => v[i]!)),
      children: key.map((c) => childRows.map((r) => String(r[c]))),
    };
  });
}

/** Flags the rows the page's parents no longer emit (one statement per rule; arrays work on Postgres and PGlite alike). */
async function flagDroppedOwnedRows(trx: Knex.Transaction, owned: readonly OwnedRows[], meta: { connectionId: string; runId: number | null }): Promise<void> {
  for (const o of owned) {
    if (o.parents[0]?.length === 0) continue;
    const cols = (names: readonly string[]) => names.map((c) => `t."${c}"::text`).join(', ');
    const unnest = (n: number) => `SELECT * FROM unnest(${Array.from({ length: n }, () => '?::text[]').join(', ')})`;
    await trx.raw(
      `UPDATE ${o.table} t SET is_deleted = true, _synced_at = now(), _run_id = ?
       WHERE t.connection_id = ? AND NOT t.is_deleted
         AND (${cols(o.parent)}) IN (${unnest(o.parent.length)})
         AND (${cols(o.key)}) NOT IN (${unnest(o.key.length)})`,
      [meta.runId, meta.connectionId, ...o.parents, ...o.children],
    );
  }
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
    const parse = coreRowParser(table);
    for (const row of rows[table] ?? []) {
      const result = parse(row);
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

interface RecordOutcome {
  /** The vendor marked the record deleted. */
  deleted: boolean;
  /** Why the record goes to quarantine; absent when it loads. */
  failure?: { path: string; message: string } | undefined;
  /** Its validated core rows (none when it failed). */
  rows: Array<[CoreTableName, Record<string, unknown>]>;
}

/** Validates and normalizes one record whose key recordKey() found complete or not. */
function checkRecord(stream: AnyStream, record: unknown, complete: boolean, ctx: NormalizeContext<unknown>): RecordOutcome {
  const parsed = stream.recordSchema.safeParse(record);
  const deleted = parsed.success && stream.isDeleted ? stream.isDeleted(parsed.data) : false;
  if (!complete) return { deleted, failure: { path: stream.primaryKey.join(','), message: `missing primary key field(s) ${stream.primaryKey.join(', ')}` }, rows: [] };
  if (!parsed.success) return { deleted, failure: describeIssues(parsed.error), rows: [] };
  const normalized = normalizeRecord(stream, parsed.data, deleted, ctx);
  return normalized.ok ? { deleted, rows: normalized.rows } : { deleted, failure: normalized, rows: [] };
}

/**
 * Records prepared between two yields to the event loop (about a millisecond of work). The write
 * of the previous page goes on meanwhile and each of its statements waits for the next yield
 * before it is sent: with slices of 1,000 records the database idled for a fifth of a sync.
 */
const PREPARE_SLICE = 100;

/**
 * The preparation loop as a generator that pauses every PREPARE_SLICE records, so that one loop
 * serves the synchronous preparePage() and the sliced variant the sync runner uses.
 */
function* prepareSteps(stream: AnyStream, records: readonly unknown[], ctx: NormalizeContext<unknown>): Generator<void, PreparedPage> {
  const raw = new Map<string, RawRow>();
  const core = new Map<CoreTableName, Map<string, Record<string, unknown>>>();
  const quarantine = new Map<string, QuarantineEntry>();

  for (let i = 0; i < records.length; i++) {
    if (i > 0 && i % PREPARE_SLICE === 0) yield;
    const record = records[i];
    const { key, complete } = recordKey(stream, record);
    const { deleted, failure, rows } = checkRecord(stream, record, complete, ctx);
    // Nothing the vendor sends is dropped: even an invalid record lands in raw as received.
    raw.set(key, { record_id: key, payload: JSON.stringify(record), _deleted: deleted });
    if (failure) {
      quarantine.set(key, { recordKey: key, payload: record, errorPath: failure.path, errorMessage: failure.message });
      continue;
    }
    // A key repeated within one page (e.g. a record modified during a paged read) keeps its last
    // version, in raw, core and quarantine alike: ON CONFLICT cannot touch the same row twice in one statement.
    quarantine.delete(key);
    for (const [table, row] of rows) {
      let byKey = core.get(table);
      if (!byKey) core.set(table, (byKey = new Map()));
      byKey.set(rowKey(rowKeyColumns(table), row), row);
    }
  }

  const owned = ownedRowsOf(stream, core);
  return {
    ...(owned ? { owned } : {}),
    raw: [...raw.values()],
    core: new Map([...core].map(([t, m]) => [t, [...m.values()]])),
    quarantine: [...quarantine.values()],
    // A key is valid when its last record loaded, i.e. when it is not left in quarantine.
    validKeys: [...raw.keys()].filter((key) => !quarantine.has(key)),
  };
}

/** Validates and normalizes a page in memory. Pure: no I/O. */
export function preparePage(stream: AnyStream, records: readonly unknown[], ctx: NormalizeContext<unknown>): PreparedPage {
  const steps = prepareSteps(stream, records, ctx);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * preparePage(), yielding to the event loop every PREPARE_SLICE records. The sync runner prepares
 * page N+1 while page N is written: a synchronous preparation would starve that write (its COPY
 * stalls once the socket buffer is full, its next statement waits), so the two would not overlap.
 */
async function preparePageSliced(stream: AnyStream, records: readonly unknown[], ctx: NormalizeContext<unknown>): Promise<PreparedPage> {
  return runSliced(prepareSteps(stream, records, ctx));
}

// ---------------------------------------------------------------------------------------------
// Bulk writes. A page's rows for one table form a Batch; on Postgres it is serialized once as COPY
// text and either COPYed straight into the target (when no row of the page exists there yet) or
// COPYed into a temporary table and merged with INSERT ... ON CONFLICT. PGlite has no COPY FROM
// STDIN: there the batch is passed as one text[] per column to unnest().

interface StageColumn {
  name: string;
  sql: SqlType;
}

/** Rows bound for one table: per-run constant columns first, then per-row columns read by name. */
interface Batch {
  constants: ReadonlyArray<readonly [StageColumn, string | number | null]>;
  columns: readonly StageColumn[];
  rowCount: number;
  /** Rows with the table's delete flag set. */
  deletedCount: number;
  /** The rows, until encodeBatch() turns them into COPY data (Postgres needs nothing else). */
  rows: ReadonlyArray<Record<string, unknown>> | undefined;
  /** The batch as COPY text, UTF-8, in buffers of about 1 MiB: off the JS heap, sent as they are. */
  copyData?: Buffer[];
}

function makeBatch(
  constants: Batch['constants'],
  columns: readonly StageColumn[],
  deletedColumn: string,
  rows: ReadonlyArray<Record<string, unknown>>,
): Batch {
  let deletedCount = 0;
  for (const row of rows) if (row[deletedColumn] === true) deletedCount++;
  return { constants, columns, rowCount: rows.length, deletedCount, rows };
}

function encode(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * One field in COPY text format: backslash escapes, \N for NULL
 * (https://www.postgresql.org/docs/current/sql-copy.html, "Text Format"). Most values need no
 * escaping, so the test comes before the (allocating) replace.
 */
function copyField(value: unknown): string {
  const text = encode(value);
  if (text === null) return '\\N';
  return COPY_SPECIAL.test(text) ? text.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : text;
}

const CHUNK_BYTES = 1 << 20;
/** Lines are gathered into a string of about this many UTF-16 units before one Buffer write. */
const WRITE_UNITS = 1 << 14;

/**
 * The COPY field of one column, specialised by SQL type. Validated core values of the numeric,
 * date, timestamptz and bigint columns are digits, signs, dots, dashes, colons and letters (what
 * the core-row parser returns), so only text and jsonb values are scanned for characters to escape.
 */
function fieldEncoder(sql: SqlType): (value: unknown) => string {
  switch (sql) {
    case 'numeric':
    case 'date':
    case 'timestamptz':
    case 'bigint':
      return (v) => (v === null || v === undefined ? '\\N' : typeof v === 'string' || typeof v === 'number' ? String(v) : copyField(v));
    case 'boolean':
      return (v) => (v === true ? 't' : v === false ? 'f' : copyField(v));
    default:
      return copyField;
  }
}

/**
 * COPY text gathered line by line into UTF-8 Buffers of about 1 MiB: lines are joined into short
 * strings before one Buffer write, so the short-lived strings die young and nothing of a page stays
 * on the JS heap for the garbage collector to copy.
 */
class CopyWriter {
  private readonly chunks: Buffer[] = [];
  private buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  private text = '';

  /** Appends one line (ending in \n). */
  line(line: string): void {
    this.text += line;
    if (this.text.length >= WRITE_UNITS) this.flush();
  }

  private flush(): void {
    // A UTF-16 code unit is at most 3 UTF-8 bytes.
    if (this.used + this.text.length * 3 > this.buffer.length) {
      if (this.used > 0) this.chunks.push(this.buffer.subarray(0, this.used));
      this.buffer = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, this.text.length * 3));
      this.used = 0;
    }
    this.used += this.buffer.write(this.text, this.used);
    this.text = '';
  }

  finish(): Buffer[] {
    if (this.text.length > 0) this.flush();
    if (this.used > 0) this.chunks.push(this.buffer.subarray(0, this.used));
    this.used = 0;
    return this.chunks;
  }
}

/** The constant fields that open every COPY line of a batch, each followed by its tab. */
function constantsPrefix(constants: Batch['constants']): string {
  return constants.map(([, v]) => `${copyField(v)}\t`).join('');
}

/** The COPY line of one row of a batch: its constants, then its columns read by name. */
function lineEncoder(constants: Batch['constants'], columns: readonly StageColumn[]): (row: Record<string, unknown>) => string {
  const prefix = constantsPrefix(constants);
  const names = columns.map((c) => c.name);
  const encoders = columns.map((c) => fieldEncoder(c.sql));
  return (row) => {
    let line = prefix + encoders[0]!(row[names[0]!]);
    for (let i = 1; i < names.length; i++) line += `\t${encoders[i]!(row[names[i]!])}`;
    return `${line}\n`;
  };
}

/** Serializes a batch as COPY text once (the direct and the staged path send the same data) and drops its rows. */
function encodeBatch(batch: Batch): Buffer[] {
  if (batch.copyData) return batch.copyData;
  const rows = batch.rows;
  if (!rows) throw new Error('batch has neither rows nor COPY data');
  const writer = new CopyWriter();
  const encodeLine = lineEncoder(batch.constants, batch.columns);
  for (const row of rows) writer.line(encodeLine(row));
  batch.copyData = writer.finish();
  batch.rows = undefined;
  return batch.copyData;
}

function allColumns(batch: Batch): StageColumn[] {
  return [...batch.constants.map(([c]) => c), ...batch.columns];
}

const quote = (name: string) => `"${name}"`;

/** COPY FROM STDIN on the transaction's own connection (COPY must run inside the same transaction). */
async function copyInto(trx: Knex.Transaction, table: string, batch: Batch): Promise<void> {
  const conn = (await trx.client.acquireConnection()) as pg.PoolClient;
  const copy = conn.query(copyFrom(`COPY ${table} (${allColumns(batch).map((c) => quote(c.name)).join(', ')}) FROM STDIN`));
  await pipeline(Readable.from(encodeBatch(batch)), copy);
}

/** SQLSTATE of a database error (pg and PGlite both set `code`). */
function sqlState(err: unknown): string | undefined {
  return err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/**
 * COPYs the batch straight into its target, inside a savepoint. Returns false, with nothing
 * written, when a row of the page already exists there (unique violation on the key): the caller
 * then merges through a staged table. Any other error (a constraint, a trigger) propagates and
 * fails the page as the staged path would. The savepoint is not released: the commit releases it
 * with the transaction, and a page saves the round trip (at most one per table is left open).
 */
async function tryDirectCopy(trx: Knex.Transaction, table: string, batch: Batch): Promise<boolean> {
  await trx.raw('SAVEPOINT mpm_direct_copy');
  try {
    await copyInto(trx, table, batch);
  } catch (err) {
    if (sqlState(err) !== '23505') throw err;
    await trx.raw('ROLLBACK TO SAVEPOINT mpm_direct_copy');
    return false;
  }
  return true;
}

/** The staging tables each open transaction has COPYed into (see stage()). */
const stagedIn = new WeakMap<Knex.Transaction, Set<string>>();

/**
 * Makes the batch available as a relation named `s` with text columns, and returns the FROM clause
 * plus its bindings. On Postgres it is COPYed into a temporary table, created once per session and
 * emptied at every commit (ON COMMIT DELETE ROWS), and emptied before a second batch of the same
 * transaction goes in (a window sweep merges its tombstones into the table its page was merged
 * into: the page's rows, left staged, would be merged again over what changed since); temporary
 * tables are not WAL-logged and need no index here (the merge reads them once). On PGlite the
 * columns are unnest()ed text[] parameters.
 */
async function stage(trx: Knex.Transaction, useCopy: boolean, batch: Batch): Promise<{ from: string; bindings: Knex.RawBinding[] }> {
  const columns = allColumns(batch);
  if (useCopy) {
    const table = `mpm_stage_${columns.length}_${createHash('md5').update(columns.map((c) => c.name).join(',')).digest('hex').slice(0, 12)}`;
    await trx.raw(`CREATE TEMP TABLE IF NOT EXISTS ${table} (${columns.map((c) => `${quote(c.name)} text`).join(', ')}) ON COMMIT DELETE ROWS`);
    let staged = stagedIn.get(trx);
    if (!staged) stagedIn.set(trx, (staged = new Set()));
    if (staged.has(table)) await trx.raw(`TRUNCATE ${table}`);
    staged.add(table);
    await copyInto(trx, table, batch);
    return { from: `${table} s`, bindings: [] };
  }
  const rows = batch.rows;
  if (!rows) throw new Error('an encoded batch can only be staged by COPY');
  const arrays = batch.columns.map((c) => rows.map((r) => encode(r[c.name])));
  const constants = batch.constants.map(([c]) => `?::text AS ${quote(c.name)}`);
  return {
    from: `(SELECT ${[...constants, 'u.*'].join(', ')} FROM unnest(${batch.columns.map(() => '?::text[]').join(', ')}) AS u(${batch.columns.map((c) => quote(c.name)).join(', ')})) s`,
    bindings: [...batch.constants.map(([, v]) => (v === null ? null : String(v))), ...arrays] as Knex.RawBinding[],
  };
}

function cast(column: StageColumn): string {
  return column.sql === 'text' ? `s.${quote(column.name)}` : `s.${quote(column.name)}::${column.sql}`;
}

/**
 * Per-run memory of the loader: per target table, whether its last page was all new rows. Only
 * then is the next page tried by direct COPY, so a re-sync of existing rows does not keep paying
 * for a failed attempt, and a run that moves on to new rows gets the fast path back.
 */
export interface LoadState {
  allNew: Map<string, boolean>;
}

export const newLoadState = (): LoadState => ({ allNew: new Map() });

interface WriteCounts {
  inserted: number;
  updated: number;
  /** Rows written with the delete flag set, new or changed. */
  deleted: number;
}

export interface WriteOptions {
  kind: WarehouseKind;
  /** Present during a run: enables the direct COPY path. */
  state?: LoadState | undefined;
}

const useCopy = (kind: WarehouseKind) => kind === 'postgres' && !process.env.MPM_UNNEST;

/**
 * Writes a batch into its target table: new rows inserted, rows whose `compared` columns
 * differ updated, unchanged rows left alone (IS DISTINCT FROM, so no dead tuples and the audit
 * columns keep the run that last changed the row).
 */
async function writeBatch(trx: Knex.Transaction, options: WriteOptions, target: Target, batch: Batch, unchecked?: UncheckedBatch): Promise<WriteCounts> {
  const copy = useCopy(options.kind);
  if (copy && options.state && options.state.allNew.get(target.table) !== false && (await tryDirectCopy(trx, target.table, batch))) {
    return { inserted: batch.rowCount, updated: 0, deleted: batch.deletedCount };
  }
  if (unchecked?.beforeMerge) batch = await unchecked.beforeMerge();
  if (!unchecked?.onRepeat) return mergeBatch(trx, options, target, batch);
  // A key twice in one INSERT ... ON CONFLICT DO UPDATE fails the statement (21000, "cannot affect
  // row a second time") unless its first row left the stored one unchanged, and then the last row
  // wins, as deduplication would have it.
  await trx.raw('SAVEPOINT mpm_merge');
  try {
    const counts = await mergeBatch(trx, options, target, batch);
    await trx.raw('RELEASE SAVEPOINT mpm_merge');
    return counts;
  } catch (err) {
    if (sqlState(err) !== '21000') throw err;
    await trx.raw('ROLLBACK TO SAVEPOINT mpm_merge');
    return mergeBatch(trx, options, target, await unchecked.onRepeat());
  }
}

/**
 * How writeBatch() meets keys that may repeat within a batch of an unchecked page (see
 * PreparedPage.unchecked); the direct COPY needs nothing, a repeat fails it like a stored row does.
 */
interface UncheckedBatch {
  /** Before a merge: the batch to merge (deduplicated if need be). */
  beforeMerge?(): Promise<Batch>;
  /** After a merge failed on a repeated key: the deduplicated batch to merge instead. */
  onRepeat?(): Promise<Batch>;
}

/** The table a batch is written to: its key, the columns compared to tell a change, its delete flag. */
interface Target {
  table: string;
  key: readonly string[];
  compared: readonly string[];
  deletedColumn: string;
}

/** The staged merge of writeBatch(). */
async function mergeBatch(trx: Knex.Transaction, options: WriteOptions, { table, key, compared, deletedColumn }: Target, batch: Batch): Promise<WriteCounts> {
  const copy = useCopy(options.kind);
  const source = await stage(trx, copy, batch);
  const columns = allColumns(batch);
  const names = columns.map((c) => quote(c.name));
  // Rows equal to the stored ones are left out before the insert: ON CONFLICT ... WHERE false
  // writes nothing but still locks the row it meets, which dirties its page and logs the lock, so
  // a re-read of unchanged rows (a lookback window, a full resync) rewrote every page it touched.
  // The staged rows are cast once (OFFSET 0 keeps the subquery: pulled up, each cast would run
  // twice, for the comparison and for the insert, a jsonb parse among them).
  // xmax is 0 on a freshly inserted tuple and set (to our own transaction) on one ON CONFLICT
  // updated, so RETURNING tells inserts from updates; unchanged rows are not returned at all.
  const result = await trx.raw(
    `WITH written AS (
       INSERT INTO ${table} AS t (${names.join(', ')}, _synced_at)
       SELECT ${names.map((n) => `c.${n}`).join(', ')}, now()
       FROM (SELECT ${columns.map((c) => `${cast(c)} AS ${quote(c.name)}`).join(', ')} FROM ${source.from} OFFSET 0) c
       WHERE NOT EXISTS (SELECT 1 FROM ${table} u WHERE ${key.map((c) => `u.${quote(c)} = c.${quote(c)}`).join(' AND ')}
         AND (${compared.map((c) => `u.${quote(c)}`).join(', ')}) IS NOT DISTINCT FROM (${compared.map((c) => `c.${quote(c)}`).join(', ')}))
       ON CONFLICT (${key.map(quote).join(', ')}) DO UPDATE
         SET ${[...compared, '_run_id', '_synced_at'].map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}
         WHERE (${compared.map((c) => `t.${quote(c)}`).join(', ')}) IS DISTINCT FROM (${compared.map((c) => `excluded.${quote(c)}`).join(', ')})
       RETURNING t.xmax = 0 AS inserted, t.${quote(deletedColumn)} AS deleted)
     SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated,
            count(*) FILTER (WHERE deleted)::int AS deleted
     FROM written`,
    source.bindings,
  );
  const counts = (result as { rows: WriteCounts[] }).rows[0]!;
  options.state?.allNew.set(table, counts.inserted === batch.rowCount);
  return counts;
}

const RAW_COLUMNS: readonly StageColumn[] = [
  { name: 'record_id', sql: 'text' },
  { name: 'payload', sql: 'jsonb' },
  { name: '_deleted', sql: 'boolean' },
];

function rawConstants(connectionId: string, runId: number | null): Batch['constants'] {
  return [
    [{ name: 'connection_id', sql: 'text' }, connectionId],
    [{ name: '_run_id', sql: 'bigint' }, runId],
  ];
}

function rawBatch(connectionId: string, runId: number | null, rows: readonly RawRow[]): Batch {
  return makeBatch(rawConstants(connectionId, runId), RAW_COLUMNS, '_deleted', rows);
}

const coreColumnsCache = new Map<CoreTableName, readonly StageColumn[]>();

function coreColumns(tableName: CoreTableName): readonly StageColumn[] {
  let columns = coreColumnsCache.get(tableName);
  if (!columns) coreColumnsCache.set(tableName, (columns = Object.entries(coreTables[tableName].columns).map(([name, c]) => ({ name, sql: c.sql }))));
  return columns;
}

function coreConstants(meta: BatchMeta): Batch['constants'] {
  return [
    [{ name: 'connection_id', sql: 'text' }, meta.connectionId],
    [{ name: 'source_system', sql: 'text' }, meta.sourceSystem],
    [{ name: '_run_id', sql: 'bigint' }, meta.runId],
  ];
}

function coreBatch(tableName: CoreTableName, meta: BatchMeta, rows: ReadonlyArray<Record<string, unknown>>): Batch {
  return makeBatch(coreConstants(meta), coreColumns(tableName), 'is_deleted', rows);
}

interface BatchMeta {
  connectionId: string;
  sourceSystem: string;
  runId: number | null;
}

interface PageBatches {
  meta: BatchMeta;
  raw: Batch;
  core: Array<[CoreTableName, Batch]>;
}

function pageBatches(prepared: PreparedPage, meta: BatchMeta): PageBatches {
  const cached = prepared.batches;
  if (cached) {
    const same = cached.meta.connectionId === meta.connectionId && cached.meta.sourceSystem === meta.sourceSystem && cached.meta.runId === meta.runId;
    if (!same) throw new Error('page was encoded for another connection or run');
    return cached;
  }
  return {
    meta,
    raw: rawBatch(meta.connectionId, meta.runId, prepared.raw),
    core: [...prepared.core].map(([table, rows]) => [table, coreBatch(table, meta, rows)]),
  };
}

/**
 * Serializes a prepared page into COPY data ahead of its transaction, so the sync runner does it
 * while the previous page is being written. Returns the page with its rows replaced by that data
 * (raw and core emptied, batches set), so only compact buffers wait for the write. Postgres only:
 * elsewhere the page is returned as it is.
 */
async function encodePage(kind: WarehouseKind, prepared: PreparedPage, meta: BatchMeta): Promise<PreparedPage> {
  if (!useCopy(kind)) return prepared;
  const batches = pageBatches(prepared, meta);
  for (const batch of [batches.raw, ...batches.core.map(([, b]) => b)]) {
    encodeBatch(batch);
    await setImmediate(); // lets the write of the previous page go on (see preparePageSliced)
  }
  return { ...prepared, raw: [], core: new Map(), batches };
}

/** JSON text from JSON.stringify() as a COPY field: it holds no raw control characters, so only backslashes need escaping. */
function jsonCopyField(json: string | undefined): string {
  if (json === undefined) return '\\N';
  return json.includes('\\') ? json.replaceAll('\\', '\\\\') : json;
}

interface EncodedTable {
  writer: CopyWriter;
  encodeLine: (row: Record<string, unknown>) => string;
  rowCount: number;
  deletedCount: number;
}

/**
 * The sync runner's preparation on Postgres: each record validated and normalized as in
 * prepareSteps(), its raw and core rows written as COPY lines at once, so no row object outlives
 * its record (the page's rows never reach the old generation of the heap). Keys are not checked
 * for repeats here (that bookkeeping cost as much as the rest of the serialization): a key repeated
 * within the page (rare: a record modified during a paged read) is caught when the page is written
 * (storePrepared), which then switches to the deduplicating prepareSteps(). Streams with owned rows
 * need the rows themselves and always take that path (undefined).
 */
function* prepareEncodedSteps(stream: AnyStream, records: readonly unknown[], ctx: NormalizeContext<unknown>, meta: BatchMeta): Generator<void, PreparedPage | undefined> {
  if (stream.ownedRows?.length) return undefined;
  const rawConsts = rawConstants(meta.connectionId, meta.runId);
  const rawPrefix = constantsPrefix(rawConsts);
  const raw = new CopyWriter();
  let rawDeleted = 0;
  const keys: string[] = [];
  // By key, so that a repeated key's last version decides, as in prepareSteps().
  const quarantine = new Map<string, QuarantineEntry>();
  const tables = new Map<CoreTableName, EncodedTable>();
  const constants = coreConstants(meta);

  for (let i = 0; i < records.length; i++) {
    if (i > 0 && i % PREPARE_SLICE === 0) yield;
    const record = records[i];
    const { key, complete } = recordKey(stream, record);
    keys.push(key);
    const { deleted, failure, rows } = checkRecord(stream, record, complete, ctx);
    // Nothing the vendor sends is dropped: even an invalid record lands in raw as received.
    raw.line(`${rawPrefix}${copyField(key)}\t${jsonCopyField(JSON.stringify(record))}\t${deleted ? 't' : 'f'}\n`);
    if (deleted) rawDeleted++;
    if (failure) {
      quarantine.set(key, { recordKey: key, payload: record, errorPath: failure.path, errorMessage: failure.message });
      continue;
    }
    if (quarantine.size > 0) quarantine.delete(key);
    for (const [table, row] of rows) {
      let t = tables.get(table);
      if (!t) {
        t = { writer: new CopyWriter(), encodeLine: lineEncoder(constants, coreColumns(table)), rowCount: 0, deletedCount: 0 };
        tables.set(table, t);
      }
      t.writer.line(t.encodeLine(row));
      t.rowCount++;
      if (row.is_deleted === true) t.deletedCount++;
    }
  }

  const encoded = (consts: Batch['constants'], columns: readonly StageColumn[], writer: CopyWriter, rowCount: number, deletedCount: number): Batch => ({
    constants: consts, columns, rowCount, deletedCount, rows: undefined, copyData: writer.finish(),
  });
  return {
    raw: [],
    core: new Map(),
    quarantine: [...quarantine.values()],
    validKeys: quarantine.size > 0 ? keys.filter((k) => !quarantine.has(k)) : keys,
    batches: {
      meta,
      raw: encoded(rawConsts, RAW_COLUMNS, raw, keys.length, rawDeleted),
      core: [...tables].map(([table, t]) => [table, encoded(constants, coreColumns(table), t.writer, t.rowCount, t.deletedCount)]),
    },
    unchecked: { keys, dedupe: () => encodePage('postgres', preparePage(stream, records, ctx), meta) },
  };
}

/** Runs a preparation generator, yielding to the event loop at each of its pauses (see preparePageSliced). */
async function runSliced<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await setImmediate();
  }
}

/**
 * A page made ready for loadPageRaw() by the sync runner, between two writes: validated, normalized
 * and, on Postgres, already serialized as COPY data (see prepareEncodedSteps and encodePage).
 */
export async function preparePageForLoad(kind: WarehouseKind, stream: AnyStream, records: readonly unknown[], ctx: NormalizeContext<unknown>, meta: BatchMeta): Promise<PreparedPage> {
  if (useCopy(kind)) {
    const encoded = await runSliced(prepareEncodedSteps(stream, records, ctx, meta));
    if (encoded) return encoded;
  }
  return encodePage(kind, await preparePageSliced(stream, records, ctx), meta);
}

async function upsertRaw(trx: Knex.Transaction, options: WriteOptions, table: string, batch: Batch, unchecked?: UncheckedBatch): Promise<WriteCounts> {
  if (batch.rowCount === 0) return { inserted: 0, updated: 0, deleted: 0 };
  return writeBatch(trx, options, { table, key: ['connection_id', 'record_id'], compared: ['payload', '_deleted'], deletedColumn: '_deleted' }, batch, unchecked);
}

async function writeCore(trx: Knex.Transaction, options: WriteOptions, tableName: CoreTableName, batch: Batch, unchecked?: UncheckedBatch): Promise<WriteCounts> {
  if (batch.rowCount === 0) return { inserted: 0, updated: 0, deleted: 0 };
  const def = coreTables[tableName];
  const keySet = new Set(def.key);
  const compared = [...batch.columns.filter((c) => !keySet.has(c.name)).map((c) => c.name), 'source_system'];
  return writeBatch(trx, options, { table: def.name, key: def.key, compared, deletedColumn: 'is_deleted' }, batch, unchecked);
}

/** Upserts normalized rows into a core table; returns how many rows were inserted or changed. */
export async function upsertCore(
  trx: Knex.Transaction,
  kind: WarehouseKind,
  tableName: CoreTableName,
  meta: { connectionId: string; sourceSystem: string; runId: number | null },
  rows: ReadonlyArray<Record<string, unknown>>,
): Promise<{ changed: number }> {
  const counts = await writeCore(trx, { kind }, tableName, coreBatch(tableName, meta, rows));
  return { changed: counts.inserted + counts.updated };
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

const CHECKPOINT_SQL = `INSERT INTO meta.sync_state (connection, stream, scope, cursor, updated_at) VALUES (?, ?, ?, ?::jsonb, now())
  ON CONFLICT (connection, stream, scope) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`;

export async function saveCheckpoint(trx: Knex.Transaction, connectionId: string, stream: string, scope: string, cursor: unknown): Promise<void> {
  await trx.raw(CHECKPOINT_SQL, [connectionId, stream, scope, JSON.stringify(cursor ?? null)]);
}

/** saveCheckpoint() and the run's counters in one statement (one round trip per page). */
async function saveCheckpointAndCounts(trx: Knex.Transaction, input: LoadPageInput, counts: PageCounts): Promise<void> {
  if (input.runId === null) return saveCheckpoint(trx, input.connectionId, input.stream.name, input.scope, input.checkpoint);
  const checkpoint = [input.connectionId, input.stream.name, input.scope, JSON.stringify(input.checkpoint ?? null)];
  await trx.raw(
    `WITH checkpoint AS (${CHECKPOINT_SQL})
     UPDATE meta.sync_runs SET rows_read = rows_read + ?, rows_inserted = rows_inserted + ?, rows_updated = rows_updated + ?,
       rows_unchanged = rows_unchanged + ?, rows_quarantined = rows_quarantined + ?, rows_deleted = rows_deleted + ?, pages = pages + 1
     WHERE id = ?`,
    [...checkpoint, counts.read, counts.inserted, counts.updated, counts.unchanged, counts.quarantined, counts.deleted, input.runId],
  );
}

export interface LoadPageInput {
  kind: WarehouseKind;
  /** Kept across the pages of a run (see LoadState); absent outside a run. */
  state?: LoadState | undefined;
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

/**
 * A page is stored atomically inside one transaction `trx` in two calls: loadPageRaw() writes its
 * raw rows, finishPage() its core rows, quarantine, checkpoint and run counters. The sync runner
 * writes a page's raw rows while the previous page's transaction finishes, and calls finishPage()
 * once that one has committed.
 */
export async function loadPageRaw(trx: Knex.Transaction, input: LoadPageInput, prepared: PreparedPage): Promise<RawWritten> {
  // The commit does not wait for its WAL flush: a server crash can lose the last pages' commits
  // but never leaves a torn page, and the checkpoint is lost with its data, so the next run simply
  // reloads them; the run's final (synchronous) sync_runs update flushes all earlier WAL with it.
  // https://www.postgresql.org/docs/current/wal-async-commit.html: "data loss, not data corruption".
  // No JIT either: a page's statements are short, and compiling them cost more than it saved.
  if (input.kind === 'postgres') await trx.raw(`SELECT set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true)`);
  return storeRaw(trx, input, prepared);
}

/** The rest of a page after loadPageRaw(): core rows, quarantine, checkpoint and run counters. */
export async function finishPage(trx: Knex.Transaction, input: LoadPageInput, written: RawWritten): Promise<PageCounts> {
  const counts = await storeRest(trx, input, written);
  await saveCheckpointAndCounts(trx, input, counts);
  return counts;
}

type StoreInput = Pick<LoadPageInput, 'kind' | 'state' | 'connectionId' | 'connector' | 'stream' | 'runId' | 'hasOpenQuarantine'>;

/** A page whose raw rows are written (storeRaw), waiting for storeRest(). */
export interface RawWritten {
  prepared: PreparedPage;
  batches: PageBatches;
  raw: WriteCounts;
  meta: BatchMeta;
}

/** Raw, core and quarantine writes of a prepared page (no checkpoint). Also used by quarantine retry. */
export async function storePrepared(trx: Knex.Transaction, input: StoreInput, page: PreparedPage): Promise<PageCounts> {
  return storeRest(trx, input, await storeRaw(trx, input, page));
}

/**
 * A page whose keys were not checked for repeats (PreparedPage.unchecked) is exchanged for its
 * deduplicated preparation when a write may meet one: before a raw merge whose keys repeat (so
 * that the counts stay exact), and after a core merge that failed on one. Its direct COPYs need
 * no check: a repeated key fails them as a stored row does, and the merge follows.
 */
async function dedupe(page: RawWritten): Promise<void> {
  if (page.prepared.unchecked) {
    page.prepared = await page.prepared.unchecked.dedupe();
    page.batches = pageBatches(page.prepared, page.meta);
  }
}

/** The raw part of storePrepared(). */
async function storeRaw(trx: Knex.Transaction, input: StoreInput, prepared: PreparedPage): Promise<RawWritten> {
  const meta = { connectionId: input.connectionId, sourceSystem: input.connector, runId: input.runId };
  const page: RawWritten = { prepared, batches: pageBatches(prepared, meta), raw: { inserted: 0, updated: 0, deleted: 0 }, meta };
  const keys = prepared.unchecked?.keys;
  page.raw = await upsertRaw(trx, { kind: input.kind, state: input.state }, rawTableName(input.connector, input.stream.name), page.batches.raw, keys && {
    async beforeMerge() {
      if (new Set(keys).size < keys.length) await dedupe(page);
      return page.batches.raw;
    },
  });
  return page;
}

/** The part of storePrepared() after storeRaw(): core rows, owned rows, quarantine. */
async function storeRest(trx: Knex.Transaction, input: StoreInput, page: RawWritten): Promise<PageCounts> {
  const options: WriteOptions = { kind: input.kind, state: input.state };
  const coreBatchOf = (table: CoreTableName) => {
    const found = page.batches.core.find(([t]) => t === table);
    if (!found) throw new Error(`the deduplicated page has no rows for ${table}`);
    return found[1];
  };
  for (const table of page.batches.core.map(([t]) => t)) {
    await writeCore(trx, options, table, coreBatchOf(table), page.prepared.unchecked && {
      async onRepeat() {
        await dedupe(page);
        return coreBatchOf(table);
      },
    });
  }
  const { prepared, batches, raw } = page;
  if (prepared.owned) await flagDroppedOwnedRows(trx, prepared.owned, { connectionId: input.connectionId, runId: input.runId });
  await quarantineRecords(trx, prepared.quarantine, { connectionId: input.connectionId, stream: input.stream.name, runId: input.runId });
  if (input.hasOpenQuarantine) await resolveQuarantine(trx, input.connectionId, input.stream.name, prepared.validKeys);
  return {
    read: batches.raw.rowCount,
    inserted: raw.inserted,
    updated: raw.updated,
    unchanged: batches.raw.rowCount - raw.inserted - raw.updated,
    quarantined: prepared.quarantine.length,
    deleted: raw.deleted,
  };
}

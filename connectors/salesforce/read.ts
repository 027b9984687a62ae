import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import type { Page, StreamContext } from '../core/connector.ts';
import { ConfigError, RequestError } from '../core/errors/index.ts';
import { durationMs, type SalesforceConfig } from './config.ts';
import { openClient, type DescribeField, type SalesforceClient } from './client.ts';
import { rememberOrgCurrency, sfIso, sfTime, type ObjectSpec } from './objects.ts';

/**
 * How every Salesforce stream reads: incremental by SystemModstamp with an Id tie-breaker,
 * deletes through queryAll (IsDeleted), REST paging for small reads and Bulk API 2.0 for large
 * first/full syncs and backfills, a periodic full re-read per stream, and the API budget guard.
 */

export const checkpointSchema = z.object({
  /** The last (SystemModstamp, Id) stored in order; the next read starts after it. Null: from the beginning. */
  cursor: z.object({ ts: z.string(), id: z.string() }).nullable(),
  /** Set while a full read (first sync, --full, fullResyncEvery) or a backfill window's read is in progress: when it started. */
  fullReadStartedAt: z.string().nullable(),
  /** When the last complete full read started (fullResyncEvery counts from it); under a window's scope, its last complete read. */
  lastFullSyncAt: z.string().nullable(),
  /** A Bulk API 2.0 job being read: resume at `locator` (null: first set) while the job exists. */
  bulk: z
    .object({ jobId: z.string(), locator: z.string().nullable(), maxSeen: z.string().nullable(), startedAt: z.string(), apiVersion: z.string() })
    .nullable(),
});
export type SalesforceCheckpoint = z.infer<typeof checkpointSchema>;

const EMPTY: SalesforceCheckpoint = { cursor: null, fullReadStartedAt: null, lastFullSyncAt: null, bulk: null };

/** SOQL datetime literal (SOQL reference, "Date Formats and Date Literals"): UTC, milliseconds only when non-zero. */
export function soqlDateTime(iso: string): string {
  const s = new Date(iso).toISOString();
  return s.endsWith('.000Z') ? s.replace('.000Z', 'Z') : s;
}

const ID = /^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$/;

export function whereClause(cursor: SalesforceCheckpoint['cursor'], upper: string | undefined): string {
  const conds: string[] = [];
  if (cursor) {
    const t = soqlDateTime(cursor.ts);
    // Many records can share one SystemModstamp: continue after the last Id stored at t.
    conds.push(ID.test(cursor.id) ? `((SystemModstamp = ${t} AND Id > '${cursor.id}') OR SystemModstamp > ${t})` : `SystemModstamp >= ${t}`);
  }
  if (upper) conds.push(`SystemModstamp < ${soqlDateTime(upper)}`);
  return conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
}

/** Resolves the select list against describe; a missing configured field is a ConfigError naming it. */
export function resolveFields(spec: ObjectSpec, cfg: SalesforceConfig, connectionId: string, described: readonly DescribeField[]): { select: string[]; types: Map<string, string> } {
  const byLower = new Map(described.map((f) => [f.name.toLowerCase(), f]));
  const select: string[] = [];
  const seen = new Set<string>();
  const add = (name: string): void => {
    const f = byLower.get(name.toLowerCase());
    if (f && !seen.has(f.name.toLowerCase())) {
      seen.add(f.name.toLowerCase());
      select.push(f.name);
    }
  };
  const missing = (field: string, setting: string): ConfigError => {
    const near = described
      .map((f) => f.name)
      .filter((n) => n.toLowerCase().includes(field.toLowerCase().replace(/__c$/, '').slice(0, 5)))
      .slice(0, 5);
    return new ConfigError(
      `connection ${connectionId}: ${setting}: ${spec.object} has no field ${field} visible to the integration user (describe ${spec.object})${near.length ? `; similar fields: ${near.join(', ')}` : ''}`,
    );
  };
  for (const name of spec.required) {
    if (!byLower.has(name.toLowerCase())) throw missing(name, `${spec.object} standard field (grant field-level access to the integration user)`);
    add(name);
  }
  for (const name of spec.optional) add(name);
  const settings = cfg.objects[spec.stream];
  for (const name of settings?.extraFields ?? []) {
    if (!byLower.has(name.toLowerCase())) throw missing(name, `objects.${spec.stream}.extraFields`);
    add(name);
  }
  for (const [key, name] of Object.entries(settings?.utmFields ?? {})) {
    if (!name) continue;
    if (!byLower.has(name.toLowerCase())) throw missing(name, `objects.${spec.stream}.utmFields.${key}`);
    add(name);
  }
  return { select, types: new Map(described.map((f) => [f.name, f.type])) };
}

const NUMERIC_TYPES = new Set(['int', 'double', 'currency', 'percent', 'long']);

/** Where the REST API puts a record (`attributes.url` of a query result). */
export interface RecordEnvelope {
  /** The sObject's API name, as `attributes.type`. */
  object: string;
  /** The API version the record was read with ('62.0'). */
  apiVersion: string;
}

/**
 * Bulk CSV carries no types: give each value the JSON the REST query returns for its field
 * (describe), so both paths store the same record and a REST read after a Bulk one finds it
 * unchanged: `attributes { type, url }` first, datetimes as '2026-01-05T10:00:00.000+0000' (Bulk
 * writes '...Z'), booleans and numbers as JSON, an empty cell as null. A value that does not
 * parse is kept as text and fails the record schema (quarantine) instead of being guessed.
 */
export function typeCsvRecord(row: Record<string, string>, types: Map<string, string>, envelope: RecordEnvelope): Record<string, unknown> {
  const id = row.Id ?? '';
  const out: Record<string, unknown> = { attributes: { type: envelope.object, url: `/services/data/v${envelope.apiVersion}/sobjects/${envelope.object}/${id}` } };
  for (const [name, value] of Object.entries(row)) {
    const type = types.get(name);
    if (value === '') out[name] = null;
    else if (type === 'boolean') out[name] = value === 'true' ? true : value === 'false' ? false : value;
    else if (type && NUMERIC_TYPES.has(type)) out[name] = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value) ? Number(value) : value;
    else if (type === 'datetime') out[name] = restDateTime(value);
    else out[name] = value;
  }
  return out;
}

/** A datetime as the REST API writes it: UTC, milliseconds, '+0000' ('2026-01-05T10:00:00.000+0000'). */
function restDateTime(value: string): string {
  const ms = sfTime(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString().replace(/Z$/, '+0000') : value;
}

function dayAfter(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

/** The cursor after a page: the last record, in server order, old enough not to be still changing. */
function advanceCursor(cursor: SalesforceCheckpoint['cursor'], records: readonly unknown[], cutoffMs: number): SalesforceCheckpoint['cursor'] {
  let next = cursor;
  for (const rec of records) {
    const r = rec as { Id?: unknown; SystemModstamp?: unknown };
    if (typeof r.Id !== 'string' || typeof r.SystemModstamp !== 'string') continue;
    const ms = sfTime(r.SystemModstamp);
    // A record stamped after the cutoff may have been modified while we paged (served out of
    // order): it does not move the cursor, so a resume cannot skip records still ahead of it.
    if (!Number.isFinite(ms) || ms >= cutoffMs) continue;
    if (next && ms < Date.parse(next.ts)) continue;
    next = { ts: new Date(ms).toISOString(), id: r.Id };
  }
  return next;
}

/**
 * Reads one object. A window (backfill, or `--from/--to`) reads SystemModstamp in [from, to + 1 day)
 * whatever the scheduled cursor says. A backfill keeps its own checkpoint (its scope is the
 * window's); any other windowed run is stored under the scheduled cursor's scope, so every page
 * carries that checkpoint unchanged: the window never moves the schedule, backwards or forwards.
 */
export async function* readObject(spec: ObjectSpec, ctx: StreamContext<SalesforceConfig>, checkpoint: SalesforceCheckpoint | undefined): AsyncIterable<Page<SalesforceCheckpoint>> {
  if (!ctx.window || ctx.mode === 'backfill') {
    yield* readPages(spec, ctx, checkpoint);
    return;
  }
  const kept = checkpoint ?? { ...EMPTY };
  for await (const page of readPages(spec, ctx, undefined)) yield { records: page.records, checkpoint: kept };
}

async function* readPages(spec: ObjectSpec, ctx: StreamContext<SalesforceConfig>, checkpoint: SalesforceCheckpoint | undefined): AsyncIterable<Page<SalesforceCheckpoint>> {
  const cfg = ctx.config;
  const client = await openClient(cfg, ctx.connectionId, ctx.log, ctx.signal);
  await client.readLimits();
  client.checkBudget();
  const described = await client.describe(spec.object);
  const { select, types } = resolveFields(spec, cfg, ctx.connectionId, described);
  if (spec.hasAmounts && !select.includes('CurrencyIsoCode') && !cfg.defaultCurrency) {
    const currency = await client.orgDefaultCurrency();
    if (currency) rememberOrgCurrency(ctx.connectionId, currency);
    else ctx.warn(`${spec.object} has no CurrencyIsoCode and the org currency could not be read: set defaultCurrency; amounts are stored without a currency`);
  }

  let state: SalesforceCheckpoint = checkpoint ?? { ...EMPTY };
  const now = ctx.now();
  let upper: string | undefined;
  if (ctx.window) {
    upper = dayAfter(ctx.window.to);
    // A window's checkpoint is its own (backfill scope): resume one in progress; a window read to
    // the end before (lastFullSyncAt, a complete read of its days) is read again from its first day.
    const inProgress = state.cursor && (state.fullReadStartedAt || state.bulk || !state.lastFullSyncAt);
    if (!inProgress) state = { ...EMPTY, cursor: { ts: `${ctx.window.from}T00:00:00.000Z`, id: '' }, fullReadStartedAt: now.toISOString() };
  } else {
    const every = cfg.objects[spec.stream]?.fullResyncEvery;
    const due = every && state.cursor && !state.fullReadStartedAt && !state.bulk && (!state.lastFullSyncAt || now.getTime() - Date.parse(state.lastFullSyncAt) >= durationMs(every));
    if (due) {
      ctx.log.info({ every, lastFullSyncAt: state.lastFullSyncAt }, `periodic full re-read of ${spec.object} (fullResyncEvery)`);
      state = { ...state, cursor: null, fullReadStartedAt: now.toISOString() };
    } else if (!state.cursor && !state.fullReadStartedAt && !state.bulk) {
      state = { ...state, fullReadStartedAt: now.toISOString() };
    }
  }

  const finish = (s: SalesforceCheckpoint): SalesforceCheckpoint =>
    s.fullReadStartedAt ? { ...s, lastFullSyncAt: s.fullReadStartedAt, fullReadStartedAt: null, bulk: null } : { ...s, bulk: null };

  if (state.bulk) {
    if (state.bulk.apiVersion === cfg.apiVersion) {
      try {
        yield* readBulk(client, ctx, state, state.bulk.jobId, { object: spec.object, apiVersion: state.bulk.apiVersion }, types, finish);
        return;
      } catch (err) {
        // A job Salesforce already removed (404): read again from the cursor.
        if (!(err instanceof RequestError && err.status === 404) && !(err instanceof RequestError && /NOT_FOUND/.test(err.message))) throw err;
        ctx.log.warn(`bulk job ${state.bulk.jobId} no longer exists; reading again from the cursor`);
      }
    }
    state = { ...state, bulk: null };
  }

  const where = whereClause(state.cursor, upper);
  const from = ` FROM ${spec.object}${where}`;
  if (!state.cursor || upper) {
    const count = await client.count(`SELECT COUNT()${from}`, true);
    ctx.log.info({ count, threshold: cfg.bulkThreshold }, `${spec.object}: ${count} records to read`);
    if (count >= cfg.bulkThreshold) {
      const job = await client.createBulkJob(`SELECT ${select.join(', ')}${from}`, true);
      state = { ...state, bulk: { jobId: job.id, locator: null, maxSeen: null, startedAt: now.toISOString(), apiVersion: cfg.apiVersion } };
      yield* readBulk(client, ctx, state, job.id, { object: spec.object, apiVersion: cfg.apiVersion }, types, finish);
      return;
    }
  }
  yield* readRest(client, ctx, spec, state, `SELECT ${select.join(', ')}${from} ORDER BY SystemModstamp ASC, Id ASC`, finish);
}

async function* readRest(
  client: SalesforceClient,
  ctx: StreamContext<SalesforceConfig>,
  spec: ObjectSpec,
  start: SalesforceCheckpoint,
  soql: string,
  finish: (s: SalesforceCheckpoint) => SalesforceCheckpoint,
): AsyncIterable<Page<SalesforceCheckpoint>> {
  const cutoff = ctx.now().getTime() - ctx.config.cursorLagSeconds * 1000;
  let state = start;
  let res = await client.query(soql, { all: true, batchSize: ctx.config.pageSize });
  let pages = 0;
  for (;;) {
    pages++;
    state = { ...state, cursor: advanceCursor(state.cursor, res.records, cutoff) };
    if (res.done) state = finish(state);
    yield { records: res.records, checkpoint: state };
    if (res.done || !res.nextRecordsUrl) break;
    if (ctx.signal.aborted) return;
    res = await client.queryMore(res.nextRecordsUrl, ctx.config.pageSize);
  }
  ctx.log.debug({ pages, object: spec.object }, 'REST read complete');
}

async function* readBulk(
  client: SalesforceClient,
  ctx: StreamContext<SalesforceConfig>,
  start: SalesforceCheckpoint,
  jobId: string,
  envelope: RecordEnvelope,
  types: Map<string, string>,
  finish: (s: SalesforceCheckpoint) => SalesforceCheckpoint,
): AsyncIterable<Page<SalesforceCheckpoint>> {
  const bulk = start.bulk;
  if (!bulk) throw new Error('readBulk without a bulk checkpoint');
  await client.waitForBulkJob(jobId);
  const cutoff = Date.parse(bulk.startedAt) - ctx.config.cursorLagSeconds * 1000;
  let locator = bulk.locator ?? undefined;
  let maxSeen = bulk.maxSeen;
  for (;;) {
    const page = await client.bulkResults(jobId, locator, ctx.config.bulkPageSize);
    const rows = parse(page.csv, { columns: true, skip_empty_lines: true, bom: true, relax_quotes: false }) as Array<Record<string, string>>;
    const records = rows.map((row) => typeCsvRecord(row, types, envelope));
    for (const r of records) {
      const stamp = r.SystemModstamp;
      if (typeof stamp !== 'string') continue;
      const ms = sfTime(stamp);
      if (Number.isFinite(ms) && (!maxSeen || ms > Date.parse(maxSeen))) maxSeen = sfIso(stamp);
    }
    if (!page.nextLocator) {
      // Bulk results are unordered: the cursor moves only once the whole job is stored, to the
      // newest stamp seen (kept behind the lag cutoff); boundary records are read again, idempotently.
      let cursor = start.cursor;
      if (maxSeen) {
        const ts = Math.min(Date.parse(maxSeen), cutoff);
        if (!cursor || ts > Date.parse(cursor.ts)) cursor = { ts: new Date(ts).toISOString(), id: '' };
      }
      yield { records, checkpoint: finish({ ...start, cursor }) };
      await client.deleteBulkJob(jobId);
      return;
    }
    locator = page.nextLocator;
    yield { records, checkpoint: { ...start, bulk: { ...bulk, locator, maxSeen } } };
    if (ctx.signal.aborted) return;
  }
}

import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import type { Page, StreamContext } from '../core/connector.ts';
import { SchemaError } from '../core/errors/index.ts';
import { HubSpotApi, unknownPropertyError, type HubSpotResponse } from './api.ts';
import type { CrmObject, HubSpotConfig } from './config.ts';
import { parseInstant } from './values.ts';

/**
 * Reading CRM objects (https://developers.hubspot.com/docs/api/crm/understanding-the-crm):
 *  - full: the list endpoint `GET /crm/v3/objects/{object}` with `after` paging, then the recycle
 *    bin (`archived=true`), whose records are marked deleted;
 *  - incremental: the search endpoint `POST /crm/v3/objects/{object}/search` on the modification
 *    date, ascending (https://developers.hubspot.com/docs/api/crm/search). Every page is a new
 *    query from the last timestamp seen (keyset paging) instead of `after` offsets: an offset
 *    never approaches the 10,000-result ceiling of one query, and a record modified during the
 *    read (it moves to the end of the order) cannot shift an unread record past a page boundary.
 *    When a whole page shares one timestamp, that timestamp is read in hs_object_id order
 *    (timestamp EQ T and hs_object_id GT lastId), so any number of records may share it.
 *    Then the recycle bin, as in a full sync (search does not return archived records).
 */

export const crmCheckpointSchema = z.object({
  /** list: full read of live records; search: incremental; archived: recycle bin; done: complete. */
  phase: z.enum(['list', 'search', 'archived', 'done']),
  /** Paging token of the list / archived phase. */
  after: z.string().optional(),
  /** Search lower bound, epoch ms: records modified at or after it (after it when `strict`) are unread. */
  since: z.number().int().optional(),
  strict: z.boolean().optional(),
  /** Ids already stored whose modification time equals `since` (skipped when read again). */
  seenAtSince: z.array(z.string()).optional(),
  /** Reading the records at exactly `since` in id order, after this id. */
  idCursor: z.string().optional(),
  /** Where the next incremental run starts once this pass completes (epoch ms). */
  nextSince: z.number().int().optional(),
  /**
   * The ids of the live records stored so far (encodeIds). A periodic full re-read compares it
   * with what the portal lists, because records purged from the recycle bin never appear as archived.
   */
  known: z.string().optional(),
  /**
   * Set while a full pass (list, then recycle bin) is under way: a periodic one, a `--full` run
   * or the first sync. While it lasts, `known` stays the ids stored before the pass.
   */
  fullPass: z.boolean().optional(),
  /**
   * The live ids the pass under way has listed so far (encodeIds chunks, see IdChunks), so that a
   * pass resumed after an interruption still knows what it saw before and can mark the absent
   * records at its end. A pass stored without it (an earlier version) cannot: it keeps every id.
   */
  passSeen: z.array(z.string()).optional(),
  /** When the last full pass started (epoch ms), for fullResyncEveryDays. */
  lastFullAt: z.number().int().optional(),
});
export type CrmCheckpoint = z.infer<typeof crmCheckpointSchema>;

/** One object of a list / search / batch-read response (loosely: the stream schema validates it). */
const objectEnvelope = z.looseObject({ id: z.string(), properties: z.record(z.string(), z.unknown()).optional() });
export type CrmObjectResult = z.infer<typeof objectEnvelope>;
const listEnvelope = z.looseObject({
  results: z.array(z.unknown()),
  paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
});

export function parseEnvelope(res: HubSpotResponse, what: string): { results: unknown[]; after: string | undefined } {
  const parsed = listEnvelope.safeParse(res.data);
  if (!parsed.success) throw new SchemaError(`hubspot: ${what}: response has no results[] (${parsed.error.issues[0]?.message ?? 'invalid'})`, 'results');
  return { results: parsed.data.results, after: parsed.data.paging?.next?.after };
}

/** The id of a result, for cursors and follow-up requests; results without one still go to the loader. */
export function idOf(result: unknown): string | undefined {
  const r = objectEnvelope.safeParse(result);
  return r.success ? r.data.id : undefined;
}

function cursorOf(result: unknown, property: string): number | undefined {
  const r = objectEnvelope.safeParse(result);
  const v = r.success ? r.data.properties?.[property] : undefined;
  if (typeof v !== 'string') return undefined;
  const iso = parseInstant(v);
  return iso === undefined ? undefined : Date.parse(iso);
}

const propertiesEnvelope = z.looseObject({ results: z.array(z.looseObject({ name: z.string() })) });

/** Checks the configured extra properties against /crm/v3/properties/{object}; a typo is a ConfigError. */
export async function validateExtraProperties(api: HubSpotApi, object: CrmObject, extra: readonly string[]): Promise<void> {
  if (extra.length === 0) return;
  // https://developers.hubspot.com/docs/api/crm/properties: GET /crm/v3/properties/{objectType} -> results[].name
  const res = await api.json({ path: `/crm/v3/properties/${object}` });
  const parsed = propertiesEnvelope.safeParse(res.data);
  if (!parsed.success) throw new SchemaError(`hubspot: /crm/v3/properties/${object}: response has no results[].name`);
  const known = parsed.data.results.map((p) => p.name);
  const set = new Set(known);
  for (const p of extra) if (!set.has(p)) throw unknownPropertyError(object, p, known);
}

export interface CrmReadSpec {
  object: CrmObject;
  /** hs_lastmodifieddate (contacts: lastmodifieddate). */
  cursorProperty: string;
  properties: readonly string[];
  propertiesWithHistory?: readonly string[];
  /** List page size (<= 100; 50 with propertiesWithHistory). */
  listLimit: number;
  /** Search page size (<= 200). */
  searchLimit: number;
  /** Read the recycle bin too. */
  includeArchived: boolean;
  /** Turns a page of list/search results into the stream's records (e.g. batch reads, associations). */
  expand(results: unknown[], phase: 'list' | 'search' | 'archived'): Promise<unknown[]>;
}

const DAY_MS = 86_400_000;

/**
 * A `sync --from/--to` window (not a backfill) is stored under the scheduled cursor's scope: every
 * page of it carries that cursor unchanged (`fresh` when there is none yet), so neither the window
 * nor an interruption of it moves the schedule.
 */
export async function* keepScheduledCursor<C>(ctx: StreamContext<HubSpotConfig>, checkpoint: C | undefined, fresh: C, read: (checkpoint: C | undefined) => AsyncIterable<Page<C>>): AsyncIterable<Page<C>> {
  if (!ctx.window || ctx.mode === 'backfill') {
    yield* read(checkpoint);
    return;
  }
  const kept = checkpoint ?? fresh;
  for await (const page of read(undefined)) yield { records: page.records, checkpoint: kept };
}

export function readCrm(ctx: StreamContext<HubSpotConfig>, api: HubSpotApi, spec: CrmReadSpec, checkpoint: CrmCheckpoint | undefined): AsyncIterable<Page<CrmCheckpoint>> {
  return keepScheduledCursor<CrmCheckpoint>(ctx, checkpoint, { phase: 'list' }, (c) => readCrmPages(ctx, api, spec, c));
}

async function* readCrmPages(ctx: StreamContext<HubSpotConfig>, api: HubSpotApi, spec: CrmReadSpec, checkpoint: CrmCheckpoint | undefined): AsyncIterable<Page<CrmCheckpoint>> {
  const windowFrom = ctx.window ? Date.parse(`${ctx.window.from}T00:00:00Z`) : undefined;
  const windowTo = ctx.window ? Date.parse(`${ctx.window.to}T00:00:00Z`) + DAY_MS : undefined;
  const nowMs = ctx.now().getTime();

  // Tracking of the stored live ids (see crmCheckpointSchema.known); windows do not track.
  const tracking = !ctx.window;
  /** The live ids stored before this run; during a full pass, before the pass. */
  const known = new Set(tracking ? decodeIds(checkpoint?.known) : []);
  const resumedPass = checkpoint?.fullPass === true && (checkpoint.phase === 'list' || checkpoint.phase === 'archived');
  /** Live ids listed by the full pass under way, with their encoding for the checkpoint (undefined: no pass). */
  let seenInPass: IdChunks | undefined = resumedPass ? IdChunks.decode(checkpoint.passSeen) : undefined;
  /** Compare `known` with the full pass at its end and mark the missing ids deleted. */
  let sweep = resumedPass && checkpoint.passSeen !== undefined;
  let knownEncoded: string | undefined = tracking ? checkpoint?.known : undefined;
  let lastFullAt = checkpoint?.lastFullAt;

  let state: CrmCheckpoint;
  if (ctx.window) {
    // A window reads exactly those days by search, whatever the cursor says (backfills keep their
    // checkpoint under their own scope, so a stored search state there is this window's).
    const resumable = checkpoint?.phase === 'search' && checkpoint.since !== undefined && checkpoint.since >= (windowFrom ?? 0);
    state = resumable ? checkpoint : { phase: 'search', since: windowFrom };
  } else if (ctx.mode === 'full' || checkpoint === undefined) {
    // A full run (or the first sync) is a complete list pass: it compares what it lists with the
    // ids stored so far, which a full run finds in the checkpoint it does not resume from.
    const previous = ctx.mode === 'full' ? storedIds(ctx, spec.object) : new Set<string>();
    known.clear();
    for (const id of previous) known.add(id);
    knownEncoded = undefined;
    state = { phase: 'list', nextSince: nowMs };
    seenInPass = new IdChunks();
    sweep = true;
    lastFullAt = nowMs;
  } else if (checkpoint.phase === 'done') {
    const every = ctx.config.fullResyncEveryDays * DAY_MS;
    // A cursor stored without lastFullAt (by a window or an earlier version) starts the count now.
    lastFullAt ??= nowMs;
    if (every > 0 && nowMs - lastFullAt >= every) {
      // Periodic full re-read: records purged from the recycle bin (kept 90 days) or permanently
      // deleted never show up as archived; only their absence from a full list tells.
      ctx.log.info({ lastFullAt, everyDays: ctx.config.fullResyncEveryDays }, `hubspot ${spec.object}: periodic full re-read (deletes by absence)`);
      state = { phase: 'list', nextSince: nowMs };
      seenInPass = new IdChunks();
      sweep = true;
      lastFullAt = nowMs;
    } else {
      state = { phase: 'search', since: Math.max(0, (checkpoint.since ?? 0) - ctx.config.lookbackMs) };
    }
  } else {
    // A list phase stored without its start time (see keepScheduledCursor) starts it now.
    state = checkpoint.phase === 'list' && checkpoint.nextSince === undefined ? { ...checkpoint, nextSince: nowMs } : checkpoint;
  }

  /** The checkpoint stored with a page: the phase state plus the tracking state. */
  const out = (s: CrmCheckpoint): CrmCheckpoint => {
    if (!tracking) return s;
    const { known: _k, fullPass: _f, passSeen: _p, lastFullAt: _l, ...phase } = s;
    knownEncoded ??= encodeIds(known);
    const inPass = seenInPass !== undefined && phase.phase !== 'done';
    return {
      ...phase,
      known: knownEncoded,
      ...(inPass ? { fullPass: true } : {}),
      ...(inPass && sweep ? { passSeen: seenInPass?.encoded() } : {}),
      ...(lastFullAt !== undefined ? { lastFullAt } : {}),
    };
  };
  const live = (records: readonly unknown[], add: boolean) => {
    if (!tracking) return;
    const ids = records.map(idOf).filter((id): id is string => id !== undefined);
    if (add && seenInPass) {
      // A pass keeps `known` as it was before the pass: what the pass lists is compared with it at the end.
      seenInPass.add(ids);
      return;
    }
    for (const id of ids) {
      if (add) {
        if (!known.has(id)) knownEncoded = undefined;
        known.add(id);
      } else if (known.delete(id)) knownEncoded = undefined;
    }
    if (!add) seenInPass?.remove(ids);
  };

  const base = `/crm/v3/objects/${spec.object}`;
  const listQs = (archived: boolean, after: string | undefined) => ({
    limit: spec.listLimit,
    properties: spec.properties.join(','),
    ...(spec.propertiesWithHistory?.length ? { propertiesWithHistory: spec.propertiesWithHistory.join(',') } : {}),
    archived,
    after,
  });

  if (state.phase === 'list') {
    for (;;) {
      const res = await api.json({ path: base, qs: listQs(false, state.after) });
      const { results, after } = parseEnvelope(res, base);
      live(results, true);
      state = after ? { ...state, after } : { phase: 'archived', nextSince: state.nextSince };
      yield { records: await spec.expand(results, 'list'), checkpoint: out(state) };
      if (!after || ctx.signal.aborted) break;
    }
    if (ctx.signal.aborted) return;
  }

  if (state.phase === 'search') {
    const seen = new Set(state.seenAtSince ?? []);
    let maxSeen = state.since ?? 0;
    for (;;) {
      if (ctx.signal.aborted) return;
      const since = state.since ?? 0;
      const upper = windowTo !== undefined ? [{ propertyName: spec.cursorProperty, operator: 'LT', value: String(windowTo) }] : [];
      if (state.idCursor !== undefined) {
        const body = {
          filterGroups: [{ filters: [{ propertyName: spec.cursorProperty, operator: 'EQ', value: String(since) }, { propertyName: 'hs_object_id', operator: 'GT', value: state.idCursor }, ...upper] }],
          sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }],
          properties: [...spec.properties],
          limit: spec.searchLimit,
        };
        const { results, after } = parseEnvelope(await api.json({ method: 'POST', path: `${base}/search`, body, search: true }), `${base}/search`);
        const lastId = results.map(idOf).filter((id): id is string => id !== undefined).at(-1);
        if (results.length === 0 || lastId === undefined) {
          state = { phase: 'search', since, strict: true, nextSince: state.nextSince };
          continue;
        }
        state = after ? { phase: 'search', since, idCursor: lastId, nextSince: state.nextSince } : { phase: 'search', since, strict: true, nextSince: state.nextSince };
        live(results, true);
        yield { records: await spec.expand(results, 'search'), checkpoint: out(state) };
        continue;
      }
      const body = {
        filterGroups: [{ filters: [{ propertyName: spec.cursorProperty, operator: state.strict ? 'GT' : 'GTE', value: String(since) }, ...upper] }],
        sorts: [{ propertyName: spec.cursorProperty, direction: 'ASCENDING' }],
        properties: [...spec.properties],
        limit: spec.searchLimit,
      };
      const { results, after } = parseEnvelope(await api.json({ method: 'POST', path: `${base}/search`, body, search: true }), `${base}/search`);
      if (results.length === 0) break;
      const stamps = results.map((r) => cursorOf(r, spec.cursorProperty) ?? since);
      const maxT = Math.max(...stamps);
      maxSeen = Math.max(maxSeen, maxT);
      if (results.length >= spec.searchLimit && stamps.every((t) => t === maxT) && (maxT === since || after !== undefined)) {
        // A full page on one timestamp: keyset on the timestamp alone cannot advance; read it by id.
        state = { phase: 'search', since: maxT, idCursor: '0', nextSince: state.nextSince };
        if (maxT !== since) {
          live(results, true);
          yield { records: await spec.expand(results, 'search'), checkpoint: out(state) };
        }
        seen.clear();
        continue;
      }
      const fresh = results.filter((r, i) => !(stamps[i] === since && !state.strict && seen.has(idOf(r) ?? '')));
      const atMax = results.filter((_, i) => stamps[i] === maxT).map(idOf).filter((id): id is string => id !== undefined);
      const nextSeen = maxT === since && !state.strict ? new Set([...seen, ...atMax]) : new Set(atMax);
      state = { phase: 'search', since: maxT, seenAtSince: [...nextSeen], nextSince: state.nextSince };
      seen.clear();
      for (const id of nextSeen) seen.add(id);
      live(fresh, true);
      if (fresh.length > 0 || !after) yield { records: await spec.expand(fresh, 'search'), checkpoint: out(state) };
      if (!after) break;
    }
    const cursor = Math.max(maxSeen, state.since ?? 0);
    if (ctx.window) {
      yield { records: [], checkpoint: { phase: 'done', since: cursor } };
      return;
    }
    state = { phase: 'archived', nextSince: cursor };
    yield { records: [], checkpoint: out(state) };
  }

  if (state.phase === 'archived') {
    for (;;) {
      if (ctx.signal.aborted) return;
      const res = await api.json({ path: base, qs: listQs(true, state.after) });
      const { results, after } = parseEnvelope(res, `${base}?archived=true`);
      // Archived records are marked deleted through the recycle bin: they are no longer live ids.
      live(results, false);
      if (after) {
        state = { ...state, after };
        yield { records: await spec.expand(results, 'archived'), checkpoint: out(state) };
        continue;
      }
      const records = await spec.expand(results, 'archived');
      if (seenInPass) {
        // End of a full pass: stored ids that are neither live nor in the recycle bin are gone.
        const seen = seenInPass.ids();
        const absent = sweep ? [...known].filter((id) => !seen.has(id)) : [];
        if (absent.length > 0) ctx.warn(`hubspot ${spec.object}: ${absent.length} record(s) stored earlier are neither live nor in the recycle bin (purged or permanently deleted); marked deleted`, { ids: absent.slice(0, 20) });
        for (const id of absent) records.push(tombstone(id, new Date(nowMs).toISOString()));
        // A pass that cannot tell what it saw before an interruption keeps every id it knew.
        if (sweep) known.clear();
        for (const id of seen) known.add(id);
        knownEncoded = undefined;
        seenInPass = undefined;
        sweep = false;
      }
      state = { phase: 'done', since: state.nextSince };
      yield { records, checkpoint: out(state) };
      break;
    }
  }
}

/** The ids a `--full` run compares its list with: those of the checkpoint it does not resume from. */
function storedIds(ctx: StreamContext<HubSpotConfig>, object: CrmObject): Set<string> {
  if (ctx.previousCheckpoint === undefined) return new Set();
  const parsed = crmCheckpointSchema.safeParse(ctx.previousCheckpoint);
  if (!parsed.success) {
    ctx.warn(`hubspot ${object}: the stored checkpoint is not readable by this version; this full run cannot mark records deleted by absence`);
    return new Set();
  }
  // An interrupted pass stored what it had listed apart from `known`: those records are stored too.
  return new Set([...decodeIds(parsed.data.known), ...IdChunks.decode(parsed.data.passSeen).ids()]);
}

/**
 * A growing set of ids kept for the checkpoint as a few encodeIds chunks: each page adds a chunk,
 * and chunks of similar size are merged (as in a binary counter), so a pass of n ids encodes each
 * id about log2(pages) times instead of re-encoding the whole set on every page.
 */
export class IdChunks {
  private chunks: Array<{ ids: readonly string[]; encoded: string }> = [];

  static decode(encoded: readonly string[] | undefined): IdChunks {
    const set = new IdChunks();
    set.chunks = (encoded ?? []).map((e) => ({ ids: decodeIds(e), encoded: e }));
    return set;
  }

  add(ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.chunks.push({ ids, encoded: encodeIds(ids) });
    for (;;) {
      const last = this.chunks.at(-1);
      const prev = this.chunks.at(-2);
      if (!last || !prev || last.ids.length < prev.ids.length) break;
      const merged = [...prev.ids, ...last.ids];
      this.chunks.splice(-2, 2, { ids: merged, encoded: encodeIds(merged) });
    }
  }

  /** Takes ids out (records archived while the pass ran); rare, so the set is simply rebuilt. */
  remove(ids: readonly string[]): void {
    const all = this.ids();
    if (!ids.some((id) => all.has(id))) return;
    for (const id of ids) all.delete(id);
    this.chunks = [];
    this.add([...all]);
  }

  ids(): Set<string> {
    const out = new Set<string>();
    for (const c of this.chunks) for (const id of c.ids) out.add(id);
    return out;
  }

  encoded(): string[] {
    return this.chunks.map((c) => c.encoded);
  }
}

/**
 * The record stored for an id that a full re-read no longer finds anywhere: it replaces the last
 * vendor version (for a permanently deleted contact that also removes the personal data HubSpot
 * was asked to forget) and is marked deleted.
 */
export function tombstone(id: string, foundAt: string): Record<string, unknown> {
  return { id, properties: {}, archived: true, _deletedByAbsence: true, _deletedAt: foundAt };
}

/**
 * A set of numeric ids, compact: sorted, delta-encoded in base 36, deflated, base64. About two to
 * three bytes an id for a portal's ids; the checkpoint carries it on every page.
 */
export function encodeIds(ids: Iterable<string>): string {
  const sorted = [...new Set(ids)].filter((id) => /^\d+$/.test(id)).map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let prev = 0n;
  const parts: string[] = [];
  for (const id of sorted) {
    parts.push((id - prev).toString(36));
    prev = id;
  }
  return deflateRawSync(Buffer.from(parts.join(','))).toString('base64');
}

export function decodeIds(encoded: string | undefined): string[] {
  if (!encoded) return [];
  const text = inflateRawSync(Buffer.from(encoded, 'base64')).toString();
  if (text === '') return [];
  let prev = 0n;
  return text.split(',').map((part) => {
    prev += BigInt(parseInt36(part));
    return prev.toString();
  });
}

function parseInt36(part: string): bigint {
  let n = 0n;
  for (const ch of part) n = n * 36n + BigInt(parseInt(ch, 36));
  return n;
}

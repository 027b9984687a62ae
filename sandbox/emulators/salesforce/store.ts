/**
 * In-memory Salesforce org: vendor-shaped records per sObject, SOQL evaluation, and the mutation
 * methods tests and data faults use (update, delete, insert, malform, mutate during paging).
 */
import type { DataFaultTarget } from '../faults.ts';
import { pickDistinct } from '../prng.ts';
import { makeSfId, normalizeId } from './ids.ts';
import { SF_OBJECTS, SF_OBJECT_NAMES, findField, findObject, sfDateTime } from './schema.ts';
import type { SfField, SfObjectDef, SfObjectName } from './schema.ts';
import type { SoqlCondition, SoqlLiteral, SoqlQuery } from './soql.ts';
import { referencedFields } from './soql.ts';

export type SfValue = string | number | boolean | null;
export type SfRecord = Record<string, SfValue>;

/** INVALID_TYPE: unknown sObject. */
export class SoqlObjectError extends Error {
  constructor(readonly object: string) {
    super(`sObject type '${object}' is not supported.`);
    this.name = 'SoqlObjectError';
  }
}

/** INVALID_FIELD: unknown field or a literal of the wrong type for a field. */
export class SoqlFieldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SoqlFieldError';
  }
}

export class RecordNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no record with id ${id}`);
    this.name = 'RecordNotFoundError';
  }
}

/** Context given to a page hook: the read that just served page `page`. */
export interface PageHookContext {
  object: string;
  page: number;
  /** Ids of the whole read, in order, and how many have been served so far. */
  ids: readonly string[];
  served: number;
}
export type PageHook = (ctx: PageHookContext) => void;

export interface SalesforceStoreOptions {
  /** Clock for modification stamps; default Date.now. Stamps are kept strictly increasing. */
  now?: () => number;
}

const DAY_MS = 86_400_000;
const ID_COUNTER_START = 1_000_000;

export class SalesforceStore implements DataFaultTarget {
  private readonly tables = new Map<SfObjectName, Map<string, SfRecord>>();
  private readonly clock: () => number;
  private lastStamp = 0;
  private idCounter = ID_COUNTER_START;
  private readonly pageHooks: { page: number; object?: string; fn: PageHook }[] = [];

  constructor(opts: SalesforceStoreOptions = {}) {
    this.clock = opts.now ?? Date.now;
    for (const name of SF_OBJECT_NAMES) this.tables.set(name, new Map());
  }

  /** A strictly increasing timestamp (ms) no earlier than the clock. */
  nextStamp(): number {
    this.lastStamp = Math.max(this.clock(), this.lastStamp + 1);
    return this.lastStamp;
  }

  now(): number {
    return this.clock();
  }

  private table(object: SfObjectName): Map<string, SfRecord> {
    return this.tables.get(object) as Map<string, SfRecord>;
  }

  /** The sObject an id belongs to, by key prefix. */
  objectOf(id: string): SfObjectDef | undefined {
    return SF_OBJECT_NAMES.map((n) => SF_OBJECTS[n]).find((o) => id.startsWith(o.keyPrefix));
  }

  /** Loads a record as is (projection from the world); keeps the stamp clock ahead of it. */
  load(object: SfObjectName, record: SfRecord): void {
    const id = String(record['Id']);
    const stamp = Date.parse(String(record['SystemModstamp'] ?? ''));
    if (Number.isFinite(stamp)) this.lastStamp = Math.max(this.lastStamp, stamp);
    this.table(object).set(id, { IsDeleted: false, ...record, Id: id });
  }

  /** Inserts a new record with fresh system fields; returns its id. */
  insert(object: SfObjectName, fields: SfRecord): string {
    const def = SF_OBJECTS[object];
    const id = typeof fields['Id'] === 'string' ? fields['Id'] : makeSfId(def.keyPrefix, this.idCounter++);
    const stamp = sfDateTime(new Date(this.nextStamp()));
    const rec: SfRecord = { ...fields, Id: id, IsDeleted: false, CreatedDate: stamp, SystemModstamp: stamp };
    if (def.hasLastModified) rec['LastModifiedDate'] = stamp;
    this.table(object).set(id, rec);
    return id;
  }

  get(id: string): SfRecord | undefined {
    const norm = normalizeId(id);
    const obj = this.objectOf(norm);
    return obj ? this.table(obj.name).get(norm) : undefined;
  }

  all(object: SfObjectName): SfRecord[] {
    return [...this.table(object).values()];
  }

  private mustGet(id: string): { rec: SfRecord; def: SfObjectDef } {
    const norm = normalizeId(id);
    const def = this.objectOf(norm);
    const rec = def ? this.table(def.name).get(norm) : undefined;
    if (!def || !rec) throw new RecordNotFoundError(id);
    return { rec, def };
  }

  private touch(rec: SfRecord, def: SfObjectDef): void {
    const stamp = sfDateTime(new Date(this.nextStamp()));
    rec['SystemModstamp'] = stamp;
    if (def.hasLastModified) rec['LastModifiedDate'] = stamp;
  }

  /** Sets fields and bumps LastModifiedDate/SystemModstamp. Opportunity stage or amount changes
   * add an OpportunityHistory row, as Salesforce does. */
  update(id: string, fields: SfRecord): void {
    const { rec, def } = this.mustGet(id);
    Object.assign(rec, fields);
    this.touch(rec, def);
    if (def.name === 'Opportunity' && ('StageName' in fields || 'Amount' in fields || 'CloseDate' in fields)) {
      this.insert('OpportunityHistory', {
        OpportunityId: rec['Id'] ?? null,
        StageName: rec['StageName'] ?? null,
        Amount: rec['Amount'] ?? null,
        CloseDate: rec['CloseDate'] ?? null,
        Probability: rec['Probability'] ?? null,
        CurrencyIsoCode: rec['CurrencyIsoCode'] ?? null,
      });
    }
  }

  /** Soft-deletes (IsDeleted = true, visible only to queryAll). Deleting an Opportunity also
   * deletes its history and contact roles. */
  delete(id: string): void {
    const { rec, def } = this.mustGet(id);
    rec['IsDeleted'] = true;
    this.touch(rec, def);
    if (def.name === 'Opportunity') {
      for (const child of ['OpportunityHistory', 'OpportunityContactRole'] as const) {
        for (const c of this.table(child).values()) {
          if (c['OpportunityId'] === rec['Id'] && c['IsDeleted'] !== true) {
            c['IsDeleted'] = true;
            this.touch(c, SF_OBJECTS[child]);
          }
        }
      }
    }
  }

  /**
   * Breaks a record the way bad upstream data does: a required field goes missing and a typed
   * field gets a value of the wrong type. Bumps SystemModstamp so incremental syncs see it.
   */
  malform(id: string): void {
    const { rec, def } = this.mustGet(id);
    const required = def.fields.find((fd) => !fd.nillable && !['Id', 'IsDeleted', 'CreatedDate', 'LastModifiedDate', 'SystemModstamp'].includes(fd.name));
    if (required) rec[required.name] = null;
    const typed = def.fields.find((fd) => ['currency', 'double', 'percent', 'int', 'date'].includes(fd.type) && fd.name !== required?.name);
    if (typed) rec[typed.name] = typed.type === 'date' ? '31/12/2024' : 'N/A';
    this.touch(rec, def);
  }

  /** Registers a hook that runs once, right after page `page` (1-based) of the next paged read
   * (optionally only of `object`) has been served. */
  afterPage(page: number, fn: PageHook, object?: string): void {
    this.pageHooks.push({ page, fn, ...(object ? { object } : {}) });
  }

  /** Called by the routes after serving a page. */
  pageServed(ctx: PageHookContext): void {
    for (let i = 0; i < this.pageHooks.length; i++) {
      const hook = this.pageHooks[i];
      if (!hook || hook.page !== ctx.page) continue;
      if (hook.object && hook.object.toLowerCase() !== ctx.object.toLowerCase()) continue;
      this.pageHooks.splice(i, 1);
      i--;
      hook.fn(ctx);
    }
  }

  // ---- data faults ---------------------------------------------------------------------------

  private live(objects: SfObjectName[]): string[] {
    const out: string[] = [];
    for (const o of objects) for (const r of this.table(o).values()) if (r['IsDeleted'] !== true) out.push(String(r['Id']));
    return out;
  }

  malformRandom(count: number, rand: () => number): string[] {
    const ids = pickDistinct(this.live(['Opportunity', 'Lead', 'Contact', 'CampaignMember']), count, rand);
    for (const id of ids) this.malform(id);
    return ids;
  }

  /** Modifies records the way users do: opportunity amounts/stages, lead titles/status. */
  modifyRecord(id: string, rand: () => number): void {
    const rec = this.get(id);
    const def = this.objectOf(normalizeId(id));
    if (!rec || !def) throw new RecordNotFoundError(id);
    if (def.name === 'Opportunity') {
      const amount = typeof rec['Amount'] === 'number' ? rec['Amount'] : 1000;
      this.update(id, { Amount: Math.round(amount * (0.8 + rand() * 0.4) * 100) / 100 });
    } else if (def.name === 'Lead') {
      this.update(id, { Title: `${String(rec['Title'] ?? 'Manager')} (updated)` });
    } else if (def.name === 'Contact') {
      this.update(id, { Title: `${String(rec['Title'] ?? 'Manager')} (updated)` });
    } else if (def.name === 'CampaignMember') {
      this.update(id, { Status: 'Responded', HasResponded: true });
    } else {
      this.update(id, {});
    }
  }

  modifyRandom(count: number, rand: () => number): string[] {
    const ids = pickDistinct(this.live(['Opportunity', 'Lead', 'Contact', 'CampaignMember']), count, rand);
    for (const id of ids) this.modifyRecord(id, rand);
    return ids;
  }

  deleteRandom(count: number, rand: () => number): string[] {
    const ids = pickDistinct(this.live(['Opportunity', 'Lead', 'CampaignMember']), count, rand);
    for (const id of ids) this.delete(id);
    return ids;
  }

  /** After page `page` of the next paged read, modifies a record of that read that was already
   * served (else any record of the read). */
  mutateDuringPaging(page: number, rand: () => number): void {
    this.afterPage(page, (ctx) => {
      // An already-served record is the hazardous pick: re-sorted reads (HubSpot search) shift
      // pending records into the served range, cursor reads miss the change until the next sync.
      const served = ctx.ids.slice(0, ctx.served);
      const pool = served.length > 0 ? served : ctx.ids;
      const id = pool[Math.floor(rand() * pool.length)];
      if (id !== undefined) this.modifyRecord(id, rand);
    });
  }

  // ---- SOQL ----------------------------------------------------------------------------------

  /**
   * Runs a parsed query. Returns the matching records (sorted, offset/limit applied) and the
   * resolved select fields. `includeDeleted` is queryAll.
   */
  select(q: SoqlQuery, includeDeleted: boolean): { object: SfObjectDef; fields: SfField[]; records: SfRecord[] } {
    const object = findObject(q.object);
    if (!object) throw new SoqlObjectError(q.object);
    for (const name of referencedFields(q)) {
      if (!findField(object, name)) {
        throw new SoqlFieldError(`No such column '${name}' on entity '${object.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`);
      }
    }
    const fields = q.fields.map((n) => findField(object, n) as SfField);
    const predicate = q.where ? this.compile(object, q.where) : () => true;
    let rows = [...this.table(object.name).values()].filter((r) => (includeDeleted || r['IsDeleted'] !== true) && predicate(r));
    const orders = q.orderBy.map((o) => ({ ...o, field: findField(object, o.field) as SfField }));
    rows.sort((a, b) => {
      for (const o of orders) {
        const av = a[o.field.name] ?? null;
        const bv = b[o.field.name] ?? null;
        if (av === null || bv === null) {
          if (av === bv) continue;
          return (av === null) === (o.nulls === 'FIRST') ? -1 : 1;
        }
        const c = compareValues(av, bv, o.field);
        if (c !== 0) return o.direction === 'ASC' ? c : -c;
      }
      return String(a['Id']) < String(b['Id']) ? -1 : String(a['Id']) > String(b['Id']) ? 1 : 0;
    });
    if (q.offset !== null) rows = rows.slice(q.offset);
    if (q.limit !== null) rows = rows.slice(0, q.limit);
    return { object, fields, records: rows };
  }

  private compile(object: SfObjectDef, cond: SoqlCondition): (r: SfRecord) => boolean {
    switch (cond.kind) {
      case 'and': {
        const l = this.compile(object, cond.left);
        const r = this.compile(object, cond.right);
        return (rec) => l(rec) && r(rec);
      }
      case 'or': {
        const l = this.compile(object, cond.left);
        const r = this.compile(object, cond.right);
        return (rec) => l(rec) || r(rec);
      }
      case 'not': {
        const inner = this.compile(object, cond.inner);
        return (rec) => !inner(rec);
      }
      case 'in': {
        const field = findField(object, cond.field) as SfField;
        const tests = cond.values.map((v) => this.comparator(field, '=', v));
        return (rec) => {
          const hit = tests.some((t) => t(rec[field.name] ?? null));
          return cond.negated ? !hit : hit;
        };
      }
      case 'compare': {
        const field = findField(object, cond.field) as SfField;
        const test = this.comparator(field, cond.op, cond.value);
        return (rec) => test(rec[field.name] ?? null);
      }
    }
  }

  private comparator(field: SfField, op: string, lit: SoqlLiteral): (v: SfValue) => boolean {
    const mismatch = (): never => {
      throw new SoqlFieldError(
        `value of filter criterion for field '${field.name}' must be of type ${field.type === 'datetime' ? 'dateTime' : field.type} and should not be enclosed in quotes`,
      );
    };
    if (lit.kind === 'null') {
      if (op === '=') return (v) => v === null;
      if (op === '!=') return (v) => v !== null;
      return () => false;
    }
    const ordered = (cmp: (v: SfValue) => number | null): ((v: SfValue) => boolean) => (v) => {
      if (v === null) return op === '!=';
      const c = cmp(v);
      if (c === null) return false;
      switch (op) {
        case '=':
          return c === 0;
        case '!=':
          return c !== 0;
        case '<':
          return c < 0;
        case '<=':
          return c <= 0;
        case '>':
          return c > 0;
        case '>=':
          return c >= 0;
        default:
          return false;
      }
    };
    switch (field.type) {
      case 'id':
      case 'reference': {
        if (lit.kind !== 'string') return mismatch();
        const target = normalizeId(lit.value);
        return ordered((v) => (typeof v === 'string' ? cmpStr(normalizeId(v), target) : null));
      }
      case 'string':
      case 'picklist':
      case 'email':
      case 'url':
      case 'textarea': {
        if (lit.kind !== 'string') return mismatch();
        if (op === 'LIKE') {
          const re = new RegExp(`^${lit.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.')}$`, 'is');
          return (v) => typeof v === 'string' && re.test(v);
        }
        const target = lit.value.toLowerCase();
        return ordered((v) => (typeof v === 'string' ? cmpStr(v.toLowerCase(), target) : null));
      }
      case 'boolean':
        if (lit.kind !== 'boolean' || (op !== '=' && op !== '!=')) return mismatch();
        return (v) => (op === '=' ? v === lit.value : v !== lit.value);
      case 'currency':
      case 'double':
      case 'percent':
      case 'int':
        if (lit.kind !== 'number') return mismatch();
        return ordered((v) => (typeof v === 'number' ? v - lit.value : null));
      case 'date':
      case 'datetime': {
        let lo: number;
        let hi: number;
        if (lit.kind === 'dateLiteral') {
          [lo, hi] = this.dateLiteralRange(lit);
        } else if (field.type === 'date' && lit.kind === 'date') {
          lo = Date.parse(`${lit.value}T00:00:00Z`);
          hi = lo + DAY_MS;
        } else if (field.type === 'datetime' && lit.kind === 'datetime') {
          lo = parseSfDateTime(lit.value);
          hi = lo + 1;
        } else {
          return mismatch();
        }
        const toMs = (v: SfValue): number | null => {
          if (typeof v !== 'string') return null;
          const ms = field.type === 'date' ? Date.parse(`${v}T00:00:00Z`) : parseSfDateTime(v);
          return Number.isFinite(ms) ? ms : null;
        };
        return (v) => {
          const ms = v === null ? null : toMs(v);
          if (ms === null) return op === '!=' && v === null;
          switch (op) {
            case '=':
              return ms >= lo && ms < hi;
            case '!=':
              return !(ms >= lo && ms < hi);
            case '<':
              return ms < lo;
            case '<=':
              return ms < hi;
            case '>':
              return ms >= hi;
            case '>=':
              return ms >= lo;
            default:
              return false;
          }
        };
      }
    }
  }

  /** [start, end) in ms of a relative date literal, in UTC (the emulated org's time zone). */
  private dateLiteralRange(lit: Extract<SoqlLiteral, { kind: 'dateLiteral' }>): [number, number] {
    const today = Math.floor(this.clock() / DAY_MS) * DAY_MS;
    switch (lit.name) {
      case 'TODAY':
        return [today, today + DAY_MS];
      case 'YESTERDAY':
        return [today - DAY_MS, today];
      case 'LAST_N_DAYS':
        return [today - lit.n * DAY_MS, today + DAY_MS];
      case 'N_DAYS_AGO':
        return [today - lit.n * DAY_MS, today - (lit.n - 1) * DAY_MS];
    }
  }
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parses `2024-01-31T10:00:00Z`, `.000+0000` and `+00:00` forms. */
export function parseSfDateTime(text: string): number {
  return Date.parse(text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
}

function compareValues(a: string | number | boolean, b: string | number | boolean, field: SfField): number {
  if (field.type === 'datetime' && typeof a === 'string' && typeof b === 'string') return parseSfDateTime(a) - parseSfDateTime(b);
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const sa = String(a);
  const sb = String(b);
  if (field.type === 'id' || field.type === 'reference') return cmpStr(sa, sb);
  return cmpStr(sa.toLowerCase(), sb.toLowerCase());
}

/**
 * In-memory HubSpot portal: CRM objects (contacts, companies, deals) with property history and
 * associations, marketing email events, forms and form submissions, plus the mutation methods
 * tests and data faults use.
 *
 * Every property value is a string (or null when unset), as the CRM v3 API returns them;
 * datetime properties are ISO 8601 strings (`2024-01-31T10:00:00.000Z`).
 */
import type { DataFaultTarget } from '../faults.ts';
import { pickDistinct } from '../prng.ts';

export type HsObjectType = 'contacts' | 'companies' | 'deals';
export const HS_OBJECT_TYPES: readonly HsObjectType[] = ['contacts', 'companies', 'deals'];

export interface HsHistoryEntry {
  value: string;
  /** ISO timestamp of the change. */
  timestamp: string;
  sourceType: string;
  sourceId?: string;
}

export interface HsObject {
  id: string;
  properties: Record<string, string | null>;
  /** Per property, newest last. */
  history: Record<string, HsHistoryEntry[]>;
  createdAt: string;
  updatedAt: string;
  archived: boolean;
  archivedAt?: string;
}

export type HsPropertyType = 'string' | 'number' | 'datetime' | 'date' | 'enumeration' | 'bool';

export interface HsPropertyDef {
  name: string;
  label: string;
  type: HsPropertyType;
  fieldType: string;
  groupName: string;
}

export interface HsEmailEvent {
  id: string;
  type: 'SENT' | 'DELIVERED' | 'OPEN' | 'CLICK';
  /** Epoch ms. */
  created: number;
  recipient: string;
  emailCampaignId: number;
  url?: string;
  subject?: string;
}

export interface HsForm {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

export interface HsFormSubmission {
  conversionId: string;
  /** Epoch ms. */
  submittedAt: number;
  values: { name: string; value: string }[];
  pageUrl: string;
}

export class HsObjectNotFoundError extends Error {
  constructor(
    readonly objectType: HsObjectType,
    readonly id: string,
  ) {
    super(`no ${objectType} object ${id}`);
    this.name = 'HsObjectNotFoundError';
  }
}

/** Context given to a page hook: the read that just served page `page`. */
export interface HsPageHookContext {
  route: string;
  objectType?: HsObjectType;
  page: number;
  ids: readonly string[];
  served: number;
}
export type HsPageHook = (ctx: HsPageHookContext) => void;

const MODIFIED_PROPS = ['hs_lastmodifieddate', 'lastmodifieddate'] as const;

function def(name: string, type: HsPropertyType, groupName: string, label?: string): HsPropertyDef {
  const fieldType = type === 'datetime' || type === 'date' ? 'date' : type === 'number' ? 'number' : type === 'enumeration' ? 'select' : type === 'bool' ? 'booleancheckbox' : 'text';
  return { name, label: label ?? name.replace(/^hs_/, '').replace(/_/g, ' '), type, fieldType, groupName };
}

/** Property definitions served by /crm/v3/properties/{type} (a subset of HubSpot's defaults). */
export const HS_PROPERTIES: Record<HsObjectType, HsPropertyDef[]> = {
  contacts: [
    def('email', 'string', 'contactinformation', 'Email'),
    def('firstname', 'string', 'contactinformation', 'First Name'),
    def('lastname', 'string', 'contactinformation', 'Last Name'),
    def('jobtitle', 'string', 'contactinformation', 'Job Title'),
    def('company', 'string', 'contactinformation', 'Company Name'),
    def('associatedcompanyid', 'number', 'contactinformation', 'Primary Associated Company ID'),
    def('lifecyclestage', 'enumeration', 'contactinformation', 'Lifecycle Stage'),
    def('hs_lifecyclestage_lead_date', 'datetime', 'contactinformation', 'Became a Lead Date'),
    def('hs_lifecyclestage_marketingqualifiedlead_date', 'datetime', 'contactinformation', 'Became a Marketing Qualified Lead Date'),
    def('hs_lifecyclestage_salesqualifiedlead_date', 'datetime', 'contactinformation', 'Became a Sales Qualified Lead Date'),
    def('hs_lifecyclestage_opportunity_date', 'datetime', 'contactinformation', 'Became an Opportunity Date'),
    def('hs_lifecyclestage_customer_date', 'datetime', 'contactinformation', 'Became a Customer Date'),
    def('hs_analytics_source', 'enumeration', 'analyticsinformation', 'Original Traffic Source'),
    def('hs_analytics_source_data_1', 'string', 'analyticsinformation', 'Original Traffic Source Drill-Down 1'),
    def('hs_analytics_source_data_2', 'string', 'analyticsinformation', 'Original Traffic Source Drill-Down 2'),
    def('hs_analytics_first_timestamp', 'datetime', 'analyticsinformation', 'Time First Seen'),
    def('hs_latest_source', 'enumeration', 'analyticsinformation', 'Latest Traffic Source'),
    def('hs_latest_source_data_1', 'string', 'analyticsinformation', 'Latest Traffic Source Drill-Down 1'),
    def('hs_latest_source_data_2', 'string', 'analyticsinformation', 'Latest Traffic Source Drill-Down 2'),
    def('hs_latest_source_timestamp', 'datetime', 'analyticsinformation', 'Latest Traffic Source Date'),
    def('utm_source', 'string', 'analyticsinformation', 'UTM Source'),
    def('utm_medium', 'string', 'analyticsinformation', 'UTM Medium'),
    def('utm_campaign', 'string', 'analyticsinformation', 'UTM Campaign'),
    def('createdate', 'datetime', 'contactinformation', 'Create Date'),
    def('lastmodifieddate', 'datetime', 'contactinformation', 'Last Modified Date'),
    def('hs_lastmodifieddate', 'datetime', 'contactinformation', 'Object last modified date/time'),
    def('hs_object_id', 'number', 'contactinformation', 'Record ID'),
  ],
  companies: [
    def('name', 'string', 'companyinformation', 'Company name'),
    def('domain', 'string', 'companyinformation', 'Company Domain Name'),
    def('industry', 'enumeration', 'companyinformation', 'Industry'),
    def('country', 'string', 'companyinformation', 'Country/Region'),
    def('numberofemployees', 'number', 'companyinformation', 'Number of Employees'),
    def('lifecyclestage', 'enumeration', 'companyinformation', 'Lifecycle Stage'),
    def('segment', 'enumeration', 'companyinformation', 'Segment'),
    def('createdate', 'datetime', 'companyinformation', 'Create Date'),
    def('hs_lastmodifieddate', 'datetime', 'companyinformation', 'Last Modified Date'),
    def('lastmodifieddate', 'datetime', 'companyinformation', 'Last Modified Date'),
    def('hs_object_id', 'number', 'companyinformation', 'Record ID'),
  ],
  deals: [
    def('dealname', 'string', 'dealinformation', 'Deal Name'),
    def('dealstage', 'enumeration', 'dealinformation', 'Deal Stage'),
    def('pipeline', 'enumeration', 'dealinformation', 'Pipeline'),
    def('amount', 'number', 'dealinformation', 'Amount'),
    def('deal_currency_code', 'enumeration', 'dealinformation', 'Currency'),
    def('closedate', 'datetime', 'dealinformation', 'Close Date'),
    def('hs_is_closed', 'bool', 'dealinformation', 'Is Deal Closed?'),
    def('hs_is_closed_won', 'bool', 'dealinformation', 'Is Closed Won'),
    def('hs_analytics_source', 'enumeration', 'analyticsinformation', 'Original Traffic Source'),
    def('hs_campaign', 'string', 'dealinformation', 'HubSpot Campaign'),
    def('createdate', 'datetime', 'dealinformation', 'Create Date'),
    def('hs_lastmodifieddate', 'datetime', 'dealinformation', 'Last Modified Date'),
    def('lastmodifieddate', 'datetime', 'dealinformation', 'Last Modified Date'),
    def('hs_object_id', 'number', 'dealinformation', 'Record ID'),
  ],
};

export function propertyDef(type: HsObjectType, name: string): HsPropertyDef | undefined {
  return HS_PROPERTIES[type].find((p) => p.name === name);
}

export interface HubSpotStoreOptions {
  /** Clock for modification stamps; default Date.now. Stamps are kept strictly increasing. */
  now?: () => number;
}

function assocKey(from: HsObjectType, id: string, to: HsObjectType): string {
  return `${from}:${id}:${to}`;
}

export class HubSpotStore implements DataFaultTarget {
  private readonly objects = new Map<HsObjectType, Map<string, HsObject>>();
  private readonly assoc = new Map<string, Set<string>>();
  readonly emailEvents: HsEmailEvent[] = [];
  readonly forms: HsForm[] = [];
  readonly submissions = new Map<string, HsFormSubmission[]>();
  private readonly clock: () => number;
  private lastStamp = 0;
  private nextId = 90_000_000_001;
  private readonly pageHooks: { page: number; route?: string; fn: HsPageHook }[] = [];

  constructor(opts: HubSpotStoreOptions = {}) {
    this.clock = opts.now ?? Date.now;
    for (const t of HS_OBJECT_TYPES) this.objects.set(t, new Map());
  }

  now(): number {
    return this.clock();
  }

  nextStamp(): string {
    this.lastStamp = Math.max(this.clock(), this.lastStamp + 1);
    return new Date(this.lastStamp).toISOString();
  }

  table(type: HsObjectType): Map<string, HsObject> {
    return this.objects.get(type) as Map<string, HsObject>;
  }

  /** Loads an object as is (projection); keeps the stamp clock ahead of it. */
  load(type: HsObjectType, obj: HsObject): void {
    const t = Date.parse(obj.updatedAt);
    if (Number.isFinite(t)) this.lastStamp = Math.max(this.lastStamp, t);
    this.table(type).set(obj.id, obj);
  }

  get(type: HsObjectType, id: string): HsObject | undefined {
    return this.table(type).get(id);
  }

  /** Objects sorted by numeric id. */
  list(type: HsObjectType, archived: boolean): HsObject[] {
    return [...this.table(type).values()].filter((o) => o.archived === archived).sort((a, b) => cmpId(a.id, b.id));
  }

  associate(fromType: HsObjectType, fromId: string, toType: HsObjectType, toId: string): void {
    const add = (k: string, v: string) => {
      let set = this.assoc.get(k);
      if (!set) {
        set = new Set();
        this.assoc.set(k, set);
      }
      set.add(v);
    };
    add(assocKey(fromType, fromId, toType), toId);
    add(assocKey(toType, toId, fromType), fromId);
  }

  /** Removes an association both ways (a rep takes a contact off a deal). */
  dissociate(fromType: HsObjectType, fromId: string, toType: HsObjectType, toId: string): void {
    this.assoc.get(assocKey(fromType, fromId, toType))?.delete(toId);
    this.assoc.get(assocKey(toType, toId, fromType))?.delete(fromId);
  }

  associations(fromType: HsObjectType, fromId: string, toType: HsObjectType): string[] {
    const ids = [...(this.assoc.get(assocKey(fromType, fromId, toType)) ?? [])];
    return ids.filter((id) => this.get(toType, id)?.archived === false).sort(cmpId);
  }

  private stampProps(obj: HsObject, stamp: string, sourceType: string): void {
    for (const p of MODIFIED_PROPS) this.setProp(obj, p, stamp, stamp, sourceType);
    obj.updatedAt = stamp;
  }

  private setProp(obj: HsObject, name: string, value: string | null, stamp: string, sourceType: string): void {
    obj.properties[name] = value;
    if (value !== null) {
      const list = obj.history[name] ?? [];
      list.push({ value, timestamp: stamp, sourceType });
      obj.history[name] = list;
    }
  }

  /** Creates an object with fresh createdate/modification stamps; returns its id. */
  insert(type: HsObjectType, properties: Record<string, string | null>): string {
    const id = String(this.nextId++);
    const stamp = this.nextStamp();
    const obj: HsObject = { id, properties: {}, history: {}, createdAt: stamp, updatedAt: stamp, archived: false };
    for (const [k, v] of Object.entries(properties)) this.setProp(obj, k, v, stamp, 'API');
    this.setProp(obj, 'createdate', stamp, stamp, 'API');
    this.setProp(obj, 'hs_object_id', id, stamp, 'API');
    this.stampProps(obj, stamp, 'API');
    this.table(type).set(id, obj);
    return id;
  }

  /** Sets properties (recording history) and bumps hs_lastmodifieddate / lastmodifieddate. */
  update(type: HsObjectType, id: string, properties: Record<string, string | null>): void {
    const obj = this.get(type, id);
    if (!obj) throw new HsObjectNotFoundError(type, id);
    const stamp = this.nextStamp();
    for (const [k, v] of Object.entries(properties)) this.setProp(obj, k, v, stamp, 'CRM_UI');
    this.stampProps(obj, stamp, 'CRM_UI');
  }

  /** Archives (moves to the recycle bin, visible with archived=true). */
  delete(type: HsObjectType, id: string): void {
    const obj = this.get(type, id);
    if (!obj) throw new HsObjectNotFoundError(type, id);
    const stamp = this.nextStamp();
    obj.archived = true;
    obj.archivedAt = stamp;
    obj.updatedAt = stamp;
  }

  /**
   * Deletes permanently, as HubSpot does when the recycle bin is emptied after 90 days or on a
   * GDPR delete: the object leaves both the live and the archived lists, with its associations.
   */
  purge(type: HsObjectType, id: string): void {
    if (!this.table(type).delete(id)) throw new HsObjectNotFoundError(type, id);
    for (const other of HS_OBJECT_TYPES) {
      for (const toId of this.assoc.get(assocKey(type, id, other)) ?? []) this.assoc.get(assocKey(other, toId, type))?.delete(id);
      this.assoc.delete(assocKey(type, id, other));
    }
  }

  /**
   * Breaks an object like bad portal data does: a key property goes missing and a numeric
   * property holds text. Bumps the modification stamps.
   */
  malform(type: HsObjectType, id: string): void {
    const obj = this.get(type, id);
    if (!obj) throw new HsObjectNotFoundError(type, id);
    const stamp = this.nextStamp();
    if (type === 'deals') {
      delete obj.properties['dealstage'];
      obj.properties['amount'] = 'TBD';
    } else if (type === 'contacts') {
      delete obj.properties['email'];
      obj.properties['associatedcompanyid'] = 'n/a';
    } else {
      delete obj.properties['name'];
      obj.properties['numberofemployees'] = 'about fifty';
    }
    this.stampProps(obj, stamp, 'INTEGRATION');
  }

  /** Registers a hook that runs once, right after page `page` (1-based) of the next paged read
   * (optionally only on route `route`, e.g. 'search') has been served. */
  afterPage(page: number, fn: HsPageHook, route?: string): void {
    this.pageHooks.push({ page, fn, ...(route ? { route } : {}) });
  }

  pageServed(ctx: HsPageHookContext): void {
    for (let i = 0; i < this.pageHooks.length; i++) {
      const hook = this.pageHooks[i];
      if (!hook || hook.page !== ctx.page || (hook.route && hook.route !== ctx.route)) continue;
      this.pageHooks.splice(i, 1);
      i--;
      hook.fn(ctx);
    }
  }

  // ---- data faults ---------------------------------------------------------------------------

  private liveRefs(): { type: HsObjectType; id: string }[] {
    const out: { type: HsObjectType; id: string }[] = [];
    for (const type of HS_OBJECT_TYPES) for (const o of this.list(type, false)) out.push({ type, id: o.id });
    return out;
  }

  modifyObject(type: HsObjectType, id: string, rand: () => number): void {
    const obj = this.get(type, id);
    if (!obj) throw new HsObjectNotFoundError(type, id);
    if (type === 'deals') {
      const amount = Number(obj.properties['amount'] ?? '1000');
      this.update(type, id, { amount: String(Math.round((Number.isFinite(amount) ? amount : 1000) * (0.8 + rand() * 0.4) * 100) / 100) });
    } else if (type === 'contacts') {
      this.update(type, id, { jobtitle: `${obj.properties['jobtitle'] ?? 'Manager'} (updated)` });
    } else {
      this.update(type, id, { numberofemployees: String(Math.round(Number(obj.properties['numberofemployees'] ?? '50') * 1.1) || 55) });
    }
  }

  malformRandom(count: number, rand: () => number): string[] {
    const picks = pickDistinct(this.liveRefs(), count, rand);
    for (const p of picks) this.malform(p.type, p.id);
    return picks.map((p) => p.id);
  }

  modifyRandom(count: number, rand: () => number): string[] {
    const picks = pickDistinct(this.liveRefs(), count, rand);
    for (const p of picks) this.modifyObject(p.type, p.id, rand);
    return picks.map((p) => p.id);
  }

  deleteRandom(count: number, rand: () => number): string[] {
    const picks = pickDistinct(this.liveRefs().filter((r) => r.type !== 'companies'), count, rand);
    for (const p of picks) this.delete(p.type, p.id);
    return picks.map((p) => p.id);
  }

  /** After page `page` of the next paged object read, modifies an object of that read that was
   * already served (else any object of the read). */
  mutateDuringPaging(page: number, rand: () => number): void {
    this.afterPage(page, (ctx) => {
      if (!ctx.objectType) return;
      // An already-served record is the hazardous pick: re-sorted reads (HubSpot search) shift
      // pending records into the served range, cursor reads miss the change until the next sync.
      const served = ctx.ids.slice(0, ctx.served);
      const pool = served.length > 0 ? served : ctx.ids;
      const id = pool[Math.floor(rand() * pool.length)];
      if (id !== undefined) this.modifyObject(ctx.objectType, id, rand);
    });
  }
}

/** Numeric id order (ids are decimal strings of different lengths). */
export function cmpId(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

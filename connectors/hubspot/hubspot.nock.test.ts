import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { ensureHubSpotRawTables, hsConnection, silentLog, syncHubSpot } from './test-support.ts';
import { decodeIds, encodeIds, IdChunks } from './crm.ts';
import { HubSpotApi, type PacingClock } from './api.ts';
import { hubspotConfigSchema } from './config.ts';
import { UsageLimitError } from '../core/errors/index.ts';
import { parseInstant } from './values.ts';

/**
 * A fake HubSpot CRM API with nock, answering from an in-memory portal in the documented shapes:
 * list `GET /crm/v3/objects/{type}` ({ results[{ id, properties, createdAt, updatedAt, archived }],
 * paging.next.after }, developers.hubspot.com/docs/api/crm/contacts "Retrieve contacts"), search
 * `POST .../search` (filterGroups, sorts, limit <= 200, after; 400 past 10,000 results;
 * developers.hubspot.com/docs/api/crm/search), batch read, v4 association batch read and the OAuth
 * v1 token endpoint. Ties in the search sort come back in a hostile (descending id) order: HubSpot
 * documents no tie order.
 */

const BASE = 'https://api.hubapi.com';
const NOW = new Date('2026-11-01T00:00:00.000Z');
const now = () => NOW;

type Obj = { id: string; properties: Record<string, string | null>; createdAt: string; updatedAt: string; archived: boolean; [k: string]: unknown };
interface Filter {
  propertyName: string;
  operator: string;
  value?: string;
  values?: string[];
}
interface SearchBody {
  filterGroups?: Array<{ filters: Filter[] }>;
  sorts?: Array<{ propertyName: string; direction?: string }>;
  properties?: string[];
  limit?: number;
  after?: string;
}

const CURSOR: Record<string, string> = { contacts: 'lastmodifieddate', companies: 'hs_lastmodifieddate', deals: 'hs_lastmodifieddate' };

/** The documented contact example (id 512, Bryan Cooper) with another id and modification time. */
function contact(id: number | string, modified: string, props: Record<string, string | null> = {}): Obj {
  return {
    id: String(id),
    properties: { createdate: '2019-10-30T03:30:17.883Z', email: `bcooper${id}@biglytics.net`, firstname: 'Bryan', hs_object_id: String(id), lastmodifieddate: modified, lastname: 'Cooper', ...props },
    createdAt: '2019-10-30T03:30:17.883Z',
    updatedAt: modified,
    archived: false,
  };
}

const msCache = new Map<string, number>();
function ms(value: string | null | undefined): number {
  if (!value) return Number.NaN;
  let t = msCache.get(value);
  if (t === undefined) {
    const iso = parseInstant(value);
    msCache.set(value, (t = iso === undefined ? Number.NaN : Date.parse(iso)));
  }
  return t;
}

class FakeHubSpot {
  live: Record<string, Obj[]> = { contacts: [], companies: [], deals: [] };
  archived: Record<string, Obj[]> = { contacts: [], companies: [], deals: [] };
  associations = new Map<string, Array<{ toObjectId: number; associationTypes: Array<{ category: string; typeId: number; label: string | null }> }>>();
  listPageSize = 100;
  ceiling = 10_000;
  /** Responses served before the portal answers (errors to inject), in order. */
  injected: Array<{ status: number; body: unknown; headers?: Record<string, string> }> = [];
  requests: Array<{ method: string; path: string; auth: string | undefined; body: unknown }> = [];
  searches: SearchBody[] = [];
  tokens = new Set(['pat-na1-test']);
  refreshTokens = new Set(['refresh-1']);
  issued = 0;
  /** Called after each search page is served (to change the portal between pages). */
  afterSearch: ((n: number) => void) | undefined;

  install(): void {
    const self = this;
    const intercept = (method: 'get' | 'post', path: RegExp, handler: (uri: string, body: unknown) => [number, unknown, Record<string, string>?]) => {
      nock(BASE)
        .persist()
        .intercept(path, method.toUpperCase())
        .reply(function (uri, body) {
          const auth = this.req.headers.authorization as string | undefined;
          self.requests.push({ method, path: uri, auth, body });
          if (!uri.startsWith('/oauth')) {
            const inject = self.injected.shift();
            if (inject) return [inject.status, inject.body, inject.headers ?? {}];
            if (!self.tokens.has((auth ?? '').replace(/^Bearer /, ''))) return [401, { status: 'error', message: 'The OAuth token used to make this call expired 2 minute(s) ago.', category: 'EXPIRED_AUTHENTICATION' }];
          }
          const [status, data, headers] = handler(uri, body);
          return [status, data, { 'x-hubspot-ratelimit-max': '190', 'x-hubspot-ratelimit-remaining': '189', 'x-hubspot-ratelimit-interval-milliseconds': '10000', ...headers }];
        });
    };
    intercept('post', /^\/oauth\/v1\/token$/, (_uri, body) => {
      const form = new URLSearchParams(String(body));
      if (form.get('grant_type') !== 'refresh_token' || !this.refreshTokens.has(form.get('refresh_token') ?? '')) return [400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or unknown refresh token' }];
      const token = `CJSP5qf1-fresh-${++this.issued}`;
      this.tokens.add(token);
      return [200, { token_type: 'bearer', refresh_token: form.get('refresh_token'), access_token: token, expires_in: 1800 }];
    });
    intercept('post', /^\/crm\/v3\/objects\/\w+\/search$/, (uri, body) => this.search(uri.split('/')[4] as string, body as SearchBody));
    intercept('post', /^\/crm\/v3\/objects\/\w+\/batch\/read/, (uri, body) => {
      const type = uri.split('/')[4] as string;
      const ids = (body as { inputs: Array<{ id: string }> }).inputs.map((i) => i.id);
      return [200, { status: 'COMPLETE', results: this.live[type]?.filter((o) => ids.includes(o.id)) ?? [], startedAt: NOW.toISOString(), completedAt: NOW.toISOString() }];
    });
    intercept('post', /^\/crm\/v4\/associations\/\w+\/\w+\/batch\/read$/, (uri, body) => {
      const [, , , , from, to] = uri.split('/');
      const ids = (body as { inputs: Array<{ id: string }> }).inputs.map((i) => i.id);
      const results = ids.filter((id) => this.associations.has(`${from}:${id}:${to}`)).map((id) => ({ from: { id }, to: this.associations.get(`${from}:${id}:${to}`) }));
      return [200, { status: 'COMPLETE', results, startedAt: NOW.toISOString(), completedAt: NOW.toISOString() }];
    });
    intercept('get', /^\/crm\/v3\/objects\/\w+(\?.*)?$/, (uri) => {
      const url = new URL(uri, BASE);
      const type = url.pathname.split('/')[4] as string;
      const all = (url.searchParams.get('archived') === 'true' ? this.archived : this.live)[type] ?? [];
      const from = Number(url.searchParams.get('after') ?? 0);
      const page = all.slice(from, from + this.listPageSize);
      const next = from + this.listPageSize < all.length ? { paging: { next: { after: String(from + this.listPageSize), link: `${BASE}${url.pathname}?after=${from + this.listPageSize}` } } } : {};
      return [200, { results: page, ...next }];
    });
    intercept('get', /^\/crm\/v3\/properties\/\w+$/, () => [200, { results: [] }]);
  }

  private search(type: string, body: SearchBody): [number, unknown] {
    this.searches.push(body);
    const offset = Number(body.after ?? 0);
    const limit = body.limit ?? 10;
    if (offset + limit > this.ceiling) return [400, { status: 'error', message: 'There was a problem with the request.', category: 'VALIDATION_ERROR' }];
    const value = (o: Obj, prop: string) => (prop === 'hs_object_id' ? Number(o.id) : ms(o.properties[prop]));
    const test = (o: Obj, f: Filter): boolean => {
      if (f.operator === 'IN') return (f.values ?? []).includes(String(o.properties[f.propertyName] ?? '').toLowerCase());
      const v = value(o, f.propertyName);
      const w = Number(f.value);
      switch (f.operator) {
        case 'EQ':
          return v === w;
        case 'GT':
          return v > w;
        case 'GTE':
          return v >= w;
        case 'LT':
          return v < w;
        default:
          throw new Error(`fake search: operator ${f.operator}`);
      }
    };
    const sort = body.sorts?.[0]?.propertyName ?? 'hs_object_id';
    const sign = body.sorts?.[0]?.direction === 'DESCENDING' ? -1 : 1;
    const rows = (this.live[type] ?? [])
      .filter((o) => (body.filterGroups ?? []).length === 0 || (body.filterGroups ?? []).some((g) => g.filters.every((f) => test(o, f))))
      // Ties in a hostile order: descending id.
      .sort((a, b) => sign * (value(a, sort) - value(b, sort)) || Number(b.id) - Number(a.id));
    const page = rows.slice(offset, offset + limit).map((o) => ({ ...o, properties: Object.fromEntries((body.properties ?? []).filter((p) => p in o.properties).map((p) => [p, o.properties[p]])) }));
    const n = this.searches.length;
    queueMicrotask(() => this.afterSearch?.(n));
    return [200, { total: rows.length, results: page, ...(offset + limit < rows.length ? { paging: { next: { after: String(offset + limit) } } } : {}) }];
  }
}

let warehouse: Warehouse & { drop(): Promise<void> };
let fake: FakeHubSpot;
let seq = 0;

function settings(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { accessToken: 'pat-na1-test', lookbackMs: 0, searchRequestsPerSecond: 1000, maxRetries: 2, ...extra };
}

/** A fresh connection id per test: raw rows, checkpoints and quarantine are per connection. */
function conn(extra: Record<string, unknown> = {}) {
  return hsConnection(settings(extra), `hs_${++seq}`);
}

async function seedCheckpoint(connection: string, stream: string, cursor: unknown): Promise<void> {
  await warehouse.knex('meta.sync_state').insert({ connection, stream, scope: 'incremental', cursor: JSON.stringify(cursor) });
}

async function rawOf(connection: string, stream: string): Promise<Array<{ record_id: string; payload: Obj; _deleted: boolean }>> {
  return warehouse.knex(`raw.hubspot__${stream}`).where({ connection_id: connection }).orderBy('record_id').select('record_id', 'payload', '_deleted');
}

beforeAll(async () => {
  warehouse = await createTestWarehouse('postgres');
  await ensureHubSpotRawTables(warehouse);
  nock.disableNetConnect();
});

afterEach(() => {
  nock.cleanAll();
});

afterAll(async () => {
  nock.enableNetConnect();
  await warehouse?.drop();
});

function newFake(): FakeHubSpot {
  nock.cleanAll();
  fake = new FakeHubSpot();
  fake.install();
  return fake;
}

describe('hubspot connector (nock)', () => {
  it('pages a full sync through the list endpoint with after, then the recycle bin, marking archived records deleted', async () => {
    const f = newFake();
    f.listPageSize = 2;
    for (let i = 0; i < 5; i++) f.live.contacts?.push(contact(512 + i, `2019-12-07T16:50:0${i}.678Z`, { hs_analytics_source: 'ORGANIC_SEARCH', hs_analytics_source_data_1: 'google' }));
    f.archived.contacts?.push({ ...contact(600, '2019-12-08T10:00:00.000Z'), archived: true, archivedAt: '2019-12-08T10:00:00.000Z' });
    const c = conn();
    const r = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(r.status, r.error).toBe('success');
    expect(r.pages).toBe(4); // three list pages, one recycle-bin page
    expect(r.counts).toMatchObject({ read: 6, inserted: 6, deleted: 1, quarantined: 0 });
    const lists = f.requests.filter((q) => q.method === 'get' && q.path.startsWith('/crm/v3/objects/contacts'));
    expect(lists.map((q) => new URL(q.path, BASE).searchParams.get('after'))).toEqual([null, '2', '4', null]);
    expect(new URL(lists[0]?.path ?? '', BASE).searchParams.get('properties')?.split(',')).toEqual(expect.arrayContaining(['lastmodifieddate', 'hs_analytics_source', 'utm_campaign']));
    const raw = await rawOf(c.id, 'contacts');
    expect(raw.filter((x) => x._deleted).map((x) => x.record_id)).toEqual(['600']);
    const people = await warehouse.knex('core.dim_person').where({ connection_id: c.id }).orderBy('person_id').select('person_id', 'is_deleted', 'original_source', 'email');
    expect(people).toHaveLength(6);
    expect(people.find((p) => p.person_id === '600')?.is_deleted).toBe(true);
    expect(people[0]).toMatchObject({ person_id: '512', original_source: 'ORGANIC_SEARCH', email: 'bcooper512@biglytics.net', is_deleted: false });
    const touch = await warehouse.knex('core.fct_touchpoint').where({ connection_id: c.id, person_id: '512' }).first('touch_type', 'occurred_at', 'status');
    expect(touch).toMatchObject({ touch_type: 'original_source', status: 'ORGANIC_SEARCH' });
    expect(await warehouse.knex('meta.sync_state').where({ connection: c.id, stream: 'contacts' }).first('cursor')).toMatchObject({ cursor: { phase: 'done', since: NOW.getTime(), lastFullAt: NOW.getTime() } });
  });

  it('keeps unknown fields and properties in raw (schema drift) and quarantines unparseable values with their path', async () => {
    const f = newFake();
    f.live.contacts?.push(
      { ...contact(512, '2019-12-07T16:50:06.678Z', { hs_brand_new_property: 'x' }), propertiesWithHistoryVersion: 3 },
      contact(513, '2019-12-07T16:50:07.678Z', { associatedcompanyid: 'n/a' }),
      contact(514, '2019-12-07T16:50:08.678Z', { hs_lifecyclestage_lead_date: 'last tuesday' }),
      contact(515, '2019-12-07T16:50:09.678Z', { hs_lifecyclestage_lead_date: '1575737409678' }),
    );
    const c = conn();
    const r = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(r.status, r.error).toBe('success');
    expect(r.counts).toMatchObject({ read: 4, quarantined: 2 });
    const raw = await rawOf(c.id, 'contacts');
    expect(raw).toHaveLength(4);
    expect(raw[0]?.payload.propertiesWithHistoryVersion).toBe(3);
    expect(raw[0]?.payload.properties.hs_brand_new_property).toBe('x');
    expect(raw[1]?.payload.properties.associatedcompanyid).toBe('n/a');
    const q = await warehouse.knex('meta.quarantine').where({ connection: c.id }).orderBy('record_key').select('record_key', 'error_path', 'error_message');
    expect(q.map((x) => [x.record_key, x.error_path])).toEqual([
      ['513', 'properties.associatedcompanyid'],
      ['514', 'properties.hs_lifecyclestage_lead_date'],
    ]);
    expect(q[0]?.error_message).toMatch(/expected a number, got "n\/a"/);
    const people = await warehouse.knex('core.dim_person').where({ connection_id: c.id }).orderBy('person_id').select('person_id', 'lead_at');
    expect(people.map((p) => p.person_id)).toEqual(['512', '515']);
    // Epoch-millisecond strings are dates.
    expect(new Date(people[1]?.lead_at as string).toISOString()).toBe('2019-12-07T16:50:09.678Z');
  });

  it('refreshes an expired OAuth access token once on 401 and retries with the new one', async () => {
    const f = newFake();
    f.live.companies?.push({ id: '900', properties: { name: 'Biglytics', domain: 'biglytics.net', hs_lastmodifieddate: '2019-12-07T16:50:06.678Z' }, createdAt: '2019-10-30T03:30:17.883Z', updatedAt: '2019-12-07T16:50:06.678Z', archived: false });
    const c = conn({ accessToken: 'CJSP5qf1-expired', clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'refresh-1' });
    const r = await syncHubSpot(warehouse, c, 'companies', { now });
    expect(r.status, r.error).toBe('success');
    expect(f.requests.map((q) => `${q.method} ${q.path.split('?')[0]} ${q.auth ?? ''}`)).toEqual([
      'get /crm/v3/objects/companies Bearer CJSP5qf1-expired',
      'post /oauth/v1/token ',
      'get /crm/v3/objects/companies Bearer CJSP5qf1-fresh-1',
      'get /crm/v3/objects/companies Bearer CJSP5qf1-fresh-1',
    ]);
    expect(String(f.requests[1]?.body)).toContain('grant_type=refresh_token');
    expect(await warehouse.knex('core.dim_account').where({ connection_id: c.id }).pluck('name')).toEqual(['Biglytics']);
  });

  it('fails at once, naming the cause, when the refresh token is refused', async () => {
    const f = newFake();
    const c = conn({ accessToken: 'CJSP5qf1-expired', clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'revoked-token' });
    const r = await syncHubSpot(warehouse, c, 'companies', { now });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/OAuth refresh refused \(HTTP 400\)/);
    expect(r.error).not.toContain('revoked-token');
    expect(f.requests.filter((q) => q.path.startsWith('/oauth'))).toHaveLength(1);
  });

  it('waits out a 429 with Retry-After and continues; a DAILY 429 ends the run partial at the last stored page', async () => {
    const f = newFake();
    f.listPageSize = 1;
    for (let i = 0; i < 3; i++) f.live.contacts?.push(contact(700 + i, `2019-12-07T16:50:0${i}.000Z`));
    const throttle = { status: 429, body: { status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' }, headers: { 'retry-after': '1', 'x-hubspot-ratelimit-remaining': '0' } };
    f.injected.push(throttle);
    const c = conn();
    const ok = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(ok.status, ok.error).toBe('success');
    expect(ok.counts.read).toBe(3);
    expect(f.requests[0]?.path).toBe(f.requests[1]?.path); // the throttled request, sent again

    const g = newFake();
    g.listPageSize = 1;
    for (let i = 0; i < 3; i++) g.live.contacts?.push(contact(700 + i, `2019-12-07T16:50:0${i}.000Z`));
    const c2 = conn();
    // After the first page, the portal's daily limit is used up.
    g.injected.push({ status: 200, body: { results: [contact(700, '2019-12-07T16:50:00.000Z')], paging: { next: { after: '1' } } } });
    g.injected.push({ status: 429, body: { status: 'error', message: 'You have reached your daily limit.', errorType: 'RATE_LIMIT', policyName: 'DAILY' } });
    const partial = await syncHubSpot(warehouse, c2, 'contacts', { now });
    expect(partial.status).toBe('partial');
    expect(partial.error).toMatch(/daily API limit/);
    expect(partial.pages).toBe(1);
    expect(await warehouse.knex('meta.sync_state').where({ connection: c2.id, stream: 'contacts' }).first('cursor')).toMatchObject({ cursor: { phase: 'list', after: '1', nextSince: NOW.getTime() } });
    const run = await warehouse.knex('meta.sync_runs').where({ id: partial.runId }).first('status');
    expect(run?.status).toBe('partial');
  });

  it('stops partial when the X-HubSpot-RateLimit-Daily headers reach the reserve: the page in hand is stored, no further request is sent', async () => {
    const f = newFake();
    f.listPageSize = 1;
    for (let i = 0; i < 3; i++) f.live.contacts?.push(contact(800 + i, `2019-12-07T16:50:0${i}.000Z`));
    // The second list page comes back with the daily budget down to the reserve (10% of 250,000).
    f.injected.push({ status: 200, body: { results: [contact(800, '2019-12-07T16:50:00.000Z')], paging: { next: { after: '1' } } }, headers: { 'x-hubspot-ratelimit-daily': '250000', 'x-hubspot-ratelimit-daily-remaining': '200000' } });
    f.injected.push({ status: 200, body: { results: [contact(801, '2019-12-07T16:50:01.000Z')], paging: { next: { after: '2' } } }, headers: { 'x-hubspot-ratelimit-daily': '250000', 'x-hubspot-ratelimit-daily-remaining': '25000' } });
    const c = conn({ dailyBudgetShare: 0.9 });
    const r = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(r.status).toBe('partial');
    expect(r.error).toMatch(/daily API limit: 225000 of the portal's 250000 daily API calls are used \(X-HubSpot-RateLimit-Daily-Remaining 25000, at or below the reserve of 25000 that dailyBudgetShare 0.9 keeps\)/);
    expect(f.requests).toHaveLength(2);
    expect(r.pages).toBe(2);
    expect((await rawOf(c.id, 'contacts')).map((x) => x.record_id)).toEqual(['800', '801']);
    expect(await warehouse.knex('meta.sync_state').where({ connection: c.id, stream: 'contacts' }).first('cursor')).toMatchObject({ cursor: { phase: 'list', after: '2' } });
    expect((await warehouse.knex('meta.sync_runs').where({ id: r.runId }).first('status'))?.status).toBe('partial');
    // The next run (a new day's budget) resumes at the stored page.
    const next = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(next.status, next.error).toBe('success');
    expect(new URL(f.requests[2]?.path ?? '', BASE).searchParams.get('after')).toBe('2');
    expect((await rawOf(c.id, 'contacts')).map((x) => x.record_id)).toEqual(['800', '801', '802']);
  });

  it('reads more records sharing one timestamp than the search ceiling allows, by id, skipping nothing at the slice boundaries', async () => {
    const f = newFake();
    // HubSpot's ceiling is 10,000 results per query; the fake's is 1,000 so the test stays small.
    // The same holds at any ceiling: no query is paged past its first page.
    f.ceiling = 1_000;
    const t1 = '2026-10-01T12:00:00.000Z';
    const tied = 1_050;
    for (let i = 0; i < tied; i++) f.live.contacts?.push(contact(100_000 + i, t1));
    for (let i = 0; i < 30; i++) f.live.contacts?.push(contact(200_000 + i, `2026-10-02T00:00:${String(i).padStart(2, '0')}.000Z`));
    const c = conn();
    await seedCheckpoint(c.id, 'contacts', { phase: 'done', since: Date.parse('2026-10-01T00:00:00.000Z') });
    const r = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(r.status, r.error).toBe('success');
    const ids = (await rawOf(c.id, 'contacts')).map((x) => x.record_id);
    expect(ids).toHaveLength(tied + 30);
    expect(new Set(ids).size).toBe(tied + 30);
    // No query pages past the first: each page is a new query from the last timestamp / id seen.
    expect(f.searches.every((s) => s.after === undefined)).toBe(true);
    const byId = f.searches.filter((s) => s.filterGroups?.[0]?.filters.some((x) => x.propertyName === 'hs_object_id'));
    expect(byId.length).toBeGreaterThanOrEqual(Math.ceil(tied / 200));
    for (const s of byId) expect(s.sorts).toEqual([{ propertyName: 'hs_object_id', direction: 'ASCENDING' }]);
    const ckpt = (await warehouse.knex('meta.sync_state').where({ connection: c.id, stream: 'contacts' }).first('cursor')) as { cursor: { phase: string; since: number } };
    expect(ckpt.cursor).toMatchObject({ phase: 'done', since: Date.parse('2026-10-02T00:00:29.000Z') });
  });

  it('loses no record when records are modified while a search is paged', async () => {
    const f = newFake();
    for (let i = 0; i < 450; i++) f.live.contacts?.push(contact(300 + i, new Date(Date.parse('2026-10-01T00:00:00.000Z') + i * 1000).toISOString()));
    const c = conn();
    await seedCheckpoint(c.id, 'contacts', { phase: 'done', since: Date.parse('2026-09-30T00:00:00.000Z') });
    f.afterSearch = (n) => {
      if (n !== 1) return;
      // After the first page: a served record and an unread one change; offset paging would now skip records.
      const served = f.live.contacts?.[10] as Obj;
      const unread = f.live.contacts?.[300] as Obj;
      for (const [o, at] of [[served, '2026-10-05T00:00:00.000Z'], [unread, '2026-10-05T00:00:01.000Z']] as const) {
        o.properties.lastmodifieddate = at;
        o.properties.jobtitle = 'changed during the read';
        o.updatedAt = at;
      }
    };
    const r = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(r.status, r.error).toBe('success');
    const raw = await rawOf(c.id, 'contacts');
    expect(raw).toHaveLength(450);
    expect(raw.filter((x) => x.payload.properties.jobtitle === 'changed during the read').map((x) => x.record_id)).toEqual(['310', '600']);
  });

  it('reads deals with stage history by batch read and their associations with one v4 batch call per page', async () => {
    const f = newFake();
    const deal = (id: string, stage: string, modified: string, extra: Record<string, string | null> = {}): Obj => ({
      id,
      properties: { dealname: `Deal ${id}`, pipeline: 'default', dealstage: stage, amount: '1500.50', deal_currency_code: 'EUR', closedate: '2026-12-31T00:00:00.000Z', createdate: '2026-09-01T00:00:00.000Z', hs_lastmodifieddate: modified, hs_object_id: id, ...extra },
      propertiesWithHistory: {
        dealstage: [
          { value: stage, timestamp: modified, sourceType: 'CRM_UI' },
          { value: 'appointmentscheduled', timestamp: '2026-09-01T00:00:00.000Z', sourceType: 'CRM_UI' },
        ],
      },
      createdAt: '2026-09-01T00:00:00.000Z',
      updatedAt: modified,
      archived: false,
    });
    f.live.deals?.push(deal('1001', 'qualifiedtobuy', '2026-10-10T00:00:00.000Z'), deal('1002', 'closedwon', '2026-10-11T00:00:00.000Z', { hs_is_closed: 'true', hs_is_closed_won: 'true' }), deal('1003', 'contractsent', '2026-10-12T00:00:00.000Z', { amount: 'TBD' }));
    f.associations.set('deals:1001:contacts', [{ toObjectId: 512, associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: 3, label: null }] }, { toObjectId: 513, associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: 3, label: null }] }]);
    f.associations.set('deals:1001:companies', [{ toObjectId: 900, associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: 341, label: null }] }, { toObjectId: 901, associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: 5, label: 'Primary' }] }]);
    const c = conn();
    await seedCheckpoint(c.id, 'deals', { phase: 'done', since: Date.parse('2026-10-01T00:00:00.000Z') });
    const r = await syncHubSpot(warehouse, c, 'deals', { now });
    expect(r.status, r.error).toBe('success');
    expect(r.counts).toMatchObject({ read: 3, quarantined: 1 });
    const calls = f.requests.map((q) => `${q.method} ${q.path.split('?')[0]}`);
    expect(calls.filter((x) => x.includes('/crm/v4/associations/deals/contacts/batch/read'))).toHaveLength(1);
    expect(calls.filter((x) => x.includes('/crm/v4/associations/deals/companies/batch/read'))).toHaveLength(1);
    expect(calls.filter((x) => x.includes('/crm/v3/objects/deals/batch/read'))).toHaveLength(1);
    const batch = f.requests.find((q) => q.path.startsWith('/crm/v3/objects/deals/batch/read'))?.body as { propertiesWithHistory: string[]; inputs: unknown[] };
    expect(batch.propertiesWithHistory).toEqual(['dealstage']);
    expect(batch.inputs).toHaveLength(3);

    const opps = await warehouse.knex('core.fct_opportunity').where({ connection_id: c.id }).orderBy('opportunity_id').select('opportunity_id', 'account_id', 'amount', 'currency', 'stage', 'is_won', 'is_closed', 'closed_at');
    expect(opps.map((o) => o.opportunity_id)).toEqual(['1001', '1002']);
    expect(opps[0]).toMatchObject({ account_id: '901', currency: 'EUR', stage: 'qualifiedtobuy', is_closed: false, closed_at: null });
    expect(Number(opps[0]?.amount)).toBe(1500.5);
    expect(opps[1]).toMatchObject({ is_won: true, is_closed: true });
    expect(new Date(opps[1]?.closed_at as string).toISOString()).toBe('2026-10-11T00:00:00.000Z');
    expect(await warehouse.knex('core.bridge_opportunity_person').where({ connection_id: c.id }).orderBy('person_id').pluck('person_id')).toEqual(['512', '513']);
    const history = await warehouse.knex('core.fct_opportunity_stage_history').where({ connection_id: c.id, opportunity_id: '1001' }).orderBy('entered_at').pluck('stage');
    expect(history).toEqual(['appointmentscheduled', 'qualifiedtobuy']);
    const q = await warehouse.knex('meta.quarantine').where({ connection: c.id }).first('record_key', 'error_path');
    expect(q).toEqual({ record_key: '1003', error_path: 'properties.amount' });
    // The raw deal keeps the vendor record and the associations read for it.
    const raw = await rawOf(c.id, 'deals');
    expect(raw.find((x) => x.record_id === '1003')?.payload.properties.amount).toBe('TBD');
    expect((raw[0]?.payload._associations as { companies: unknown[] }).companies).toHaveLength(2);

    // A second run re-reads nothing new and appends no history rows.
    const again = await syncHubSpot(warehouse, c, 'deals', { now });
    expect(again.status).toBe('success');
    expect(await warehouse.knex('core.fct_opportunity_stage_history').where({ connection_id: c.id }).count('* as n')).toEqual([{ n: 4 }]);
  });

  it('reads a --from/--to window by search without moving the scheduled cursor', async () => {
    const f = newFake();
    for (let i = 0; i < 6; i++) f.live.contacts?.push(contact(400 + i, `2026-10-0${i + 1}T12:00:00.000Z`));
    const c = conn();
    const scheduled = { phase: 'done', since: Date.parse('2026-10-20T00:00:00.000Z') };
    await seedCheckpoint(c.id, 'contacts', scheduled);
    const r = await syncHubSpot(warehouse, c, 'contacts', { now, window: { from: '2026-10-02', to: '2026-10-04' } });
    expect(r.status, r.error).toBe('success');
    expect((await rawOf(c.id, 'contacts')).map((x) => x.record_id)).toEqual(['401', '402', '403']);
    const filters = f.searches[0]?.filterGroups?.[0]?.filters;
    expect(filters).toEqual([
      { propertyName: 'lastmodifieddate', operator: 'GTE', value: String(Date.parse('2026-10-02T00:00:00Z')) },
      { propertyName: 'lastmodifieddate', operator: 'LT', value: String(Date.parse('2026-10-05T00:00:00Z')) },
    ]);
    expect(await warehouse.knex('meta.sync_state').where({ connection: c.id, stream: 'contacts', scope: 'incremental' }).first('cursor')).toEqual({ cursor: scheduled });
  });

  it('sorts every incremental search ascending on the object\'s modification-date property', async () => {
    const f = newFake();
    f.live.contacts?.push(contact(512, '2026-10-03T00:00:00.000Z'), contact(513, '2026-10-02T00:00:00.000Z'));
    f.live.companies?.push({ id: '900', properties: { name: 'Biglytics', hs_lastmodifieddate: '2026-10-03T00:00:00.000Z' }, createdAt: '2019-10-30T03:30:17.883Z', updatedAt: '2026-10-03T00:00:00.000Z', archived: false });
    f.live.deals?.push({ id: '1001', properties: { dealname: 'Deal', pipeline: 'default', dealstage: 'qualifiedtobuy', hs_lastmodifieddate: '2026-10-03T00:00:00.000Z' }, createdAt: '2026-09-01T00:00:00.000Z', updatedAt: '2026-10-03T00:00:00.000Z', archived: false });
    const c = conn();
    const expected: Record<string, string> = { contacts: 'lastmodifieddate', companies: 'hs_lastmodifieddate', deals: 'hs_lastmodifieddate' };
    for (const stream of Object.keys(expected)) {
      await seedCheckpoint(c.id, stream, { phase: 'done', since: Date.parse('2026-10-01T00:00:00.000Z') });
      const from = f.searches.length;
      const r = await syncHubSpot(warehouse, c, stream, { now });
      expect(r.status, r.error).toBe('success');
      const searches = f.searches.slice(from);
      expect(searches.length, stream).toBeGreaterThan(0);
      for (const body of searches) expect(body.sorts, stream).toEqual([{ propertyName: expected[stream], direction: 'ASCENDING' }]);
    }
    expect((await rawOf(c.id, 'contacts')).map((x) => x.record_id)).toEqual(['512', '513']);
  });

  it('lands deal pipelines with their stages in raw as sent: ids, labels, display order, closed flags and probabilities; archived ones flagged deleted', async () => {
    newFake();
    // GET /crm/v3/pipelines/deals (developers.hubspot.com/docs/api/crm/pipelines): the portal's
    // default pipeline with HubSpot's default stages, a second pipeline, an archived one and a
    // malformed one.
    const stage = (id: string, label: string, displayOrder: number, probability: string, isClosed = false) => ({
      id, label, displayOrder, metadata: { isClosed: String(isClosed), probability }, archived: false, createdAt: '2019-10-30T03:30:17.883Z', updatedAt: '2019-12-07T16:50:06.678Z', writePermissions: 'CRM_PERMISSIONS_ENFORCEMENT',
    });
    const defaultStages = [
      stage('appointmentscheduled', 'Appointment Scheduled', 0, '0.2'),
      stage('qualifiedtobuy', 'Qualified To Buy', 1, '0.4'),
      stage('presentationscheduled', 'Presentation Scheduled', 2, '0.6'),
      stage('decisionmakerboughtin', 'Decision Maker Bought-In', 3, '0.8'),
      stage('contractsent', 'Contract Sent', 4, '0.9'),
      stage('closedwon', 'Closed Won', 5, '1.0', true),
      stage('closedlost', 'Closed Lost', 6, '0.0', true),
    ];
    const pipeline = (id: string, label: string, displayOrder: number, stages: unknown[], archived = false) => ({ id, label, displayOrder, stages, archived, createdAt: '2019-10-30T03:30:17.883Z', updatedAt: '2019-12-07T16:50:06.678Z' });
    // Renewal stages come back out of display order: the raw record keeps HubSpot's order and displayOrder.
    const renewalStages = [stage('98765432', 'Renewal won', 2, '1.0', true), stage('98765430', 'Renewal due', 0, '0.5'), stage('98765431', 'Quote sent', 1, '0.75')];
    nock(BASE)
      .get('/crm/v3/pipelines/deals')
      .matchHeader('authorization', 'Bearer pat-na1-test')
      .reply(200, {
        results: [
          pipeline('default', 'Sales Pipeline', 0, defaultStages),
          pipeline('12345678', 'Renewals', 1, renewalStages),
          pipeline('23456789', 'Old partner pipeline', 2, [stage('34567890', 'Referred', 0, '0.1')], true),
          { ...pipeline('45678901', 'Broken', 3, []), stages: 'n/a' },
        ],
      });
    const c = conn();
    const r = await syncHubSpot(warehouse, c, 'deal_pipelines', { now });
    expect(r.status, r.error).toBe('success');
    expect(r.counts).toMatchObject({ read: 4, inserted: 4, deleted: 1, quarantined: 1 });

    const raw = await rawOf(c.id, 'deal_pipelines');
    expect(raw.map((x) => [x.record_id, x.payload.label, x._deleted])).toEqual([
      ['12345678', 'Renewals', false],
      ['23456789', 'Old partner pipeline', true],
      ['45678901', 'Broken', false], // kept in raw as sent, and quarantined
      ['default', 'Sales Pipeline', false],
    ]);
    type Stage = { id: string; label: string; displayOrder: number; metadata: { isClosed: string; probability: string } };
    const stagesOf = (id: string) => (raw.find((x) => x.record_id === id)?.payload.stages ?? []) as Stage[];
    expect(stagesOf('default').map((s) => [s.id, s.label, s.displayOrder, s.metadata.isClosed, s.metadata.probability])).toEqual([
      ['appointmentscheduled', 'Appointment Scheduled', 0, 'false', '0.2'],
      ['qualifiedtobuy', 'Qualified To Buy', 1, 'false', '0.4'],
      ['presentationscheduled', 'Presentation Scheduled', 2, 'false', '0.6'],
      ['decisionmakerboughtin', 'Decision Maker Bought-In', 3, 'false', '0.8'],
      ['contractsent', 'Contract Sent', 4, 'false', '0.9'],
      ['closedwon', 'Closed Won', 5, 'true', '1.0'],
      ['closedlost', 'Closed Lost', 6, 'true', '0.0'],
    ]);
    expect(stagesOf('12345678').map((s) => [s.id, s.displayOrder])).toEqual([['98765432', 2], ['98765430', 0], ['98765431', 1]]);
    // Unknown fields are kept (schema drift).
    expect(stagesOf('default')[0]).toMatchObject({ writePermissions: 'CRM_PERMISSIONS_ENFORCEMENT' });
    expect(raw.find((x) => x.record_id === 'default')?.payload).toMatchObject({ displayOrder: 0, archived: false, createdAt: '2019-10-30T03:30:17.883Z' });
    const q = await warehouse.knex('meta.quarantine').where({ connection: c.id, stream: 'deal_pipelines' }).select('record_key', 'error_path');
    expect(q).toEqual([{ record_key: '45678901', error_path: 'stages' }]);

    // Read whole every sync: a renamed stage overwrites the stored pipeline, it is not appended.
    nock(BASE).get('/crm/v3/pipelines/deals').reply(200, { results: [pipeline('default', 'Sales Pipeline', 0, defaultStages.map((s) => (s.id === 'contractsent' ? { ...s, label: 'Contract out' } : s)))] });
    const again = await syncHubSpot(warehouse, c, 'deal_pipelines', { now });
    expect(again.status, again.error).toBe('success');
    const after = await rawOf(c.id, 'deal_pipelines');
    expect(after).toHaveLength(4);
    expect(((after.find((x) => x.record_id === 'default')?.payload.stages ?? []) as Stage[]).map((s) => s.label)).toContain('Contract out');
  });

  it('marks deal pipelines missing from a complete list deleted (also on --full), and nothing after a failed or empty read', async () => {
    newFake();
    const stage = (id: string, label: string, displayOrder: number) => ({ id, label, displayOrder, metadata: { isClosed: 'false', probability: '0.5' }, archived: false });
    const stages = [stage('appointmentscheduled', 'Appointment Scheduled', 0), stage('contractsent', 'Contract Sent', 1), stage('closedwon', 'Closed Won', 2)];
    const pipeline = (id: string, label: string, s: unknown[] = stages, archived = false) => ({ id, label, displayOrder: 0, stages: s, archived, createdAt: '2019-10-30T03:30:17.883Z', updatedAt: '2019-12-07T16:50:06.678Z' });
    const lists = (results: unknown[]) => nock(BASE).get('/crm/v3/pipelines/deals').reply(200, { results });
    const c = conn();
    const run = (mode: 'incremental' | 'full' = 'incremental', connection = c) => syncHubSpot(warehouse, connection, 'deal_pipelines', { now, mode });
    const rows = async () => new Map((await rawOf(c.id, 'deal_pipelines')).map((x) => [x.record_id, x]));

    lists([pipeline('default', 'Sales Pipeline'), pipeline('12345678', 'Renewals'), pipeline('23456789', 'Old partner pipeline', [], true)]);
    expect(await run()).toMatchObject({ status: 'success', counts: { read: 3, inserted: 3, deleted: 1 } });

    // A failed read (500, no retries) and an empty list (a portal always has a pipeline) mark nothing.
    nock(BASE).get('/crm/v3/pipelines/deals').reply(500, { status: 'error', message: 'internal error' });
    expect((await run('incremental', hsConnection(settings({ maxRetries: 0 }), c.id))).status).toBe('failed');
    lists([]);
    const empty = await run();
    expect(empty).toMatchObject({ status: 'success', counts: { read: 0, deleted: 0 } });
    expect(empty.warnings.join(' ')).toMatch(/listed no pipeline; no pipeline is marked deleted/);
    expect([...(await rows()).values()].map((x) => [x.record_id, x._deleted])).toEqual([['12345678', false], ['23456789', true], ['default', false]]);

    // Renewals is gone from the complete list (not returned archived), and a stage left the default pipeline.
    lists([pipeline('default', 'Sales Pipeline', stages.filter((x) => x.id !== 'contractsent'))]);
    const gone = await run();
    expect(gone).toMatchObject({ status: 'success', counts: { read: 2, deleted: 1 } });
    expect(gone.warnings.join(' ')).toMatch(/1 pipeline\(s\) stored earlier are no longer listed; marked deleted/);
    let raw = await rows();
    expect(raw.get('12345678')).toMatchObject({ _deleted: true, payload: { id: '12345678', archived: true, _deletedByAbsence: true } });
    expect(raw.get('23456789')).toMatchObject({ _deleted: true, payload: { label: 'Old partner pipeline' } }); // archived before: left as it was
    expect(raw.get('default')?._deleted).toBe(false);
    expect((raw.get('default')?.payload.stages as Array<{ id: string }>).map((x) => x.id)).toEqual(['appointmentscheduled', 'closedwon']);
    lists([pipeline('default', 'Sales Pipeline', stages.filter((x) => x.id !== 'contractsent'))]);
    expect(await run()).toMatchObject({ status: 'success', counts: { deleted: 0, updated: 0 } });

    // A --full run compares with the stored checkpoint too.
    lists([pipeline('default', 'Sales Pipeline'), pipeline('66666666', 'Partners')]);
    expect(await run()).toMatchObject({ status: 'success', counts: { inserted: 1 } });
    lists([pipeline('default', 'Sales Pipeline')]);
    expect(await run('full')).toMatchObject({ status: 'success', counts: { deleted: 1 } });
    raw = await rows();
    expect([...raw.values()].map((x) => [x.record_id, x._deleted])).toEqual([['12345678', true], ['23456789', true], ['66666666', true], ['default', false]]);
  });

  it('marks records deleted that a periodic full re-read finds neither live nor in the recycle bin', async () => {
    const f = newFake();
    for (let i = 0; i < 5; i++) f.live.contacts?.push(contact(512 + i, `2026-10-0${i + 1}T00:00:00.000Z`));
    const c = conn({ fullResyncEveryDays: 7 });
    const day = 86_400_000;
    const at = (days: number) => () => new Date(NOW.getTime() + days * day);
    expect((await syncHubSpot(warehouse, c, 'contacts', { now: at(0) })).status).toBe('success');
    // 514 is purged (recycle bin emptied after 90 days, or a GDPR delete); 515 goes to the recycle bin.
    const contacts = f.live.contacts ?? [];
    const purged = contacts.splice(2, 1)[0] as Obj;
    const binned = contacts.splice(2, 1)[0] as Obj;
    f.archived.contacts?.push({ ...binned, archived: true, archivedAt: '2026-11-01T12:00:00.000Z' });
    expect(purged.id).toBe('514');

    const incremental = await syncHubSpot(warehouse, c, 'contacts', { now: at(1) });
    expect(incremental.status).toBe('success');
    expect(f.searches.length).toBe(1); // not due yet: search, then the recycle bin
    expect((await rawOf(c.id, 'contacts')).filter((x) => x._deleted).map((x) => x.record_id)).toEqual(['515']);

    const full = await syncHubSpot(warehouse, c, 'contacts', { now: at(8) });
    expect(full.status, full.error).toBe('success');
    expect(f.searches.length).toBe(1); // the periodic re-read lists instead of searching
    expect(full.warnings.join(' ')).toMatch(/1 record\(s\) stored earlier are neither live nor in the recycle bin/);
    const raw = await rawOf(c.id, 'contacts');
    expect(raw.filter((x) => x._deleted).map((x) => x.record_id)).toEqual(['514', '515']);
    expect(raw.find((x) => x.record_id === '514')?.payload).toEqual({ id: '514', properties: {}, archived: true, _deletedByAbsence: true, _deletedAt: new Date(NOW.getTime() + 8 * day).toISOString() });
    const person = await warehouse.knex('core.dim_person').where({ connection_id: c.id, person_id: '514' }).first('is_deleted', 'email');
    expect(person).toEqual({ is_deleted: true, email: null });

    // The next due re-read has nothing left to mark.
    const again = await syncHubSpot(warehouse, c, 'contacts', { now: at(16) });
    expect(again.warnings).toEqual([]);
    expect(again.counts.deleted).toBe(0);
  });

  it('keeps the stored id set compact and exact', () => {
    const ids = ['512', '90000000001', '9007199254740993', '513', '1', '512'];
    const encoded = encodeIds(ids);
    expect(decodeIds(encoded)).toEqual(['1', '512', '513', '90000000001', '9007199254740993']);
    const many = Array.from({ length: 100_000 }, (_, i) => String(1_000_000 + i * 37));
    // Roughly a byte per id for a dense portal: the checkpoint stays small.
    expect(encodeIds(many).length).toBeLessThan(many.length * 2);
    expect(decodeIds(encodeIds(many))).toEqual(many);
    expect(decodeIds(encodeIds([]))).toEqual([]);
  });

  it('retries a 5xx, and fails at once on a refused private-app token without leaking it', async () => {
    const f = newFake();
    f.live.companies?.push({ id: '901', properties: { name: 'Biglytics', hs_lastmodifieddate: '2019-12-07T16:50:06.678Z' }, createdAt: '2019-10-30T03:30:17.883Z', updatedAt: '2019-12-07T16:50:06.678Z', archived: false });
    f.injected.push({ status: 502, body: '<html>Bad gateway</html>' });
    const ok = await syncHubSpot(warehouse, conn(), 'companies', { now });
    expect(ok.status, ok.error).toBe('success');
    expect(ok.counts.read).toBe(1);

    f.requests.length = 0;
    const refused = await syncHubSpot(warehouse, conn({ accessToken: 'pat-na1-revoked-1234' }), 'companies', { now });
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/authentication failed \(HTTP 401\)/);
    expect(refused.error).not.toContain('pat-na1-revoked-1234');
    expect(f.requests).toHaveLength(1);
  });

  it('marks records deleted on `--full` that the portal no longer has anywhere (deletes by absence), in raw and core', async () => {
    const f = newFake();
    for (let i = 0; i < 5; i++) f.live.contacts?.push(contact(512 + i, `2026-10-0${i + 1}T00:00:00.000Z`, { hs_analytics_source: 'PAID_SEARCH' }));
    // fullResyncEveryDays 0: no periodic re-read, so only the explicit full run can find the purge.
    const c = conn({ fullResyncEveryDays: 0 });
    expect((await syncHubSpot(warehouse, c, 'contacts', { now })).status).toBe('success');
    const purged = f.live.contacts?.splice(2, 1)[0] as Obj;
    expect(purged.id).toBe('514');

    // An incremental run cannot see a purge: search finds nothing and the recycle bin is empty.
    const incremental = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(incremental.status, incremental.error).toBe('success');
    expect((await rawOf(c.id, 'contacts')).filter((x) => x._deleted)).toEqual([]);

    const full = await syncHubSpot(warehouse, c, 'contacts', { now, mode: 'full' });
    expect(full.status, full.error).toBe('success');
    expect(full.warnings.join(' ')).toMatch(/1 record\(s\) stored earlier are neither live nor in the recycle bin/);
    expect(full.counts.deleted).toBe(1);
    const raw = await rawOf(c.id, 'contacts');
    expect(raw.filter((x) => x._deleted).map((x) => x.record_id)).toEqual(['514']);
    expect(raw.find((x) => x.record_id === '514')?.payload).toEqual({ id: '514', properties: {}, archived: true, _deletedByAbsence: true, _deletedAt: NOW.toISOString() });
    const people = await warehouse.knex('core.dim_person').where({ connection_id: c.id }).orderBy('person_id').select('person_id', 'is_deleted');
    expect(people.filter((p) => p.is_deleted).map((p) => p.person_id)).toEqual(['514']);
    expect(await warehouse.knex('core.fct_touchpoint').where({ connection_id: c.id, person_id: '514' }).pluck('is_deleted')).toEqual([true]);
    // The next full run has the new id set and nothing left to mark.
    const again = await syncHubSpot(warehouse, c, 'contacts', { now, mode: 'full' });
    expect(again.warnings).toEqual([]);
    expect(again.counts.deleted).toBe(0);
  });

  it('marks nothing when a full pass is interrupted; the resumed pass keeps what it listed before and marks only the absent', async () => {
    const f = newFake();
    f.listPageSize = 2;
    for (let i = 0; i < 5; i++) f.live.contacts?.push(contact(512 + i, `2026-10-0${i + 1}T00:00:00.000Z`));
    const c = conn({ fullResyncEveryDays: 0 });
    expect((await syncHubSpot(warehouse, c, 'contacts', { now })).status).toBe('success');
    f.live.contacts?.splice(2, 1); // 514 purged

    // The --full pass stops after its first page (512, 513: daily limit), then an ordinary run resumes it.
    f.injected.push({ status: 200, body: { results: f.live.contacts?.slice(0, 2), paging: { next: { after: '2' } } } });
    f.injected.push({ status: 429, body: { status: 'error', message: 'You have reached your daily limit.', policyName: 'DAILY' } });
    const stopped = await syncHubSpot(warehouse, c, 'contacts', { now, mode: 'full' });
    expect(stopped.status).toBe('partial');
    expect(stopped.pages).toBe(1);
    expect(stopped.warnings).toEqual([]);
    expect((await rawOf(c.id, 'contacts')).filter((x) => x._deleted)).toEqual([]);
    const ckpt = (await warehouse.knex('meta.sync_state').where({ connection: c.id, stream: 'contacts' }).first('cursor')) as { cursor: { phase: string; after: string; fullPass: boolean; known: string; passSeen: string[] } };
    expect(ckpt.cursor).toMatchObject({ phase: 'list', after: '2', fullPass: true });
    // The pass state: the ids known before the pass, and those the pass listed before it stopped.
    expect(decodeIds(ckpt.cursor.known)).toEqual(['512', '513', '514', '515', '516']);
    expect(ckpt.cursor.passSeen.flatMap((e) => decodeIds(e))).toEqual(['512', '513']);

    const resumed = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(resumed.status, resumed.error).toBe('success');
    // It read only the rest of the list: 512 and 513 count as seen from the stored pass state.
    expect(f.requests.filter((q) => q.method === 'get' && !q.path.includes('archived=true')).map((q) => new URL(q.path, BASE).searchParams.get('after')).slice(-1)).toEqual(['2']);
    expect(resumed.warnings.join(' ')).toMatch(/1 record\(s\) stored earlier are neither live nor in the recycle bin/);
    expect((await rawOf(c.id, 'contacts')).filter((x) => x._deleted).map((x) => x.record_id)).toEqual(['514']);
    const done = (await warehouse.knex('meta.sync_state').where({ connection: c.id, stream: 'contacts' }).first('cursor')) as { cursor: Record<string, unknown> };
    expect(done.cursor).toMatchObject({ phase: 'done' });
    expect(done.cursor.passSeen).toBeUndefined();
    expect(decodeIds(done.cursor.known as string)).toEqual(['512', '513', '515', '516']);
  });

  it('keeps every id when resuming a pass stored without its listed ids (an earlier version), marking nothing', async () => {
    const f = newFake();
    for (let i = 0; i < 4; i++) f.live.contacts?.push(contact(512 + i, `2026-10-0${i + 1}T00:00:00.000Z`));
    const c = conn({ fullResyncEveryDays: 0 });
    // Stored by the earlier version after its first list page: known held 510 (gone since) and 512.
    await seedCheckpoint(c.id, 'contacts', { phase: 'list', after: '1', nextSince: NOW.getTime(), fullPass: true, known: encodeIds(['510', '512']), lastFullAt: NOW.getTime() });
    const r = await syncHubSpot(warehouse, c, 'contacts', { now });
    expect(r.status, r.error).toBe('success');
    expect(r.warnings).toEqual([]);
    expect((await rawOf(c.id, 'contacts')).filter((x) => x._deleted)).toEqual([]);
    const done = (await warehouse.knex('meta.sync_state').where({ connection: c.id, stream: 'contacts' }).first('cursor')) as { cursor: { known: string } };
    expect(decodeIds(done.cursor.known)).toEqual(['510', '512', '513', '514', '515']);
  });

  it('keeps the pass ids in few chunks that decode to the exact set', () => {
    const chunks = new IdChunks();
    const all: string[] = [];
    for (let page = 0; page < 37; page++) {
      const ids = Array.from({ length: 100 }, (_, i) => String(10_000 + page * 100 + i));
      all.push(...ids);
      chunks.add(ids);
    }
    const encoded = chunks.encoded();
    expect(encoded.length).toBeLessThanOrEqual(Math.ceil(Math.log2(37)) + 1);
    expect(encoded.flatMap((e) => decodeIds(e)).sort()).toEqual([...all].sort());
    chunks.remove(['10050', '99']);
    expect(chunks.ids().has('10050')).toBe(false);
    expect(IdChunks.decode(chunks.encoded()).ids().size).toBe(all.length - 1);
  });

  it('reads email events page by page, resolving recipients to contacts once per run; clicks become touchpoints', async () => {
    const f = newFake();
    f.live.contacts?.push(contact(512, '2026-10-01T00:00:00.000Z', { email: 'BCooper@Biglytics.net' }));
    // Legacy email events (developers.hubspot.com/docs/api-reference/legacy/email-analytics-v1/events/get-email-public-v1-events).
    const event = (id: string, type: string, created: number, recipient: string, extra: Record<string, unknown> = {}) => ({
      appId: 113, appName: 'BatchEmail', id, created, recipient, portalId: 62515, type, emailCampaignId: 42, sentBy: { id: 'x', created }, ...extra,
    });
    const pages: Record<string, Array<{ events: unknown[]; hasMore: boolean; offset: string }>> = {
      SENT: [{ events: [event('e1', 'SENT', 1_790_000_000_000, 'bcooper@biglytics.net'), event('e2', 'SENT', 1_790_000_000_001, 'stranger@example.org')], hasMore: false, offset: 'b2' }],
      CLICK: [
        { events: [event('e3', 'CLICK', 1_790_000_100_000, 'bcooper@biglytics.net', { url: 'https://www.biglytics.net/pricing?utm_source=hubspot&utm_medium=email&utm_campaign=launch' })], hasMore: true, offset: 'c1' },
        { events: [event('e4', 'CLICK', 1_790_000_000_500, 'bcooper@biglytics.net', { url: 'https://www.biglytics.net/' })], hasMore: false, offset: 'c2' },
      ],
    };
    const asked: string[] = [];
    nock(BASE)
      .persist()
      .get(/^\/email\/public\/v1\/events/)
      .reply((uri) => {
        const q = new URL(uri, BASE).searchParams;
        asked.push(`${q.get('eventType')}:${q.get('offset') ?? ''}:${q.get('startTimestamp')}:${q.get('endTimestamp')}`);
        const list = pages[q.get('eventType') ?? ''] ?? [];
        return [200, list[q.get('offset') === 'c1' ? 1 : 0] ?? { events: [], hasMore: false, offset: 'x' }];
      });
    const c = conn({ emailEventTypes: ['SENT', 'CLICK'] });
    const r = await syncHubSpot(warehouse, c, 'email_events', { now });
    expect(r.status, r.error).toBe('success');
    expect(r.counts.read).toBe(4);
    expect(asked).toEqual([`SENT::0:${NOW.getTime()}`, `CLICK::0:${NOW.getTime()}`, `CLICK:c1:0:${NOW.getTime()}`]);
    // One search for the two addresses of the first page; later pages hit the run's cache.
    expect(f.searches).toHaveLength(1);
    const raw = await rawOf(c.id, 'email_events');
    expect(raw.map((x) => [x.record_id, x.payload._contactId])).toEqual([['e1', '512'], ['e2', null], ['e3', '512'], ['e4', '512']]);
    const touches = await warehouse.knex('core.fct_touchpoint').where({ connection_id: c.id }).orderBy('touchpoint_id').select('touchpoint_id', 'person_id', 'email', 'touch_type', 'utm_source', 'utm_campaign', 'landing_page');
    expect(touches).toEqual([
      // A send is an email_send row (counted, never credited). One to an address no contact has yet
      // keeps the address (lower-cased) and no person: the transform links it once a contact has it.
      { touchpoint_id: 'email_event:e1', person_id: '512', email: 'bcooper@biglytics.net', touch_type: 'email_send', utm_source: null, utm_campaign: null, landing_page: null },
      { touchpoint_id: 'email_event:e2', person_id: null, email: 'stranger@example.org', touch_type: 'email_send', utm_source: null, utm_campaign: null, landing_page: null },
      { touchpoint_id: 'email_event:e3', person_id: '512', email: 'bcooper@biglytics.net', touch_type: 'email_click', utm_source: 'hubspot', utm_campaign: 'launch', landing_page: 'https://www.biglytics.net/pricing' },
      { touchpoint_id: 'email_event:e4', person_id: '512', email: 'bcooper@biglytics.net', touch_type: 'email_click', utm_source: null, utm_campaign: null, landing_page: 'https://www.biglytics.net/' },
    ]);
    expect(await warehouse.knex('meta.sync_state').where({ connection: c.id, stream: 'email_events' }).first('cursor')).toEqual({ cursor: { since: NOW.getTime() } });
  });

  it('reads form submissions newest first and stops an incremental run at the first page older than its window', async () => {
    const f = newFake();
    f.live.contacts?.push(contact(512, '2026-10-01T00:00:00.000Z'));
    const form = '0b9a4f2c-1111-4222-8333-444455556666';
    const day = 86_400_000;
    // Forms v1 submissions (developers.hubspot.com/docs/api-reference/legacy/marketing/forms/v1/get-form-integrations-v1-submissions-forms-form_guid).
    const submission = (n: number) => ({
      conversionId: `conv-${n}`,
      submittedAt: NOW.getTime() - n * day,
      values: [{ name: 'email', value: n % 2 === 0 ? 'bcooper512@biglytics.net' : `someone${n}@example.org` }],
      pageUrl: `https://www.biglytics.net/demo?utm_source=google&utm_medium=cpc&utm_campaign=c${n}`,
    });
    const all = Array.from({ length: 6 }, (_, i) => submission(i));
    const served: string[] = [];
    nock(BASE).persist().get(/^\/marketing\/v3\/forms/).reply(200, { results: [{ id: form, name: 'Demo request' }] });
    nock(BASE)
      .persist()
      .get(new RegExp(`^/form-integrations/v1/submissions/forms/${form}`))
      .reply((uri) => {
        const from = Number(new URL(uri, BASE).searchParams.get('after') ?? 0);
        served.push(String(from));
        const next = from + 2 < all.length ? { paging: { next: { after: String(from + 2) } } } : {};
        return [200, { results: all.slice(from, from + 2), ...next }];
      });
    const c = conn();
    // The last run ended 2.5 days ago: submissions 0..2 are new, 3 and older were read then.
    await seedCheckpoint(c.id, 'form_submissions', { since: NOW.getTime() - 2.5 * day });
    const r = await syncHubSpot(warehouse, c, 'form_submissions', { now });
    expect(r.status, r.error).toBe('success');
    expect(served).toEqual(['0', '2']); // the page holding 3 reaches past the window: no third page
    const raw = await rawOf(c.id, 'form_submissions');
    expect(raw.map((x) => x.record_id)).toEqual(['conv-0', 'conv-1', 'conv-2']);
    expect(raw[0]?.payload._formId).toBe(form);
    const touches = await warehouse.knex('core.fct_touchpoint').where({ connection_id: c.id }).orderBy('touchpoint_id').select('touchpoint_id', 'person_id', 'email', 'touch_type', 'utm_campaign', 'landing_page');
    expect(touches).toEqual([
      { touchpoint_id: 'form_submission:conv-0', person_id: '512', email: 'bcooper512@biglytics.net', touch_type: 'form_fill', utm_campaign: 'c0', landing_page: 'https://www.biglytics.net/demo' },
      { touchpoint_id: 'form_submission:conv-1', person_id: null, email: 'someone1@example.org', touch_type: 'form_fill', utm_campaign: 'c1', landing_page: 'https://www.biglytics.net/demo' },
      { touchpoint_id: 'form_submission:conv-2', person_id: '512', email: 'bcooper512@biglytics.net', touch_type: 'form_fill', utm_campaign: 'c2', landing_page: 'https://www.biglytics.net/demo' },
    ]);
  });
});

/** A clock that only moves when the pacing sleeps: waits are measured, never spent. */
class FakeClock implements PacingClock {
  t = 1_800_000_000_000;
  sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
  }
}

describe('hubspot rate limits (nock, fake clock)', () => {
  let n = 0;
  function api(clock: FakeClock, extra: Record<string, unknown> = {}): HubSpotApi {
    const config = hubspotConfigSchema.parse({ accessToken: 'pat-na1-test', searchRequestsPerSecond: 4, ...extra });
    return new HubSpotApi({ connectionId: `rate_${++n}`, config, log: silentLog, signal: new AbortController().signal, clock, random: () => 0 });
  }
  const burst = (max: number, remaining: number, interval = 10_000) => ({
    'x-hubspot-ratelimit-max': String(max),
    'x-hubspot-ratelimit-remaining': String(remaining),
    'x-hubspot-ratelimit-interval-milliseconds': String(interval),
  });
  const throttled = (policyName: string) => ({ status: 'error', message: `You have reached your ${policyName.toLowerCase()} limit.`, errorType: 'RATE_LIMIT', policyName });

  type Answer = [number, unknown, Record<string, string>?];
  /** Serves requests to `path` through `answer` (given the request's number, from 1) and returns their arrival times on the fake clock, relative to the first. */
  function serve(clock: FakeClock, method: 'GET' | 'POST', path: RegExp, answer: (n: number) => Answer): () => number[] {
    const arrivals: number[] = [];
    nock(BASE)
      .persist()
      .intercept(path, method)
      .reply(() => {
        arrivals.push(clock.now());
        return answer(arrivals.length);
      });
    return () => arrivals.map((t) => t - (arrivals[0] ?? 0));
  }

  it('waits for the interval to roll over when X-HubSpot-RateLimit-Remaining reaches 0, instead of drawing a 429', async () => {
    nock.cleanAll();
    const clock = new FakeClock();
    // A portal with a ten-second budget of 3 requests that answers a 429 like HubSpot once it is spent.
    const served: number[] = [];
    const arrivals = serve(clock, 'GET', /^\/crm\/v3\/objects\/contacts/, () => {
      const recent = served.filter((t) => t > clock.now() - 10_000);
      if (recent.length >= 3) return [429, throttled('TEN_SECONDLY_ROLLING'), burst(3, 0)];
      served.push(clock.now());
      return [200, { results: [] }, burst(3, 3 - recent.length - 1)];
    });
    const hs = api(clock, { burstReserve: 0 });
    for (let i = 0; i < 7; i++) await hs.json({ path: '/crm/v3/objects/contacts' });
    // Three requests spend the budget; the fourth waits out the interval, and so on: no 429.
    expect(arrivals()).toEqual([0, 0, 0, 10_000, 10_000, 10_000, 20_000]);
    expect(served).toHaveLength(7);
    expect(hs.requests).toBe(7);
    expect(clock.sleeps).toEqual([10_000, 10_000]);
  });

  it('spreads a low burst budget evenly over the interval (burstReserve) and bursts again once it recovers', async () => {
    nock.cleanAll();
    const clock = new FakeClock();
    const remaining = [50, 20, 4, 2, 80, 79];
    const arrivals = serve(clock, 'GET', /^\/crm\/v3\/objects\/companies/, (n) => [200, { results: [] }, burst(100, remaining[n - 1] ?? 100)]);
    const hs = api(clock); // burstReserve 0.2: at 20 of 100 or fewer, spread out
    for (let i = 0; i < 6; i++) await hs.json({ path: '/crm/v3/objects/companies' });
    // 20 left: 10 s / 20 = 500 ms apart; 4 left: 2.5 s; 2 left: 5 s; 80 left: no wait.
    expect(arrivals()).toEqual([0, 0, 500, 3_000, 8_000, 8_000]);
  });

  it('keeps search requests to searchRequestsPerSecond, which no header announces', async () => {
    nock.cleanAll();
    const clock = new FakeClock();
    const arrivals = serve(clock, 'POST', /^\/crm\/v3\/objects\/\w+\/search$/, () => [200, { total: 0, results: [] }]);
    serve(clock, 'GET', /^\/crm\/v3\/objects\/deals/, () => [200, { results: [] }]);
    const hs = api(clock);
    const search = () => hs.json({ method: 'POST', path: '/crm/v3/objects/contacts/search', body: {}, search: true });
    await search();
    await search();
    await hs.json({ path: '/crm/v3/objects/deals' }); // other endpoints are not held to the search budget
    expect(clock.sleeps).toEqual([250]);
    await search();
    expect(arrivals()).toEqual([0, 250, 500]);
  });

  it('waits out a 429 by its policy when there is no Retry-After: 1 s for SECONDLY, the interval for TEN_SECONDLY_ROLLING', async () => {
    nock.cleanAll();
    const clock = new FakeClock();
    const answers: Answer[] = [
      [429, throttled('SECONDLY')],
      [429, throttled('TEN_SECONDLY_ROLLING'), { 'x-hubspot-ratelimit-interval-milliseconds': '10000' }],
      [200, { total: 0, results: [] }],
    ];
    const arrivals = serve(clock, 'POST', /^\/crm\/v3\/objects\/contacts\/search$/, () => answers.shift() ?? [500, 'unexpected']);
    const hs = api(clock, { searchRequestsPerSecond: 1000 });
    const res = await hs.json({ method: 'POST', path: '/crm/v3/objects/contacts/search', body: {}, search: true });
    expect(res.status).toBe(200);
    expect(arrivals()).toEqual([0, 1_000, 11_000]);
  });

  it('waits out a 429 for its Retry-After, not the policy interval: 1 s under TEN_SECONDLY_ROLLING', async () => {
    nock.cleanAll();
    const clock = new FakeClock();
    const answers: Answer[] = [
      [429, throttled('TEN_SECONDLY_ROLLING'), { 'retry-after': '1', 'x-hubspot-ratelimit-interval-milliseconds': '10000' }],
      [200, { results: [] }],
      [429, throttled('TEN_SECONDLY_ROLLING'), { 'retry-after': '3', 'x-hubspot-ratelimit-interval-milliseconds': '10000' }],
      [200, { results: [] }],
    ];
    const arrivals = serve(clock, 'GET', /^\/crm\/v3\/objects\/contacts/, () => answers.shift() ?? [500, 'unexpected']);
    const hs = api(clock);
    expect((await hs.json({ path: '/crm/v3/objects/contacts' })).status).toBe(200);
    expect(clock.sleeps).toEqual([1_000]);
    expect((await hs.json({ path: '/crm/v3/objects/contacts' })).status).toBe(200);
    expect(clock.sleeps).toEqual([1_000, 3_000]);
    expect(arrivals()).toEqual([0, 1_000, 1_000, 4_000]);
  });

  it('returns the response that shows the daily reserve reached, then stops before the next request with an error naming the limit', async () => {
    nock.cleanAll();
    const clock = new FakeClock();
    let sent = 0;
    nock(BASE)
      .persist()
      .get(/^\/crm\/v3\/objects\/contacts/)
      .reply(() => {
        sent++;
        return [200, { results: [{ id: String(sent) }] }, { 'x-hubspot-ratelimit-daily': '500000', 'x-hubspot-ratelimit-daily-remaining': sent === 1 ? '150000' : '99999' }];
      });
    const hs = api(clock); // dailyBudgetShare 0.8: 100,000 calls of 500,000 kept in reserve
    await hs.json({ path: '/crm/v3/objects/contacts' });
    const last = await hs.json({ path: '/crm/v3/objects/contacts' });
    expect(last.data).toEqual({ results: [{ id: '2' }] });
    const stop = hs.json({ path: '/crm/v3/objects/contacts' });
    await expect(stop).rejects.toBeInstanceOf(UsageLimitError);
    await expect(stop).rejects.toThrow(/X-HubSpot-RateLimit-Daily-Remaining 99999, at or below the reserve of 100000 that dailyBudgetShare 0.8 keeps/);
    expect(sent).toBe(2);
  });
});

/**
 * HubSpot API routes over a {@link HubSpotStore}. Wire formats follow HubSpot's docs:
 *  - CRM objects v3 (developers.hubspot.com/docs/api/crm/understanding-the-crm): list
 *    `GET /crm/v3/objects/{type}` (limit <= 100, after, properties, propertiesWithHistory,
 *    associations, archived), read by id, `POST .../batch/read`; results
 *    `{ id, properties, propertiesWithHistory?, associations?, createdAt, updatedAt, archived }`,
 *    `paging.next.after`.
 *  - CRM search (developers.hubspot.com/docs/api/crm/search): filterGroups/filters (operators
 *    EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY), sorts,
 *    limit <= 200, after; `total`; 10,000 results per query at most (400 past that); no
 *    associations in results.
 *  - Associations v4 batch read (`POST /crm/v4/associations/{from}/{to}/batch/read`).
 *  - Pipelines (`GET /crm/v3/pipelines/deals`), properties (`GET /crm/v3/properties/{type}`).
 *  - Legacy email events (`GET /email/public/v1/events`: events[], hasMore, offset).
 *  - Forms v1 submissions (`GET /form-integrations/v1/submissions/forms/{form_guid}`: results[]
 *    { conversionId, submittedAt, values[], pageUrl }, paging.next.after; limit <= 50, newest
 *    first) and forms v3 list (`GET /marketing/v3/forms`).
 *  - OAuth v1 token refresh (`POST /oauth/v1/token`).
 */
import { EmuHttpError } from '../http.ts';
import type { EmuRequest, Handler, RouteDef } from '../http.ts';
import { fnv1a } from '../prng.ts';
import { HubSpotRateLimiter } from './ratelimit.ts';
import type { HubSpotRateLimitOptions } from './ratelimit.ts';
import { cmpId, HS_OBJECT_TYPES, HS_PROPERTIES, propertyDef } from './store.ts';
import type { HsObject, HsObjectType, HubSpotStore } from './store.ts';

export interface HubSpotRouteOptions {
  rateLimits?: HubSpotRateLimitOptions;
  /** Private-app token accepted from the start. Default 'pat-na1-sandbox-0000'. */
  accessToken?: string;
  /** OAuth app credentials for /oauth/v1/token. Defaults 'mpm-hubspot-client' / 'mpm-hubspot-secret'. */
  clientId?: string;
  clientSecret?: string;
  /** Portal (hub) id in email events. Default 62515. */
  portalId?: number;
  /** Search results reachable per query. Default 10000 (HubSpot's ceiling). */
  searchResultCeiling?: number;
}

export class HubSpotApiState {
  readonly accessTokens = new Set<string>();
  readonly refreshTokens = new Set<string>();
  readonly initialAccessToken: string;
  readonly initialRefreshToken: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly portalId: number;
  readonly searchResultCeiling: number;
  readonly limiter: HubSpotRateLimiter;
  /** Pages served per (route, object type) read; a request without `after` starts a new read. */
  readonly readPages = new Map<string, number>();
  private counter = 0;

  constructor(opts: HubSpotRouteOptions, now: () => number) {
    this.initialAccessToken = opts.accessToken ?? 'pat-na1-sandbox-0000';
    this.accessTokens.add(this.initialAccessToken);
    this.clientId = opts.clientId ?? 'mpm-hubspot-client';
    this.clientSecret = opts.clientSecret ?? 'mpm-hubspot-secret';
    this.portalId = opts.portalId ?? 62515;
    this.searchResultCeiling = opts.searchResultCeiling ?? 10_000;
    this.limiter = new HubSpotRateLimiter(opts.rateLimits, now);
    this.initialRefreshToken = this.issueRefreshToken();
  }
  issueAccessToken(): string {
    const t = `CJSP5qf1sandbox-oauth-${++this.counter}`;
    this.accessTokens.add(t);
    return t;
  }
  issueRefreshToken(): string {
    const t = `6f18f21e-sandbox-refresh-${++this.counter}`;
    this.refreshTokens.add(t);
    return t;
  }
  expireAccessToken(token: string): void {
    this.accessTokens.delete(token);
  }
}

function hsError(status: number, category: string, message: string, extra: Record<string, unknown> = {}): EmuHttpError {
  const cid = fnv1a(`${category}|${message}`).toString(16).padStart(8, '0');
  return new EmuHttpError(status, { status: 'error', message, correlationId: `${cid}-0000-4000-8000-${cid}${cid.slice(0, 4)}`, category, ...extra });
}

const DEFAULT_PROPERTIES: Record<HsObjectType, string[]> = {
  contacts: ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'],
  companies: ['createdate', 'domain', 'hs_lastmodifieddate', 'hs_object_id', 'name'],
  deals: ['amount', 'closedate', 'createdate', 'dealname', 'dealstage', 'hs_lastmodifieddate', 'hs_object_id', 'pipeline'],
};

/** Singular names used in association type labels (`deal_to_contact`). */
const SINGULAR: Record<HsObjectType, string> = { contacts: 'contact', companies: 'company', deals: 'deal' };

/** HubSpot-defined association type ids (v4 "Associations" guide, default type ids). */
const ASSOC_TYPES: Record<string, { typeId: number; label: string | null }[]> = {
  'contacts>companies': [{ typeId: 1, label: 'Primary' }, { typeId: 279, label: null }],
  'companies>contacts': [{ typeId: 2, label: 'Primary' }, { typeId: 280, label: null }],
  'deals>contacts': [{ typeId: 3, label: null }],
  'contacts>deals': [{ typeId: 4, label: null }],
  'deals>companies': [{ typeId: 5, label: 'Primary' }, { typeId: 341, label: null }],
  'companies>deals': [{ typeId: 6, label: 'Primary' }, { typeId: 342, label: null }],
};

/** Accepts `contacts`, `contact`, `0-1` style object type names. */
function objectType(name: string | undefined): HsObjectType {
  switch ((name ?? '').toLowerCase()) {
    case 'contacts':
    case 'contact':
    case '0-1':
      return 'contacts';
    case 'companies':
    case 'company':
    case '0-2':
      return 'companies';
    case 'deals':
    case 'deal':
    case '0-3':
      return 'deals';
    default:
      throw hsError(400, 'VALIDATION_ERROR', `Unable to infer object type from: ${String(name)}`);
  }
}

function csvParam(req: EmuRequest, name: string): string[] {
  return req.query
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function shapeProperties(type: HsObjectType, obj: HsObject, requested: string[]): Record<string, string | null> {
  const names = requested.length > 0 ? requested : DEFAULT_PROPERTIES[type];
  const out: Record<string, string | null> = {};
  for (const n of names) {
    if (n in obj.properties) out[n] = obj.properties[n] ?? null;
    else if (propertyDef(type, n)) out[n] = null;
  }
  return out;
}

function shapeHistory(obj: HsObject, names: string[]): Record<string, unknown[]> | undefined {
  if (names.length === 0) return undefined;
  const out: Record<string, unknown[]> = {};
  for (const n of names) {
    const list = obj.history[n] ?? [];
    // Newest first, as HubSpot returns property history.
    out[n] = [...list].reverse().map((h) => ({ value: h.value, timestamp: h.timestamp, sourceType: h.sourceType, ...(h.sourceId ? { sourceId: h.sourceId } : {}) }));
  }
  return out;
}

export function hubspotRoutes(store: HubSpotStore, state: HubSpotApiState): RouteDef[] {
  const shapeObject = (type: HsObjectType, obj: HsObject, props: string[], history: string[], assocTypes: HsObjectType[]): Record<string, unknown> => {
    const out: Record<string, unknown> = { id: obj.id, properties: shapeProperties(type, obj, props) };
    const h = shapeHistory(obj, history);
    if (h) out['propertiesWithHistory'] = h;
    out['createdAt'] = obj.createdAt;
    out['updatedAt'] = obj.updatedAt;
    out['archived'] = obj.archived;
    if (obj.archivedAt) out['archivedAt'] = obj.archivedAt;
    if (assocTypes.length > 0) {
      const assoc: Record<string, unknown> = {};
      for (const to of assocTypes) {
        const ids = store.associations(type, obj.id, to);
        if (ids.length > 0) assoc[to] = { results: ids.map((id) => ({ id, type: `${SINGULAR[type]}_to_${SINGULAR[to]}` })) };
      }
      if (Object.keys(assoc).length > 0) out['associations'] = assoc;
    }
    return out;
  };

  const nextPage = (key: string, startsRead: boolean): number => {
    const page = startsRead ? 1 : (state.readPages.get(key) ?? 0) + 1;
    state.readPages.set(key, page);
    return page;
  };

  /** Authenticated, rate-limited call. */
  const api = (fn: Handler, isSearch = false): Handler => async (req) => {
    const auth = req.headers['authorization'];
    const token = auth?.replace(/^Bearer\s+/i, '').trim() ?? '';
    if (!state.accessTokens.has(token)) {
      throw hsError(401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview');
    }
    const rate = state.limiter.check(isSearch);
    if (!rate.ok) throw new EmuHttpError(rate.status, rate.body, rate.headers);
    try {
      const res = await fn(req);
      return { ...res, headers: { ...rate.headers, ...(res.headers ?? {}) } };
    } catch (err) {
      if (err instanceof EmuHttpError) throw new EmuHttpError(err.status, err.body, { ...rate.headers, ...err.headers });
      throw err;
    }
  };

  const list: Handler = (req) => {
    const type = objectType(req.params['type']);
    const limit = Math.min(100, Math.max(1, Number(req.query.get('limit') ?? '10') || 10));
    const after = req.query.get('after');
    const archived = req.query.get('archived') === 'true';
    const all = store.list(type, archived);
    const start = after ? all.findIndex((o) => cmpId(o.id, after) >= 0) : 0;
    const from = start < 0 ? all.length : start;
    const page = all.slice(from, from + limit);
    const props = csvParam(req, 'properties');
    const history = csvParam(req, 'propertiesWithHistory');
    const assocTypes = csvParam(req, 'associations').map(objectType);
    const body: Record<string, unknown> = { results: page.map((o) => shapeObject(type, o, props, history, assocTypes)) };
    const next = all[from + limit];
    if (next) {
      const q = new URLSearchParams(req.query);
      q.set('after', next.id);
      body['paging'] = { next: { after: next.id, link: `${req.origin}${req.path}?${q.toString()}` } };
    }
    const pageNo = nextPage(`list:${type}`, !after);
    store.pageServed({ route: 'list', objectType: type, page: pageNo, ids: all.map((o) => o.id), served: from + page.length });
    return { status: 200, body };
  };

  const read: Handler = (req) => {
    const type = objectType(req.params['type']);
    const id = req.params['id'] as string;
    const obj = store.get(type, id);
    const archived = req.query.get('archived') === 'true';
    if (!obj || obj.archived !== archived) {
      throw hsError(404, 'OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.', { context: { id: [id] } });
    }
    return { status: 200, body: shapeObject(type, obj, csvParam(req, 'properties'), csvParam(req, 'propertiesWithHistory'), csvParam(req, 'associations').map(objectType)) };
  };

  const batchRead: Handler = (req) => {
    const type = objectType(req.params['type']);
    const body = req.json<{ inputs?: { id?: string }[]; properties?: string[]; propertiesWithHistory?: string[]; idProperty?: string }>();
    const inputs = body.inputs ?? [];
    if (inputs.length > 100) throw hsError(400, 'VALIDATION_ERROR', 'Batch input limit exceeded: 100');
    const archived = req.query.get('archived') === 'true';
    const started = new Date(store.now()).toISOString();
    const results: Record<string, unknown>[] = [];
    const missing: string[] = [];
    for (const input of inputs) {
      const id = String(input.id ?? '');
      const obj = store.get(type, id);
      if (obj && obj.archived === archived) results.push(shapeObject(type, obj, body.properties ?? [], body.propertiesWithHistory ?? [], []));
      else missing.push(id);
    }
    const out: Record<string, unknown> = { status: 'COMPLETE', results, startedAt: started, completedAt: new Date(store.now()).toISOString() };
    if (missing.length > 0) {
      out['numErrors'] = 1;
      out['errors'] = [{ status: 'error', category: 'OBJECT_NOT_FOUND', message: `Could not get some ${SINGULAR[type].toUpperCase()} objects, they may be deleted or not exist. Check that ids are valid.`, context: { ids: missing } }];
      return { status: 207, body: out };
    }
    return { status: 200, body: out };
  };

  const search: Handler = (req) => {
    const type = objectType(req.params['type']);
    const body = req.json<{
      filterGroups?: { filters?: { propertyName: string; operator: string; value?: unknown; highValue?: unknown; values?: unknown[] }[] }[];
      sorts?: (string | { propertyName: string; direction?: string })[];
      properties?: string[];
      limit?: number;
      after?: string | number;
      query?: string;
    }>();
    const limit = body.limit ?? 10;
    if (limit > 200) throw hsError(400, 'VALIDATION_ERROR', `limit must be at most 200 (got ${limit})`);
    const offset = Number(body.after ?? 0);
    if (!Number.isInteger(offset) || offset < 0) throw hsError(400, 'VALIDATION_ERROR', `Invalid after: ${String(body.after)}`);
    if (offset >= state.searchResultCeiling) {
      // The documented ceiling: a search can reach at most 10,000 results.
      throw hsError(400, 'VALIDATION_ERROR', `There was a problem with the request. The search results are limited to ${state.searchResultCeiling} results; paging past result ${state.searchResultCeiling} is not supported.`);
    }
    const groups = body.filterGroups ?? [];
    if (groups.length > 5) throw hsError(400, 'VALIDATION_ERROR', 'Too many filter groups (max 5)');
    const tests = groups.map((g) => (g.filters ?? []).map((f) => filterTest(type, f)));
    const query = body.query?.toLowerCase();
    let rows = store.list(type, false).filter((o) => {
      if (tests.length > 0 && !tests.some((group) => group.every((t) => t(o)))) return false;
      if (query && !Object.values(o.properties).some((v) => v?.toLowerCase().includes(query))) return false;
      return true;
    });
    const sorts = (body.sorts ?? []).map((s) => (typeof s === 'string' ? { propertyName: s.replace(/^-/, ''), direction: s.startsWith('-') ? 'DESCENDING' : 'ASCENDING' } : { propertyName: s.propertyName, direction: s.direction ?? 'ASCENDING' }));
    if (sorts.length > 1) throw hsError(400, 'VALIDATION_ERROR', 'Only one sort is supported');
    rows = [...rows].sort((a, b) => {
      for (const s of sorts) {
        const c = compareProp(type, s.propertyName, a, b);
        if (c !== 0) return s.direction === 'DESCENDING' ? -c : c;
      }
      return cmpId(a.id, b.id);
    });
    const page = rows.slice(offset, offset + limit);
    const props = body.properties ?? [];
    const out: Record<string, unknown> = {
      total: rows.length,
      results: page.map((o) => ({ id: o.id, properties: shapeProperties(type, o, props), createdAt: o.createdAt, updatedAt: o.updatedAt, archived: false })),
    };
    if (offset + limit < rows.length) out['paging'] = { next: { after: String(offset + limit) } };
    const pageNo = nextPage(`search:${type}`, offset === 0);
    store.pageServed({ route: 'search', objectType: type, page: pageNo, ids: rows.map((o) => o.id), served: offset + page.length });
    return { status: 200, body: out };
  };

  const assocBatch: Handler = (req) => {
    const from = objectType(req.params['from']);
    const to = objectType(req.params['to']);
    const body = req.json<{ inputs?: { id?: string }[] }>();
    const started = new Date(store.now()).toISOString();
    const results: Record<string, unknown>[] = [];
    const errors: Record<string, unknown>[] = [];
    const types = ASSOC_TYPES[`${from}>${to}`] ?? [];
    for (const input of body.inputs ?? []) {
      const id = String(input.id ?? '');
      const ids = store.get(from, id)?.archived === false ? store.associations(from, id, to) : [];
      if (ids.length === 0) {
        errors.push({ status: 'error', category: 'OBJECT_NOT_FOUND', subCategory: 'crm.associations.NO_ASSOCIATIONS_FOUND', message: `No ${SINGULAR[to]} is associated with ${SINGULAR[from]} ${id}.`, context: { fromObjectId: [id] } });
        continue;
      }
      results.push({
        from: { id },
        to: ids.map((toId) => ({ toObjectId: Number(toId), associationTypes: types.map((t) => ({ category: 'HUBSPOT_DEFINED', typeId: t.typeId, label: t.label })) })),
      });
    }
    const out: Record<string, unknown> = { status: 'COMPLETE', results, startedAt: started, completedAt: new Date(store.now()).toISOString() };
    if (errors.length > 0) {
      out['numErrors'] = errors.length;
      out['errors'] = errors;
      return { status: 207, body: out };
    }
    return { status: 200, body: out };
  };

  const pipelines: Handler = () => ({
    status: 200,
    body: {
      results: [
        {
          id: 'default',
          label: 'Sales Pipeline',
          displayOrder: 0,
          archived: false,
          createdAt: '2020-01-01T00:00:00.000Z',
          updatedAt: '2020-01-01T00:00:00.000Z',
          stages: DEAL_STAGES.map((s, i) => ({
            id: s.id,
            label: s.label,
            displayOrder: i,
            metadata: { isClosed: String(s.isClosed), probability: String(s.probability) },
            archived: false,
            createdAt: '2020-01-01T00:00:00.000Z',
            updatedAt: '2020-01-01T00:00:00.000Z',
            writePermissions: 'CRM_PERMISSIONS_ENFORCEMENT',
          })),
        },
      ],
    },
  });

  const properties: Handler = (req) => {
    const type = objectType(req.params['type']);
    return {
      status: 200,
      body: {
        results: HS_PROPERTIES[type].map((p, i) => ({
          name: p.name,
          label: p.label,
          type: p.type,
          fieldType: p.fieldType,
          groupName: p.groupName,
          description: '',
          displayOrder: i,
          hasUniqueValue: p.name === 'hs_object_id',
          hidden: false,
          calculated: p.name === 'hs_object_id' || p.name.endsWith('lastmodifieddate'),
          externalOptions: false,
          formField: ['email', 'firstname', 'lastname', 'jobtitle', 'company'].includes(p.name),
          options: p.name === 'dealstage' ? DEAL_STAGES.map((s, j) => ({ label: s.label, value: s.id, displayOrder: j, hidden: false })) : [],
          createdAt: '2020-01-01T00:00:00.000Z',
          updatedAt: '2020-01-01T00:00:00.000Z',
          archived: false,
          modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: p.name === 'hs_object_id' },
        })),
      },
    };
  };

  const emailEvents: Handler = (req) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.get('limit') ?? '100') || 100));
    const offsetToken = req.query.get('offset');
    const offset = offsetToken ? Number(Buffer.from(offsetToken, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw hsError(400, 'VALIDATION_ERROR', 'Invalid offset');
    const start = Number(req.query.get('startTimestamp') ?? '-Infinity');
    const end = Number(req.query.get('endTimestamp') ?? 'Infinity');
    const eventType = req.query.get('eventType');
    const campaignId = req.query.get('campaignId');
    const recipient = req.query.get('recipient');
    const events = store.emailEvents
      .filter((e) => e.created >= start && e.created <= end)
      .filter((e) => !eventType || e.type === eventType)
      .filter((e) => !campaignId || String(e.emailCampaignId) === campaignId)
      .filter((e) => !recipient || e.recipient === recipient)
      .sort((a, b) => b.created - a.created || (a.id < b.id ? -1 : 1));
    const page = events.slice(offset, offset + limit);
    const hasMore = offset + limit < events.length;
    const body: Record<string, unknown> = {
      events: page.map((e) => ({
        // 113 is the BatchEmail application (marketing emails).
        appId: 113,
        appName: 'BatchEmail',
        location: {},
        id: e.id,
        created: e.created,
        recipient: e.recipient,
        portalId: state.portalId,
        type: e.type,
        filteredEvent: false,
        emailCampaignId: e.emailCampaignId,
        sentBy: { id: `${e.emailCampaignId}-sent`, created: e.created },
        ...(e.url ? { url: e.url } : {}),
        ...(e.subject ? { subject: e.subject } : {}),
        ...(e.type === 'OPEN' || e.type === 'CLICK' ? { userAgent: 'Mozilla/5.0', browser: { name: 'Chrome', family: 'Chrome', type: 'Browser' } } : {}),
      })),
      hasMore,
    };
    body['offset'] = Buffer.from(String(hasMore ? offset + limit : events.length)).toString('base64url');
    const pageNo = nextPage('emailEvents', !offsetToken);
    store.pageServed({ route: 'emailEvents', page: pageNo, ids: events.map((e) => e.id), served: offset + page.length });
    return { status: 200, body };
  };

  const forms: Handler = (req) => {
    const limit = Math.min(100, Math.max(1, Number(req.query.get('limit') ?? '20') || 20));
    const offset = Number(req.query.get('after') ?? '0') || 0;
    const page = store.forms.slice(offset, offset + limit);
    const body: Record<string, unknown> = {
      results: page.map((f) => ({
        id: f.id,
        name: f.name,
        formType: 'hubspot',
        createdAt: f.createdAt,
        updatedAt: f.updatedAt,
        archived: false,
        fieldGroups: [
          { groupType: 'default_group', richTextType: 'text', fields: ['email', 'firstname', 'lastname', 'company'].map((n) => ({ objectTypeId: '0-1', name: n, label: n, required: n === 'email', hidden: false, fieldType: n === 'email' ? 'email' : 'single_line_text' })) },
        ],
        configuration: { language: 'en', createNewContactForNewEmail: true, allowLinkToResetKnownValues: false, archivable: true, cloneable: true, editable: true, lifecycleStages: [], notifyContactOwner: false, notifyRecipients: [], postSubmitAction: { type: 'thank_you', value: 'Thanks!' }, prePopulateKnownValues: true, recaptchaEnabled: false },
        displayOptions: { renderRawHtml: false, theme: 'default_style', submitButtonText: 'Submit', style: {} },
        legalConsentOptions: { type: 'none' },
      })),
    };
    if (offset + limit < store.forms.length) body['paging'] = { next: { after: String(offset + limit), link: `${req.origin}/marketing/v3/forms?after=${offset + limit}` } };
    return { status: 200, body };
  };

  const submissions: Handler = (req) => {
    const guid = req.params['formGuid'] as string;
    if (!store.forms.some((f) => f.id === guid)) throw hsError(404, 'OBJECT_NOT_FOUND', `Form ${guid} not found`);
    const limit = Math.min(50, Math.max(1, Number(req.query.get('limit') ?? '20') || 20));
    const afterToken = req.query.get('after');
    const offset = afterToken ? Number(Buffer.from(afterToken, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw hsError(400, 'VALIDATION_ERROR', 'Invalid after');
    // Newest first, as documented.
    const all = [...(store.submissions.get(guid) ?? [])].sort((a, b) => b.submittedAt - a.submittedAt || (a.conversionId < b.conversionId ? -1 : 1));
    const page = all.slice(offset, offset + limit);
    const body: Record<string, unknown> = { results: page };
    if (offset + limit < all.length) {
      const after = Buffer.from(String(offset + limit)).toString('base64url');
      body['paging'] = { next: { after, link: `${req.origin}${req.path}?after=${after}&limit=${limit}` } };
    }
    const pageNo = nextPage(`submissions:${guid}`, !afterToken);
    store.pageServed({ route: 'formSubmissions', page: pageNo, ids: all.map((s) => s.conversionId), served: offset + page.length });
    return { status: 200, body };
  };

  const oauthToken: Handler = (req) => {
    const form = req.form();
    const fail = (message: string, status = 'BAD_REFRESH_TOKEN'): never => {
      throw new EmuHttpError(400, { status, message, correlationId: '00000000-0000-4000-8000-000000000000' });
    };
    if (form.get('client_id') !== state.clientId || form.get('client_secret') !== state.clientSecret) fail('Invalid client credentials', 'BAD_CLIENT_ID');
    if (form.get('grant_type') !== 'refresh_token') fail('Unsupported grant type', 'BAD_GRANT_TYPE');
    const refresh = form.get('refresh_token') ?? '';
    if (!state.refreshTokens.has(refresh)) fail('missing or unknown refresh token');
    return { status: 200, body: { token_type: 'bearer', refresh_token: refresh, access_token: state.issueAccessToken(), expires_in: 1800 } };
  };

  const T = String.raw`(?<type>contacts|companies|deals|contact|company|deal|0-[123])`;
  return [
    { api: 'hubspot', route: 'oauthToken', method: 'POST', pattern: /^\/oauth\/v1\/token\/?$/, handler: oauthToken },
    { api: 'hubspot', route: 'search', method: 'POST', pattern: new RegExp(`^/crm/v3/objects/${T}/search/?$`), handler: api(search, true) },
    { api: 'hubspot', route: 'batchRead', method: 'POST', pattern: new RegExp(`^/crm/v3/objects/${T}/batch/read/?$`), handler: api(batchRead) },
    { api: 'hubspot', route: 'list', method: 'GET', pattern: new RegExp(`^/crm/v3/objects/${T}/?$`), handler: api(list) },
    { api: 'hubspot', route: 'read', method: 'GET', pattern: new RegExp(`^/crm/v3/objects/${T}/(?<id>\\d+)/?$`), handler: api(read) },
    { api: 'hubspot', route: 'associationsBatchRead', method: 'POST', pattern: /^\/crm\/v4\/associations\/(?<from>[\w-]+)\/(?<to>[\w-]+)\/batch\/read\/?$/, handler: api(assocBatch) },
    { api: 'hubspot', route: 'pipelines', method: 'GET', pattern: /^\/crm\/v3\/pipelines\/(deals|deal|0-3)\/?$/, handler: api(pipelines) },
    { api: 'hubspot', route: 'properties', method: 'GET', pattern: new RegExp(`^/crm/v3/properties/${T}/?$`), handler: api(properties) },
    { api: 'hubspot', route: 'emailEvents', method: 'GET', pattern: /^\/email\/public\/v1\/events\/?$/, handler: api(emailEvents) },
    { api: 'hubspot', route: 'forms', method: 'GET', pattern: /^\/marketing\/v3\/forms\/?$/, handler: api(forms) },
    { api: 'hubspot', route: 'formSubmissions', method: 'GET', pattern: /^\/form-integrations\/v1\/submissions\/forms\/(?<formGuid>[0-9a-fA-F-]+)\/?$/, handler: api(submissions) },
  ];
}

/** HubSpot's default sales pipeline stages (ids as in every portal's 'default' pipeline). */
export const DEAL_STAGES = [
  { id: 'appointmentscheduled', label: 'Appointment Scheduled', probability: 0.2, isClosed: false },
  { id: 'qualifiedtobuy', label: 'Qualified To Buy', probability: 0.4, isClosed: false },
  { id: 'presentationscheduled', label: 'Presentation Scheduled', probability: 0.6, isClosed: false },
  { id: 'decisionmakerboughtin', label: 'Decision Maker Bought-In', probability: 0.8, isClosed: false },
  { id: 'contractsent', label: 'Contract Sent', probability: 0.9, isClosed: false },
  { id: 'closedwon', label: 'Closed Won', probability: 1.0, isClosed: true },
  { id: 'closedlost', label: 'Closed Lost', probability: 0.0, isClosed: true },
] as const;

/** Converts a property value or filter value to a comparable: numbers for number/datetime/date
 * properties (datetime accepts epoch ms or ISO), lower-cased strings otherwise. */
function comparable(type: HsObjectType, prop: string, raw: unknown): number | string | null {
  if (raw === null || raw === undefined) return null;
  const text = String(raw);
  const def = propertyDef(type, prop);
  const kind = prop === 'hs_object_id' ? 'number' : def?.type;
  if (kind === 'datetime' || kind === 'date') {
    if (/^-?\d+$/.test(text)) return Number(text);
    const ms = Date.parse(text);
    return Number.isFinite(ms) ? ms : null;
  }
  if (kind === 'number') {
    const n = Number(text);
    return text.trim() !== '' && Number.isFinite(n) ? n : null;
  }
  return text.toLowerCase();
}

function propValue(o: HsObject, prop: string): string | null | undefined {
  if (prop === 'hs_object_id') return o.id;
  return o.properties[prop];
}

function compareProp(type: HsObjectType, prop: string, a: HsObject, b: HsObject): number {
  const va = comparable(type, prop, propValue(a, prop));
  const vb = comparable(type, prop, propValue(b, prop));
  if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
  if (typeof va === 'number' && typeof vb === 'number') return va - vb;
  return String(va) < String(vb) ? -1 : String(va) > String(vb) ? 1 : 0;
}

function filterTest(type: HsObjectType, f: { propertyName: string; operator: string; value?: unknown; highValue?: unknown; values?: unknown[] }): (o: HsObject) => boolean {
  const prop = f.propertyName;
  const cmp = (o: HsObject, raw: unknown): number | null => {
    const v = comparable(type, prop, propValue(o, prop));
    const w = comparable(type, prop, raw);
    if (v === null || w === null) return null;
    if (typeof v === 'number' && typeof w === 'number') return v - w;
    return String(v) < String(w) ? -1 : String(v) > String(w) ? 1 : 0;
  };
  switch (f.operator) {
    case 'EQ':
      return (o) => cmp(o, f.value) === 0;
    case 'NEQ':
      return (o) => cmp(o, f.value) !== 0;
    case 'LT':
      return (o) => (cmp(o, f.value) ?? 0) < 0 && cmp(o, f.value) !== null;
    case 'LTE':
      return (o) => {
        const c = cmp(o, f.value);
        return c !== null && c <= 0;
      };
    case 'GT':
      return (o) => {
        const c = cmp(o, f.value);
        return c !== null && c > 0;
      };
    case 'GTE':
      return (o) => {
        const c = cmp(o, f.value);
        return c !== null && c >= 0;
      };
    case 'BETWEEN':
      return (o) => {
        const lo = cmp(o, f.value);
        const hi = cmp(o, f.highValue);
        return lo !== null && hi !== null && lo >= 0 && hi <= 0;
      };
    case 'IN':
      return (o) => (f.values ?? []).some((v) => cmp(o, v) === 0);
    case 'NOT_IN':
      return (o) => !(f.values ?? []).some((v) => cmp(o, v) === 0);
    case 'HAS_PROPERTY':
      return (o) => {
        const v = propValue(o, prop);
        return v !== null && v !== undefined && v !== '';
      };
    case 'NOT_HAS_PROPERTY':
      return (o) => {
        const v = propValue(o, prop);
        return v === null || v === undefined || v === '';
      };
    default:
      throw hsError(400, 'VALIDATION_ERROR', `Unsupported operator ${f.operator}`);
  }
}

export const HS_OBJECT_TYPE_NAMES = HS_OBJECT_TYPES;

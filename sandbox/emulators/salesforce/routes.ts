/**
 * Salesforce REST + Bulk API 2.0 + OAuth token routes over a {@link SalesforceStore}.
 *
 * Wire formats follow the Salesforce docs:
 *  - "Query" / "QueryAll" / "Query More Results" (REST API Developer Guide, resources_query.htm):
 *    `totalSize`, `done`, `nextRecordsUrl` (`/services/data/vXX.X/query/01g...-2000`), `records[]`
 *    with `attributes: { type, url }`.
 *  - "Status Codes and Error Responses": `[{"message": ..., "errorCode": ...}]`, 401
 *    INVALID_SESSION_ID, 400 MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE.
 *  - "Limits" resource and the `Sforce-Limit-Info: api-usage=N/LIMIT` response header.
 *  - Bulk API 2.0 "Create a Query Job", "Get Information About a Query Job", "Get Results for a
 *    Query Job" (api_asynch/query_get_job_results.htm): CSV, `Sforce-Locator` (`null` on the last
 *    set), `Sforce-NumberOfRecords`, `maxRecords` and `locator` parameters.
 *  - "OAuth 2.0 Refresh Token Flow" / "Client Credentials Flow": token response fields and the
 *    `invalid_grant` error.
 */
import { EmuHttpError } from '../http.ts';
import type { EmuRequest, EmuResponse, Handler, RouteDef } from '../http.ts';
import { makeSfId } from './ids.ts';
import { SF_OBJECTS, SF_OBJECT_NAMES, findObject } from './schema.ts';
import type { SfField, SfObjectDef } from './schema.ts';
import { parseSoql, SoqlSyntaxError } from './soql.ts';
import type { SoqlQuery } from './soql.ts';
import { parseSfDateTime, SoqlFieldError, SoqlObjectError } from './store.ts';
import type { SalesforceStore, SfRecord, SfValue } from './store.ts';

export interface SalesforceRouteOptions {
  /** Daily API request limit reported by /limits and Sforce-Limit-Info. Default 100000. */
  dailyApiLimit?: number;
  /** REST query batch size. Default 2000 (Salesforce's maximum); `Sforce-Query-Options:
   * batchSize=N` lowers it per request (200..2000). */
  batchSize?: number;
  /** Issue a new refresh token on every refresh and revoke the old one. Default false. */
  rotateRefreshTokens?: boolean;
  /** Connected-app credentials the token endpoint accepts. Defaults 'mpm-sandbox-client' /
   * 'mpm-sandbox-secret'. */
  clientId?: string;
  clientSecret?: string;
  /** How many status polls a Bulk 2.0 query job answers InProgress before JobComplete. Default 1. */
  bulkPollsBeforeComplete?: number;
  /** Default `maxRecords` of a Bulk 2.0 results page. Default 10000. */
  bulkDefaultMaxRecords?: number;
  /** Organization id (00D...). Default a fixed sandbox org id. */
  orgId?: string;
}

interface QueryCursor {
  id: string;
  object: SfObjectDef;
  fields: SfField[];
  ids: string[];
  pageSize: number;
  /** Pages served so far (for page hooks). */
  pagesServed: number;
}

interface BulkJob {
  id: string;
  operation: 'query' | 'queryAll';
  object: SfObjectDef;
  fields: SfField[];
  ids: string[];
  createdDate: string;
  polls: number;
  state: 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
  pagesServed: number;
  version: string;
}

const V = String.raw`/services/data/v(?<version>\d+\.\d)`;

/** Mutable emulator state besides the records: tokens, API usage, cursors, bulk jobs. */
export class SalesforceApiState {
  readonly dailyApiLimit: number;
  readonly batchSize: number;
  readonly rotateRefreshTokens: boolean;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly bulkPollsBeforeComplete: number;
  readonly bulkDefaultMaxRecords: number;
  readonly orgId: string;
  readonly userId: string;
  apiUsage = 0;
  readonly accessTokens = new Set<string>();
  readonly refreshTokens = new Set<string>();
  readonly cursors = new Map<string, QueryCursor>();
  readonly bulkJobs = new Map<string, BulkJob>();
  private tokenCounter = 0;
  private cursorCounter = 0;
  private jobCounter = 0;
  /** When set, the next Bulk job created ends in state Failed. */
  failNextBulkJob = false;
  readonly initialAccessToken: string;
  readonly initialRefreshToken: string;

  constructor(opts: SalesforceRouteOptions = {}) {
    this.dailyApiLimit = opts.dailyApiLimit ?? 100_000;
    this.batchSize = opts.batchSize ?? 2000;
    this.rotateRefreshTokens = opts.rotateRefreshTokens ?? false;
    this.clientId = opts.clientId ?? 'mpm-sandbox-client';
    this.clientSecret = opts.clientSecret ?? 'mpm-sandbox-secret';
    this.bulkPollsBeforeComplete = opts.bulkPollsBeforeComplete ?? 1;
    this.bulkDefaultMaxRecords = opts.bulkDefaultMaxRecords ?? 10_000;
    this.orgId = opts.orgId ?? '00D5g000004SANDBX';
    this.userId = '0055g000003SANDBX';
    this.initialAccessToken = this.issueAccessToken();
    this.initialRefreshToken = this.issueRefreshToken();
  }

  issueAccessToken(): string {
    const token = `${this.orgId.slice(0, 15)}!AQ8AQsandbox.access.${++this.tokenCounter}`;
    this.accessTokens.add(token);
    return token;
  }
  issueRefreshToken(): string {
    const token = `5Aep861sandbox.refresh.${++this.tokenCounter}`;
    this.refreshTokens.add(token);
    return token;
  }
  /** Revokes an access token (the client gets 401 INVALID_SESSION_ID and must refresh). */
  expireAccessToken(token: string): void {
    this.accessTokens.delete(token);
  }
  newCursorId(): string {
    return `01g5g00000${String(++this.cursorCounter).padStart(8, '0')}`;
  }
  newJobId(): string {
    return makeSfId('750', ++this.jobCounter);
  }
}

function sfError(status: number, errorCode: string, message: string): EmuHttpError {
  return new EmuHttpError(status, [{ message, errorCode }]);
}

function recordUrl(version: string, type: string, id: string): string {
  return `/services/data/v${version}/sobjects/${type}/${id}`;
}

function shapeRecord(version: string, object: SfObjectDef, fields: SfField[], rec: SfRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { attributes: { type: object.name, url: recordUrl(version, object.name, String(rec['Id'])) } };
  for (const f of fields) out[f.name] = rec[f.name] ?? null;
  return out;
}

function parseQuery(text: string | null): SoqlQuery {
  if (!text) throw sfError(400, 'MALFORMED_QUERY', 'A query string has to be specified');
  try {
    return parseSoql(text);
  } catch (err) {
    if (err instanceof SoqlSyntaxError) {
      throw sfError(400, 'MALFORMED_QUERY', `\n${text}\n${' '.repeat(err.position)}^\nERROR at Row:1:Column:${err.position + 1}\n${err.message}`);
    }
    throw err;
  }
}

function runSelect(store: SalesforceStore, q: SoqlQuery, includeDeleted: boolean): ReturnType<SalesforceStore['select']> {
  try {
    return store.select(q, includeDeleted);
  } catch (err) {
    if (err instanceof SoqlObjectError) throw sfError(400, 'INVALID_TYPE', err.message);
    if (err instanceof SoqlFieldError) throw sfError(400, 'INVALID_FIELD', err.message);
    throw err;
  }
}

function csvCell(v: SfValue, field: SfField): string {
  if (v === null) return '""';
  let text = String(v);
  // Bulk API CSV renders datetimes as `2024-01-31T10:00:00.000Z`.
  if (field.type === 'datetime' && typeof v === 'string') {
    const ms = parseSfDateTime(v);
    if (Number.isFinite(ms)) text = new Date(ms).toISOString();
  }
  return `"${text.replace(/"/g, '""')}"`;
}

function describeField(f: SfField): Record<string, unknown> {
  return {
    name: f.name,
    label: f.label,
    type: f.type,
    custom: f.custom,
    nillable: f.nillable,
    length: ['string', 'picklist', 'email', 'url'].includes(f.type) ? 255 : f.type === 'id' || f.type === 'reference' ? 18 : 0,
    precision: f.type === 'currency' ? 18 : 0,
    scale: f.type === 'currency' ? 2 : 0,
    referenceTo: f.referenceTo ?? [],
    relationshipName: f.type === 'reference' && f.name.endsWith('Id') ? f.name.slice(0, -2) : null,
    calculated: false,
    createable: !['id', 'datetime'].includes(f.type) || !['CreatedDate', 'SystemModstamp', 'LastModifiedDate'].includes(f.name),
    filterable: true,
    sortable: f.type !== 'textarea',
    picklistValues: [],
    soapType: soapType(f),
  };
}

function soapType(f: SfField): string {
  switch (f.type) {
    case 'id':
    case 'reference':
      return 'tns:ID';
    case 'boolean':
      return 'xsd:boolean';
    case 'date':
      return 'xsd:date';
    case 'datetime':
      return 'xsd:dateTime';
    case 'currency':
    case 'double':
    case 'percent':
      return 'xsd:double';
    case 'int':
      return 'xsd:int';
    default:
      return 'xsd:string';
  }
}

function sobjectSummary(version: string, o: SfObjectDef): Record<string, unknown> {
  const base = `/services/data/v${version}/sobjects/${o.name}`;
  return {
    name: o.name,
    label: o.label,
    labelPlural: o.labelPlural,
    keyPrefix: o.keyPrefix,
    custom: false,
    queryable: true,
    retrieveable: true,
    searchable: true,
    createable: o.name !== 'OpportunityHistory',
    updateable: o.name !== 'OpportunityHistory',
    deletable: o.name !== 'OpportunityHistory',
    urls: { sobject: base, describe: `${base}/describe`, rowTemplate: `${base}/{ID}` },
  };
}

function batchSizeOf(req: EmuRequest, state: SalesforceApiState): number {
  const header = req.headers['sforce-query-options'];
  const m = header ? /batchSize\s*=\s*(\d+)/i.exec(header) : null;
  if (!m?.[1]) return state.batchSize;
  return Math.min(2000, Math.max(200, Number(m[1])));
}

export function salesforceRoutes(store: SalesforceStore, state: SalesforceApiState): RouteDef[] {
  const limitHeader = (): Record<string, string> => ({ 'sforce-limit-info': `api-usage=${state.apiUsage}/${state.dailyApiLimit}` });

  /** Authenticated API call: counts usage, checks the session, adds Sforce-Limit-Info. */
  const api = (fn: Handler): Handler => async (req) => {
    state.apiUsage++;
    try {
      const auth = req.headers['authorization'];
      const token = auth ? auth.replace(/^(Bearer|OAuth)\s+/i, '').trim() : '';
      if (!state.accessTokens.has(token)) {
        throw sfError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
      }
      if (state.apiUsage > state.dailyApiLimit) {
        throw sfError(403, 'REQUEST_LIMIT_EXCEEDED', `TotalRequests Limit exceeded.`);
      }
      const res = await fn(req);
      return { ...res, headers: { ...limitHeader(), ...(res.headers ?? {}) } };
    } catch (err) {
      if (err instanceof EmuHttpError) throw new EmuHttpError(err.status, err.body, { ...limitHeader(), ...err.headers });
      throw err;
    }
  };

  const servePage = (version: string, cursor: QueryCursor, offset: number): EmuResponse => {
    const slice = cursor.ids.slice(offset, offset + cursor.pageSize);
    const records: Record<string, unknown>[] = [];
    for (const id of slice) {
      const rec = store.get(id);
      if (rec) records.push(shapeRecord(version, cursor.object, cursor.fields, rec));
    }
    const nextOffset = offset + slice.length;
    const done = nextOffset >= cursor.ids.length;
    const body: Record<string, unknown> = { totalSize: cursor.ids.length, done };
    if (!done) body['nextRecordsUrl'] = `/services/data/v${version}/query/${cursor.id}-${nextOffset}`;
    body['records'] = records;
    cursor.pagesServed++;
    store.pageServed({ object: cursor.object.name, page: cursor.pagesServed, ids: cursor.ids, served: nextOffset });
    if (done) state.cursors.delete(cursor.id);
    return { status: 200, body };
  };

  const query = (includeDeleted: boolean): Handler => (req) => {
    const version = req.params['version'] as string;
    const q = parseQuery(req.query.get('q'));
    const result = runSelect(store, q, includeDeleted);
    if (q.count) return { status: 200, body: { totalSize: result.records.length, done: true, records: [] } };
    const cursor: QueryCursor = {
      id: state.newCursorId(),
      object: result.object,
      fields: result.fields,
      ids: result.records.map((r) => String(r['Id'])),
      pageSize: batchSizeOf(req, state),
      pagesServed: 0,
    };
    state.cursors.set(cursor.id, cursor);
    return servePage(version, cursor, 0);
  };

  const queryMore: Handler = (req) => {
    const version = req.params['version'] as string;
    const locator = req.params['locator'] as string;
    const m = /^(?<cid>01g[0-9A-Za-z]+)-(?<offset>\d+)$/.exec(locator);
    const cursor = m?.groups ? state.cursors.get(m.groups['cid'] as string) : undefined;
    if (!m?.groups || !cursor) throw sfError(400, 'INVALID_QUERY_LOCATOR', 'invalid query locator');
    return servePage(version, cursor, Number(m.groups['offset']));
  };

  const token: Handler = (req) => {
    const form = req.form();
    const grant = form.get('grant_type');
    const fail = (status: number, error: string, description: string): never => {
      throw new EmuHttpError(status, { error, error_description: description });
    };
    const clientId = form.get('client_id');
    const clientSecret = form.get('client_secret');
    let basicId: string | undefined;
    let basicSecret: string | undefined;
    const auth = req.headers['authorization'];
    if (auth?.startsWith('Basic ')) {
      const [id, secret] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      basicId = id;
      basicSecret = secret;
    }
    if ((clientId ?? basicId) !== state.clientId) fail(400, 'invalid_client_id', 'client identifier invalid');
    if (clientSecret !== null || basicSecret !== undefined) {
      if ((clientSecret ?? basicSecret) !== state.clientSecret) fail(400, 'invalid_client', 'invalid client credentials');
    }
    const base = {
      signature: Buffer.from(`sig-${state.apiUsage}`).toString('base64'),
      scope: 'api refresh_token',
      instance_url: req.origin,
      id: `${req.origin}/id/${state.orgId}/${state.userId}`,
      token_type: 'Bearer',
      issued_at: String(store.now()),
    };
    if (grant === 'refresh_token') {
      const refresh = form.get('refresh_token') ?? '';
      if (!state.refreshTokens.has(refresh)) fail(400, 'invalid_grant', 'expired access/refresh token');
      const body: Record<string, string> = { access_token: state.issueAccessToken(), ...base };
      if (state.rotateRefreshTokens) {
        state.refreshTokens.delete(refresh);
        body['refresh_token'] = state.issueRefreshToken();
      }
      return { status: 200, body };
    }
    if (grant === 'client_credentials') {
      if (clientSecret === null && basicSecret === undefined) fail(400, 'invalid_client', 'client secret required');
      return { status: 200, body: { access_token: state.issueAccessToken(), ...base, scope: 'api' } };
    }
    return fail(400, 'unsupported_grant_type', 'grant type not supported');
  };

  const limits: Handler = () => ({
    status: 200,
    body: {
      DailyApiRequests: { Max: state.dailyApiLimit, Remaining: Math.max(0, state.dailyApiLimit - state.apiUsage) },
      DailyBulkV2QueryJobs: { Max: 10000, Remaining: 10000 - state.bulkJobs.size },
      DailyBulkV2QueryFileStorageMB: { Max: 976562, Remaining: 976562 },
    },
  });

  const objectParam = (req: EmuRequest): SfObjectDef => {
    const o = findObject(req.params['object'] ?? '');
    if (!o) throw sfError(404, 'NOT_FOUND', `The requested resource does not exist`);
    return o;
  };

  const describe: Handler = (req) => {
    const o = objectParam(req);
    // DescribeSObjectResult ("SOAP API Developer Guide" / REST "sObject Describe"): the object
    // properties every describe carries, then fields.
    return {
      status: 200,
      body: {
        ...sobjectSummary(req.params['version'] as string, o),
        activateable: false,
        childRelationships: [],
        compactLayoutable: true,
        customSetting: false,
        deprecatedAndHidden: false,
        feedEnabled: false,
        layoutable: true,
        mergeable: ['Account', 'Contact', 'Lead'].includes(o.name),
        mruEnabled: true,
        namedLayoutInfos: [],
        recordTypeInfos: [],
        replicateable: true,
        searchLayoutable: true,
        supportedScopes: [{ label: 'All ' + o.labelPlural.toLowerCase(), name: 'everything' }],
        triggerable: o.name !== 'OpportunityHistory',
        undeletable: o.name !== 'OpportunityHistory',
        fields: o.fields.map(describeField),
      },
    };
  };

  const sobjects: Handler = (req) => ({
    status: 200,
    body: { encoding: 'UTF-8', maxBatchSize: 200, sobjects: SF_OBJECT_NAMES.map((n) => sobjectSummary(req.params['version'] as string, SF_OBJECTS[n])) },
  });

  const retrieve: Handler = (req) => {
    const o = objectParam(req);
    const rec = store.get(req.params['id'] ?? '');
    if (!rec || rec['IsDeleted'] === true || store.objectOf(String(rec['Id']))?.name !== o.name) {
      throw sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    }
    const wanted = req.query.get('fields');
    const fields = wanted ? o.fields.filter((f) => wanted.split(',').some((w) => w.trim().toLowerCase() === f.name.toLowerCase())) : o.fields;
    return { status: 200, body: shapeRecord(req.params['version'] as string, o, fields, rec) };
  };

  const jobInfo = (job: BulkJob): Record<string, unknown> => {
    const info: Record<string, unknown> = {
      id: job.id,
      operation: job.operation,
      object: job.object.name,
      createdById: state.userId,
      createdDate: job.createdDate,
      systemModstamp: job.createdDate,
      state: job.state,
      concurrencyMode: 'Parallel',
      contentType: 'CSV',
      apiVersion: Number(job.version),
      lineEnding: 'LF',
      columnDelimiter: 'COMMA',
    };
    if (job.state === 'JobComplete') {
      info['numberRecordsProcessed'] = job.ids.length;
      info['retries'] = 0;
      info['totalProcessingTime'] = 100 + job.ids.length;
    }
    if (job.state === 'Failed') info['errorMessage'] = 'Query job failed';
    return info;
  };

  const bulkCreate: Handler = (req) => {
    const body = req.json<{ operation?: string; query?: string; columnDelimiter?: string; lineEnding?: string }>();
    if (body.operation !== 'query' && body.operation !== 'queryAll') {
      throw sfError(400, 'INVALIDJOB', `InvalidJob : Invalid operation: ${String(body.operation)}`);
    }
    if ((body.columnDelimiter && body.columnDelimiter !== 'COMMA') || (body.lineEnding && body.lineEnding !== 'LF')) {
      throw sfError(400, 'FEATURENOTENABLED', 'The emulator only produces COMMA-delimited, LF-terminated CSV');
    }
    const q = parseQuery(body.query ?? null);
    if (q.count) throw sfError(400, 'INVALIDJOB', 'Aggregate queries are not supported by Bulk API 2.0');
    const result = runSelect(store, q, body.operation === 'queryAll');
    const job: BulkJob = {
      id: state.newJobId(),
      operation: body.operation,
      object: result.object,
      fields: result.fields,
      ids: result.records.map((r) => String(r['Id'])),
      createdDate: new Date(store.now()).toISOString().replace('Z', '+0000'),
      polls: 0,
      state: 'UploadComplete',
      pagesServed: 0,
      version: req.params['version'] as string,
    };
    if (state.failNextBulkJob) {
      state.failNextBulkJob = false;
      job.polls = -1;
    }
    state.bulkJobs.set(job.id, job);
    return { status: 200, body: jobInfo(job) };
  };

  const jobParam = (req: EmuRequest): BulkJob => {
    const job = state.bulkJobs.get(req.params['jobId'] ?? '');
    if (!job) throw sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    return job;
  };

  const bulkStatus: Handler = (req) => {
    const job = jobParam(req);
    if (job.state === 'UploadComplete' || job.state === 'InProgress') {
      if (job.polls < 0) job.state = 'Failed';
      else if (job.polls >= state.bulkPollsBeforeComplete) job.state = 'JobComplete';
      else {
        job.state = 'InProgress';
        job.polls++;
      }
    }
    return { status: 200, body: jobInfo(job) };
  };

  const bulkResults: Handler = (req) => {
    const job = jobParam(req);
    if (job.state !== 'JobComplete') throw sfError(400, 'INVALIDJOBSTATE', `Job is not complete: ${job.state}`);
    if (req.params['version'] !== job.version) throw sfError(409, 'INVALIDVERSION', 'Use the API version the job was created with');
    const maxRecordsParam = req.query.get('maxRecords');
    const maxRecords = maxRecordsParam ? Math.max(1, Number(maxRecordsParam)) : state.bulkDefaultMaxRecords;
    const locator = req.query.get('locator');
    let offset = 0;
    if (locator) {
      offset = Number(Buffer.from(locator, 'base64').toString('utf8'));
      if (!Number.isInteger(offset) || offset < 0) throw sfError(400, 'INVALIDLOCATOR', 'Invalid locator');
    }
    const slice = job.ids.slice(offset, offset + maxRecords);
    const lines = [job.fields.map((f) => `"${f.name}"`).join(',')];
    for (const id of slice) {
      const rec = store.get(id);
      if (rec) lines.push(job.fields.map((f) => csvCell(rec[f.name] ?? null, f)).join(','));
    }
    const next = offset + slice.length;
    const nextLocator = next < job.ids.length ? Buffer.from(String(next)).toString('base64').replace(/=+$/, '') : 'null';
    job.pagesServed++;
    store.pageServed({ object: job.object.name, page: job.pagesServed, ids: job.ids, served: next });
    return {
      status: 200,
      headers: {
        'content-type': 'text/csv',
        'sforce-locator': nextLocator,
        'sforce-numberofrecords': String(slice.length),
      },
      body: `${lines.join('\n')}\n`,
    };
  };

  const bulkDelete: Handler = (req) => {
    jobParam(req);
    state.bulkJobs.delete(req.params['jobId'] as string);
    return { status: 204 };
  };

  const bulkAbort: Handler = (req) => {
    const job = jobParam(req);
    const body = req.json<{ state?: string }>();
    if (body.state !== 'Aborted') throw sfError(400, 'INVALIDJOBSTATE', 'Only state Aborted can be set on a query job');
    if (job.state !== 'JobComplete' && job.state !== 'Failed') job.state = 'Aborted';
    return { status: 200, body: jobInfo(job) };
  };

  const versions: Handler = (req) => ({
    status: 200,
    body: ['58.0', '59.0', '60.0', '61.0', '62.0', '63.0'].map((v) => ({ label: `v${v}`, url: `/services/data/v${v}`, version: v })),
  });

  return [
    { api: 'salesforce', route: 'token', method: 'POST', pattern: /^\/services\/oauth2\/token\/?$/, handler: token },
    { api: 'salesforce', route: 'versions', method: 'GET', pattern: /^\/services\/data\/?$/, handler: versions },
    { api: 'salesforce', route: 'limits', method: 'GET', pattern: new RegExp(`^${V}/limits/?$`), handler: api(limits) },
    { api: 'salesforce', route: 'sobjects', method: 'GET', pattern: new RegExp(`^${V}/sobjects/?$`), handler: api(sobjects) },
    { api: 'salesforce', route: 'describe', method: 'GET', pattern: new RegExp(`^${V}/sobjects/(?<object>\\w+)/describe/?$`), handler: api(describe) },
    { api: 'salesforce', route: 'retrieve', method: 'GET', pattern: new RegExp(`^${V}/sobjects/(?<object>\\w+)/(?<id>[a-zA-Z0-9]{15,18})/?$`), handler: api(retrieve) },
    { api: 'salesforce', route: 'query', method: 'GET', pattern: new RegExp(`^${V}/query/?$`), handler: api(query(false)) },
    { api: 'salesforce', route: 'queryAll', method: 'GET', pattern: new RegExp(`^${V}/queryAll/?$`), handler: api(query(true)) },
    { api: 'salesforce', route: 'queryMore', method: 'GET', pattern: new RegExp(`^${V}/query(All)?/(?<locator>[^/]+)$`), handler: api(queryMore) },
    { api: 'salesforce', route: 'bulkCreate', method: 'POST', pattern: new RegExp(`^${V}/jobs/query/?$`), handler: api(bulkCreate) },
    { api: 'salesforce', route: 'bulkStatus', method: 'GET', pattern: new RegExp(`^${V}/jobs/query/(?<jobId>750\\w+)/?$`), handler: api(bulkStatus) },
    { api: 'salesforce', route: 'bulkResults', method: 'GET', pattern: new RegExp(`^${V}/jobs/query/(?<jobId>750\\w+)/results/?$`), handler: api(bulkResults) },
    { api: 'salesforce', route: 'bulkDelete', method: 'DELETE', pattern: new RegExp(`^${V}/jobs/query/(?<jobId>750\\w+)/?$`), handler: api(bulkDelete) },
    { api: 'salesforce', route: 'bulkAbort', method: 'PATCH', pattern: new RegExp(`^${V}/jobs/query/(?<jobId>750\\w+)/?$`), handler: api(bulkAbort) },
  ];
}

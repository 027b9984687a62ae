import nock from 'nock';

/**
 * A Salesforce org faked with nock for salesforce.nock.test.ts (not a test itself). Every answer
 * has the shape of Salesforce's documented examples:
 * - REST query / queryAll: `{ totalSize, done, nextRecordsUrl?, records[] }`, records carrying
 *   `attributes { type, url }`, datetimes as '2013-05-20T20:49:32.000+0000'
 *   (REST API Developer Guide, "Query" resources_query.htm and "Execute a SOQL Query" dome_query.htm);
 *   batches sized by `Sforce-Query-Options: batchSize=N` (200..2,000; headers_queryoptions.htm).
 * - Every API response carries `Sforce-Limit-Info: api-usage=used/limit` (headers_api_usage.htm);
 *   past the limit the org answers 403 `[{ "message": "TotalRequests Limit exceeded.", "errorCode":
 *   "REQUEST_LIMIT_EXCEEDED" }]` (errorcodes.htm, "API Request Limits and Allocations").
 * - An expired session: 401 `[{ "message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID" }]`.
 * - OAuth refresh-token flow: POST /services/oauth2/token answers `{ access_token, signature, scope,
 *   instance_url, id, token_type, issued_at }` (plus `refresh_token` when the connected app rotates
 *   refresh tokens); a revoked or rotated-out token gets 400 `{ "error": "invalid_grant",
 *   "error_description": "expired access/refresh token" }` (intro_understanding_refresh_token_oauth.htm).
 * - Bulk API 2.0 query jobs: job info `{ id, operation, object, state, ... }`, CSV result sets paged
 *   by the `Sforce-Locator` response header ('null' on the last set) and the `locator`/`maxRecords`
 *   parameters (api_asynch/query_create_job.htm, query_get_one_job.htm, query_get_job_results.htm).
 * The WHERE clauses it understands are exactly the connector's cursor forms; anything else is a
 * MALFORMED_QUERY, so a query the connector should not send fails the test instead of passing.
 */

export type FakeRecord = Record<string, unknown> & { Id: string; SystemModstamp: string; IsDeleted: boolean };

export interface FakeField {
  name: string;
  type: string;
}

interface InjectedFailure {
  match: RegExp;
  times: number;
  status: number;
  body: nock.Body;
  headers?: Record<string, string>;
}

interface Cursor {
  object: string;
  fields: string[];
  records: FakeRecord[];
}

interface BulkJob {
  id: string;
  object: string;
  operation: string;
  fields: string[];
  records: FakeRecord[];
  polls: number;
}

export const INSTANCE = 'https://acme.my.salesforce.com';
export const LOGIN = 'https://login.salesforce.com';
export const VERSION = '62.0';

/** '2026-11-01T10:00:00.000Z' -> '2026-11-01T10:00:00.000+0000', the REST API's datetime format. */
export function sfStamp(iso: string): string {
  return new Date(iso).toISOString().replace('Z', '+0000');
}

function ms(value: string): number {
  return Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
}

/** 18-character ids that sort like their number (Salesforce ids compare as strings in SOQL). */
export function sfId(prefix: string, n: number): string {
  return `${prefix}${String(n).padStart(12, '0')}AAA`.slice(0, 18);
}

export class FakeOrg {
  readonly objects = new Map<string, FakeRecord[]>();
  readonly describes = new Map<string, FakeField[]>();
  readonly accessTokens = new Set<string>();
  readonly refreshTokens = new Set<string>();
  /** Issue a new refresh token with every refresh and revoke the old one (connected app policy). */
  rotateRefreshTokens = false;
  /** False: tokens are issued but every API call refuses them (e.g. a connected app policy blocks the user). */
  acceptIssuedTokens = true;
  /** A connected app allowed the client-credentials flow (runs as its execution user). Default: none. */
  clientCredentials: { clientId: string; clientSecret: string } | undefined;
  /** The API version the org serves; paths of any other version get 404 NOT_FOUND. */
  version = VERSION;
  apiUsed = 0;
  apiLimit = 100_000;
  /** Every token request's form body, in order. */
  readonly tokenRequests: URLSearchParams[] = [];
  /** Every API request: method, path with query, bearer token, Sforce-Query-Options. */
  readonly apiRequests: Array<{ method: string; path: string; token: string | undefined; queryOptions: string | undefined }> = [];
  /** SOQL of every query/queryAll, in order. */
  readonly queries: string[] = [];
  /** Added to every served REST record (schema drift: a field the connector does not know). */
  drift: Record<string, unknown> = {};
  /**
   * Serve later pages with the records' current values (a record saved while a read pages shows
   * up with its new SystemModstamp, out of order) instead of the snapshot taken at query time.
   */
  livePages = false;
  /** Called before a query page is served, with the offset of its first record. */
  beforePage: ((offset: number) => void) | undefined;
  private readonly failures: InjectedFailure[] = [];
  private readonly cursors = new Map<string, Cursor>();
  private readonly jobs = new Map<string, BulkJob>();
  private tokenSerial = 0;
  private cursorSerial = 0;

  constructor(accessToken = '00DD0000000K1zR!AQ4AQFpYwkaJ.initial') {
    this.accessTokens.add(accessToken);
  }

  define(object: string, fields: FakeField[], records: FakeRecord[] = []): void {
    this.describes.set(object, fields);
    this.objects.set(object, records);
  }

  records(object: string): FakeRecord[] {
    const list = this.objects.get(object);
    if (!list) throw new Error(`fake org has no ${object}`);
    return list;
  }

  /** Changes a record the way a user save does: new SystemModstamp. */
  update(object: string, id: string, changes: Record<string, unknown>, stamp: string): void {
    const rec = this.records(object).find((r) => r.Id === id);
    if (!rec) throw new Error(`no ${object} ${id}`);
    Object.assign(rec, changes, { SystemModstamp: sfStamp(stamp) });
  }

  /** Changes a value without touching SystemModstamp, as a formula or roll-up recalculation does. */
  recalculate(object: string, id: string, changes: Record<string, unknown>): void {
    const rec = this.records(object).find((r) => r.Id === id);
    if (!rec) throw new Error(`no ${object} ${id}`);
    Object.assign(rec, changes);
  }

  /** Answers the next `times` API requests whose path matches with this response instead. */
  fail(match: RegExp, times: number, status: number, body: nock.Body, headers?: Record<string, string>): void {
    this.failures.push({ match, times, status, body, ...(headers ? { headers } : {}) });
  }

  /** Ends every injected failure (the outage is over). */
  heal(): void {
    this.failures.length = 0;
  }

  expireAllSessions(): void {
    this.accessTokens.clear();
  }

  /** Serves the token endpoint at `loginUrl` (login.salesforce.com, or a My Domain) and the REST API at INSTANCE. */
  install(loginUrl = LOGIN): void {
    const self = this;
    nock(loginUrl)
      .persist()
      .post('/services/oauth2/token')
      .reply((uri, body) => self.token(uri, new URLSearchParams(typeof body === 'string' ? body : '')));
    const api = nock(INSTANCE).persist();
    for (const method of ['get', 'post', 'delete'] as const) {
      api[method](/^\/services\/data\//).reply(function (uri, body) {
        const headers = this.req.headers;
        const auth = typeof headers.authorization === 'string' ? headers.authorization : undefined;
        const options = typeof headers['sforce-query-options'] === 'string' ? headers['sforce-query-options'] : undefined;
        return self.api(method.toUpperCase(), uri, auth, options, body);
      });
    }
  }

  private takeFailure(uri: string): InjectedFailure | undefined {
    const failure = this.failures.find((f) => f.times > 0 && f.match.test(uri));
    if (failure) failure.times--;
    return failure;
  }

  private token(uri: string, form: URLSearchParams): nock.ReplyFnResult {
    this.tokenRequests.push(form);
    const failure = this.takeFailure(uri);
    if (failure) return [failure.status, failure.body, failure.headers ?? {}];
    if (form.get('grant_type') === 'client_credentials') {
      // "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration": no refresh token in the answer.
      const app = this.clientCredentials;
      if (!app || form.get('client_id') !== app.clientId || form.get('client_secret') !== app.clientSecret) {
        return [400, { error: 'invalid_client', error_description: 'invalid client credentials' }];
      }
      return [200, this.issueToken('api')];
    }
    const refresh = form.get('refresh_token');
    if (form.get('grant_type') !== 'refresh_token' || !refresh || !this.refreshTokens.has(refresh)) {
      return [400, { error: 'invalid_grant', error_description: 'expired access/refresh token' }];
    }
    const body = this.issueToken('refresh_token api id');
    if (this.rotateRefreshTokens) {
      const next = `5Aep861.rotated${this.tokenSerial}`;
      this.refreshTokens.delete(refresh);
      this.refreshTokens.add(next);
      body.refresh_token = next;
    }
    return [200, body];
  }

  private issueToken(scope: string): Record<string, unknown> {
    this.tokenSerial++;
    const accessToken = `00DD0000000K1zR!AQ4AQ.refreshed${this.tokenSerial}`;
    if (this.acceptIssuedTokens) this.accessTokens.add(accessToken);
    const body: Record<string, unknown> = {
      access_token: accessToken,
      signature: `HfBA4xSOUcg8ndBMnw4GuvDY1M+oWUQ8PU1l0HW${this.tokenSerial}=`,
      scope,
      instance_url: INSTANCE,
      id: 'https://login.salesforce.com/id/00DD0000000K1zRMAS/005D0000001QX8WIAW',
      token_type: 'Bearer',
      issued_at: String(1_762_300_800_000 + this.tokenSerial),
    };
    return body;
  }

  private api(method: string, uri: string, auth: string | undefined, queryOptions: string | undefined, body: unknown): nock.ReplyFnResult {
    const token = auth?.replace(/^Bearer\s+/i, '');
    this.apiRequests.push({ method, path: uri, token, queryOptions });
    if (!token || !this.accessTokens.has(token)) {
      return [401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }], { 'content-type': 'application/json;charset=UTF-8' }];
    }
    this.apiUsed++;
    const limitHeader = { 'sforce-limit-info': `api-usage=${this.apiUsed}/${this.apiLimit}` };
    const json = (status: number, data: nock.Body, extra: Record<string, string> = {}): nock.ReplyFnResult => [
      status,
      data,
      { 'content-type': 'application/json;charset=UTF-8', ...limitHeader, ...extra },
    ];
    if (this.apiUsed > this.apiLimit) return json(403, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]);
    const failure = this.takeFailure(uri);
    if (failure) return json(failure.status, failure.body, failure.headers);

    const url = new URL(uri, INSTANCE);
    const prefix = `/services/data/v${this.version}/`;
    if (!url.pathname.startsWith(prefix)) return json(404, [{ errorCode: 'NOT_FOUND', message: `The requested resource does not exist: ${url.pathname}` }]);
    const path = url.pathname.slice(prefix.length - 1);
    if (path === '/limits') return json(200, { DailyApiRequests: { Max: this.apiLimit, Remaining: this.apiLimit - this.apiUsed } });
    const describe = /^\/sobjects\/(\w+)\/describe$/.exec(path);
    if (describe) {
      const fields = this.describes.get(describe[1]!);
      if (!fields) return json(404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
      return json(200, { name: describe[1], queryable: true, fields: fields.map((f) => ({ name: f.name, type: f.type, nillable: true })) });
    }
    if (path === '/query' || path === '/queryAll') {
      const soql = url.searchParams.get('q') ?? '';
      this.queries.push(soql);
      return this.query(soql, path === '/queryAll', batchSize(queryOptions), json);
    }
    const more = /^\/query\/(01g\w+)-(\d+)$/.exec(path);
    if (more) {
      const cursor = this.cursors.get(more[1]!);
      if (!cursor) return json(400, [{ errorCode: 'INVALID_QUERY_LOCATOR', message: 'invalid query locator' }]);
      return json(200, this.page(more[1]!, cursor, Number(more[2]), batchSize(queryOptions)));
    }
    if (path === '/jobs/query' && method === 'POST') return this.createJob(typeof body === 'string' ? (JSON.parse(body) as Record<string, unknown>) : (body as Record<string, unknown>), json);
    const job = /^\/jobs\/query\/(750\w+)(\/results)?$/.exec(path);
    if (job) {
      const j = this.jobs.get(job[1]!);
      if (!j) return json(404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
      if (method === 'DELETE') {
        this.jobs.delete(j.id);
        return [204, '', limitHeader];
      }
      if (job[2]) return this.results(j, url, limitHeader);
      j.polls++;
      // The first poll finds the job still running, as a real job usually is.
      const state = j.polls > 1 ? 'JobComplete' : 'InProgress';
      return json(200, { ...this.jobInfo(j), state, numberRecordsProcessed: state === 'JobComplete' ? j.records.length : 0, retries: 0, totalProcessingTime: 1234 });
    }
    return json(404, [{ errorCode: 'NOT_FOUND', message: `The requested resource does not exist: ${path}` }]);
  }

  /** Parses the connector's SOQL: SELECT a, b FROM X [WHERE <cursor forms>] [ORDER BY SystemModstamp ASC, Id ASC]. */
  private select(soql: string, all: boolean): { object: string; fields: string[]; records: FakeRecord[]; count: boolean } | { error: string } {
    const m = /^SELECT (.+?) FROM (\w+)(?: WHERE (.+?))?(?: ORDER BY (SystemModstamp ASC, Id ASC))?$/.exec(soql);
    if (!m) return { error: `unexpected SOQL: ${soql}` };
    const [, select, object, where, order] = m as unknown as [string, string, string, string | undefined, string | undefined];
    const source = this.objects.get(object);
    if (!source) return { error: `sObject type '${object}' is not supported.` };
    const fields = select === 'COUNT()' ? [] : select.split(', ');
    const known = new Set((this.describes.get(object) ?? []).map((f) => f.name));
    const unknown = fields.find((f) => !known.has(f));
    if (unknown) return { error: `No such column '${unknown}' on entity '${object}'.` };
    const tests: Array<(r: FakeRecord) => boolean> = [];
    let rest = where ?? '';
    const tie = /\(\(SystemModstamp = (\S+) AND Id > '(\w+)'\) OR SystemModstamp > (\S+)\)/.exec(rest);
    if (tie) {
      const t = ms(tie[1]!);
      const id = tie[2]!;
      tests.push((r) => ms(r.SystemModstamp) > t || (ms(r.SystemModstamp) === t && r.Id > id));
      rest = rest.replace(tie[0], '');
    }
    const ge = /SystemModstamp >= (\S+)/.exec(rest);
    if (ge) {
      const t = ms(ge[1]!);
      tests.push((r) => ms(r.SystemModstamp) >= t);
      rest = rest.replace(ge[0], '');
    }
    const lt = /SystemModstamp < (\S+)/.exec(rest);
    if (lt) {
      const t = ms(lt[1]!);
      tests.push((r) => ms(r.SystemModstamp) < t);
      rest = rest.replace(lt[0], '');
    }
    if (rest.replace(/\s*AND\s*/g, '').trim() !== '') return { error: `unexpected WHERE: ${where ?? ''}` };
    let records = source.filter((r) => (all || !r.IsDeleted) && tests.every((t) => t(r)));
    if (order) records = [...records].sort((a, b) => ms(a.SystemModstamp) - ms(b.SystemModstamp) || (a.Id < b.Id ? -1 : a.Id > b.Id ? 1 : 0));
    // A snapshot, as a server-side cursor is: later changes do not alter pages still to come.
    return { object, fields, records: records.map((r) => ({ ...r })), count: select === 'COUNT()' };
  }

  private query(soql: string, all: boolean, batch: number, json: (s: number, d: nock.Body) => nock.ReplyFnResult): nock.ReplyFnResult {
    const parsed = this.select(soql, all);
    if ('error' in parsed) return json(400, [{ message: parsed.error, errorCode: 'MALFORMED_QUERY' }]);
    if (parsed.count) return json(200, { totalSize: parsed.records.length, done: true, records: [] });
    const locator = `01gD0000002HU6KIAW${String(++this.cursorSerial).padStart(3, '0')}`;
    const cursor = { object: parsed.object, fields: parsed.fields, records: parsed.records };
    this.cursors.set(locator, cursor);
    return json(200, this.page(locator, cursor, 0, batch));
  }

  private page(locator: string, cursor: Cursor, offset: number, batch: number): Record<string, unknown> {
    this.beforePage?.(offset);
    const current = new Map(this.records(cursor.object).map((r) => [r.Id, r]));
    const slice = cursor.records.slice(offset, offset + batch).map((r) => (this.livePages ? (current.get(r.Id) ?? r) : r));
    const done = offset + batch >= cursor.records.length;
    const records = slice.map((r) => {
      const out: Record<string, unknown> = { attributes: { type: cursor.object, url: `/services/data/v${this.version}/sobjects/${cursor.object}/${r.Id}` } };
      for (const f of cursor.fields) out[f] = r[f] ?? null;
      return { ...out, ...this.drift };
    });
    return {
      totalSize: cursor.records.length,
      done,
      ...(done ? {} : { nextRecordsUrl: `/services/data/v${this.version}/query/${locator}-${offset + batch}` }),
      records,
    };
  }

  private jobInfo(j: BulkJob): Record<string, unknown> {
    return {
      id: j.id,
      operation: j.operation,
      object: j.object,
      createdById: '005D0000001QX8WIAW',
      createdDate: '2026-11-05T00:00:00.000+0000',
      systemModstamp: '2026-11-05T00:00:00.000+0000',
      state: 'UploadComplete',
      concurrencyMode: 'Parallel',
      contentType: 'CSV',
      apiVersion: Number(this.version),
      lineEnding: 'LF',
      columnDelimiter: 'COMMA',
    };
  }

  private createJob(body: Record<string, unknown>, json: (s: number, d: nock.Body) => nock.ReplyFnResult): nock.ReplyFnResult {
    const operation = String(body.operation);
    const parsed = this.select(String(body.query), operation === 'queryAll');
    if ('error' in parsed) return json(400, [{ errorCode: 'INVALIDJOB', message: parsed.error }]);
    const id = `750R0000000zlh${String(this.jobs.size + 1).padStart(4, '0')}`;
    const job: BulkJob = { id, object: parsed.object, operation, fields: parsed.fields, records: parsed.records, polls: 0 };
    this.jobs.set(id, job);
    return json(200, this.jobInfo(job));
  }

  private results(j: BulkJob, url: URL, limitHeader: Record<string, string>): nock.ReplyFnResult {
    const max = Number(url.searchParams.get('maxRecords') ?? '50000');
    const offset = Number(url.searchParams.get('locator') ?? '0');
    const slice = j.records.slice(offset, offset + max);
    const next = offset + max < j.records.length ? String(offset + max) : 'null';
    const cell = (v: unknown): string => {
      if (v === null || v === undefined) return '';
      // Bulk CSV writes datetimes in UTC with a Z and quotes every value.
      const s = typeof v === 'string' && /\+0000$/.test(v) ? v.replace('+0000', 'Z') : String(v);
      return `"${s.replace(/"/g, '""')}"`;
    };
    const csv = [j.fields.map((f) => `"${f}"`).join(','), ...slice.map((r) => j.fields.map((f) => cell(r[f])).join(','))].join('\n') + '\n';
    return [200, csv, { 'content-type': 'text/csv', 'sforce-locator': next, 'sforce-numberofrecords': String(slice.length), ...limitHeader }];
  }
}

function batchSize(header: string | undefined): number {
  const m = header ? /batchSize=(\d+)/.exec(header) : null;
  return m ? Math.min(2000, Math.max(200, Number(m[1]))) : 2000;
}

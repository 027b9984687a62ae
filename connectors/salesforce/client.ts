import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import jsforce from 'jsforce';
import type { Connection } from 'jsforce';
import type { Logger } from 'pino';
import { HttpClient, parseRetryAfter } from '../core/http.ts';
import { AuthError, ConfigError, MpmError, RateLimitError, RequestError, SchemaError, TransientError, UsageLimitError } from '../core/errors/index.ts';
import { registerSecret, scrub } from '../../pipeline/secrets.ts';
import type { SalesforceConfig } from './config.ts';

/**
 * The Salesforce API as the streams need it, over jsforce: OAuth (refresh token with rotation,
 * client credentials), transparent re-authentication on 401 INVALID_SESSION_ID, retries, typed
 * errors, and a guard that stops before the configured share of the org's daily API requests.
 */

/** The REST query response (REST API Developer Guide, "Query", resources_query.htm). */
export interface QueryResponse {
  totalSize: number;
  done: boolean;
  nextRecordsUrl?: string;
  records: unknown[];
}

export interface DescribeField {
  name: string;
  type: string;
}

/** Bulk API 2.0 "Get Information About a Query Job" (api_asynch/query_get_one_job.htm). */
export interface BulkJobInfo {
  id: string;
  state: 'UploadComplete' | 'InProgress' | 'Aborted' | 'JobComplete' | 'Failed';
  errorMessage?: string;
  createdDate?: string;
}

export interface BulkResultsPage {
  csv: string;
  /** The next set's locator, or undefined on the last set (the header says 'null'). */
  nextLocator: string | undefined;
}

/** Tokens of a connection, shared by the streams of one process so a rotated refresh token is reused. */
interface Session {
  accessToken: string | undefined;
  instanceUrl: string | undefined;
  refreshToken: string | undefined;
}
const sessions = new Map<string, Session>();

function sessionKey(connectionId: string, cfg: SalesforceConfig): string {
  const h = createHash('sha256').update(`${cfg.loginUrl}|${cfg.clientId ?? ''}|${cfg.refreshToken ?? ''}|${cfg.accessToken ?? ''}`).digest('hex').slice(0, 16);
  return `${connectionId}:${h}`;
}

/** The OAuth token response fields we use ("OAuth 2.0 Refresh Token Flow", "Client Credentials Flow"). */
interface TokenResponse {
  access_token: string;
  instance_url?: string;
  refresh_token?: string;
}

/**
 * jsforce retries 429/5xx on its own (5 times, up to 15 s); mpm retries in call() instead, with
 * the configured count, so a failing call is retried by one policy only.
 */
const REQUEST_OPTIONS = { retry: { maxRetries: 0 }, timeout: 120_000 };

type JsforceTransport = Connection['_transport'];

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

export class SalesforceClient {
  readonly conn: Connection;
  private readonly session: Session;
  /** Set when re-authentication failed for good (invalid_grant): every later call fails with it. */
  private fatal: MpmError | undefined;
  /**
   * Tokens obtained since the last successful call: a token refused right after a refresh is not
   * refreshed forever. Failed token requests do not count (call() retries those on its own terms).
   */
  private refreshesWithoutSuccess = 0;
  private usage: { used: number; limit: number } | undefined;
  /** Retry-After of the last throttled/unavailable response, which jsforce's errors do not carry. */
  private retryAfterMs: number | undefined;
  /** jsforce request options: no jsforce retries, and a transport that notes Retry-After. */
  private readonly requestOptions: typeof REQUEST_OPTIONS & { transport: Pick<JsforceTransport, 'httpRequest'> };
  /** API calls made by this client (tests and logs). */
  calls = 0;

  constructor(
    private readonly cfg: SalesforceConfig,
    connectionId: string,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {
    const key = sessionKey(connectionId, cfg);
    let session = sessions.get(key);
    if (!session) {
      session = { accessToken: cfg.accessToken, instanceUrl: cfg.instanceUrl, refreshToken: cfg.refreshToken };
      sessions.set(key, session);
    }
    this.session = session;
    registerSecret(session.accessToken);
    registerSecret(session.refreshToken);
    registerSecret(cfg.clientSecret);
    const canRefresh = Boolean(cfg.clientId && (session.refreshToken || cfg.clientSecret));
    this.conn = new jsforce.Connection({
      loginUrl: cfg.loginUrl,
      version: cfg.apiVersion,
      ...(session.instanceUrl ? { instanceUrl: session.instanceUrl } : {}),
      ...(session.accessToken ? { accessToken: session.accessToken } : {}),
      ...(cfg.clientId ? { oauth2: { clientId: cfg.clientId, ...(cfg.clientSecret ? { clientSecret: cfg.clientSecret } : {}), loginUrl: cfg.loginUrl } } : {}),
      ...(canRefresh
        ? {
            refreshFn: (_conn: Connection, callback: (err: Error | null, accessToken?: string) => void) => {
              this.refresh().then(
                (token) => callback(null, token),
                (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
              );
            },
          }
        : {}),
    });
    const base = this.conn._transport;
    this.requestOptions = {
      ...REQUEST_OPTIONS,
      transport: {
        httpRequest: (req, options) => {
          const pending = base.httpRequest(req, options);
          pending.then(
            (res) => this.noteRetryAfter(res.statusCode, res.headers['retry-after']),
            () => undefined,
          );
          return pending;
        },
      },
    };
  }

  private noteRetryAfter(status: number, header: string | undefined): void {
    if (status === 429 || status === 503) this.retryAfterMs = parseRetryAfter(header);
  }

  /** Gets a token up front when none is configured (refresh-token or client-credentials flow). */
  async connect(): Promise<void> {
    if (!this.conn.accessToken) await this.call('token request', () => this.refresh());
  }

  /** Requests a new access token; keeps a rotated refresh token for the rest of the process. */
  private async refresh(): Promise<string> {
    if (this.fatal) throw this.fatal;
    if (this.refreshesWithoutSuccess >= 2) {
      throw (this.fatal = new AuthError('salesforce: the session is refused even right after a token refresh (INVALID_SESSION_ID); check the connected app policies and the user'));
    }
    const { clientId, clientSecret } = this.cfg;
    let res: TokenResponse;
    try {
      if (this.session.refreshToken) {
        res = (await this.conn.oauth2.refreshToken(this.session.refreshToken)) as TokenResponse;
      } else if (clientId && clientSecret) {
        res = (await this.conn.oauth2.requestToken({ grant_type: 'client_credentials' })) as TokenResponse;
      } else {
        throw (this.fatal = new AuthError('salesforce: the access token expired and no refresh token or client credentials are configured'));
      }
    } catch (err) {
      if (err instanceof MpmError) throw err;
      const name = err instanceof Error ? err.name : '';
      const message = scrub(err instanceof Error ? err.message : String(err));
      // OAuth errors ("invalid_grant", "invalid_client", ...) are permanent: re-authorize, do not retry.
      if (/^(invalid_grant|invalid_client|invalid_client_id|unsupported_grant_type|inactive_user|inactive_org)$/.test(name)) {
        throw (this.fatal = new AuthError(
          `salesforce: token request refused (${name}: ${message}) by ${this.cfg.loginUrl}; ${name === 'invalid_grant' ? 'the refresh token is expired, revoked or was rotated out: authorize the connected app again and update refreshToken' : 'check clientId/clientSecret and the connected app'}`,
        ));
      }
      if (/^ERROR_HTTP_(5\d\d|429)$/.test(name) || isNetworkError(err)) throw new TransientError(`salesforce: token request failed: ${message}`);
      throw (this.fatal = new AuthError(`salesforce: token request failed (${name || 'error'}): ${message}`));
    }
    if (typeof res?.access_token !== 'string') throw new SchemaError('salesforce: token response has no access_token', 'access_token');
    this.refreshesWithoutSuccess++;
    registerSecret(res.access_token);
    this.session.accessToken = res.access_token;
    if (res.refresh_token && res.refresh_token !== this.session.refreshToken) {
      // Rotation: the old refresh token is now revoked; only memory keeps the new one (see README).
      registerSecret(res.refresh_token);
      this.session.refreshToken = res.refresh_token;
      this.log.warn('salesforce issued a new refresh token (rotation); it is used for the rest of this process, update refreshToken in the configuration to keep syncing after a restart');
    }
    if (res.instance_url && !this.cfg.instanceUrl) {
      this.session.instanceUrl = res.instance_url;
      this.conn.instanceUrl = res.instance_url;
    }
    this.conn.accessToken = res.access_token;
    return res.access_token;
  }

  /** The last known API usage (Sforce-Limit-Info or /limits). */
  apiUsage(): { used: number; limit: number } | undefined {
    const info = this.conn.limitInfo?.apiUsage;
    if (info && typeof info.used === 'number' && typeof info.limit === 'number') return { used: info.used, limit: info.limit };
    return this.usage;
  }

  /** Throws UsageLimitError once the configured share of the daily API requests is used. */
  checkBudget(): void {
    const usage = this.apiUsage();
    if (!usage || usage.limit <= 0) return;
    if (usage.used >= usage.limit * this.cfg.apiUsageShare) {
      throw new UsageLimitError(
        `salesforce: ${usage.used} of the org's ${usage.limit} daily API requests are used, at or above apiUsageShare ${Math.round(this.cfg.apiUsageShare * 100)} %; stopped at the last stored page`,
        // The allowance is a rolling 24 h window: calls age out gradually, so try again in an hour.
        3_600_000,
      );
    }
  }

  /** One API call with the budget check, retries and error mapping. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.signal.throwIfAborted();
      if (this.fatal) throw this.fatal;
      this.checkBudget();
      try {
        this.calls++;
        this.retryAfterMs = undefined;
        const result = await fn();
        this.refreshesWithoutSuccess = 0;
        return result;
      } catch (err) {
        const mapped = this.mapError(what, err);
        const retryable = mapped instanceof TransientError || (mapped instanceof RateLimitError && mapped.retryAfterMs <= 60_000);
        if (!retryable || attempt >= this.cfg.maxRetries) throw mapped;
        // Exponential backoff from retryBaseMs (full jitter for server errors), never shorter than
        // the response's Retry-After (noted by the transport, since jsforce errors drop headers).
        const step = this.cfg.retryBaseMs * 2 ** attempt;
        const wait = Math.max(mapped instanceof RateLimitError ? step : Math.floor(Math.random() * step), this.retryAfterMs ?? 0);
        if (wait > 60_000) throw mapped;
        this.log.warn({ attempt: attempt + 1, waitMs: wait }, `${mapped.message}; retrying`);
        await sleep(wait, undefined, { signal: this.signal });
      }
    }
  }

  /** Maps a jsforce/OAuth/network error to mpm's typed errors. */
  mapError(what: string, err: unknown): Error {
    if (this.fatal) return this.fatal;
    if (err instanceof MpmError) return err;
    if (this.signal.aborted) return err instanceof Error ? err : new Error(String(err));
    const e = err as { name?: unknown; errorCode?: unknown; message?: unknown };
    const code = typeof e.errorCode === 'string' ? e.errorCode : typeof e.name === 'string' ? e.name : '';
    const message = scrub(typeof e.message === 'string' ? e.message : String(err));
    const text = `salesforce: ${what}: ${code ? `${code}: ` : ''}${message}`;
    // jsforce wraps a failed refresh; the refresh itself recorded the precise error in `fatal`.
    if (/Unable to refresh session/.test(message)) return /invalid_grant/.test(message) ? new AuthError(text) : new TransientError(text);
    switch (code) {
      case 'INVALID_SESSION_ID':
      case 'INVALID_AUTH_HEADER':
        return new AuthError(`${text} (the token was refused and could not be refreshed)`);
      case 'INSUFFICIENT_ACCESS':
      case 'INSUFFICIENT_ACCESS_OR_READONLY':
      case 'API_DISABLED_FOR_ORG':
      case 'API_CURRENTLY_DISABLED':
      case 'FUNCTIONALITY_NOT_ENABLED':
        return new AuthError(text);
      case 'REQUEST_LIMIT_EXCEEDED':
        // "TotalRequests Limit exceeded" is the daily allowance; other REQUEST_LIMIT_EXCEEDED are concurrency limits.
        return /TotalRequests/i.test(message) ? new UsageLimitError(`${text} (daily API request limit reached)`, 3_600_000) : new RateLimitError(text, 30_000);
      case 'ERROR_HTTP_429':
        return new RateLimitError(text, 10_000);
      case 'SERVER_UNAVAILABLE':
      case 'UNKNOWN_EXCEPTION':
      case 'QUERY_TIMEOUT':
      case 'INVALID_QUERY_LOCATOR':
        return new TransientError(text);
      default:
        break;
    }
    const http = /^ERROR_HTTP_(\d{3})$/.exec(code);
    if (http) {
      const status = Number(http[1]);
      if (status === 401) return new AuthError(text);
      if (status === 408 || status >= 500) return new TransientError(text, status);
      if (status === 403) return new AuthError(text);
      return new RequestError(text, status);
    }
    if (isNetworkError(err)) return new TransientError(text);
    if (code === 'MULTIPLE_API_ERRORS' || /^[A-Z_]+$/.test(code)) return new RequestError(text, 400);
    return new TransientError(text);
  }

  private versionPath(path: string): string {
    return `/services/data/v${this.cfg.apiVersion}${path}`;
  }

  /** GET /limits: seeds the usage guard ("Limits" resource, DailyApiRequests Max/Remaining). */
  async readLimits(): Promise<void> {
    const limits = await this.call('limits', () => this.conn.request<Record<string, { Max?: number; Remaining?: number }>>(this.versionPath('/limits'), this.requestOptions));
    const daily = limits?.DailyApiRequests;
    if (daily && typeof daily.Max === 'number' && typeof daily.Remaining === 'number') {
      this.usage = { used: daily.Max - daily.Remaining, limit: daily.Max };
      this.conn.limitInfo = { apiUsage: { used: daily.Max - daily.Remaining, limit: daily.Max } };
    }
  }

  async describe(object: string): Promise<DescribeField[]> {
    const res = await this.call(`describe ${object}`, () => this.conn.request<{ fields?: unknown }>(this.versionPath(`/sobjects/${object}/describe`), this.requestOptions));
    if (!Array.isArray(res?.fields)) throw new SchemaError(`salesforce: describe ${object}: response has no fields[]`, 'fields');
    return (res.fields as Array<{ name?: unknown; type?: unknown }>).map((f) => ({ name: String(f.name), type: String(f.type) }));
  }

  /** GET /query or /queryAll (REST API Developer Guide, "Query" / "QueryAll"). */
  async query(soql: string, options: { all: boolean; batchSize?: number }): Promise<QueryResponse> {
    const url = this.versionPath(`/${options.all ? 'queryAll' : 'query'}?q=${encodeURIComponent(soql)}`);
    const headers: Record<string, string> = options.batchSize ? { 'Sforce-Query-Options': `batchSize=${options.batchSize}` } : {};
    const res = await this.call('query', () => this.conn.request<QueryResponse>({ method: 'GET', url, headers }, this.requestOptions));
    return checkQueryResponse(res);
  }

  /** GET nextRecordsUrl. */
  async queryMore(nextRecordsUrl: string, batchSize?: number): Promise<QueryResponse> {
    const headers: Record<string, string> = batchSize ? { 'Sforce-Query-Options': `batchSize=${batchSize}` } : {};
    const res = await this.call('query (next page)', () => this.conn.request<QueryResponse>({ method: 'GET', url: nextRecordsUrl, headers }, this.requestOptions));
    return checkQueryResponse(res);
  }

  async count(soql: string, all: boolean): Promise<number> {
    const res = await this.query(soql, { all });
    return res.totalSize;
  }

  /** Organization.DefaultCurrencyIsoCode, for single-currency orgs. */
  async orgDefaultCurrency(): Promise<string | undefined> {
    try {
      const res = await this.query('SELECT DefaultCurrencyIsoCode FROM Organization', { all: false });
      const rec = res.records[0] as { DefaultCurrencyIsoCode?: unknown } | undefined;
      return typeof rec?.DefaultCurrencyIsoCode === 'string' ? rec.DefaultCurrencyIsoCode : undefined;
    } catch (err) {
      if (err instanceof RequestError) return undefined;
      throw err;
    }
  }

  /** Bulk API 2.0 "Create a Query Job" (POST /jobs/query). */
  async createBulkJob(soql: string, all: boolean): Promise<BulkJobInfo> {
    const body = JSON.stringify({ operation: all ? 'queryAll' : 'query', query: soql, contentType: 'CSV', columnDelimiter: 'COMMA', lineEnding: 'LF' });
    return this.call('create bulk query job', () =>
      this.conn.request<BulkJobInfo>({ method: 'POST', url: this.versionPath('/jobs/query'), body, headers: { 'Content-Type': 'application/json' } }, this.requestOptions),
    );
  }

  async bulkJob(jobId: string): Promise<BulkJobInfo> {
    return this.call('bulk job status', () => this.conn.request<BulkJobInfo>(this.versionPath(`/jobs/query/${jobId}`), this.requestOptions));
  }

  /** Polls until JobComplete; Failed/Aborted and timeouts are errors. */
  async waitForBulkJob(jobId: string): Promise<BulkJobInfo> {
    const started = Date.now();
    for (;;) {
      const info = await this.bulkJob(jobId);
      if (info.state === 'JobComplete') return info;
      if (info.state === 'Failed' || info.state === 'Aborted') {
        throw new TransientError(`salesforce: bulk query job ${jobId} ended ${info.state}${info.errorMessage ? `: ${scrub(info.errorMessage)}` : ''}`);
      }
      if (Date.now() - started > this.cfg.bulkTimeoutMs) throw new TransientError(`salesforce: bulk query job ${jobId} not complete after ${this.cfg.bulkTimeoutMs} ms`);
      await sleep(this.cfg.bulkPollIntervalMs, undefined, { signal: this.signal });
    }
  }

  /**
   * One set of a job's CSV results (Bulk API 2.0 "Get Results for a Query Job": locator and
   * maxRecords parameters, Sforce-Locator header). Read with our HTTP client, not jsforce's result
   * stream, because jsforce 3.10 stops after the first set (jsforce/jsforce#1546) and does not
   * expose the locator; the session is still jsforce's, refreshed through it on 401.
   */
  async bulkResults(jobId: string, locator: string | undefined, maxRecords: number): Promise<BulkResultsPage> {
    const http = new HttpClient({
      api: 'salesforce',
      // call() below retries; a second policy here would multiply the attempts (maxRetries² + ...).
      maxRetries: 0,
      backoffBaseMs: this.cfg.retryBaseMs,
      signal: this.signal,
      auth: {
        headers: () => ({ authorization: `Bearer ${this.conn.accessToken ?? ''}` }),
        refresh: async () => {
          await this.refresh();
        },
      },
      onResponse: (res) => {
        this.noteRetryAfter(res.status, res.headers.get('retry-after') ?? undefined);
        const m = /api-usage=(\d+)\/(\d+)/.exec(res.headers.get('sforce-limit-info') ?? '');
        if (m) this.conn.limitInfo = { apiUsage: { used: Number(m[1]), limit: Number(m[2]) } };
      },
    });
    const url = `${this.conn.instanceUrl}${this.versionPath(`/jobs/query/${jobId}/results`)}`;
    return this.call('bulk query results', async () => {
      const res = await http.request({ url, query: { maxRecords, locator }, headers: { accept: 'text/csv' }, responseType: 'text' });
      const next = res.headers.get('sforce-locator');
      return { csv: res.text, nextLocator: next && next !== 'null' ? next : undefined };
    });
  }

  async deleteBulkJob(jobId: string): Promise<void> {
    try {
      await this.conn.request({ method: 'DELETE', url: this.versionPath(`/jobs/query/${jobId}`) }, this.requestOptions);
    } catch (err) {
      // Only housekeeping: Salesforce removes jobs after 7 days anyway.
      this.log.debug({ reason: scrub(String(err)) }, `could not delete bulk job ${jobId}`);
    }
  }
}

function isNetworkError(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : '';
  return NETWORK_CODES.has(code) || e?.name === 'FetchError' || (err instanceof TypeError && /fetch failed/.test(err.message));
}

function checkQueryResponse(res: unknown): QueryResponse {
  const r = res as Partial<QueryResponse> | null;
  if (!r || typeof r !== 'object' || !Array.isArray(r.records) || typeof r.done !== 'boolean') {
    throw new SchemaError('salesforce: query response lacks records[] or done', 'records');
  }
  if (!r.done && typeof r.nextRecordsUrl !== 'string') throw new SchemaError('salesforce: query response is not done but has no nextRecordsUrl', 'nextRecordsUrl');
  return { totalSize: typeof r.totalSize === 'number' ? r.totalSize : r.records.length, done: r.done, records: r.records, ...(r.nextRecordsUrl ? { nextRecordsUrl: r.nextRecordsUrl } : {}) };
}

/** Builds a client and authenticates; a ConfigError when the settings cannot work. */
export async function openClient(cfg: SalesforceConfig, connectionId: string, log: Logger, signal: AbortSignal): Promise<SalesforceClient> {
  if (!cfg.accessToken && !cfg.refreshToken && !(cfg.clientId && cfg.clientSecret)) throw new ConfigError(`connection ${connectionId}: no Salesforce credentials`);
  const client = new SalesforceClient(cfg, connectionId, log, signal);
  await client.connect();
  return client;
}

/** Forgets in-memory sessions (tests). */
export function resetSalesforceSessions(): void {
  sessions.clear();
}

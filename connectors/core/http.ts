import { setTimeout as sleep } from 'node:timers/promises';
import { AuthError, MpmError, RateLimitError, RequestError, TransientError } from './errors/index.ts';
import { registerSecret, scrub } from '../../pipeline/secrets.ts';

/**
 * The HTTP behaviour every connector shares: timeouts, retries with exponential backoff and full
 * jitter, Retry-After honoured, one token refresh on 401, typed errors. Connectors that use a
 * vendor SDK (jsforce, @hubspot/api-client, googleapis) map the SDK's errors with classifyStatus.
 */
export interface HttpAuth {
  /** Headers to add to every request (e.g. Authorization). */
  headers(): Promise<Record<string, string>> | Record<string, string>;
  /** Called once after a 401; when it resolves the request is retried with fresh headers. */
  refresh?(): Promise<void>;
}

export interface HttpClientOptions {
  /** Vendor name, used in error messages. */
  api: string;
  /** Prefix for relative paths. */
  baseUrl?: string;
  /** Per-request timeout. Default 60 s. */
  timeoutMs?: number;
  /** Attempts after the first for retryable failures. Default 5. */
  maxRetries?: number;
  /** First backoff step. Default 500 ms; doubles each attempt, full jitter. */
  backoffBaseMs?: number;
  /** Backoff ceiling. Default 30 s. */
  backoffMaxMs?: number;
  /** A Retry-After up to this long is waited in place; longer ones raise RateLimitError. Default 60 s. */
  maxRetryAfterMs?: number;
  auth?: HttpAuth;
  /** Extra headers on every request (e.g. developer-token). */
  headers?: Record<string, string>;
  /**
   * Vendor-specific reading of a response before the generic status rules, e.g. Meta's rate-limit
   * codes inside a 400 body. Return an error to throw (RateLimitError is waited/retried), or undefined.
   */
  classify?(response: HttpResponse): Error | undefined;
  /** Sees every response (usage headers, quotas). */
  onResponse?(response: HttpResponse): void;
  /** Random source for jitter, [0, 1). Default Math.random. */
  random?: () => number;
  signal?: AbortSignal;
}

export interface HttpRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute URL, or a path relative to baseUrl. */
  url: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** Sent as JSON unless it is a string or URLSearchParams. */
  body?: unknown;
  /** Parse the body as JSON (default) or return text. */
  responseType?: 'json' | 'text';
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON (responseType json) or text. */
  data: unknown;
  /** Raw body text, for error messages. */
  text: string;
  url: string;
}

export class HttpClient {
  private readonly opts: Required<Pick<HttpClientOptions, 'timeoutMs' | 'maxRetries' | 'backoffBaseMs' | 'backoffMaxMs' | 'maxRetryAfterMs'>> &
    HttpClientOptions;
  /** Requests sent, including retries (the request-count budget of fault tests). */
  requests = 0;

  constructor(options: HttpClientOptions) {
    this.opts = {
      timeoutMs: 60_000,
      maxRetries: 5,
      backoffBaseMs: 500,
      backoffMaxMs: 30_000,
      maxRetryAfterMs: 60_000,
      ...options,
    };
    for (const key of ['timeoutMs', 'maxRetries', 'backoffBaseMs', 'backoffMaxMs', 'maxRetryAfterMs'] as const) {
      const v = this.opts[key];
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`HttpClient ${options.api}: ${key} must be a non-negative number`);
    }
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      this.opts.signal?.throwIfAborted();
      let response: HttpResponse;
      try {
        response = await this.send(req);
      } catch (err) {
        // A refused credential (the token provider failed to refresh) or a config error is final.
        if (err instanceof MpmError && !err.retryable) throw err;
        const error = err instanceof TransientError ? err : new TransientError(`${this.opts.api}: ${describeNetworkError(err)}`, undefined, { cause: err });
        if (attempt >= this.opts.maxRetries) throw error;
        await this.backoff(attempt);
        continue;
      }
      this.opts.onResponse?.(response);

      const custom = this.opts.classify?.(response);
      const error = custom ?? this.classifyStatus(response);
      if (!error) return response;

      if (error instanceof AuthError && response.status === 401 && this.opts.auth?.refresh && !refreshed) {
        refreshed = true;
        await this.opts.auth.refresh();
        attempt--; // a successful refresh does not count as a retry
        continue;
      }
      if (error instanceof RateLimitError) {
        if (error.retryAfterMs > this.opts.maxRetryAfterMs || attempt >= this.opts.maxRetries) throw error;
        await sleep(error.retryAfterMs, undefined, { signal: this.opts.signal });
        continue;
      }
      if (error instanceof TransientError && attempt < this.opts.maxRetries) {
        await this.backoff(attempt);
        continue;
      }
      throw error;
    }
  }

  /** Convenience: request and return the parsed JSON body. */
  async json<T = unknown>(req: HttpRequest): Promise<T> {
    return (await this.request({ ...req, responseType: 'json' })).data as T;
  }

  /** Maps a status to the error it means, or undefined for success. Exported logic for SDK-based connectors. */
  classifyStatus(response: Pick<HttpResponse, 'status' | 'headers' | 'text'>): Error | undefined {
    return classifyStatus(this.opts.api, response);
  }

  private async send(req: HttpRequest): Promise<HttpResponse> {
    this.requests++;
    const url = this.buildUrl(req);
    const headers: Record<string, string> = { accept: 'application/json', ...this.opts.headers, ...req.headers };
    if (this.opts.auth) {
      const authHeaders = await this.opts.auth.headers();
      // Whatever credentials go out are masked in anything we print, even if a vendor echoes them.
      for (const value of Object.values(authHeaders)) registerSecret(value.replace(/^(bearer|basic)\s+/i, ''));
      Object.assign(headers, authHeaders);
    }
    let body: string | URLSearchParams | undefined;
    if (req.body instanceof URLSearchParams || typeof req.body === 'string') body = req.body;
    else if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] ??= 'application/json';
    }
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const signal = this.opts.signal ? AbortSignal.any([this.opts.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method: req.method ?? 'GET', headers, body, signal });
      text = await res.text();
    } catch (err) {
      if (this.opts.signal?.aborted) throw err;
      if (timeout.aborted) throw new TransientError(`${this.opts.api}: request timed out after ${this.opts.timeoutMs} ms`, undefined, { cause: err });
      throw err;
    }
    let data: unknown = text;
    if ((req.responseType ?? 'json') === 'json' && res.status < 300) {
      try {
        data = text === '' ? null : JSON.parse(text);
      } catch (err) {
        // A 2xx with an unparseable body is a truncated or garbled response: try again.
        throw new TransientError(`${this.opts.api}: response body is not valid JSON (${text.length} bytes, truncated?)`, res.status, { cause: err });
      }
    } else if (res.status >= 300) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    return { status: res.status, headers: res.headers, data, text, url };
  }

  private buildUrl(req: HttpRequest): string {
    const base = this.opts.baseUrl;
    const url = /^https?:\/\//.test(req.url) || !base ? new URL(req.url) : new URL(req.url.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  private async backoff(attempt: number): Promise<void> {
    const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** attempt);
    const random = this.opts.random ?? Math.random;
    await sleep(Math.floor(random() * cap), undefined, { signal: this.opts.signal });
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. Undefined when absent or unparseable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function classifyStatus(api: string, response: Pick<HttpResponse, 'status' | 'headers' | 'text'>): Error | undefined {
  const { status } = response;
  if (status < 300) return undefined;
  const detail = scrub(response.text.slice(0, 500));
  if (status === 401) return new AuthError(`${api}: authentication failed (HTTP 401): ${detail}`);
  if (status === 429) {
    const retryAfter = parseRetryAfter(response.headers.get('retry-after')) ?? 10_000;
    return new RateLimitError(`${api}: rate limited (HTTP 429), retry after ${Math.ceil(retryAfter / 1000)} s`, retryAfter);
  }
  if (status === 408 || status >= 500) return new TransientError(`${api}: HTTP ${status}: ${detail}`, status);
  if (status === 403) return new AuthError(`${api}: permission denied (HTTP 403): ${detail}`);
  return new RequestError(`${api}: request refused (HTTP ${status}): ${detail}`, status);
}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return scrub(`${err.message}${cause}`);
  }
  return String(err);
}

import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@hubspot/api-client';
import type { Logger } from 'pino';
import { classifyStatus, parseRetryAfter } from '../core/http.ts';
import { AuthError, ConfigError, RateLimitError, TransientError, UsageLimitError } from '../core/errors/index.ts';
import { registerSecret, scrub } from '../../pipeline/secrets.ts';
import type { HubSpotConfig } from './config.ts';

/**
 * HubSpot API access through @hubspot/api-client's `apiRequest` (the SDK's auth, base path and
 * transport; we parse bodies ourselves so the vendor record reaches raw unchanged, unknown fields
 * included), with HubSpot's limits honoured here:
 *  - burst: X-HubSpot-RateLimit-Max / -Remaining / -Interval-Milliseconds (and the older
 *    -Secondly / -Secondly-Remaining); when Remaining falls to `burstReserve` of Max, the rest of
 *    the budget is spread evenly over the interval, and at 0 the next request waits for the
 *    interval to roll over instead of drawing a 429;
 *  - daily: X-HubSpot-RateLimit-Daily / -Daily-Remaining (private apps; OAuth calls carry none);
 *    once Remaining is down to the reserve `dailyBudgetShare` leaves, the response in hand is
 *    returned (its page is stored) and the next request is not sent: the run ends `partial`
 *    (UsageLimitError) at its last stored page;
 *  - search: at most `searchRequestsPerSecond` (HubSpot: 5 requests/s per token; search
 *    responses are reported to carry no rate-limit headers: this budget is kept by spacing alone);
 *  - 429: waits Retry-After, else 1 s for the SECONDLY policy and the interval for the others, and
 *    retries; a DAILY policy 429 is a UsageLimitError.
 * Every wait goes through `clock`, so tests can run the pacing on a fake clock.
 * Sources: "API usage guidelines and limits"
 * (https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines: burst 100-190
 * requests / 10 s and 250k-1M requests / day by tier, the X-HubSpot-RateLimit-* headers) and the CRM
 * search guide, "Limitations" (https://developers.hubspot.com/docs/api/crm/search: 5 requests/s per
 * token, 200 records per page, 10,000 results per query).
 */

export interface HubSpotRequest {
  method?: 'GET' | 'POST';
  /** Path under the base URL, e.g. /crm/v3/objects/deals. */
  path: string;
  qs?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Search endpoints have their own, lower per-second budget. */
  search?: boolean;
}

export interface HubSpotResponse {
  status: number;
  headers: { get(name: string): string | null };
  data: unknown;
}

/** Rate state shared by every stream of one connection in this process (limits are per portal). */
class RateState {
  /** No request before this time (epoch ms): a spent interval rolling over, or a 429 wait. */
  holdUntil = 0;
  /** While the burst budget is low: the spacing between requests (ms), and the next free slot. */
  spacing = 0;
  nextSpacedAt = 0;
  /** No search request before this time. */
  nextSearchAt = 0;
}
const rateStates = new Map<string, RateState>();

/** What the pacing reads the time from and waits on. */
export interface PacingClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}
const systemClock: PacingClock = { now: () => Date.now(), sleep: (ms, signal) => sleep(ms, undefined, { signal }) };

export interface HubSpotApiOptions {
  connectionId: string;
  config: HubSpotConfig;
  log: Logger;
  signal: AbortSignal;
  /** Random source for backoff jitter, [0, 1). Default Math.random. */
  random?: () => number;
  /** Clock of the rate pacing, 429 waits and backoff. Default: the system clock and timers. */
  clock?: PacingClock;
}

export class HubSpotApi {
  private readonly client: Client;
  private accessToken: string | undefined;
  private readonly rate: RateState;
  private readonly config: HubSpotConfig;
  private readonly clock: PacingClock;
  /** Set once the daily budget is down to its reserve: the message the next request stops with. */
  private dailyStop: string | undefined;
  /** Requests sent (including retries and token refreshes). */
  requests = 0;

  constructor(private readonly opts: HubSpotApiOptions) {
    this.config = opts.config;
    this.clock = opts.clock ?? systemClock;
    this.accessToken = opts.config.accessToken;
    registerSecret(opts.config.accessToken);
    registerSecret(opts.config.refreshToken);
    registerSecret(opts.config.clientSecret);
    // numberOfApiCallRetries 0 and no limiterOptions: retries and pacing are done here, from headers.
    this.client = new Client({ basePath: opts.config.baseUrl.replace(/\/$/, ''), numberOfApiCallRetries: 0, ...(this.accessToken ? { accessToken: this.accessToken } : {}) });
    const key = `${opts.connectionId}|${opts.config.baseUrl}`;
    let rate = rateStates.get(key);
    if (!rate) rateStates.set(key, (rate = new RateState()));
    this.rate = rate;
  }

  private get oauth(): boolean {
    return this.config.refreshToken !== undefined;
  }

  /** Sends a request and returns the parsed JSON body of a 2xx (207 included). */
  async json(req: HubSpotRequest): Promise<HubSpotResponse> {
    if (!this.accessToken && this.oauth) await this.refresh();
    let refreshed = false;
    let rateLimitWaits = 0;
    for (let attempt = 0; ; attempt++) {
      this.opts.signal.throwIfAborted();
      await this.pace(req.search === true);
      let res: HubSpotResponse & { text: string };
      try {
        res = await this.send(req);
      } catch (err) {
        if (this.opts.signal.aborted) throw err;
        const error = err instanceof TransientError ? err : new TransientError(`hubspot: ${scrub(err instanceof Error ? err.message : String(err))}`, undefined, { cause: err });
        if (attempt >= this.config.maxRetries) throw error;
        await this.backoff(attempt);
        continue;
      }
      this.observe(res.headers);
      if (res.status === 429) {
        const body = res.data as { policyName?: unknown } | null;
        const policy = body && typeof body === 'object' && typeof body.policyName === 'string' ? body.policyName : undefined;
        if (policy === 'DAILY') {
          throw new UsageLimitError('hubspot: the portal daily API limit is reached (HTTP 429, policy DAILY); the run stops at its last stored page');
        }
        const interval = Number(res.headers.get('x-hubspot-ratelimit-interval-milliseconds'));
        const wait = parseRetryAfter(res.headers.get('retry-after')) ?? (policy === 'SECONDLY' ? 1_000 : Number.isFinite(interval) && interval > 0 ? interval : 10_000);
        if (wait > this.config.maxRateLimitWaitMs || rateLimitWaits >= 20) {
          throw new RateLimitError(`hubspot: rate limited (HTTP 429${policy ? `, policy ${policy}` : ''}), retry after ${Math.ceil(wait / 1000)} s`, wait);
        }
        rateLimitWaits++;
        attempt--; // a 429 wait is not a failed attempt
        // Every stream of the portal holds back, not only this request.
        this.rate.holdUntil = Math.max(this.rate.holdUntil, this.clock.now() + wait);
        this.opts.log.debug({ waitMs: wait, path: req.path, policy }, 'hubspot: 429, waiting');
        continue;
      }
      if (res.status === 401 && this.oauth && !refreshed) {
        refreshed = true;
        await this.refresh();
        attempt--;
        continue;
      }
      // 429 is handled above, so the generic rules need no headers.
      const error = classifyStatus('hubspot', { status: res.status, headers: new Headers(), text: res.text });
      if (!error) return res;
      if (error instanceof TransientError && attempt < this.config.maxRetries) {
        await this.backoff(attempt);
        continue;
      }
      throw error;
    }
  }

  private async send(req: HubSpotRequest): Promise<HubSpotResponse & { text: string }> {
    this.requests++;
    const qs: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.qs ?? {})) if (v !== undefined) qs[k] = String(v);
    const call = this.client.apiRequest({
      method: req.method ?? 'GET',
      path: req.path,
      ...(Object.keys(qs).length > 0 ? { qs } : {}),
      ...(req.body !== undefined ? { body: req.body } : {}),
    });
    const res = await withTimeout(call, this.config.timeoutMs, req.path);
    const text = await withTimeout(res.text(), this.config.timeoutMs, req.path);
    let data: unknown = text;
    if (res.status < 300) {
      try {
        data = text === '' ? null : JSON.parse(text);
      } catch (err) {
        throw new TransientError(`hubspot: ${req.path}: response body is not valid JSON (${text.length} bytes, truncated?)`, res.status, { cause: err });
      }
    } else {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    return { status: res.status, headers: res.headers, data, text };
  }

  /** OAuth refresh-token grant (https://developers.hubspot.com/docs/api/oauth/tokens, POST /oauth/v1/token, form-encoded). */
  async refresh(): Promise<void> {
    const { clientId, clientSecret, refreshToken } = this.config;
    if (!clientId || !clientSecret || !refreshToken) throw new AuthError('hubspot: access token refused and no OAuth refresh credentials are configured');
    const url = this.config.tokenUrl ?? `${this.config.baseUrl.replace(/\/$/, '')}/oauth/v1/token`;
    const body = new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken }).toString();
    this.requests++;
    let res;
    try {
      res = await withTimeout(
        this.client.apiRequest({ method: 'POST', overlapUrl: url, authType: 'none', defaultJson: false, body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
        this.config.timeoutMs,
        'token endpoint',
      );
    } catch (err) {
      throw new TransientError(`hubspot: token refresh failed: ${scrub(err instanceof Error ? err.message : String(err))}`, undefined, { cause: err });
    }
    const text = await res.text();
    if (res.status >= 500) throw new TransientError(`hubspot: token endpoint HTTP ${res.status}`, res.status);
    if (res.status !== 200) throw new AuthError(`hubspot: OAuth refresh refused (HTTP ${res.status}): ${scrub(text.slice(0, 300))}`);
    let token: unknown;
    try {
      token = (JSON.parse(text) as { access_token?: unknown }).access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '') throw new AuthError('hubspot: OAuth token response has no access_token');
    registerSecret(token);
    this.accessToken = token;
    this.client.setAccessToken(token);
    this.opts.log.info('hubspot: access token refreshed');
  }

  /**
   * Before a request: stops when the daily budget is down to its reserve, else waits for the
   * burst spacing (or the roll-over of an exhausted interval) and the search budget, and takes
   * its slot so that concurrent streams of the portal queue behind it.
   */
  private async pace(search: boolean): Promise<void> {
    if (this.dailyStop !== undefined) throw new UsageLimitError(this.dailyStop);
    const now = this.clock.now();
    const at = Math.max(now, this.rate.holdUntil, this.rate.spacing > 0 ? this.rate.nextSpacedAt : 0, search ? this.rate.nextSearchAt : 0);
    if (this.rate.spacing > 0) this.rate.nextSpacedAt = at + this.rate.spacing;
    if (search) this.rate.nextSearchAt = at + Math.ceil(1000 / this.config.searchRequestsPerSecond);
    if (at > now) {
      this.opts.log.debug({ waitMs: at - now, search }, 'hubspot: pacing to the rate limit');
      await this.clock.sleep(at - now, this.opts.signal);
    }
  }

  /** Reads the X-HubSpot-RateLimit-* headers of a response (reported absent on search responses). */
  private observe(headers: HubSpotResponse['headers']): void {
    const num = (name: string): number | undefined => {
      const v = headers.get(name);
      if (v === null || v.trim() === '') return undefined;
      const n = Number(v);
      return Number.isFinite(n) ? n : undefined;
    };
    const now = this.clock.now();
    const budget = (max: number | undefined, remaining: number | undefined, interval: number): void => {
      if (max === undefined || remaining === undefined || max <= 0) return;
      if (remaining <= 0) {
        // Spent: nothing more until the interval has rolled over (a request now would be a 429).
        this.rate.holdUntil = Math.max(this.rate.holdUntil, now + interval);
        this.rate.spacing = 0;
      } else if (remaining <= max * this.config.burstReserve) {
        // Low: spread the rest evenly over the interval instead of bursting into the limit.
        this.rate.spacing = Math.ceil(interval / remaining);
        this.rate.nextSpacedAt = Math.max(this.rate.nextSpacedAt, now + this.rate.spacing);
      } else {
        this.rate.spacing = 0;
      }
    };
    budget(num('x-hubspot-ratelimit-max'), num('x-hubspot-ratelimit-remaining'), num('x-hubspot-ratelimit-interval-milliseconds') ?? 10_000);
    budget(num('x-hubspot-ratelimit-secondly'), num('x-hubspot-ratelimit-secondly-remaining'), 1_000);
    const daily = num('x-hubspot-ratelimit-daily');
    const dailyRemaining = num('x-hubspot-ratelimit-daily-remaining');
    if (daily !== undefined && dailyRemaining !== undefined && daily > 0 && daily - dailyRemaining >= daily * this.config.dailyBudgetShare) {
      const reserve = Math.ceil(daily * (1 - this.config.dailyBudgetShare));
      this.dailyStop =
        `hubspot: daily API limit: ${daily - dailyRemaining} of the portal's ${daily} daily API calls are used ` +
        `(X-HubSpot-RateLimit-Daily-Remaining ${dailyRemaining}, at or below the reserve of ${reserve} that dailyBudgetShare ${this.config.dailyBudgetShare} keeps); ` +
        'the run stops at its last stored page and resumes there';
    }
  }

  private async backoff(attempt: number): Promise<void> {
    const cap = Math.min(30_000, 500 * 2 ** attempt);
    await this.clock.sleep(Math.floor((this.opts.random ?? Math.random)() * cap), this.opts.signal);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TransientError(`hubspot: ${what}: no response after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A ConfigError for an extra property that the portal does not define. */
export function unknownPropertyError(object: string, property: string, known: readonly string[]): ConfigError {
  const close = known.filter((k) => k.includes(property.slice(0, 4)) || property.includes(k.slice(0, 4))).slice(0, 3);
  return new ConfigError(`hubspot: extraProperties.${object}: property "${property}" does not exist on ${object}${close.length ? ` (did you mean ${close.join(', ')}?)` : ''}`);
}

import { setTimeout as sleep } from 'node:timers/promises';
import { analyticsdata, type analyticsdata_v1beta } from '@googleapis/analyticsdata';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AuthError, ConfigError, RateLimitError, RequestError, SchemaError, TransientError, UsageLimitError } from '../core/errors/index.ts';
import { classifyStatus, parseRetryAfter } from '../core/http.ts';
import { createGoogleAuth, mapTokenError, type GoogleAuth, type GoogleAuthSettings } from '../google_auth/index.ts';
import { scrub } from '../../pipeline/secrets.ts';

/**
 * The GA4 Data API v1beta through @googleapis/analyticsdata (rootUrl configurable), with our own
 * retries, error classes and property-quota guard.
 *
 * Routes: POST {root}v1beta/properties/{id}:runReport
 * (developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/properties/runReport) and
 * GET {root}v1beta/properties/{id}/metadata
 * (developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/properties/getMetadata).
 * Quotas: developers.google.com/analytics/devguides/reporting/data/v1/quotas ("Daily quotas refresh
 * at midnight PST, and hourly quotas refresh within an hour"; returnPropertyQuota reports them).
 */

/** Longest Retry-After waited in place. */
const SHORT_RETRY_MS = 60_000;

export const GA4_SCOPE = 'https://www.googleapis.com/auth/analytics.readonly';

export type RunReportRequest = analyticsdata_v1beta.Schema$RunReportRequest;

/** The response envelope we rely on (RunReportResponse); rows are passed on untouched. */
const quotaStatus = z.looseObject({ consumed: z.number().optional(), remaining: z.number().optional() });
export const propertyQuotaSchema = z.looseObject({
  tokensPerDay: quotaStatus.optional(),
  tokensPerHour: quotaStatus.optional(),
  tokensPerProjectPerHour: quotaStatus.optional(),
  serverErrorsPerProjectPerHour: quotaStatus.optional(),
  concurrentRequests: quotaStatus.optional(),
});
export type PropertyQuota = z.infer<typeof propertyQuotaSchema>;

export const runReportResponse = z.looseObject({
  dimensionHeaders: z.array(z.looseObject({ name: z.string() })).optional(),
  metricHeaders: z.array(z.looseObject({ name: z.string(), type: z.string().optional() })).optional(),
  rows: z.array(z.looseObject({ dimensionValues: z.array(z.unknown()).optional() })).optional(),
  rowCount: z.number().int().nonnegative().optional(),
  metadata: z.looseObject({ timeZone: z.string().optional(), currencyCode: z.string().optional(), dataLossFromOtherRow: z.boolean().optional() }).optional(),
  propertyQuota: propertyQuotaSchema.optional(),
});
export type RunReportResponse = z.infer<typeof runReportResponse>;

const metadataResponse = z.looseObject({
  dimensions: z.array(z.looseObject({ apiName: z.string() })).optional(),
  metrics: z.array(z.looseObject({ apiName: z.string(), type: z.string().optional() })).optional(),
});
export type PropertyMetadata = z.infer<typeof metadataResponse>;

export interface QuotaSettings {
  /** Stop (run partial) when fewer daily property tokens than this remain. */
  minDailyTokens: number;
  /** Pause or stop when fewer hourly tokens (property, or project per property) than this remain. */
  minHourlyTokens: number;
  /** Below this many hourly tokens, wait slowDownMs between requests. */
  slowDownHourlyTokens: number;
  slowDownMs: number;
  /** Longest wait for the hourly quota to refill; longer ends the run partial. */
  maxHourlyWaitMs: number;
}

export interface Ga4ApiSettings extends GoogleAuthSettings {
  baseUrl: string;
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  quota: QuotaSettings;
}

interface ApiErrorShape {
  status?: unknown;
  message?: unknown;
  config?: { url?: unknown };
  response?: { status?: unknown; data?: unknown; headers?: unknown; config?: { url?: unknown } };
}

const googleErrorBody = z.looseObject({ error: z.looseObject({ code: z.number().optional(), message: z.string().optional(), status: z.string().optional() }) });

function toHeaders(value: unknown): Headers {
  if (value instanceof Headers) return value;
  const headers = new Headers();
  // gaxios may hand back another fetch implementation's Headers: copy through its forEach.
  const iterable = value as { forEach?: unknown } | null;
  if (iterable && typeof iterable.forEach === 'function' && !Array.isArray(value)) {
    (iterable.forEach as (cb: (v: string, k: string) => void) => void).call(value, (v, k) => headers.set(k, v));
    return headers;
  }
  if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) if (typeof v === 'string') headers.set(k, v);
  return headers;
}

/** Milliseconds until the next full hour of `now` (the hourly quota's refill, at the latest). */
export function msUntilNextHour(now: Date): number {
  return 3_600_000 - (now.getTime() % 3_600_000);
}

/** Milliseconds until the next midnight in America/Los_Angeles (daily quota refill). */
export function msUntilPacificMidnight(now: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: 'America/Los_Angeles', hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(now);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? '0');
  const elapsed = ((get('hour') % 24) * 3600 + get('minute') * 60 + get('second')) * 1000;
  return 86_400_000 - elapsed;
}

export class Ga4Api {
  private readonly sdk: analyticsdata_v1beta.Analyticsdata;
  private readonly auth: GoogleAuth;
  private lastQuota = new Map<string, PropertyQuota>();
  /** Server errors met per property since its last reported quota. */
  private serverErrorsSinceQuota = new Map<string, number>();
  /** Requests sent (including retries). */
  requests = 0;

  constructor(
    private readonly settings: Ga4ApiSettings,
    private readonly env: { signal: AbortSignal; now(): Date; log: Logger },
  ) {
    this.auth = createGoogleAuth(settings, [GA4_SCOPE]);
    // No `auth` option: the SDK bundles its own google-auth-library copy; we add the bearer header
    // ourselves and refresh once on a 401.
    this.sdk = analyticsdata({ version: 'v1beta', rootUrl: settings.baseUrl.endsWith('/') ? settings.baseUrl : `${settings.baseUrl}/` });
  }

  async metadata(propertyId: string): Promise<PropertyMetadata> {
    const data = await this.call(propertyId, 'getMetadata', (headers) =>
      this.sdk.properties.getMetadata({ name: `properties/${propertyId}/metadata` }, this.options(headers)),
    );
    const parsed = metadataResponse.safeParse(data);
    if (!parsed.success) throw new SchemaError(`GA4: metadata of property ${propertyId} has an unexpected shape`, '(response)');
    return parsed.data;
  }

  /** One runReport call (quota-guarded, retried); the quota it reports is remembered for the next call. */
  async runReport(propertyId: string, request: RunReportRequest): Promise<RunReportResponse> {
    await this.guardQuota(propertyId);
    const data = await this.call(propertyId, 'runReport', (headers) =>
      this.sdk.properties.runReport({ property: `properties/${propertyId}`, requestBody: { ...request, returnPropertyQuota: true } }, this.options(headers)),
    );
    const parsed = runReportResponse.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new SchemaError(`GA4: runReport of property ${propertyId} has an unexpected shape (${issue?.path.join('.')}: ${issue?.message})`, '(response)');
    }
    if (parsed.data.propertyQuota) {
      this.lastQuota.set(propertyId, parsed.data.propertyQuota);
      this.serverErrorsSinceQuota.set(propertyId, 0);
    }
    return parsed.data;
  }

  private options(headers: Record<string, string>) {
    return { headers, retry: false, timeout: this.settings.timeoutMs, signal: this.env.signal };
  }

  /**
   * Before a request: stop cleanly (UsageLimitError: the run ends partial at its last stored page)
   * when the property's tokens are nearly gone, wait for the hourly refill when it is close, and
   * slow down when hourly tokens run low.
   */
  private async guardQuota(propertyId: string): Promise<void> {
    const quota = this.lastQuota.get(propertyId);
    if (!quota) return;
    const q = this.settings.quota;
    const daily = quota.tokensPerDay?.remaining;
    if (daily !== undefined && daily < q.minDailyTokens) {
      throw new UsageLimitError(
        `GA4 property ${propertyId}: ${daily} daily tokens left (below quota.minDailyTokens ${q.minDailyTokens}); stopped before exhausting them, resume after the daily refill (midnight Pacific time)`,
        msUntilPacificMidnight(this.env.now()),
      );
    }
    const hourly = Math.min(quota.tokensPerHour?.remaining ?? Infinity, quota.tokensPerProjectPerHour?.remaining ?? Infinity);
    if (hourly < q.minHourlyTokens) {
      await this.waitForHour(propertyId, `${hourly} hourly tokens left (below quota.minHourlyTokens ${q.minHourlyTokens})`);
      this.lastQuota.delete(propertyId);
      return;
    }
    if (hourly < q.slowDownHourlyTokens && q.slowDownMs > 0) {
      this.env.log.info({ propertyId, hourlyTokensLeft: hourly, waitMs: q.slowDownMs }, 'GA4 hourly tokens running low: slowing down');
      await sleep(q.slowDownMs, undefined, { signal: this.env.signal });
    }
  }

  /**
   * "Standard Analytics Properties and cloud project pairs can have up to 10 server errors per hour"
   * (PropertyQuota.serverErrorsPerProjectPerHour); past it every request is refused. Retrying a 5xx
   * with one error left would lock the property out for the hour: stop partial instead.
   */
  private guardServerErrors(propertyId: string, error: TransientError): void {
    const seen = (this.serverErrorsSinceQuota.get(propertyId) ?? 0) + 1;
    this.serverErrorsSinceQuota.set(propertyId, seen);
    const reported = this.lastQuota.get(propertyId)?.serverErrorsPerProjectPerHour?.remaining;
    if (reported === undefined) return;
    const left = reported - seen;
    if (left <= 1) {
      throw new UsageLimitError(
        `GA4 property ${propertyId}: ${Math.max(0, left)} server error(s) per project per hour left after ${error.message}; stopped rather than retrying into the hourly lockout, resume within the hour`,
        msUntilNextHour(this.env.now()),
        { cause: error },
      );
    }
  }

  private async waitForHour(propertyId: string, why: string): Promise<void> {
    const wait = msUntilNextHour(this.env.now());
    if (wait > this.settings.quota.maxHourlyWaitMs) {
      throw new UsageLimitError(`GA4 property ${propertyId}: ${why}; the hourly quota refills in ${Math.ceil(wait / 60_000)} min (more than quota.maxHourlyWaitMs), stopped at the last stored page`, wait);
    }
    this.env.log.info({ propertyId, waitMs: wait }, `GA4: ${why}; waiting for the hourly refill`);
    await sleep(wait, undefined, { signal: this.env.signal });
  }

  /** Sends with the bearer header; maps SDK (gaxios) errors to our classes; retries what can be retried. */
  private async call(propertyId: string, what: string, send: (headers: Record<string, string>) => Promise<{ data: unknown }>): Promise<unknown> {
    let refreshed = false;
    let hourlyWaits = 0;
    for (let attempt = 0; ; attempt++) {
      this.env.signal.throwIfAborted();
      const headers = (await this.auth.http.headers()) as Record<string, string>;
      this.requests++;
      let error: Error;
      try {
        const { data } = await send(headers);
        // gaxios hands back the text when a 200 body is not JSON (a cut-off response): retry it.
        if (typeof data !== 'object' || data === null) throw new TransientError(`GA4: ${what} for property ${propertyId}: the response body is not JSON (truncated?)`);
        return data;
      } catch (err) {
        if (this.env.signal.aborted) throw err;
        error = this.mapError(propertyId, what, err);
      }
      if (error instanceof AuthError && /HTTP 401/.test(error.message) && !refreshed) {
        refreshed = true;
        await this.auth.http.refresh?.();
        attempt--;
        continue;
      }
      if (error instanceof HourlyQuotaError && hourlyWaits < 2) {
        hourlyWaits++;
        await this.waitForHour(propertyId, error.message);
        attempt--;
        continue;
      }
      if (error instanceof HourlyQuotaError) throw new UsageLimitError(`GA4 property ${propertyId}: ${error.message}; still exhausted after waiting for the hourly refill`, msUntilNextHour(this.env.now()));
      if (error instanceof TransientError && error.status !== undefined && error.status >= 500) this.guardServerErrors(propertyId, error);
      const retryable = error instanceof TransientError || error instanceof RateLimitError;
      if (!retryable || attempt >= this.settings.maxRetries) throw error;
      const wait = error instanceof RateLimitError ? Math.min(error.retryAfterMs, 60_000) : Math.min(30_000, this.settings.retryBaseMs * 2 ** attempt) * Math.random();
      await sleep(wait, undefined, { signal: this.env.signal });
    }
  }

  private mapError(propertyId: string, what: string, err: unknown): Error {
    if (err instanceof AuthError || err instanceof TransientError || err instanceof ConfigError || err instanceof UsageLimitError) return err;
    const e = (err ?? {}) as ApiErrorShape;
    const url = String(e.config?.url ?? e.response?.config?.url ?? '');
    if (url.startsWith(this.settings.oauthUrl)) return mapTokenError(err);
    const status = typeof e.response?.status === 'number' ? e.response.status : typeof e.status === 'number' ? e.status : undefined;
    if (status === undefined) {
      const message = err instanceof Error ? err.message : String(err);
      return new TransientError(`GA4: ${what} for property ${propertyId}: ${scrub(message)}`, undefined, { cause: err });
    }
    const data = e.response?.data;
    const text = typeof data === 'string' ? data : JSON.stringify(data ?? '');
    const body = googleErrorBody.safeParse(typeof data === 'string' ? safeJson(data) : data);
    const message = body.success ? (body.data.error.message ?? '') : '';
    const headers = toHeaders(e.response?.headers);
    const retryAfter = parseRetryAfter(headers.get('retry-after'));
    if (status === 429 && retryAfter !== undefined && retryAfter <= SHORT_RETRY_MS) {
      // A short Retry-After (a proxy's or a burst limit's) is waited in place, whatever the message.
      return new RateLimitError(`GA4 ${what} (property ${propertyId}): rate limited (HTTP 429), retry after ${Math.ceil(retryAfter / 1000)} s`, retryAfter);
    }
    if (status === 429 || (body.success && body.data.error.status === 'RESOURCE_EXHAUSTED')) {
      // "Exhausted property tokens per hour" / "per project per hour" vs "per day" / concurrent requests.
      if (/per day|daily/i.test(message)) {
        return new UsageLimitError(`GA4 property ${propertyId}: daily quota exhausted (${scrub(message)}); resume after the daily refill (midnight Pacific time)`, msUntilPacificMidnight(this.env.now()));
      }
      if (/per hour|hourly/i.test(message)) return new HourlyQuotaError(`hourly quota exhausted (${scrub(message)})`);
    }
    if (status === 400) return new RequestError(`GA4: ${what} for property ${propertyId} refused: ${scrub(message || text.slice(0, 300))}`, status);
    if (status === 403 || status === 404) return new AuthError(`GA4: ${what} for property ${propertyId}: no access (HTTP ${status}): ${scrub(message || text.slice(0, 300))}; check the property id and that the credentials' user has read access`);
    return classifyStatus(`GA4 ${what} (property ${propertyId})`, { status, headers, text }) ?? new TransientError(`GA4: HTTP ${status}`, status);
  }
}

/** The hourly token quota ran out: wait for the refill if it is soon, else stop partial. */
class HourlyQuotaError extends Error {}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

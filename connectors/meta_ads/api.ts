import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { HttpClient, parseRetryAfter, type HttpResponse } from '../core/http.ts';
import { AuthError, RateLimitError, RequestError, SchemaError, TransientError } from '../core/errors/index.ts';
import { registerSecret, scrub } from '../../pipeline/secrets.ts';
import type { MetaAdsConfig } from './config.ts';
import type { DayRange } from './dates.ts';
import { ReduceDataError } from './reduce-data-error.ts';

/**
 * The Meta Marketing API (Graph API) over fetch, through the shared HttpClient.
 *
 * - Root `{baseUrl}/{apiVersion}/`; the token goes in `Authorization: Bearer` or `access_token`,
 *   with `appsecret_proof` = HMAC-SHA256(token, app secret) when an app secret is configured
 *   (Graph API "Securing Requests").
 * - Errors are `{ error: { message, type, code, error_subcode, fbtrace_id } }`, mostly HTTP 400
 *   (Graph API "Handling Errors"). Throttling: codes 4, 17, 32, 613 and 80000-80014 (Graph API and
 *   Marketing API "Rate Limiting"); the wait comes from X-Business-Use-Case-Usage
 *   `estimated_time_to_regain_access` (minutes) or X-Ad-Account-Usage `reset_time_duration` (s).
 *   190 (and 102, 2500) is a bad or expired token: Meta tokens cannot be refreshed by the API.
 * - Usage headers (X-Business-Use-Case-Usage, X-Ad-Account-Usage, X-App-Usage,
 *   X-FB-Ads-Insights-Throttle) report percentages; above `throttleAtPercent` requests are spaced out.
 */

const graphError = z.looseObject({
  error: z.looseObject({
    message: z.string().optional(),
    type: z.string().optional(),
    code: z.number().optional(),
    error_subcode: z.number().optional(),
    error_user_msg: z.string().optional(),
    is_transient: z.boolean().optional(),
    fbtrace_id: z.string().optional(),
  }),
});

/** Error codes Meta uses for throttling (Graph API and Marketing API "Rate Limiting"). */
export function isThrottleCode(code: number | undefined): boolean {
  return code === 4 || code === 17 || code === 32 || code === 613 || (code !== undefined && code >= 80000 && code <= 80014);
}

const REDUCE_DATA = /reduce the amount of data/i;

function parseJsonHeader(value: string | null): unknown {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The highest usage percentage and the longest regain-access wait the usage headers report. */
export function readUsage(headers: Headers): { percent: number; regainMs: number } {
  let percent = 0;
  let regainMs = 0;
  const buc = parseJsonHeader(headers.get('x-business-use-case-usage'));
  if (buc && typeof buc === 'object') {
    for (const entries of Object.values(buc as Record<string, unknown>)) {
      for (const e of Array.isArray(entries) ? (entries as Array<Record<string, unknown>>) : []) {
        percent = Math.max(percent, num(e.call_count), num(e.total_cputime), num(e.total_time));
        regainMs = Math.max(regainMs, num(e.estimated_time_to_regain_access) * 60_000);
      }
    }
  }
  const account = parseJsonHeader(headers.get('x-ad-account-usage')) as Record<string, unknown> | undefined;
  if (account && typeof account === 'object') {
    percent = Math.max(percent, num(account.acc_id_util_pct));
    regainMs = Math.max(regainMs, num(account.reset_time_duration) * 1000);
  }
  for (const name of ['x-app-usage', 'x-fb-ads-insights-throttle']) {
    const h = parseJsonHeader(headers.get(name)) as Record<string, unknown> | undefined;
    if (h && typeof h === 'object') percent = Math.max(percent, num(h.call_count), num(h.total_cputime), num(h.total_time), num(h.app_id_util_pct), num(h.acc_id_util_pct));
  }
  return { percent: Math.min(100, percent), regainMs };
}

/** Maps a Graph API error response to mpm's error classes; undefined for success. */
export function classifyGraphResponse(response: Pick<HttpResponse, 'status' | 'headers' | 'data' | 'text'>, defaultWaitMs: number): Error | undefined {
  if (response.status < 300) return undefined;
  const parsed = graphError.safeParse(response.data);
  if (!parsed.success) return undefined; // not a Graph error body: the generic status rules apply
  const e = parsed.data.error;
  // Graph prefixes some messages with "(#code)" itself; the code/subcode is printed once.
  const message = (e.message ?? '').replace(/^\(#\d+\)\s*/, '');
  const detail = scrub(`(#${e.code ?? '?'}${e.error_subcode ? `/${e.error_subcode}` : ''}) ${message}${e.fbtrace_id ? ` [fbtrace_id ${e.fbtrace_id}]` : ''}`);
  if (isThrottleCode(e.code)) {
    const usage = readUsage(response.headers);
    const wait = usage.regainMs || parseRetryAfter(response.headers.get('retry-after')) || defaultWaitMs;
    return new RateLimitError(`Meta Ads: rate limited ${detail}; retry after ${Math.ceil(wait / 1000)} s`, wait);
  }
  if (e.code === 190 || e.code === 102 || e.code === 2500) {
    return new AuthError(`Meta Ads: the access token was refused ${detail}. Generate a new token (a system user token with ads_read does not expire) and update META_ACCESS_TOKEN / accessToken`);
  }
  if (e.code === 10 || (e.code !== undefined && e.code >= 200 && e.code <= 299)) {
    return new AuthError(`Meta Ads: permission denied ${detail}; the token needs ads_read on the ad account`);
  }
  if ((e.code === 100 && e.error_subcode === 1487534) || REDUCE_DATA.test(e.message ?? '')) {
    return new ReduceDataError(`Meta Ads: ${detail}`, 'refused');
  }
  if (e.is_transient === true || e.code === 1 || e.code === 2 || response.status >= 500) {
    return new TransientError(`Meta Ads: HTTP ${response.status} ${detail}`, response.status);
  }
  return new RequestError(`Meta Ads: request refused (HTTP ${response.status}) ${detail}`, response.status);
}

const pagingSchema = z.looseObject({
  data: z.array(z.unknown()),
  paging: z.looseObject({ next: z.string().optional() }).optional(),
});

const reportRunCreated = z.looseObject({ report_run_id: z.union([z.string(), z.number()]).transform(String) });

export const reportRunSchema = z.looseObject({
  id: z.union([z.string(), z.number()]).transform(String),
  async_status: z.string(),
  async_percent_completion: z.number(),
  error_code: z.number().optional(),
  error_message: z.string().optional(),
  error_subcode: z.number().optional(),
});
export type ReportRunStatus = z.infer<typeof reportRunSchema>;

/** The fields asked of every insights row. account_currency makes each row self-describing. */
export const INSIGHT_FIELDS = ['account_id', 'account_currency', 'campaign_id', 'campaign_name', 'spend', 'impressions', 'clicks', 'actions', 'action_values'] as const;
export const ACCOUNT_FIELDS = ['account_id', 'name', 'currency', 'timezone_name', 'timezone_offset_hours_utc', 'account_status'] as const;
export const CAMPAIGN_FIELDS = ['id', 'account_id', 'name', 'status', 'effective_status', 'objective', 'start_time', 'stop_time', 'daily_budget', 'lifetime_budget', 'created_time', 'updated_time'] as const;

export type ApiSettings = Pick<
  MetaAdsConfig,
  'accessToken' | 'appSecret' | 'tokenIn' | 'baseUrl' | 'apiVersion' | 'pageSize' | 'rateLimitWaitMs' | 'throttleAtPercent' | 'throttleMaxDelayMs' | 'timeoutMs' | 'maxRetries' | 'maxRetryWaitMs'
>;

export class MetaAdsApi {
  readonly http: HttpClient;
  /** Highest usage percentage seen in the last response's headers. */
  usagePercent = 0;
  private readonly authQuery: Record<string, string>;

  constructor(
    private readonly settings: ApiSettings,
    private readonly signal?: AbortSignal,
  ) {
    registerSecret(settings.accessToken);
    if (settings.appSecret) registerSecret(settings.appSecret);
    this.authQuery = {};
    if (settings.tokenIn === 'query') this.authQuery.access_token = settings.accessToken;
    if (settings.appSecret) this.authQuery.appsecret_proof = createHmac('sha256', settings.appSecret).update(settings.accessToken).digest('hex');
    this.http = new HttpClient({
      api: 'Meta Ads',
      baseUrl: `${settings.baseUrl.replace(/\/+$/, '')}/${settings.apiVersion}/`,
      timeoutMs: settings.timeoutMs,
      maxRetries: settings.maxRetries,
      maxRetryAfterMs: settings.maxRetryWaitMs,
      ...(settings.tokenIn === 'header' ? { auth: { headers: () => ({ authorization: `Bearer ${settings.accessToken}` }) } } : {}),
      ...(signal ? { signal } : {}),
      classify: (response) => classifyGraphResponse(response, settings.rateLimitWaitMs),
      onResponse: (response) => {
        this.usagePercent = readUsage(response.headers).percent;
      },
    });
  }

  /** Spaces requests out as usage climbs: none below throttleAtPercent, up to throttleMaxDelayMs at 100 %. */
  pacingDelayMs(): number {
    const { throttleAtPercent: at, throttleMaxDelayMs: max } = this.settings;
    if (this.usagePercent < at || max === 0) return 0;
    if (at >= 100) return max;
    return Math.round((max * (this.usagePercent - at)) / (100 - at));
  }

  private async call(url: string, query: Record<string, string | number | undefined> = {}, method: 'GET' | 'POST' = 'GET'): Promise<unknown> {
    const delay = this.pacingDelayMs();
    if (delay > 0) await sleep(delay, undefined, { signal: this.signal });
    return this.http.json({ method, url, query: { ...query, ...this.authQuery } });
  }

  /** The ad account node: currency and time zone. */
  async account(accountId: string): Promise<unknown> {
    return this.call(`act_${accountId}`, { fields: ACCOUNT_FIELDS.join(',') });
  }

  /** Follows `paging.next` until it is absent (Graph API "Paginated Results"). */
  async *pages(url: string, query: Record<string, string | number | undefined>, what: string): AsyncGenerator<unknown[]> {
    let next: { url: string; query: Record<string, string | number | undefined> } | undefined = { url, query };
    while (next) {
      const body = await this.call(next.url, next.query);
      const parsed = pagingSchema.safeParse(body);
      if (!parsed.success) throw new SchemaError(`Meta Ads: ${what} did not return { data: [...], paging }`, '(response)');
      yield parsed.data.data;
      // The next link carries every parameter of the query (and the cursor).
      next = parsed.data.paging?.next ? { url: parsed.data.paging.next, query: {} } : undefined;
    }
  }

  campaigns(accountId: string): AsyncGenerator<unknown[]> {
    return this.pages(`act_${accountId}/campaigns`, { fields: CAMPAIGN_FIELDS.join(','), limit: this.settings.pageSize }, `campaigns of act_${accountId}`);
  }

  /** The query of a daily campaign-level report over `range`. */
  insightsQuery(range: DayRange): Record<string, string> {
    return {
      level: 'campaign',
      time_increment: '1',
      fields: INSIGHT_FIELDS.join(','),
      time_range: JSON.stringify({ since: range.since, until: range.until }),
    };
  }

  /** A synchronous insights read, page by page. */
  insights(accountId: string, range: DayRange): AsyncGenerator<unknown[]> {
    return this.pages(`act_${accountId}/insights`, { ...this.insightsQuery(range), limit: this.settings.pageSize }, `insights of act_${accountId}`);
  }

  /** Starts an async report run (POST act_{id}/insights) and returns its id. */
  async createReportRun(accountId: string, range: DayRange): Promise<string> {
    const body = await this.call(`act_${accountId}/insights`, this.insightsQuery(range), 'POST');
    const parsed = reportRunCreated.safeParse(body);
    if (!parsed.success) throw new SchemaError(`Meta Ads: creating a report run for act_${accountId} returned no report_run_id`, 'report_run_id');
    return parsed.data.report_run_id;
  }

  async reportRun(runId: string): Promise<ReportRunStatus> {
    const body = await this.call(runId);
    const parsed = reportRunSchema.safeParse(body);
    if (!parsed.success) throw new SchemaError(`Meta Ads: report run ${runId} did not return async_status and async_percent_completion`, 'async_status');
    return parsed.data;
  }

  reportRunInsights(runId: string): AsyncGenerator<unknown[]> {
    return this.pages(`${runId}/insights`, { limit: this.settings.pageSize }, `report run ${runId}`);
  }
}

import { z } from 'zod';
import { dayString } from './dates.ts';

/**
 * Settings of a meta_ads connection (mpm.config.json `settings`, or the META_* environment
 * variables for the single env-configured connection). Every field documents its default.
 */

/** An ad account id with or without the act_ prefix; stored without it. */
const adAccountId = z
  .string()
  .trim()
  .transform((v) => v.replace(/^act_/, ''))
  .pipe(z.string().regex(/^\d+$/, 'must be a numeric ad account id, with or without the act_ prefix (e.g. act_1234567890)'));

const adAccountIdList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v),
  z.array(adAccountId).min(1, 'needs at least one ad account id'),
);

/**
 * The action types summed into conversions / conversion value by default. 'lead' and 'purchase'
 * are Meta's aggregate types (they already include the pixel, app, offline and on-Facebook
 * variants), so adding e.g. 'offsite_conversion.fb_pixel_purchase' next to 'purchase' counts twice.
 */
export const DEFAULT_CONVERSION_ACTION_TYPES = ['lead', 'purchase'] as const;

export const metaAdsConfigSchema = z.strictObject({
    /** Access token (system user token recommended) with the ads_read permission. Required. */
    accessToken: z.string().trim().min(1, 'is empty'),
    /** Ad account ids to sync, with or without act_ (a comma-separated string is accepted). Required. */
    adAccountIds: adAccountIdList,
    /** App secret: when set, every request carries appsecret_proof (apps that require it). Default: none. */
    appSecret: z.string().trim().min(1).optional(),
    /** How the token is sent: 'header' (Authorization: Bearer) or 'query' (access_token=). Default 'header'. */
    tokenIn: z.enum(['header', 'query']).default('header'),
    /** Graph API root, e.g. a proxy or the sandbox. Default https://graph.facebook.com. */
    baseUrl: z.url({ protocol: /^https?$/ }).default('https://graph.facebook.com'),
    /** Graph API version. Default 'v26.0' (latest per developers.facebook.com/docs/graph-api/changelog/versions). */
    apiVersion: z.string().regex(/^v\d+\.\d+$/, 'must look like v26.0').default('v26.0'),
    /** First day of the first sync (and of a full sync). Default: 365 days ending yesterday. Meta keeps 37 months. */
    startDate: dayString.optional(),
    /** Days before yesterday re-pulled and overwritten every incremental sync (Meta restates within its 28-day attribution window). Default 28. */
    lookbackDays: z.number().int().min(0).max(400).default(28),
    /** Days per insights report; one checkpoint per chunk. Default 30. */
    chunkDays: z.number().int().min(1).max(366).default(30),
    /** Ranges of at least this many days use the async report flow; shorter ones a plain GET. 0 = always async. Default 8. */
    asyncMinDays: z.number().int().min(0).default(8),
    /** Rows per insights page (`limit`). Default 500. */
    pageSize: z.number().int().min(1).max(5_000).default(500),
    /** Action types summed into conversions and conversion value. Default ['lead', 'purchase']. */
    conversionActionTypes: z.array(z.string().trim().min(1)).min(1).default([...DEFAULT_CONVERSION_ACTION_TYPES]),
    /** Wait between polls of an async report. Default 5,000 ms. */
    pollIntervalMs: z.number().int().min(0).default(5_000),
    /** An async report whose async_percent_completion has not risen for this long is stalled (it is split or retried). Default 600,000 ms. */
    asyncStallTimeoutMs: z.number().int().min(0).default(600_000),
    /** Fresh attempts at a one-day report that stalls or fails before the sync gives up. Default 2. */
    asyncDayAttempts: z.number().int().min(1).max(10).default(2),
    /** Wait after a rate-limit error (codes 4, 17, 32, 613, 80000-80014) when Meta gives no estimate. Default 60,000 ms. */
    rateLimitWaitMs: z.number().int().min(0).default(60_000),
    /** Usage (highest of the usage headers, in %) above which requests are spaced out. Default 75. */
    throttleAtPercent: z.number().min(0).max(100).default(75),
    /** The pause before a request when usage reaches 100 % (linear from throttleAtPercent). Default 60,000 ms. */
    throttleMaxDelayMs: z.number().int().min(0).default(60_000),
    /** Per-request timeout in ms. Default 120,000. */
    timeoutMs: z.number().int().positive().default(120_000),
    /** Retries of a failed request (5xx, network, short rate-limit waits). Default 5. */
    maxRetries: z.number().int().min(0).max(20).default(5),
    /** Longest wait done in place (rate limits, regain-access estimates); longer ones end the run with a RateLimitError. Default 300,000 ms. */
    maxRetryWaitMs: z.number().int().min(0).default(300_000),
  });
export type MetaAdsConfig = z.infer<typeof metaAdsConfigSchema>;

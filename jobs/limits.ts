/**
 * Per-vendor pacing of sync jobs. Each connector has its own sync queue, so a 429 from one vendor
 * (worker.rateLimit) pauses only that vendor's queue. Request-level pacing (Retry-After, backoff)
 * is kept by each connector's HttpClient; here we cap how many syncs of a vendor one worker runs at
 * once, and how many may start per window across all workers (BullMQ's queue limiter is global).
 * Every sync makes at least one request, so a limiter sized to the vendor's request budget for the
 * same window can never let job starts alone exceed that budget.
 */
export interface VendorLimit {
  /** Sync jobs of this vendor one worker runs at once. */
  concurrency: number;
  /** Queue limiter: at most `max` jobs start per `durationMs`, across every worker. */
  limiter?: { max: number; durationMs: number };
  /** Where the numbers come from. */
  basis: string;
}

export const VENDOR_LIMITS: Record<string, VendorLimit> = {
  // "API Request Limits and Allocations" (developer.salesforce.com salesforce-app-limits-cheatsheet):
  // 25 concurrent long-running (>= 20 s) requests in production orgs, 5 in Developer Edition; the
  // daily allocation is a rolling 24 h count, 15,000 in Developer Edition. A paged sync holds one
  // request at a time, so 4 concurrent syncs stay under Developer Edition's 5.
  salesforce: { concurrency: 4, limiter: { max: 15_000, durationMs: 86_400_000 }, basis: 'Salesforce: 5-25 long-running concurrent requests; 15,000 requests / 24 h (Developer Edition)' },
  // "API usage guidelines and limits" (developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines):
  // private apps 100 requests per 10 s (Free/Starter), 190 (Professional/Enterprise), per portal.
  hubspot: { concurrency: 2, limiter: { max: 100, durationMs: 10_000 }, basis: 'HubSpot: 100 requests / 10 s per portal (Free/Starter)' },
  // Google Ads API rate sheet (developers.google.com/google-ads/api/docs/rate-sheet): Basic access
  // executes up to 15,000 operations per day per developer token; one searchStream query is one.
  google_ads: { concurrency: 2, limiter: { max: 15_000, durationMs: 86_400_000 }, basis: 'Google Ads: 15,000 operations / day (Basic access)' },
  // Marketing API rate limiting (developers.facebook.com/docs/marketing-api/overview/rate-limiting):
  // Business Use Case limits per ad account, by a formula of the app's access tier (Limited or Full)
  // that Meta does not publish as one number. 60 starts per 5 minutes is our conservative choice
  // for the Limited tier, not a vendor figure; Meta's own throttling answers with code 17/613/80004.
  meta_ads: { concurrency: 2, limiter: { max: 60, durationMs: 300_000 }, basis: 'Meta Marketing API: BUC limits by formula; conservative 60 starts / 5 min (our choice)' },
  // "Data API limits and quotas" (developers.google.com/analytics/devguides/reporting/data/v1/quotas):
  // standard property: 10 concurrent core requests, 40,000 core tokens per hour (a request costs >= 1).
  ga4: { concurrency: 3, limiter: { max: 40_000, durationMs: 3_600_000 }, basis: 'GA4 Data API: 10 concurrent core requests, 40,000 tokens / hour per property' },
  // Local files: no vendor budget.
  csv: { concurrency: 4, basis: 'local file' },
};
/** Connectors without an entry (test or third-party connectors): modest, unlimited starts. */
export const DEFAULT_LIMIT: VendorLimit = { concurrency: 2, basis: 'default' };

export function vendorLimit(connector: string): VendorLimit {
  return VENDOR_LIMITS[connector] ?? DEFAULT_LIMIT;
}

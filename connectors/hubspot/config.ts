import { z } from 'zod';

/** The CRM object types whose extra properties a connection may request. */
export const CRM_OBJECTS = ['deals', 'contacts', 'companies'] as const;
export type CrmObject = (typeof CRM_OBJECTS)[number];

const propertyName = z.string().regex(/^[a-z0-9_]+$/, 'must be a HubSpot internal property name (lower-case letters, digits, _)');

/**
 * hubspot: one HubSpot portal. Auth is either a private-app access token (`accessToken`) or an
 * OAuth app (`clientId` + `clientSecret` + `refreshToken`; an `accessToken` may be given too and is
 * refreshed on 401). The base URL is configurable for proxies and the sandbox.
 */
export const hubspotConfigSchema = z
  .strictObject({
    /** API base URL. Default https://api.hubapi.com. */
    baseUrl: z.url().default('https://api.hubapi.com'),
    /** Private-app access token (or a current OAuth access token). Default: none (then OAuth refresh is required). */
    accessToken: z.string().min(1).optional(),
    /** OAuth app client id. Default: none. */
    clientId: z.string().min(1).optional(),
    /** OAuth app client secret. Default: none. */
    clientSecret: z.string().min(1).optional(),
    /** OAuth refresh token. Default: none. */
    refreshToken: z.string().min(1).optional(),
    /** OAuth token endpoint. Default `<baseUrl>/oauth/v1/token`. */
    tokenUrl: z.url().optional(),
    /**
     * Extra properties to read per object, on top of the connector's defaults; validated against
     * /crm/v3/properties/{object} at the start of every sync. Default none.
     */
    extraProperties: z
      .strictObject({
        deals: z.array(propertyName).default([]),
        contacts: z.array(propertyName).default([]),
        companies: z.array(propertyName).default([]),
      })
      .default({ deals: [], contacts: [], companies: [] }),
    /** Marketing email event types to sync (legacy email events API). Default SENT, OPEN, CLICK. */
    emailEventTypes: z
      .array(z.enum(['SENT', 'DELIVERED', 'OPEN', 'CLICK', 'BOUNCE', 'DROPPED', 'DEFERRED', 'PROCESSED', 'SPAMREPORT', 'STATUSCHANGE', 'PRINT', 'FORWARD']))
      .min(1)
      .default(['SENT', 'OPEN', 'CLICK']),
    /**
     * Currency of deal amounts when a deal has no deal_currency_code (single-currency portals:
     * the portal's company currency, Settings > Account defaults). Default none: such amounts are
     * stored without a currency.
     */
    defaultCurrency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD').optional(),
    /**
     * Incremental syncs start this long before the stored cursor, because HubSpot's search index
     * trails writes by a few seconds. Re-read records are idempotent upserts. Default 300,000 ms (5 min).
     */
    lookbackMs: z.number().int().nonnegative().default(300_000),
    /**
     * Days between full re-reads of the CRM objects in incremental mode (list endpoints instead of
     * search). HubSpot keeps deleted records in the recycle bin for 90 days only and permanently
     * deleted ones never appear there: a full re-read marks stored records it no longer finds as
     * deleted. 0 turns it off. Default 7.
     */
    fullResyncEveryDays: z.number().int().nonnegative().default(7),
    /**
     * Search requests per second. HubSpot's CRM search limit is 5/s per token: keep it at or below
     * 5 against HubSpot; higher values are for proxies and emulators with other limits. Default 4.
     */
    searchRequestsPerSecond: z.number().positive().max(1000).default(4),
    /**
     * When X-HubSpot-RateLimit-Remaining drops to this share of X-HubSpot-RateLimit-Max or below,
     * the rest of the budget is spread evenly over X-HubSpot-RateLimit-Interval-Milliseconds
     * instead of bursting; at 0 remaining the next request waits for the interval to roll over.
     * Default 0.2.
     */
    burstReserve: z.number().min(0).max(1).default(0.2),
    /**
     * Share of the portal's daily API budget (X-HubSpot-RateLimit-Daily) this connection may leave
     * used: the rest is a reserve for the portal's other integrations. Once
     * X-HubSpot-RateLimit-Daily-Remaining is down to the reserve, the page in hand is stored and
     * the run stops before its next request, with status partial and a message naming the limit;
     * the next run resumes there. Default 0.8.
     */
    dailyBudgetShare: z.number().gt(0).max(1).default(0.8),
    /** Per-request timeout. Default 60,000 ms. */
    timeoutMs: z.number().int().positive().default(60_000),
    /** Retries of a 5xx, timeout or network error (with backoff and jitter). Default 5. */
    maxRetries: z.number().int().nonnegative().max(20).default(5),
    /** Longest 429 wait honoured in place; longer ones raise RateLimitError for the job system. Default 120,000 ms. */
    maxRateLimitWaitMs: z.number().int().positive().default(120_000),
  })
  .refine((c) => c.accessToken !== undefined || (c.clientId !== undefined && c.clientSecret !== undefined && c.refreshToken !== undefined), {
    message: 'set accessToken (private app), or clientId + clientSecret + refreshToken (OAuth)',
    path: ['accessToken'],
  })
  .refine((c) => [c.clientId, c.clientSecret, c.refreshToken].every((v) => v === undefined) || [c.clientId, c.clientSecret, c.refreshToken].every((v) => v !== undefined), {
    message: 'OAuth needs all of clientId, clientSecret and refreshToken',
    path: ['refreshToken'],
  });

export type HubSpotConfig = z.infer<typeof hubspotConfigSchema>;

export const HUBSPOT_ENV = [
  { name: 'HUBSPOT_ACCESS_TOKEN', description: 'Private-app access token (scopes: crm.objects.*.read, crm.schemas.*.read, content, forms)', secret: true },
  { name: 'HUBSPOT_BASE_URL', description: 'API base URL (default https://api.hubapi.com)' },
  { name: 'HUBSPOT_CLIENT_ID', description: 'OAuth app client id (with HUBSPOT_CLIENT_SECRET and HUBSPOT_REFRESH_TOKEN)' },
  { name: 'HUBSPOT_CLIENT_SECRET', description: 'OAuth app client secret', secret: true },
  { name: 'HUBSPOT_REFRESH_TOKEN', description: 'OAuth refresh token', secret: true },
  { name: 'HUBSPOT_TOKEN_URL', description: 'OAuth token endpoint (default <base URL>/oauth/v1/token)' },
] as const;

/** Settings from the HUBSPOT_* variables (values trimmed; a blank one counts as unset); undefined when no token is set. */
export function hubspotFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const get = (name: (typeof HUBSPOT_ENV)[number]['name']) => env[name]?.trim() || undefined;
  const accessToken = get('HUBSPOT_ACCESS_TOKEN');
  const refreshToken = get('HUBSPOT_REFRESH_TOKEN');
  if (!accessToken && !refreshToken) return undefined;
  const settings: Record<string, unknown> = {};
  const baseUrl = get('HUBSPOT_BASE_URL');
  if (baseUrl) settings.baseUrl = baseUrl;
  if (accessToken) settings.accessToken = accessToken;
  if (refreshToken) {
    settings.refreshToken = refreshToken;
    const clientId = get('HUBSPOT_CLIENT_ID');
    const clientSecret = get('HUBSPOT_CLIENT_SECRET');
    if (clientId) settings.clientId = clientId;
    if (clientSecret) settings.clientSecret = clientSecret;
  }
  const tokenUrl = get('HUBSPOT_TOKEN_URL');
  if (tokenUrl) settings.tokenUrl = tokenUrl;
  return settings;
}

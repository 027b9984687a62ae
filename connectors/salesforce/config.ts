import { z } from 'zod';

/** The streams this connector offers, in dependency-friendly order (parents first). */
export const SALESFORCE_STREAMS = [
  'account',
  'contact',
  'lead',
  'campaign',
  'campaign_member',
  'opportunity',
  'opportunity_history',
  'opportunity_contact_role',
] as const;
export type SalesforceStreamName = (typeof SALESFORCE_STREAMS)[number];

const fieldName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'must be a Salesforce field API name such as UTM_Source__c');

/** '7d', '12h', '30m': a period for fullResyncEvery. */
const DURATION = /^(\d+)([dhm])$/;

export function durationMs(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new RangeError(`bad duration ${text}`);
  const n = Number(m[1]);
  const unit = m[2] === 'd' ? 86_400_000 : m[2] === 'h' ? 3_600_000 : 60_000;
  return n * unit;
}

export const objectSettingsSchema = z.strictObject({
  /**
   * Extra (usually custom) fields to select besides the standard ones, e.g. ['Segment__c'].
   * They land in raw; each is checked against `describe` when a sync starts. Default [].
   */
  extraFields: z.array(fieldName).default([]),
  /**
   * Fields holding UTM values on this object (Lead, Contact, Campaign, CampaignMember), written to
   * the core utm_* columns. They are selected automatically. Default: none.
   */
  utmFields: z
    .strictObject({
      source: fieldName.optional(),
      medium: fieldName.optional(),
      campaign: fieldName.optional(),
      content: fieldName.optional(),
      term: fieldName.optional(),
    })
    .default({}),
  /**
   * Re-read the whole object this often (e.g. '7d'), because formula and roll-up fields change
   * without changing SystemModstamp. Checked against the checkpoint's last full read. Default: never.
   */
  fullResyncEvery: z.string().regex(DURATION, "must look like '7d', '12h' or '30m'").optional(),
});
export type ObjectSettings = z.infer<typeof objectSettingsSchema>;

export const salesforceConfigSchema = z
  .strictObject({
    /** https://<My Domain>.my.salesforce.com. Required with a bare accessToken; otherwise taken from the token response. Default: none. */
    instanceUrl: z.url().optional(),
    /**
     * OAuth server: https://login.salesforce.com (production), https://test.salesforce.com
     * (sandboxes), your My Domain URL (required for the client-credentials flow) or the mpm sandbox.
     * Default 'https://login.salesforce.com'.
     */
    loginUrl: z.url().default('https://login.salesforce.com'),
    /** A session/access token. Alone it works until it expires (no refresh). Default: none. */
    accessToken: z.string().min(1).optional(),
    /** OAuth refresh token (refresh-token flow; needs clientId). Default: none. */
    refreshToken: z.string().min(1).optional(),
    /** Connected app consumer key (refresh-token and client-credentials flows). Default: none. */
    clientId: z.string().min(1).optional(),
    /** Connected app consumer secret (required by client credentials, optional for refresh). Default: none. */
    clientSecret: z.string().min(1).optional(),
    /** REST API version. Default '62.0'. */
    apiVersion: z.string().regex(/^\d{2,3}\.\d$/, "must look like '62.0'").default('62.0'),
    /**
     * Currency for amounts of single-currency orgs (records without CurrencyIsoCode). Default: the
     * org's DefaultCurrencyIsoCode, read from the Organization object when a sync starts.
     */
    defaultCurrency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD').optional(),
    /** Stop cleanly (run `partial`) once this share of the org's daily API requests is used. Default 0.8. */
    apiUsageShare: z.number().gt(0).max(1).default(0.8),
    /** A first/full sync or backfill of at least this many records (COUNT()) uses Bulk API 2.0. Default 50,000. */
    bulkThreshold: z.number().int().positive().default(50_000),
    /** Records per REST query page (Sforce-Query-Options batchSize, 200..2000). Default 2,000. */
    pageSize: z.number().int().min(200).max(2000).default(2000),
    /** Records per Bulk API 2.0 results page (maxRecords). Default 50,000. */
    bulkPageSize: z.number().int().positive().max(1_000_000).default(50_000),
    /** Delay between Bulk job status polls. Default 2,000 ms. */
    bulkPollIntervalMs: z.number().int().nonnegative().default(2000),
    /** Give up on a Bulk job that is not complete after this long. Default 1,800,000 ms (30 min). */
    bulkTimeoutMs: z.number().int().positive().default(1_800_000),
    /**
     * The cursor never advances past records modified in the last N seconds, so records modified
     * while a read pages (or committed late with an older SystemModstamp) are read again next run. Default 300.
     */
    cursorLagSeconds: z.number().int().nonnegative().default(300),
    /** Retries of a failed API call (5xx, network, 429) within the run. Default 3. */
    maxRetries: z.number().int().nonnegative().max(10).default(3),
    /** First retry delay, doubling each attempt. Default 1,000 ms. */
    retryBaseMs: z.number().int().nonnegative().default(1000),
    /** Per-object settings by stream name (opportunity, lead, campaign_member, ...). Default {}. */
    objects: z.partialRecord(z.enum(SALESFORCE_STREAMS), objectSettingsSchema).default({}),
  })
  .superRefine((cfg, ctx) => {
    const hasRefresh = Boolean(cfg.refreshToken);
    const hasClientCredentials = Boolean(cfg.clientId && cfg.clientSecret);
    if (hasRefresh && !cfg.clientId) {
      ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'is required with refreshToken (the connected app the token was issued to)' });
    }
    if (!cfg.accessToken && !hasRefresh && !hasClientCredentials) {
      ctx.addIssue({ code: 'custom', path: ['accessToken'], message: 'no credentials: set accessToken (+ instanceUrl), refreshToken + clientId, or clientId + clientSecret' });
    }
    if (cfg.accessToken && !hasRefresh && !hasClientCredentials && !cfg.instanceUrl) {
      ctx.addIssue({ code: 'custom', path: ['instanceUrl'], message: 'is required with a bare accessToken' });
    }
  });
export type SalesforceConfig = z.infer<typeof salesforceConfigSchema>;

export const SALESFORCE_ENV = [
  { name: 'SALESFORCE_INSTANCE_URL', description: 'Instance URL, e.g. https://acme.my.salesforce.com' },
  { name: 'SALESFORCE_LOGIN_URL', description: 'OAuth server: login.salesforce.com, test.salesforce.com or My Domain' },
  { name: 'SALESFORCE_ACCESS_TOKEN', description: 'Access (session) token', secret: true },
  { name: 'SALESFORCE_REFRESH_TOKEN', description: 'OAuth refresh token', secret: true },
  { name: 'SALESFORCE_CLIENT_ID', description: 'Connected app consumer key' },
  { name: 'SALESFORCE_CLIENT_SECRET', description: 'Connected app consumer secret', secret: true },
  { name: 'SALESFORCE_API_VERSION', description: "REST API version (default '62.0')" },
] as const;

export function salesforceSettingsFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const pick = (name: string): string | undefined => {
    const v = env[name];
    return v !== undefined && v !== '' ? v : undefined;
  };
  const settings: Record<string, unknown> = {};
  const map: Array<[string, string]> = [
    ['SALESFORCE_INSTANCE_URL', 'instanceUrl'],
    ['SALESFORCE_LOGIN_URL', 'loginUrl'],
    ['SALESFORCE_ACCESS_TOKEN', 'accessToken'],
    ['SALESFORCE_REFRESH_TOKEN', 'refreshToken'],
    ['SALESFORCE_CLIENT_ID', 'clientId'],
    ['SALESFORCE_CLIENT_SECRET', 'clientSecret'],
    ['SALESFORCE_API_VERSION', 'apiVersion'],
  ];
  for (const [name, key] of map) {
    const v = pick(name);
    if (v !== undefined) settings[key] = v;
  }
  if (!settings.accessToken && !settings.refreshToken && !settings.clientId) return undefined;
  return settings;
}

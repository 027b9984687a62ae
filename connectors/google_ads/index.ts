import { z } from 'zod';
import { defineConnector, defineStream, type Page, type StreamContext } from '../core/connector.ts';
import { SchemaError } from '../core/errors/index.ts';
import { checkGoogleAuth, googleAuthEnvDocs, googleAuthFields, googleAuthFromEnv } from '../google_auth/index.ts';
import { GoogleAdsApi } from './api.ts';
import { addDays, chunkDays, dayInZone, dayString, daysToRead, maxDay, minDay } from '../core/dates.ts';

/**
 * google_ads: campaigns and daily campaign spend from the Google Ads REST API (searchStream with
 * GAQL), for one or more customer ids. Daily rows are re-pulled over a restatement lookback
 * every sync because Google restates conversions (and sometimes cost) after the fact.
 */

const customerId = z
  .string()
  .trim()
  .transform((v) => v.replace(/-/g, ''))
  .pipe(z.string().regex(/^\d{10}$/, 'must be a 10-digit Google Ads customer id (dashes allowed)'));

const customerIdList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v),
  z.array(customerId).min(1, 'needs at least one customer id'),
);

export const googleAdsConfigSchema = z
  .strictObject({
    /** Customer ids to sync (10 digits, dashes allowed; a comma-separated string is accepted). Required. */
    customerIds: customerIdList,
    /** Manager account id sent as login-customer-id when access goes through a manager. Default: none. */
    loginCustomerId: customerId.optional(),
    /** Google Ads API developer token. Required. */
    developerToken: z.string().trim().min(1),
    ...googleAuthFields,
    /** API root, e.g. a proxy or the sandbox. Default https://googleads.googleapis.com. */
    baseUrl: z.url({ protocol: /^https?$/ }).default('https://googleads.googleapis.com'),
    /** API version path segment. Default 'v26' (latest active version per developers.google.com/google-ads/api/docs/sunset-dates). */
    apiVersion: z.string().regex(/^v\d+(_\d+)?$/, 'must look like v26').default('v26'),
    /** First day of the first sync (and of a full sync). Default: 365 days ending yesterday. */
    startDate: dayString.optional(),
    /** Days before yesterday re-pulled and overwritten every incremental sync (restatements). Default 30. */
    lookbackDays: z.number().int().min(0).max(400).default(30),
    /** Days per searchStream request; one checkpoint per chunk. Default 30. */
    chunkDays: z.number().int().min(1).max(366).default(30),
    /** Per-request timeout in ms. Default 120,000. */
    timeoutMs: z.number().int().positive().default(120_000),
    /** Retries of a failed request (5xx, network, short quota waits). Default 5. */
    maxRetries: z.number().int().min(0).max(20).default(5),
    /** Longest quota back-off waited in place; longer ones end the run with a RateLimitError. Default 60,000 ms. */
    maxRetryWaitMs: z.number().int().min(0).default(60_000),
  })
  .superRefine(checkGoogleAuth);
export type GoogleAdsConfig = z.infer<typeof googleAdsConfigSchema>;

// --- vendor record shapes (REST JSON: lowerCamelCase, int64 as strings) -------------------------

const int64String = z.string().regex(/^-?\d+$/, 'must be an int64 sent as a decimal string');
/** Counters are int64: JSON strings. Absent means zero (proto3 JSON omits zero values). */
const int64Count = z.string().regex(/^\d+$/, 'must be a non-negative int64 sent as a decimal string').optional();
const double = z.number().refine(Number.isFinite, 'must be a finite number').optional();

const customerFields = z.looseObject({
  resourceName: z.string().optional(),
  id: int64String,
  currencyCode: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
  timeZone: z.string().min(1),
  descriptiveName: z.string().optional(),
});

const campaignFields = z.looseObject({
  resourceName: z.string().optional(),
  id: int64String,
  name: z.string().optional(),
  status: z.string().optional(),
  advertisingChannelType: z.string().optional(),
});

/** One row of `SELECT customer.*, campaign.* FROM campaign`. */
export const campaignRecord = z.looseObject({ customer: customerFields, campaign: campaignFields });
export type CampaignRecord = z.infer<typeof campaignRecord>;

/** One row of the daily campaign report (segments.date x campaign). */
export const campaignDailyRecord = z.looseObject({
  customer: customerFields,
  campaign: campaignFields,
  segments: z.looseObject({ date: dayString }),
  metrics: z
    .looseObject({
      costMicros: int64Count,
      impressions: int64Count,
      clicks: int64Count,
      conversions: double,
      conversionsValue: double,
    })
    .optional(),
});
export type CampaignDailyRecord = z.infer<typeof campaignDailyRecord>;

/** One row of `SELECT customer.* FROM customer`. */
export const customerRecord = z.looseObject({ customer: customerFields });
export type CustomerRecord = z.infer<typeof customerRecord>;

// --- GAQL -----------------------------------------------------------------------------------------

const CUSTOMER_FIELDS = ['customer.id', 'customer.descriptive_name', 'customer.currency_code', 'customer.time_zone'];
const CAMPAIGN_FIELDS = ['campaign.id', 'campaign.name', 'campaign.status', 'campaign.advertising_channel_type'];
const DAILY_METRICS = ['metrics.cost_micros', 'metrics.impressions', 'metrics.clicks', 'metrics.conversions', 'metrics.conversions_value'];

export const gaql = {
  customer: () => `SELECT ${CUSTOMER_FIELDS.join(', ')} FROM customer`,
  campaigns: () => `SELECT ${[...CUSTOMER_FIELDS, ...CAMPAIGN_FIELDS].join(', ')} FROM campaign`,
  // segments.date in WHERE is required for a date-segmented query; dates are in the account's time zone
  // (developers.google.com/google-ads/api/docs/query/date-ranges).
  campaignDaily: (from: string, to: string) =>
    `SELECT ${[...CUSTOMER_FIELDS, ...CAMPAIGN_FIELDS, 'segments.date', ...DAILY_METRICS].join(', ')} FROM campaign WHERE segments.date BETWEEN '${from}' AND '${to}'`,
};

// --- normalization helpers ------------------------------------------------------------------------

/** Micros (an int64 string) as an exact decimal string: '1234500000' -> '1234.5'. No float involved. */
export function microsToDecimal(micros: string): string {
  const negative = micros.startsWith('-');
  const digits = (negative ? micros.slice(1) : micros).replace(/^0+(?=\d)/, '').padStart(7, '0');
  const whole = digits.slice(0, -6).replace(/^0+(?=\d)/, '');
  const fraction = digits.slice(-6).replace(/0+$/, '');
  const value = fraction ? `${whole}.${fraction}` : whole;
  return negative && value !== '0' ? `-${value}` : value;
}

/** A JSON double as a decimal string the warehouse accepts. */
function doubleToDecimal(value: number | undefined): string {
  if (value === undefined) return '0';
  // Conversions are doubles with at most a few decimals; trimming float noise keeps restated and
  // fresh pulls identical (1.1 + 0.2 style artefacts come from the vendor's own aggregation).
  return String(Number(value.toPrecision(15)));
}

function count(value: string | undefined): number {
  const n = Number(value ?? '0');
  if (!Number.isSafeInteger(n)) throw new Error(`counter ${value} exceeds 2^53`);
  return n;
}

const CHANNEL_HINTS: Record<string, string> = {
  SEARCH: 'paid_search',
  SHOPPING: 'paid_search',
  DISPLAY: 'display',
  VIDEO: 'display',
  DEMAND_GEN: 'paid_social',
  DISCOVERY: 'paid_social',
};

/** The hint the transform's channel rules read (pipeline/transform/channels.ts). */
export function channelHint(advertisingChannelType: string | undefined): string {
  if (!advertisingChannelType) return 'paid_search';
  return CHANNEL_HINTS[advertisingChannelType] ?? advertisingChannelType.toLowerCase();
}

// --- checkpoints ----------------------------------------------------------------------------------

const dailyCheckpoint = z.object({
  /** Per customer id: the last account-local day stored (every day up to it is loaded). */
  customers: z.record(z.string(), z.object({ through: dayString })),
});
type DailyCheckpoint = z.infer<typeof dailyCheckpoint>;

const listCheckpoint = z.object({
  /** Customers fully read in the current pass. */
  done: z.array(z.string()),
  /** The pass finished; the next sync starts a new one. */
  complete: z.boolean(),
});
type ListCheckpoint = z.infer<typeof listCheckpoint>;

// --- reads ----------------------------------------------------------------------------------------

function api(ctx: StreamContext<GoogleAdsConfig>): GoogleAdsApi {
  return new GoogleAdsApi(ctx.config, ctx.signal);
}

/** The customer's currency, time zone and name (one small query). */
async function customerInfo(client: GoogleAdsApi, id: string): Promise<z.infer<typeof customerFields>> {
  const batches = await client.searchStream(id, gaql.customer());
  const row = batches.flatMap((b) => b.results ?? [])[0];
  const parsed = customerRecord.safeParse(row);
  if (!parsed.success) {
    throw new SchemaError(`Google Ads: customer ${id} did not return its id, currency_code and time_zone (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`, 'customer');
  }
  return parsed.data.customer;
}

/** Reads one whole-resource query per customer, a page per batch, resumable per customer. */
function readList(query: () => string) {
  return async function* (ctx: StreamContext<GoogleAdsConfig>, checkpoint: ListCheckpoint | undefined): AsyncIterable<Page<ListCheckpoint>> {
    const client = api(ctx);
    const done = checkpoint && !checkpoint.complete && ctx.mode !== 'full' ? [...checkpoint.done] : [];
    const remaining = ctx.config.customerIds.filter((id) => !done.includes(id));
    for (const [i, id] of remaining.entries()) {
      const batches = await client.searchStream(id, query());
      const last = i === remaining.length - 1;
      const finished = { done: [...done, id], complete: last };
      const pending: ListCheckpoint = { done: [...done], complete: false };
      if (batches.length === 0) yield { records: [], checkpoint: finished };
      for (const [b, batch] of batches.entries()) {
        yield { records: batch.results ?? [], checkpoint: b === batches.length - 1 ? finished : pending };
        if (ctx.signal.aborted) return;
      }
      done.push(id);
    }
    if (remaining.length === 0) yield { records: [], checkpoint: { done, complete: true } };
  };
}

async function* readDaily(ctx: StreamContext<GoogleAdsConfig>, checkpoint: DailyCheckpoint | undefined): AsyncIterable<Page<DailyCheckpoint>> {
  const client = api(ctx);
  let state: DailyCheckpoint = { customers: { ...(checkpoint?.customers ?? {}) } };
  // A --from/--to sync outside a backfill reads its window without moving the scheduled cursor.
  const movesCursor = !(ctx.window && ctx.mode !== 'backfill');
  for (const id of ctx.config.customerIds) {
    const customer = await customerInfo(client, id);
    const today = dayInZone(ctx.now(), customer.timeZone);
    const { from, to } = daysToRead(ctx.config, ctx, today, state.customers[id]?.through);
    if (from > to) {
      ctx.log.info({ customerId: id, from, to }, 'no complete day to read yet');
      continue;
    }
    ctx.log.info({ customerId: id, from, to, timeZone: customer.timeZone }, 'reading daily campaign metrics');
    for (const chunk of chunkDays(from, to, ctx.config.chunkDays)) {
      const batches = await client.searchStream(id, gaql.campaignDaily(chunk.from, chunk.to));
      const before = state;
      if (movesCursor) {
        const previous = state.customers[id]?.through;
        // A backfill records how far it got; the scheduled cursor never moves backwards.
        const through = ctx.mode === 'backfill' || previous === undefined ? chunk.to : maxDay(previous, chunk.to);
        state = { customers: { ...state.customers, [id]: { through } } };
      }
      // The chunk's last page: every day of it was re-read, so its stored rows Google no longer
      // returns (cost restated to nothing) are marked deleted (pipeline/window-sweep.ts).
      const sweep = { scope: id, from: chunk.from, to: chunk.to };
      if (batches.length === 0) yield { records: [], checkpoint: state, sweep };
      for (const [b, batch] of batches.entries()) {
        const last = b === batches.length - 1;
        yield { records: batch.results ?? [], checkpoint: last ? state : before, ...(last ? { sweep } : {}) };
        if (ctx.signal.aborted) return;
      }
      if (ctx.signal.aborted) return;
    }
  }
}

// --- streams --------------------------------------------------------------------------------------

const customers = defineStream<GoogleAdsConfig>()({
  name: 'customers',
  description: 'Google Ads customers (accounts): id, name, currency, time zone',
  primaryKey: ['customer.id'],
  cursorField: undefined,
  pageSize: 10_000,
  recordSchema: customerRecord,
  checkpointSchema: listCheckpoint,
  // Ad accounts have no core table of their own; their currency and time zone ride on every campaign row.
  targets: [],
  read: readList(gaql.customer),
  normalize: () => ({}),
});

const campaigns = defineStream<GoogleAdsConfig>()({
  name: 'campaigns',
  description: 'Google Ads campaigns: one per customer x campaign',
  primaryKey: ['customer.id', 'campaign.id'],
  cursorField: undefined,
  pageSize: 10_000,
  recordSchema: campaignRecord,
  checkpointSchema: listCheckpoint,
  targets: ['core.dim_campaign'],
  isDeleted: (record) => record.campaign.status === 'REMOVED',
  read: readList(gaql.campaigns),
  normalize(record) {
    const { customer, campaign } = record;
    return {
      'core.dim_campaign': [
        {
          campaign_id: campaign.id,
          account_id: customer.id,
          name: campaign.name ?? null,
          status: campaign.status ?? null,
          campaign_type: campaign.advertisingChannelType ?? null,
          channel_hint: channelHint(campaign.advertisingChannelType),
          currency: customer.currencyCode,
          time_zone: customer.timeZone,
        },
      ],
    };
  },
});

const campaignDaily = defineStream<GoogleAdsConfig>()({
  name: 'campaign_daily',
  description: 'Google Ads daily campaign metrics: one per customer x campaign x account-local date',
  primaryKey: ['customer.id', 'campaign.id', 'segments.date'],
  cursorField: 'segments.date',
  pageSize: 10_000,
  recordSchema: campaignDailyRecord,
  checkpointSchema: dailyCheckpoint,
  targets: ['core.fct_ad_spend_daily'],
  read: readDaily,
  windowSweep: { dayPath: 'segments.date', scopePath: 'customer.id' },
  normalize(record) {
    const { customer, campaign, segments } = record;
    const metrics = record.metrics ?? {};
    return {
      'core.fct_ad_spend_daily': [
        {
          campaign_id: campaign.id,
          date: segments.date,
          account_id: customer.id,
          campaign_name: campaign.name ?? null,
          channel_hint: channelHint(campaign.advertisingChannelType),
          currency: customer.currencyCode,
          spend: microsToDecimal(metrics.costMicros ?? '0'),
          impressions: count(metrics.impressions),
          clicks: count(metrics.clicks),
          conversions: doubleToDecimal(metrics.conversions),
          conversion_value: doubleToDecimal(metrics.conversionsValue),
        },
      ],
    };
  },
});

export const googleAdsConnector = defineConnector<GoogleAdsConfig>({
  name: 'google_ads',
  description: 'Google Ads campaigns and daily campaign spend (REST searchStream, GAQL)',
  configSchema: googleAdsConfigSchema,
  env: [
    ...googleAuthEnvDocs,
    { name: 'GOOGLE_ADS_DEVELOPER_TOKEN', description: 'Google Ads API developer token', secret: true },
    { name: 'GOOGLE_ADS_CUSTOMER_ID', description: 'Customer id(s) to sync, comma-separated (dashes allowed)' },
    { name: 'GOOGLE_ADS_LOGIN_CUSTOMER_ID', description: 'Manager account id sent as login-customer-id' },
    { name: 'GOOGLE_ADS_BASE_URL', description: 'API root (default https://googleads.googleapis.com)' },
    { name: 'GOOGLE_ADS_API_VERSION', description: 'API version (default v26)' },
  ],
  fromEnv(env) {
    if (!env.GOOGLE_ADS_CUSTOMER_ID?.trim()) return undefined;
    const settings: Record<string, unknown> = { ...googleAuthFromEnv(env), customerIds: env.GOOGLE_ADS_CUSTOMER_ID };
    if (env.GOOGLE_ADS_DEVELOPER_TOKEN?.trim()) settings.developerToken = env.GOOGLE_ADS_DEVELOPER_TOKEN.trim();
    if (env.GOOGLE_ADS_LOGIN_CUSTOMER_ID?.trim()) settings.loginCustomerId = env.GOOGLE_ADS_LOGIN_CUSTOMER_ID.trim();
    if (env.GOOGLE_ADS_BASE_URL?.trim()) settings.baseUrl = env.GOOGLE_ADS_BASE_URL.trim();
    if (env.GOOGLE_ADS_API_VERSION?.trim()) settings.apiVersion = env.GOOGLE_ADS_API_VERSION.trim();
    return settings;
  },
  streams: [customers, campaigns, campaignDaily],
});

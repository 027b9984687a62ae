import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineConnector, defineStream, type Page, type StreamContext } from '../core/connector.ts';
import { SchemaError, TransientError } from '../core/errors/index.ts';
import { MetaAdsApi } from './api.ts';
import { metaAdsConfigSchema, type MetaAdsConfig } from './config.ts';
import { daysToRead } from '../core/dates.ts';
import { addDays, chunkRange, dayInZone, dayString, daysIn, maxDay, splitRange, type DayRange } from './dates.ts';
import { ReduceDataError } from './reduce-data-error.ts';

/**
 * meta_ads: ad accounts, campaigns and daily campaign insights from the Meta Marketing API
 * (Graph API over fetch). Daily rows are re-pulled over a restatement lookback (default 28 days,
 * Meta's longest attribution window) every sync and overwritten. Ranges of `asyncMinDays` or more
 * go through the async report-run flow; a report that Meta refuses ("Please reduce the amount of
 * data"), fails or stalls is split in half and retried, and a running report is never cancelled.
 */

export { metaAdsConfigSchema, type MetaAdsConfig } from './config.ts';

// --- vendor record shapes (Marketing API reference "Ad Account", "Ad Campaign", "Ads Insights") ---

const numericId = z.string().regex(/^\d+$/, 'must be a numeric id');
/** Insights metrics are JSON strings of decimals ("80.11", "5413"). */
const decimalString = z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a decimal number sent as a string');
const countString = z.string().regex(/^\d+$/, 'must be a whole number sent as a string');
const actionList = z.array(z.looseObject({ action_type: z.string().min(1), value: decimalString }));

export const accountRecord = z.looseObject({
  id: z.string().regex(/^act_\d+$/, 'must be act_<digits>'),
  account_id: numericId,
  name: z.string().optional(),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
  timezone_name: z.string().min(1),
});
export type AccountRecord = z.infer<typeof accountRecord>;

export const campaignRecord = z.looseObject({
  id: numericId,
  account_id: numericId.optional(),
  name: z.string().optional(),
  status: z.string().optional(),
  effective_status: z.string().optional(),
  objective: z.string().optional(),
  start_time: z.string().optional(),
  stop_time: z.string().optional(),
  created_time: z.string().optional(),
  updated_time: z.string().optional(),
  /** Added by the connector from the ad account (a campaign has no currency of its own); absent in rows stored before. */
  account_currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code').optional(),
  account_timezone_name: z.string().min(1).optional(),
});
export type CampaignRecord = z.infer<typeof campaignRecord>;

export const insightRecord = z
  .looseObject({
    account_id: numericId,
    account_currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
    campaign_id: numericId,
    campaign_name: z.string().optional(),
    spend: decimalString,
    impressions: countString,
    clicks: countString.optional(),
    actions: actionList.optional(),
    action_values: actionList.optional(),
    date_start: dayString,
    date_stop: dayString,
  })
  .refine((r) => r.date_start === r.date_stop, { message: 'must cover one day (time_increment=1): date_start differs from date_stop', path: ['date_stop'] });
export type InsightRecord = z.infer<typeof insightRecord>;

// --- normalization helpers ------------------------------------------------------------------------

/** Exact sum of decimal strings (no float): ['1.5', '2.25'] -> '3.75'. */
export function addDecimals(values: readonly string[]): string {
  if (values.length === 0) return '0';
  const scale = Math.max(0, ...values.map((v) => (v.split('.')[1] ?? '').length));
  let total = 0n;
  for (const v of values) {
    const negative = v.startsWith('-');
    const [whole = '0', fraction = ''] = (negative ? v.slice(1) : v).split('.');
    const units = BigInt(whole + fraction.padEnd(scale, '0'));
    total += negative ? -units : units;
  }
  const negative = total < 0n;
  const digits = (negative ? -total : total).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale > 0 ? digits.slice(-scale).replace(/0+$/, '') : '';
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** The summed value of the configured action types ('lead' and 'purchase' by default). */
export function sumActions(list: InsightRecord['actions'], types: readonly string[]): string {
  return addDecimals((list ?? []).filter((a) => types.includes(a.action_type)).map((a) => a.value));
}

/** The account-local calendar day of a Graph timestamp ("2026-08-01T00:00:00-0700"). */
function localDay(stamp: string | undefined): string | null {
  return stamp && /^\d{4}-\d{2}-\d{2}/.test(stamp) ? stamp.slice(0, 10) : null;
}

/** stop_time is the instant delivery ends; one at local midnight means the day before was the last. */
function lastDay(stop: string | undefined): string | null {
  const day = localDay(stop);
  if (!day || !stop) return null;
  return /T00:00:00/.test(stop) ? addDays(day, -1) : day;
}

const CHANNEL_HINT = 'paid_social';

// --- checkpoints ----------------------------------------------------------------------------------

const listCheckpoint = z.object({
  /** Ad accounts fully read in the current pass. */
  done: z.array(z.string()),
  /** The pass finished; the next sync starts a new one. */
  complete: z.boolean(),
});
type ListCheckpoint = z.infer<typeof listCheckpoint>;

const dailyCheckpoint = z.object({
  /** Per ad account id: the last account-local day stored (every day up to it is loaded). */
  accounts: z.record(z.string(), z.object({ through: dayString })),
});
type DailyCheckpoint = z.infer<typeof dailyCheckpoint>;

// --- reads ----------------------------------------------------------------------------------------

function api(ctx: StreamContext<MetaAdsConfig>): MetaAdsApi {
  return new MetaAdsApi(ctx.config, ctx.signal);
}

/** The account's currency and time zone (one small request). */
async function accountInfo(client: MetaAdsApi, id: string): Promise<AccountRecord> {
  const body = await client.account(id);
  const parsed = accountRecord.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SchemaError(`Meta Ads: act_${id} did not return its currency and timezone_name (${issue?.path.join('.')}: ${issue?.message})`, 'account');
  }
  return parsed.data;
}

/** One pass over the ad accounts, a page per vendor page, resumable per account. */
function readPerAccount(pagesOf: (client: MetaAdsApi, id: string) => AsyncIterable<unknown[]>) {
  return async function* (ctx: StreamContext<MetaAdsConfig>, checkpoint: ListCheckpoint | undefined): AsyncIterable<Page<ListCheckpoint>> {
    const client = api(ctx);
    const done = checkpoint && !checkpoint.complete && ctx.mode !== 'full' ? [...checkpoint.done] : [];
    const remaining = ctx.config.adAccountIds.filter((id) => !done.includes(id));
    for (const [i, id] of remaining.entries()) {
      const pending: ListCheckpoint = { done: [...done], complete: false };
      let buffered: unknown[] | undefined;
      // One page behind, so the account's last page carries the "account done" checkpoint.
      for await (const records of pagesOf(client, id)) {
        if (buffered) yield { records: buffered, checkpoint: pending };
        buffered = records;
        if (ctx.signal.aborted) return;
      }
      done.push(id);
      yield { records: buffered ?? [], checkpoint: { done: [...done], complete: i === remaining.length - 1 } };
    }
    if (remaining.length === 0) yield { records: [], checkpoint: { done, complete: true } };
  };
}

async function* accountPages(client: MetaAdsApi, id: string): AsyncIterable<unknown[]> {
  yield [await client.account(id)];
}

/** Campaign pages, each campaign with its ad account's currency and time zone added (core.dim_campaign.currency, time_zone). */
async function* campaignPages(client: MetaAdsApi, id: string): AsyncIterable<unknown[]> {
  const account = await accountInfo(client, id);
  const added = { account_currency: account.currency, account_timezone_name: account.timezone_name };
  for await (const page of client.campaigns(id)) {
    yield page.map((c) => (c !== null && typeof c === 'object' && !Array.isArray(c) ? { ...c, ...added } : c));
  }
}

/** A slice of a report: its rows, and `done` (the range) once the slice's whole range is read. */
interface Slice {
  records: unknown[];
  done?: DayRange;
}

/**
 * Runs one async report and yields its pages. Polls every pollIntervalMs; a run whose
 * async_percent_completion has not risen for asyncStallTimeoutMs counts as stalled. A stalled run is
 * left alone (Meta has no cancel for report runs and a running job must not be aborted): the caller
 * asks for smaller ranges instead.
 */
async function* asyncReport(ctx: StreamContext<MetaAdsConfig>, client: MetaAdsApi, accountId: string, range: DayRange): AsyncIterable<unknown[]> {
  const { pollIntervalMs, asyncStallTimeoutMs } = ctx.config;
  const runId = await client.createReportRun(accountId, range);
  const log = ctx.log.child({ accountId, reportRunId: runId, ...range });
  log.debug('report run created');
  let best = -1;
  let progressAt = performance.now();
  for (;;) {
    ctx.signal.throwIfAborted();
    const run = await client.reportRun(runId);
    if (run.async_status === 'Job Completed' && run.async_percent_completion >= 100) break;
    if (run.async_status === 'Job Failed' || run.async_status === 'Job Skipped') {
      const why = run.error_message ? `: ${run.error_message}` : '';
      throw new ReduceDataError(`Meta Ads: report run ${runId} (act_${accountId} ${range.since}..${range.until}) ended '${run.async_status}'${why}`, 'failed');
    }
    if (run.async_percent_completion > best) {
      best = run.async_percent_completion;
      progressAt = performance.now();
    } else if (performance.now() - progressAt >= asyncStallTimeoutMs) {
      log.warn({ percent: best, status: run.async_status }, 'report run stalled; leaving it running and asking for smaller ranges');
      throw new ReduceDataError(
        `Meta Ads: report run ${runId} (act_${accountId} ${range.since}..${range.until}) stalled at ${best}% ('${run.async_status}') for ${asyncStallTimeoutMs} ms`,
        'stalled',
      );
    }
    await sleep(pollIntervalMs, undefined, { signal: ctx.signal });
  }
  yield* client.reportRunInsights(runId);
}

/**
 * Reads one range: synchronously when short, else as an async report. When Meta refuses, fails or
 * stalls the report, the range is split in half and each half read in order (recursively); one day
 * that keeps failing is retried as a fresh report up to asyncDayAttempts times.
 */
async function* readRange(ctx: StreamContext<MetaAdsConfig>, client: MetaAdsApi, accountId: string, range: DayRange, attempt = 1): AsyncIterable<Slice> {
  const days = daysIn(range);
  const useAsync = days >= ctx.config.asyncMinDays;
  try {
    let buffered: unknown[] | undefined;
    for await (const records of useAsync ? asyncReport(ctx, client, accountId, range) : client.insights(accountId, range)) {
      if (buffered) yield { records: buffered };
      buffered = records;
      if (ctx.signal.aborted) return;
    }
    yield { records: buffered ?? [], done: range };
  } catch (err) {
    if (!(err instanceof ReduceDataError) || ctx.signal.aborted) throw err;
    if (days > 1) {
      const [first, second] = splitRange(range);
      ctx.warn(`Meta Ads: act_${accountId} ${range.since}..${range.until} split in two (${err.reason}: ${err.message})`);
      yield* readRange(ctx, client, accountId, first);
      yield* readRange(ctx, client, accountId, second);
      return;
    }
    if (attempt < ctx.config.asyncDayAttempts) {
      ctx.log.warn({ accountId, day: range.since, attempt, reason: err.reason }, 'one-day report failed; retrying with a fresh report');
      yield* readRange(ctx, client, accountId, range, attempt + 1);
      return;
    }
    throw new TransientError(`Meta Ads: the report for act_${accountId} on ${range.since} ${err.reason} ${attempt} time(s); the next run retries from this day (${err.message})`, undefined, { cause: err });
  }
}

async function* readDaily(ctx: StreamContext<MetaAdsConfig>, checkpoint: DailyCheckpoint | undefined): AsyncIterable<Page<DailyCheckpoint>> {
  const client = api(ctx);
  let state: DailyCheckpoint = { accounts: { ...(checkpoint?.accounts ?? {}) } };
  // A --from/--to sync outside a backfill reads its window without moving the scheduled cursor.
  const movesCursor = !(ctx.window && ctx.mode !== 'backfill');
  for (const id of ctx.config.adAccountIds) {
    const account = await accountInfo(client, id);
    // Insights dates are the account's calendar days; "today" there is still incomplete.
    const today = dayInZone(ctx.now(), account.timezone_name);
    const { from, to } = daysToRead(ctx.config, ctx, today, state.accounts[id]?.through);
    if (from > to) {
      ctx.log.info({ accountId: id, from, to }, 'no complete day to read yet');
      continue;
    }
    ctx.log.info({ accountId: id, from, to, timeZone: account.timezone_name, currency: account.currency }, 'reading daily campaign insights');
    for (const chunk of chunkRange({ since: from, until: to }, ctx.config.chunkDays)) {
      for await (const slice of readRange(ctx, client, id, chunk)) {
        if (slice.done !== undefined && movesCursor) {
          const previous = state.accounts[id]?.through;
          // A backfill records how far it got; the scheduled cursor never moves backwards.
          const through = ctx.mode === 'backfill' || previous === undefined ? slice.done.until : maxDay(previous, slice.done.until);
          state = { accounts: { ...state.accounts, [id]: { through } } };
        }
        // Every day of a finished slice was re-read: its stored rows Meta no longer returns (spend
        // restated to nothing) are marked deleted (pipeline/window-sweep.ts).
        const sweep = slice.done ? { sweep: { scope: id, from: slice.done.since, to: slice.done.until } } : {};
        yield { records: slice.records, checkpoint: state, ...sweep };
        if (ctx.signal.aborted) return;
      }
    }
  }
}

// --- streams --------------------------------------------------------------------------------------

const adAccounts = defineStream<MetaAdsConfig>()({
  name: 'ad_accounts',
  description: 'Meta ad accounts: id, name, currency, time zone',
  primaryKey: ['account_id'],
  cursorField: undefined,
  pageSize: 1,
  recordSchema: accountRecord,
  checkpointSchema: listCheckpoint,
  // Ad accounts have no core table; their currency rides on every daily row (account_currency).
  targets: [],
  read: readPerAccount(accountPages),
  normalize: () => ({}),
});

const campaigns = defineStream<MetaAdsConfig>()({
  name: 'campaigns',
  description: 'Meta campaigns: one per campaign of the configured ad accounts',
  primaryKey: ['id'],
  cursorField: undefined,
  pageSize: 500,
  recordSchema: campaignRecord,
  checkpointSchema: listCheckpoint,
  targets: ['core.dim_campaign'],
  isDeleted: (record) => record.status === 'DELETED' || record.effective_status === 'DELETED',
  read: readPerAccount(campaignPages),
  normalize(record) {
    return {
      'core.dim_campaign': [
        {
          campaign_id: record.id,
          account_id: record.account_id ?? null,
          name: record.name ?? null,
          status: record.effective_status ?? record.status ?? null,
          campaign_type: record.objective ?? null,
          channel_hint: CHANNEL_HINT,
          currency: record.account_currency ?? null,
          time_zone: record.account_timezone_name ?? null,
          start_date: localDay(record.start_time),
          end_date: lastDay(record.stop_time),
          created_at: record.created_time ?? null,
          updated_at: record.updated_time ?? null,
        },
      ],
    };
  },
});

const campaignInsightsDaily = defineStream<MetaAdsConfig>()({
  name: 'campaign_insights_daily',
  description: 'Meta daily campaign insights: one per ad account x campaign x account-local date',
  primaryKey: ['account_id', 'campaign_id', 'date_start'],
  cursorField: 'date_start',
  pageSize: 500,
  recordSchema: insightRecord,
  checkpointSchema: dailyCheckpoint,
  targets: ['core.fct_ad_spend_daily'],
  read: readDaily,
  windowSweep: { dayPath: 'date_start', scopePath: 'account_id' },
  normalize(record, { config }) {
    return {
      'core.fct_ad_spend_daily': [
        {
          campaign_id: record.campaign_id,
          date: record.date_start,
          account_id: record.account_id,
          campaign_name: record.campaign_name ?? null,
          channel_hint: CHANNEL_HINT,
          currency: record.account_currency,
          // Spend is already in the account currency, as a decimal string: stored as sent.
          spend: record.spend,
          impressions: Number(record.impressions),
          clicks: Number(record.clicks ?? '0'),
          conversions: sumActions(record.actions, config.conversionActionTypes),
          conversion_value: sumActions(record.action_values, config.conversionActionTypes),
        },
      ],
    };
  },
});

export const metaAdsConnector = defineConnector<MetaAdsConfig>({
  name: 'meta_ads',
  description: 'Meta (Facebook/Instagram) ad accounts, campaigns and daily campaign insights (Marketing API)',
  configSchema: metaAdsConfigSchema,
  env: [
    { name: 'META_ACCESS_TOKEN', description: 'Access token with ads_read (a system user token is recommended)', secret: true },
    { name: 'META_AD_ACCOUNT_ID', description: 'Ad account id(s) to sync, comma-separated, with or without act_' },
    { name: 'META_BASE_URL', description: 'Graph API root (default https://graph.facebook.com)' },
    { name: 'META_API_VERSION', description: 'Graph API version (default v26.0)' },
  ],
  fromEnv(env) {
    if (!env.META_AD_ACCOUNT_ID?.trim()) return undefined;
    const settings: Record<string, unknown> = { adAccountIds: env.META_AD_ACCOUNT_ID };
    if (env.META_ACCESS_TOKEN?.trim()) settings.accessToken = env.META_ACCESS_TOKEN.trim();
    if (env.META_BASE_URL?.trim()) settings.baseUrl = env.META_BASE_URL.trim();
    if (env.META_API_VERSION?.trim()) settings.apiVersion = env.META_API_VERSION.trim();
    return settings;
  },
  streams: [adAccounts, campaigns, campaignInsightsDaily],
});

import { z } from 'zod';
import { defineConnector, defineStream, type Page, type StreamContext } from '../core/connector.ts';
import { ConfigError, SchemaError } from '../core/errors/index.ts';
import { checkGoogleAuth, googleAuthEnvDocs, googleAuthFields, googleAuthFromEnv } from '../google_auth/index.ts';
import { addDays, dayInZone, dayString, daysBetween, daysToRead, isDay, maxDay, minDay } from '../core/dates.ts';
import { Ga4Api, type RunReportRequest, type RunReportResponse } from './api.ts';

/**
 * ga4: daily web traffic by session source / medium / campaign from the GA4 Data API (runReport),
 * for one or more properties, into core.fct_web_traffic_daily. The last lookbackDays are re-read
 * every sync (GA4 data settles for up to 72 hours).
 */

/** Dimensions and metrics of every report, in this order (API names from the Data API schema,
 * developers.google.com/analytics/devguides/reporting/data/v1/api-schema). */
export const CORE_DIMENSIONS = ['date', 'sessionSource', 'sessionMedium', 'sessionCampaignName', 'sessionDefaultChannelGroup'] as const;
export const CORE_METRICS = ['sessions', 'engagedSessions', 'keyEvents', 'totalUsers'] as const;
/** Data API request limits: 9 dimensions and 10 metrics per report. */
const MAX_DIMENSIONS = 9;
const MAX_METRICS = 10;

const propertyId = z
  .string()
  .trim()
  .transform((v) => v.replace(/^properties\//, ''))
  .pipe(z.string().regex(/^\d+$/, 'must be a numeric GA4 property id (e.g. 312345678)'));

const apiName = z.string().trim().regex(/^[A-Za-z][A-Za-z0-9_:]*$/, 'must be a Data API name such as landingPage or customEvent:plan');

export const ga4ConfigSchema = z
  .strictObject({
    /** GA4 property ids (numeric; 'properties/123' accepted; a comma-separated string too). Required. */
    propertyIds: z.preprocess(
      (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v),
      z.array(propertyId).min(1, 'needs at least one property id'),
    ),
    ...googleAuthFields,
    /** Data API root (the SDK's rootUrl), e.g. a proxy or the sandbox. Default https://analyticsdata.googleapis.com/. */
    baseUrl: z.url({ protocol: /^https?$/ }).default('https://analyticsdata.googleapis.com/'),
    /** First day of the first sync (and of a full sync). Default: 365 days ending yesterday. */
    startDate: dayString.optional(),
    /** Days before yesterday re-read every incremental sync (GA4 settles within ~72 h). Default 3. */
    lookbackDays: z.number().int().min(0).max(90).default(3),
    /** Days per report request; halved (down to one day) when GA4 folds rows into "(other)". Default 30. */
    chunkDays: z.number().int().min(1).max(366).default(30),
    /** Rows per runReport page (the request `limit`, at most 250,000). Default 100,000. */
    pageSize: z.number().int().min(1).max(250_000).default(100_000),
    /** Extra dimensions, stored in `extra`; each must exist in the property's metadata. Rows they split (date x source x medium x campaign) are summed into one core row with the values of the row with the most sessions, and a warning says so. Default []. */
    extraDimensions: z.array(apiName).max(MAX_DIMENSIONS - CORE_DIMENSIONS.length).default([]),
    /** Extra metrics, stored in `extra`; each must exist in the property's metadata. Default []. */
    extraMetrics: z.array(apiName).max(MAX_METRICS - CORE_METRICS.length).default([]),
    /** Property token guard (returnPropertyQuota on every request). */
    quota: z
      .strictObject({
        /** Stop the run (partial) when fewer daily tokens remain. Default 2,000. */
        minDailyTokens: z.number().int().min(0).default(2_000),
        /** Wait for the hourly refill (or stop, see maxHourlyWaitMs) when fewer hourly tokens remain. Default 500. */
        minHourlyTokens: z.number().int().min(0).default(500),
        /** Slow down below this many hourly tokens. Default 5,000. */
        slowDownHourlyTokens: z.number().int().min(0).default(5_000),
        /** Pause between requests while slowed down. Default 2,000 ms. */
        slowDownMs: z.number().int().min(0).default(2_000),
        /** Longest wait for the hourly refill; a longer one ends the run partial. Default 600,000 ms (10 min). */
        maxHourlyWaitMs: z.number().int().min(0).default(600_000),
      })
      .default({ minDailyTokens: 2_000, minHourlyTokens: 500, slowDownHourlyTokens: 5_000, slowDownMs: 2_000, maxHourlyWaitMs: 600_000 }),
    /** Per-request timeout in ms. Default 120,000. */
    timeoutMs: z.number().int().positive().default(120_000),
    /** Retries of a failed request (5xx, network, short rate limits). Default 5. */
    maxRetries: z.number().int().min(0).max(20).default(5),
    /** First backoff before retrying a 5xx or network error, doubled each attempt (full jitter, at most 30 s). Default 500 ms. */
    retryBaseMs: z.number().int().min(0).max(30_000).default(500),
  })
  .superRefine(checkGoogleAuth)
  .superRefine((cfg, ctx) => {
    for (const [field, names, core] of [
      ['extraDimensions', cfg.extraDimensions, CORE_DIMENSIONS],
      ['extraMetrics', cfg.extraMetrics, CORE_METRICS],
    ] as const) {
      for (const [i, name] of names.entries()) {
        if ((core as readonly string[]).includes(name) || names.indexOf(name) !== i) ctx.addIssue({ code: 'custom', path: [field, i], message: `${name} is already requested` });
      }
    }
  });
export type Ga4Config = z.infer<typeof ga4ConfigSchema>;

// --- vendor record: one report row as sent, plus the property it came from -------------------------

const text = z.looseObject({ value: z.string() });
const ga4Date = z.looseObject({
  value: z.string().refine((v) => /^\d{8}$/.test(v) && isDay(yyyymmdd(v)), 'must be a GA4 date YYYYMMDD'),
});

function yyyymmdd(v: string): string {
  return `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}`;
}

/**
 * MetricType (developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/MetricType):
 * every metric value arrives as a string; its header's type says how to read it. TYPE_INTEGER is a
 * whole number; the others (float, currency, durations, distances) are decimals.
 */
const DECIMAL_TYPES = new Set(['TYPE_FLOAT', 'TYPE_SECONDS', 'TYPE_MILLISECONDS', 'TYPE_MINUTES', 'TYPE_HOURS', 'TYPE_STANDARD', 'TYPE_CURRENCY', 'TYPE_FEET', 'TYPE_MILES', 'TYPE_METERS', 'TYPE_KILOMETERS']);
const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** Why `value` is not a valid metric of `type`, or undefined when it is. */
export function metricProblem(value: string, type: string | undefined): string | undefined {
  if (type === 'TYPE_INTEGER') return INTEGER.test(value) ? undefined : `must be a whole number (metric header type TYPE_INTEGER), got ${JSON.stringify(value)}`;
  if (type !== undefined && DECIMAL_TYPES.has(type)) return DECIMAL.test(value) ? undefined : `must be a number (metric header type ${type}), got ${JSON.stringify(value)}`;
  return `has no known metric header type (${type ?? 'missing'})`;
}

/** A metric value read by its header type: an integer, or a decimal number. */
export function parseMetric(value: string, type: string): number {
  const problem = metricProblem(value, type);
  if (problem) throw new Error(problem);
  const n = Number(value);
  if (type === 'TYPE_INTEGER' && !Number.isSafeInteger(n)) throw new Error(`count ${value} exceeds 2^53`);
  return n;
}

/**
 * A runReport row ({ dimensionValues, metricValues }, every value a string) with `propertyId` and
 * `metricTypes` (the response's metricHeaders[].type, by position) added: a GA4 row has no id of
 * its own, so the key is property | date | source | medium | campaign, and its values can only be
 * read with their headers. Values are positional: CORE_DIMENSIONS then extraDimensions; CORE_METRICS
 * then extraMetrics.
 */
const reportRow = z.looseObject({
  dimensionValues: z.tuple([ga4Date, text, text, text, text], text),
  metricValues: z.array(text).min(CORE_METRICS.length, `needs at least the ${CORE_METRICS.length} core metrics`),
});

/**
 * Rows that share date x source x medium x campaign but differ in sessionDefaultChannelGroup (or
 * an extra dimension) make one core row: they travel as one record, the first row with the others,
 * as sent, in `sameKeyRows`, and normalize() adds their metrics up (see readTraffic).
 */
export const reportRowRecord = reportRow
  .extend({
    propertyId: z.string().regex(/^\d+$/),
    metricTypes: z.array(z.string()),
    sameKeyRows: z.array(reportRow).optional(),
  })
  .superRefine((rec, ctx) => {
    const rows: Array<[Array<string | number>, z.infer<typeof reportRow>]> = [[[], rec], ...(rec.sameKeyRows ?? []).map((r, i): [Array<string | number>, z.infer<typeof reportRow>] => [['sameKeyRows', i], r])];
    for (const [path, row] of rows) {
      if (rec.metricTypes.length !== row.metricValues.length) {
        ctx.addIssue({ code: 'custom', path: path.length ? path : ['metricTypes'], message: `${rec.metricTypes.length} metric header types for ${row.metricValues.length} metric values` });
        continue;
      }
      row.metricValues.forEach((v, i) => {
        const problem = metricProblem(v.value, rec.metricTypes[i]);
        if (problem) ctx.addIssue({ code: 'custom', path: [...path, 'metricValues', i, 'value'], message: problem });
      });
      if (path.length && row.dimensionValues.slice(0, 4).some((v, i) => v.value !== rec.dimensionValues[i]?.value)) {
        ctx.addIssue({ code: 'custom', path: [...path, 'dimensionValues'], message: 'must share date, source, medium and campaign with the record' });
      }
    }
  });
export type ReportRowRecord = z.infer<typeof reportRowRecord>;

const checkpointSchema = z.object({
  /** Per property: the last property-local day stored (every day up to it is loaded). */
  properties: z.record(z.string(), z.object({ through: dayString })),
});
type Ga4Checkpoint = z.infer<typeof checkpointSchema>;

// --- reading --------------------------------------------------------------------------------------

/** Checks extra dimensions/metrics against the property's metadata; a ConfigError names the bad one. */
async function validateExtras(api: Ga4Api, ctx: StreamContext<Ga4Config>, id: string): Promise<void> {
  const { extraDimensions, extraMetrics } = ctx.config;
  if (extraDimensions.length === 0 && extraMetrics.length === 0) return;
  const meta = await api.metadata(id);
  const dims = new Set((meta.dimensions ?? []).map((d) => d.apiName));
  const mets = new Set((meta.metrics ?? []).map((m) => m.apiName));
  const badDims = extraDimensions.filter((d) => !dims.has(d));
  const badMets = extraMetrics.filter((m) => !mets.has(m));
  const problems = [
    ...badDims.map((d) => `extraDimensions: ${d} is not a dimension of property ${id}`),
    ...badMets.map((m) => `extraMetrics: ${m} is not a metric of property ${id}`),
  ];
  if (problems.length) throw new ConfigError(`connection ${ctx.connectionId} (ga4): ${problems.join('; ')}`);
}

export function reportRequest(config: Pick<Ga4Config, 'extraDimensions' | 'extraMetrics' | 'pageSize'>, from: string, to: string, offset: number): RunReportRequest {
  const dimensions = [...CORE_DIMENSIONS, ...config.extraDimensions];
  return {
    dateRanges: [{ startDate: from, endDate: to }],
    dimensions: dimensions.map((name) => ({ name })),
    metrics: [...CORE_METRICS, ...config.extraMetrics].map((name) => ({ name })),
    limit: String(config.pageSize),
    offset: String(offset),
    // A stable order keeps limit/offset pages consistent.
    orderBys: dimensions.map((dimensionName) => ({ dimension: { dimensionName } })),
    keepEmptyRows: false,
  };
}

/** The header names must be what we asked for: values are read by position. */
function checkHeaders(response: RunReportResponse, config: Ga4Config, id: string): void {
  const dims = (response.dimensionHeaders ?? []).map((h) => h.name);
  const mets = (response.metricHeaders ?? []).map((h) => h.name);
  const wantDims = [...CORE_DIMENSIONS, ...config.extraDimensions];
  const wantMets = [...CORE_METRICS, ...config.extraMetrics];
  if ((response.rows?.length ?? 0) > 0 && (dims.join() !== wantDims.join() || mets.join() !== wantMets.join())) {
    throw new SchemaError(`GA4 property ${id}: report headers [${dims.join(', ')}] / [${mets.join(', ')}] do not match the request`, 'dimensionHeaders');
  }
}

function hasOtherRow(response: RunReportResponse): boolean {
  if (response.metadata?.dataLossFromOtherRow) return true;
  return (response.rows ?? []).some((row) => (row.dimensionValues ?? []).some((v) => (v as { value?: unknown } | null)?.value === '(other)'));
}

type RowRecord = { propertyId: string; dimensionValues?: unknown; metricValues?: unknown; metricTypes: string[] } & Record<string, unknown>;

/** The date x source x medium x campaign of a row, or undefined when a value is missing (the row is then left alone for validation to quarantine). */
function coreKeyOf(row: { dimensionValues?: unknown }): string | undefined {
  if (!Array.isArray(row.dimensionValues)) return undefined;
  const values = row.dimensionValues.slice(0, 4).map((v) => (v !== null && typeof v === 'object' ? (v as { value?: unknown }).value : undefined));
  return values.length === 4 && values.every((v) => typeof v === 'string') ? values.join('\u0001') : undefined;
}

/** A row without the fields readTraffic added to it. */
function asSent(row: RowRecord): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...row };
  delete copy.propertyId;
  delete copy.metricTypes;
  return copy;
}

/**
 * Folds the rows of one range into records of one core key: the first row, with the other rows of
 * that key as sent in `sameKeyRows`. Keeps the last group of a page until the next page (or the
 * last) shows it is complete. `problem` says when an extra dimension splits rows (their values
 * cannot be summed) or when rows of a key arrive apart.
 */
class RowGrouper {
  private pending: RowRecord[] = [];
  private readonly emitted = new Set<string>();
  problem: string | undefined;

  add(rows: RowRecord[], last: boolean): RowRecord[] {
    const groups = new Map<string, RowRecord[]>();
    const loose: RowRecord[] = [];
    for (const row of [...this.pending, ...rows]) {
      const key = coreKeyOf(row);
      if (key === undefined) loose.push(row);
      else groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    this.pending = [];
    if (!last && groups.size > 0) {
      const tail = [...groups.keys()].at(-1)!;
      this.pending = groups.get(tail)!;
      groups.delete(tail);
    }
    const out: RowRecord[] = [...loose];
    for (const [key, [first, ...others]] of groups) {
      if (this.emitted.has(key)) this.problem ??= 'rows of one date x source x medium x campaign arrived apart (the report was not ordered); the later ones replace the earlier in core';
      this.emitted.add(key);
      if (others.length === 0) {
        out.push(first!);
        continue;
      }
      const extraDims = (r: RowRecord) => JSON.stringify((r.dimensionValues as unknown[]).slice(5));
      if (others.some((o) => extraDims(o) !== extraDims(first!))) {
        this.problem ??= 'an extra dimension splits rows of one date x source x medium x campaign; core sums their metrics and keeps the extra dimension values of the row with the most sessions';
      }
      out.push({ ...first!, sameKeyRows: others.map(asSent) });
    }
    return out;
  }
}

async function* readTraffic(ctx: StreamContext<Ga4Config>, checkpoint: Ga4Checkpoint | undefined): AsyncIterable<Page<Ga4Checkpoint>> {
  const api = new Ga4Api(ctx.config, { signal: ctx.signal, now: ctx.now, log: ctx.log });
  let state: Ga4Checkpoint = { properties: { ...(checkpoint?.properties ?? {}) } };
  const movesCursor = !(ctx.window && ctx.mode !== 'backfill');

  for (const id of ctx.config.propertyIds) {
    await validateExtras(api, ctx, id);
    // A one-row probe for the property's time zone: "yesterday" is property-local.
    const probe = await api.runReport(id, { dateRanges: [{ startDate: 'yesterday', endDate: 'yesterday' }], metrics: [{ name: 'sessions' }], limit: '1' });
    const timeZone = probe.metadata?.timeZone;
    if (!timeZone) throw new SchemaError(`GA4 property ${id}: runReport metadata has no timeZone`, 'metadata.timeZone');
    const today = dayInZone(ctx.now(), timeZone);
    const { from, to } = daysToRead(ctx.config, ctx, today, state.properties[id]?.through);
    if (from > to) {
      ctx.log.info({ propertyId: id, from, to }, 'no complete day to read yet');
      continue;
    }
    ctx.log.info({ propertyId: id, from, to, timeZone }, 'reading GA4 daily traffic');

    let size = ctx.config.chunkDays;
    // Ranges still to read, in date order; a range that overflowed into "(other)" is split in place.
    const queue: Array<{ from: string; to: string }> = [];
    for (let start = from; start <= to; start = addDays(start, size)) queue.push({ from: start, to: minDay(addDays(start, size - 1), to) });
    while (queue.length > 0) {
      const range = queue.shift()!;
      let response = await api.runReport(id, reportRequest(ctx.config, range.from, range.to, 0));
      checkHeaders(response, ctx.config, id);
      const days = daysBetween(range.from, range.to);
      if (hasOtherRow(response)) {
        if (days > 1) {
          const half = Math.ceil(days / 2);
          ctx.warn(`GA4 property ${id}: ${range.from}..${range.to} folded rows into "(other)" (dataLossFromOtherRow); re-requesting in ${half}-day chunks`, { propertyId: id, ...range });
          queue.unshift({ from: range.from, to: addDays(range.from, half - 1) }, { from: addDays(range.from, half), to: range.to });
          size = Math.min(size, half);
          // Ranges queued at the old size are re-cut to the new one.
          const rest = queue.splice(2);
          for (const r of rest) for (let s = r.from; s <= r.to; s = addDays(s, size)) queue.push({ from: s, to: minDay(addDays(s, size - 1), r.to) });
          continue;
        }
        ctx.warn(`GA4 property ${id}: ${range.from} still has an "(other)" row at one day per request; its long tail is folded and stored as "(other)"`, { propertyId: id, date: range.from });
      }

      const before = state;
      if (movesCursor) {
        const previous = state.properties[id]?.through;
        const through = ctx.mode === 'backfill' || previous === undefined ? range.to : maxDay(previous, range.to);
        state = { properties: { ...state.properties, [id]: { through } } };
      }
      // Rows of one date x source x medium x campaign become one record (reportRowRecord). The
      // report is ordered by the dimensions, so they are adjacent; a page's last group waits for
      // the next page, which may continue it.
      const grouper = new RowGrouper();
      let offset = 0;
      for (;;) {
        const rows = response.rows ?? [];
        const total = response.rowCount ?? rows.length;
        offset += rows.length;
        const last = rows.length === 0 || offset >= total;
        const metricTypes = (response.metricHeaders ?? []).map((h) => h.type ?? '');
        const records = grouper.add(rows.map((row) => ({ propertyId: id, ...row, metricTypes })), last);
        if (grouper.problem) {
          ctx.warn(`GA4 property ${id}: ${grouper.problem} in ${range.from}..${range.to}`, { propertyId: id, ...range });
          grouper.problem = undefined;
        }
        // The range's last page: every day of it was re-read, so stored rows GA4 no longer returns
        // (a source/medium row gone once the data settled) are marked deleted (pipeline/window-sweep.ts).
        const sweep = last ? { sweep: { scope: id, from: range.from.replaceAll('-', ''), to: range.to.replaceAll('-', '') } } : {};
        yield { records, checkpoint: last ? state : before, ...sweep };
        if (last || ctx.signal.aborted) break;
        response = await api.runReport(id, reportRequest(ctx.config, range.from, range.to, offset));
        checkHeaders(response, ctx.config, id);
      }
      if (ctx.signal.aborted) return;
    }
  }
}

const traffic = defineStream<Ga4Config>()({
  name: 'traffic_daily',
  description: 'GA4 sessions by date x sessionSource x sessionMedium x sessionCampaignName (a runReport row plus propertyId; rows of the same key split by channel group in sameKeyRows)',
  primaryKey: ['propertyId', 'dimensionValues.0.value', 'dimensionValues.1.value', 'dimensionValues.2.value', 'dimensionValues.3.value'],
  cursorField: 'date',
  pageSize: 100_000,
  recordSchema: reportRowRecord,
  checkpointSchema,
  targets: ['core.fct_web_traffic_daily'],
  read: readTraffic,
  windowSweep: { dayPath: 'dimensionValues.0.value', scopePath: 'propertyId' },
  normalize(record, { config }) {
    // One row, or several that differ only by the channel group (or an extra dimension): one core
    // row with their metrics added up; the channel group (and extra dimension values) of the row
    // with the most sessions. totalUsers added up can count a user twice who came through two
    // channel groups the same day (GA4 does not say): the closest figure the rows allow.
    const rows = [record, ...(record.sameKeyRows ?? [])];
    const metric = (row: (typeof rows)[number], i: number) => parseMetric(row.metricValues[i]?.value ?? '', record.metricTypes[i] ?? '');
    const sum = (i: number) => rows.reduce((total, row) => total + metric(row, i), 0);
    const count = (i: number, name: string) => {
      const n = sum(i);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}: ${rows.map((r) => r.metricValues[i]?.value).join(' + ')} is not a count`);
      return n;
    };
    const main = rows.reduce((best, row) => (metric(row, 0) > metric(best, 0) ? row : best), record);
    const [date, source, medium, campaign] = record.dimensionValues;
    const [, , , , channelGroup, ...extraDims] = main.dimensionValues;
    const extra: Record<string, unknown> = {};
    config.extraDimensions.forEach((name, i) => {
      const v = extraDims[i];
      if (v === undefined) throw new Error(`dimensionValues: no value for extra dimension ${name}`);
      extra[name] = v.value;
    });
    config.extraMetrics.forEach((name, i) => {
      if (record.metricValues[CORE_METRICS.length + i] === undefined) throw new Error(`metricValues: no value for extra metric ${name}`);
      extra[name] = rows.length === 1 ? metric(record, CORE_METRICS.length + i) : decimalSum(rows.map((r) => metric(r, CORE_METRICS.length + i)));
    });
    // keyEvents is a decimal column: one row's value is stored as sent (a number string), after the type check.
    const keyEventsSum = decimalSum(rows.map((r) => metric(r, 2)));
    const keyEvents = rows.length === 1 ? (record.metricValues[2]?.value ?? '0') : String(keyEventsSum);
    return {
      'core.fct_web_traffic_daily': [
        {
          property_id: record.propertyId,
          date: yyyymmdd(date.value),
          source: source.value,
          medium: medium.value,
          campaign: campaign.value,
          default_channel_group: channelGroup.value,
          sessions: count(0, 'sessions'),
          engaged_sessions: count(1, 'engagedSessions'),
          key_events: keyEvents,
          total_users: count(3, 'totalUsers'),
          extra,
        },
      ],
    };
  },
});

/** A sum of decimal metrics without float noise (0.1 + 0.2 gives 0.3), so a fresh pull and a restated one store the same value. */
function decimalSum(values: readonly number[]): number {
  return Number(values.reduce((a, b) => a + b, 0).toPrecision(15));
}

export const ga4Connector = defineConnector<Ga4Config>({
  name: 'ga4',
  description: 'GA4 daily sessions, engaged sessions, key events and users by source / medium / campaign (Data API runReport)',
  configSchema: ga4ConfigSchema,
  env: [
    ...googleAuthEnvDocs,
    { name: 'GA4_PROPERTY_ID', description: 'GA4 property id(s), comma-separated' },
    { name: 'GA4_BASE_URL', description: 'Data API root (default https://analyticsdata.googleapis.com/)' },
  ],
  fromEnv(env) {
    if (!env.GA4_PROPERTY_ID?.trim()) return undefined;
    const settings: Record<string, unknown> = { ...googleAuthFromEnv(env), propertyIds: env.GA4_PROPERTY_ID };
    if (env.GA4_BASE_URL?.trim()) settings.baseUrl = env.GA4_BASE_URL.trim();
    return settings;
  },
  streams: [traffic],
});

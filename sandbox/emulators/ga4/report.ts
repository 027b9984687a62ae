/**
 * runReport over the GA4 store: request validation, aggregation to the requested dimensions,
 * ordering, the "(other)" row, and limit/offset paging.
 *
 * Request (developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/properties/runReport):
 * `dimensions[] {name}`, `metrics[] {name}`, `dateRanges[] {startDate, endDate}` (YYYY-MM-DD, `today`,
 * `yesterday` or `NdaysAgo`, in the property's time zone), `limit` / `offset` (int64 as strings or
 * numbers; limit defaults to 10,000 and "the API returns a maximum of 250,000 rows per request, no
 * matter how many you ask for"), `orderBys[]`, `keepEmptyRows`, `returnPropertyQuota`.
 * Up to 9 dimensions and 10 metrics per request.
 * Response (RunReportResponse): dimensionHeaders[] {name}, metricHeaders[] {name, type}, rows[]
 * {dimensionValues[] {value}, metricValues[] {value}} (every value a string), rowCount (all rows,
 * whatever limit/offset), metadata {currencyCode, timeZone, dataLossFromOtherRow?}, kind.
 * Proto3 JSON leaves out zero/empty fields: no `rows` on an empty page, no `rowCount` when 0.
 *
 * Sandbox subset: the dimensions and metrics of {@link DIMENSIONS} / {@link METRICS}, one date
 * range, no filters, comparisons or cohorts (answered 400 INVALID_ARGUMENT, naming the field).
 */
import { addDays, dayNumber } from '../../world/dates.ts';
import type { Ga4DayRow, Ga4Store } from './store.ts';
import { rowKey } from './store.ts';

/** Dimension metadata (getMetadata DimensionMetadata) and how to read it from a row. */
interface DimensionDef {
  uiName: string;
  description: string;
  category: string;
  get(row: Ga4DayRow): string;
}

/** Metric metadata (getMetadata MetricMetadata) and how to compute it from summed rows. */
interface MetricDef {
  uiName: string;
  description: string;
  category: string;
  /** MetricType enum (developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/MetricType). */
  type: 'TYPE_INTEGER' | 'TYPE_FLOAT';
  expression?: string;
  value(sum: Sums): number;
}

type Sums = Pick<Ga4DayRow, 'sessions' | 'engagedSessions' | 'keyEvents' | 'totalUsers'>;

/** API names and descriptions from the Data API schema (developers.google.com/analytics/devguides/reporting/data/v1/api-schema). */
export const DIMENSIONS: Record<string, DimensionDef> = {
  date: { uiName: 'Date', description: 'The date of the event, formatted as YYYYMMDD.', category: 'Time', get: (r) => r.date.replaceAll('-', '') },
  sessionSource: { uiName: 'Session source', description: 'The source that initiated a session on your website or app.', category: 'Traffic source', get: (r) => r.sessionSource },
  sessionMedium: { uiName: 'Session medium', description: 'The medium that initiated a session on your website or app.', category: 'Traffic source', get: (r) => r.sessionMedium },
  sessionCampaignName: { uiName: 'Session campaign', description: 'The marketing campaign name for a session.', category: 'Traffic source', get: (r) => r.sessionCampaignName },
  sessionDefaultChannelGroup: { uiName: 'Session default channel group', description: "The session's default channel group is based primarily on source and medium.", category: 'Traffic source', get: (r) => r.sessionDefaultChannelGroup },
  sessionSourceMedium: { uiName: 'Session source / medium', description: 'The combined values of the dimensions sessionSource and sessionMedium.', category: 'Traffic source', get: (r) => `${r.sessionSource} / ${r.sessionMedium}` },
};

export const METRICS: Record<string, MetricDef> = {
  sessions: { uiName: 'Sessions', description: 'The number of sessions that began on your site or app.', category: 'Session', type: 'TYPE_INTEGER', value: (s) => s.sessions },
  engagedSessions: { uiName: 'Engaged sessions', description: 'The number of sessions that lasted longer than 10 seconds, or had a key event, or had 2 or more screen views.', category: 'Session', type: 'TYPE_INTEGER', value: (s) => s.engagedSessions },
  keyEvents: { uiName: 'Key events', description: 'The count of key events.', category: 'Event', type: 'TYPE_FLOAT', value: (s) => s.keyEvents },
  totalUsers: { uiName: 'Total users', description: 'The number of distinct users who have logged at least one event.', category: 'User', type: 'TYPE_INTEGER', value: (s) => s.totalUsers },
  engagementRate: {
    uiName: 'Engagement rate',
    description: 'The percentage of engaged sessions (Engaged sessions divided by Sessions).',
    category: 'Session',
    type: 'TYPE_FLOAT',
    expression: 'engagedSessions/sessions',
    value: (s) => (s.sessions === 0 ? 0 : s.engagedSessions / s.sessions),
  },
};

export const MAX_DIMENSIONS = 9;
export const MAX_METRICS = 10;
export const DEFAULT_LIMIT = 10_000;
export const MAX_LIMIT = 250_000;

/** A request the API refuses (400 INVALID_ARGUMENT with this message). */
export class Ga4RequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Ga4RequestError';
  }
}

export interface ReportOptions {
  /** Above this many result rows a request's long tail is folded into "(other)" rows. */
  otherRowLimit: number;
  /** The property-local day "today" means. */
  today: string;
}

export interface ReportResult {
  body: Record<string, unknown>;
  /** Days in the date range and store rows scanned (for the token cost). */
  days: number;
  scanned: number;
}

const NAMED = /^[A-Za-z][A-Za-z0-9_:]*$/;
const UNSUPPORTED = ['dimensionFilter', 'metricFilter', 'cohortSpec', 'comparisons', 'metricAggregations', 'currencyCode'] as const;

function resolveDate(value: unknown, today: string, field: string): string {
  if (typeof value !== 'string') throw new Ga4RequestError(`${field} is required (YYYY-MM-DD, NdaysAgo, yesterday, or today).`);
  if (value === 'today') return today;
  if (value === 'yesterday') return addDays(today, -1);
  const ago = /^(\d+)daysAgo$/.exec(value);
  if (ago) return addDays(today, -Number(ago[1]));
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const d = new Date(`${value}T00:00:00Z`);
    if (!Number.isNaN(d.getTime()) && d.toISOString().startsWith(value)) return value;
  }
  throw new Ga4RequestError(`Invalid ${field} "${value}". The format must be YYYY-MM-DD, NdaysAgo, yesterday, or today.`);
}

function int64(value: unknown, field: string, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new Ga4RequestError(`Invalid value at '${field}' (TYPE_INT64), "${String(value)}"`);
  if (n < 0) throw new Ga4RequestError(`${field} must be non-negative, but was ${n}.`);
  return n;
}

function names(list: unknown, field: string): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new Ga4RequestError(`Invalid JSON payload received. '${field}' must be a list.`);
  return list.map((item, i) => {
    const name = (item as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || !NAMED.test(name)) throw new Ga4RequestError(`${field}[${i}].name is required.`);
    return name;
  });
}

interface OrderBy {
  dimension?: string;
  metric?: string;
  desc: boolean;
}

function orderBys(list: unknown, dims: string[], mets: string[]): OrderBy[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new Ga4RequestError("Invalid JSON payload received. 'orderBys' must be a list.");
  return list.map((o: unknown) => {
    const ob = (o ?? {}) as { dimension?: { dimensionName?: unknown }; metric?: { metricName?: unknown }; desc?: unknown };
    const desc = ob.desc === true;
    if (ob.dimension) {
      const name = ob.dimension.dimensionName;
      if (typeof name !== 'string' || !dims.includes(name)) throw new Ga4RequestError(`Field ${String(name)} in orderBys is not a dimension in the request.`);
      return { dimension: name, desc };
    }
    if (ob.metric) {
      const name = ob.metric.metricName;
      if (typeof name !== 'string' || !mets.includes(name)) throw new Ga4RequestError(`Field ${String(name)} in orderBys is not a metric in the request.`);
      return { metric: name, desc };
    }
    throw new Ga4RequestError('An orderBy must set dimension or metric.');
  });
}

interface Group {
  key: string;
  dims: string[];
  sums: Sums;
  /** The store row key when the group is exactly one store row (all four key dimensions requested). */
  rowKey?: string;
  other?: boolean;
}

function compareGroups(a: Group, b: Group, order: OrderBy[], dims: string[]): number {
  for (const o of order) {
    let c: number;
    if (o.dimension) {
      const i = dims.indexOf(o.dimension);
      const x = a.dims[i] ?? '';
      const y = b.dims[i] ?? '';
      c = x < y ? -1 : x > y ? 1 : 0;
    } else {
      const m = METRICS[o.metric as string] as MetricDef;
      c = m.value(a.sums) - m.value(b.sums);
    }
    if (c !== 0) return o.desc ? -c : c;
  }
  // A stable order for requests without (or with tying) orderBys: dimension values ascending.
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function formatMetric(def: MetricDef, sums: Sums): string {
  const v = def.value(sums);
  return def.type === 'TYPE_INTEGER' ? String(Math.round(v)) : String(v);
}

const KEY_DIMS = ['date', 'sessionSource', 'sessionMedium', 'sessionCampaignName'] as const;

export function runReport(store: Ga4Store, body: unknown, opts: ReportOptions): ReportResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Ga4RequestError('Invalid JSON payload received. Expected an object.');
  const req = body as Record<string, unknown>;
  for (const field of UNSUPPORTED) {
    if (req[field] !== undefined) throw new Ga4RequestError(`${field} is not supported by the mpm sandbox GA4 emulator.`);
  }
  const dims = names(req.dimensions, 'dimensions');
  const mets = names(req.metrics, 'metrics');
  if (dims.length > MAX_DIMENSIONS) throw new Ga4RequestError(`Requests are limited to ${MAX_DIMENSIONS} dimensions; this request has ${dims.length}.`);
  if (mets.length > MAX_METRICS) throw new Ga4RequestError(`Requests are limited to ${MAX_METRICS} metrics; this request has ${mets.length}.`);
  if (dims.length === 0 && mets.length === 0) throw new Ga4RequestError('Reports must have at least one dimension or metric.');
  for (const d of dims) {
    if (!DIMENSIONS[d]) throw new Ga4RequestError(`Field ${d} is not a valid dimension. For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema`);
  }
  for (const m of mets) {
    if (!METRICS[m]) throw new Ga4RequestError(`Field ${m} is not a valid metric. For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema`);
  }
  for (const [i, n] of [...dims, ...mets].entries()) {
    if ([...dims, ...mets].indexOf(n) !== i) throw new Ga4RequestError(`Field ${n} is duplicated in the request.`);
  }
  const ranges = req.dateRanges;
  if (!Array.isArray(ranges) || ranges.length === 0) throw new Ga4RequestError('dateRanges is required: a report needs one date range.');
  if (ranges.length > 1) throw new Ga4RequestError('The mpm sandbox GA4 emulator answers one date range per request.');
  const range = ranges[0] as { startDate?: unknown; endDate?: unknown };
  const from = resolveDate(range.startDate, opts.today, 'dateRanges[0].startDate');
  const to = resolveDate(range.endDate, opts.today, 'dateRanges[0].endDate');
  if (from > to) throw new Ga4RequestError(`dateRanges[0]: startDate ${from} must not be after endDate ${to}.`);
  const offset = int64(req.offset, 'offset', 0);
  const limit = Math.min(int64(req.limit, 'limit', DEFAULT_LIMIT) || DEFAULT_LIMIT, MAX_LIMIT);
  const order = orderBys(req.orderBys, dims, mets);

  // Aggregate the store rows of the range to the requested dimensions.
  const groups = new Map<string, Group>();
  let scanned = 0;
  const identifies = KEY_DIMS.every((d) => dims.includes(d));
  for (const row of store.rows()) {
    if (row.date < from || row.date > to) continue;
    scanned++;
    const values = dims.map((d) => (DIMENSIONS[d] as DimensionDef).get(row));
    const key = values.join('\u0001');
    let g = groups.get(key);
    if (!g) {
      g = { key, dims: values, sums: { sessions: 0, engagedSessions: 0, keyEvents: 0, totalUsers: 0 }, ...(identifies ? { rowKey: rowKey(row) } : {}) };
      groups.set(key, g);
    }
    g.sums.sessions += row.sessions;
    g.sums.engagedSessions += row.engagedSessions;
    g.sums.keyEvents += row.keyEvents;
    g.sums.totalUsers += row.totalUsers;
  }
  let all = [...groups.values()];

  // High cardinality: the long tail (by sessions) is folded into "(other)", one row per date when
  // the date is requested, so daily totals stay whole ("About the (other) row", support.google.com/analytics/answer/13331292).
  let dataLoss = false;
  if (all.length > opts.otherRowLimit) {
    dataLoss = true;
    const byVolume = [...all].sort((a, b) => b.sums.sessions - a.sums.sessions || (a.key < b.key ? -1 : 1));
    const dateIdx = dims.indexOf('date');
    const kept = byVolume.slice(0, Math.max(0, opts.otherRowLimit - 1));
    const others = new Map<string, Group>();
    for (const g of byVolume.slice(kept.length)) {
      const values = dims.map((_, i) => (i === dateIdx ? (g.dims[i] as string) : '(other)'));
      const key = values.join('\u0001');
      let o = others.get(key);
      if (!o) {
        o = { key, dims: values, sums: { sessions: 0, engagedSessions: 0, keyEvents: 0, totalUsers: 0 }, other: true };
        others.set(key, o);
      }
      o.sums.sessions += g.sums.sessions;
      o.sums.engagedSessions += g.sums.engagedSessions;
      o.sums.keyEvents += g.sums.keyEvents;
      o.sums.totalUsers += g.sums.totalUsers;
    }
    all = [...kept, ...others.values()];
  }
  all.sort((a, b) => compareGroups(a, b, order, dims));

  const page = all.slice(offset, offset + limit);
  const extra = store.extraFields();
  const rows = page.map((g) => {
    const row: Record<string, unknown> = {
      dimensionValues: g.dims.map((value) => ({ value })),
      metricValues: mets.map((m) => ({ value: formatMetric(METRICS[m] as MetricDef, g.sums) })),
    };
    const broken = g.rowKey ? store.malformKind(g.rowKey) : undefined;
    if (broken === 'non_numeric_metric' && mets.length > 0) (row.metricValues as Array<{ value: string }>)[0] = { value: 'twelve' };
    if (broken === 'bad_date') {
      const i = dims.indexOf('date');
      (row.dimensionValues as Array<{ value: string }>)[i] = { value: `${g.dims[i]?.slice(0, 4)}-${g.dims[i]?.slice(4, 6)}-${g.dims[i]?.slice(6, 8)}` };
    }
    if (broken === 'missing_metric_values') delete row.metricValues;
    for (const [name, value] of extra) row[name] = value;
    return row;
  });

  const out: Record<string, unknown> = {
    dimensionHeaders: dims.map((name) => ({ name })),
    metricHeaders: mets.map((name) => ({ name, type: (METRICS[name] as MetricDef).type })),
  };
  if (rows.length > 0) out.rows = rows;
  if (all.length > 0) out.rowCount = all.length;
  out.metadata = {
    ...(dataLoss ? { dataLossFromOtherRow: true } : {}),
    currencyCode: store.property.currency,
    timeZone: store.property.timeZone,
  };
  out.kind = 'analyticsData#runReport';
  return { body: out, days: dayNumber(to) - dayNumber(from) + 1, scanned };
}

/** getMetadata: the dimensions and metrics this property accepts (developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/Metadata). */
export function metadata(propertyId: string): Record<string, unknown> {
  return {
    name: `properties/${propertyId}/metadata`,
    dimensions: Object.entries(DIMENSIONS).map(([apiName, d]) => ({ apiName, uiName: d.uiName, description: d.description, category: d.category })),
    metrics: Object.entries(METRICS).map(([apiName, m]) => ({
      apiName,
      uiName: m.uiName,
      description: m.description,
      type: m.type,
      ...(m.expression ? { expression: m.expression } : {}),
      category: m.category,
    })),
  };
}

/**
 * Runs a parsed GAQL query against the {@link GoogleAdsStore} and shapes GoogleAdsRow JSON.
 *
 * Row shape (Google Ads API REST reference, "GoogleAdsRow" and the REST interface guide): nested
 * lowerCamelCase objects per resource (`campaign`, `customer`, `metrics`, `segments`), each
 * resource object carrying its `resourceName`; int64 fields (ids, costMicros, impressions, clicks)
 * are JSON strings, doubles (conversions, conversionsValue) are numbers, enums are their names.
 *
 * Semantics copied from the Google Ads docs ("Segmentation", "Zero metrics"):
 * - selecting `segments.date` requires a finite date range in WHERE (EXPECTED_FILTERS_ON_DATE_RANGE);
 * - segmented rows with all-zero metrics are not returned; unsegmented rows are;
 * - conditions on metrics filter the aggregated rows.
 */
import { GaqlError, parseGaql, toJsonPath } from './gaql.ts';
import type { GaqlCondition, GaqlQuery } from './gaql.ts';
import type { AdMetrics, GoogleAdsCampaign, GoogleAdsCustomer, GoogleAdsStore } from './store.ts';

const CUSTOMER_FIELDS = ['customer.id', 'customer.currency_code', 'customer.time_zone', 'customer.descriptive_name', 'customer.resource_name', 'customer.manager'];
const CAMPAIGN_FIELDS = ['campaign.id', 'campaign.name', 'campaign.status', 'campaign.advertising_channel_type', 'campaign.resource_name'];
const SEGMENT_FIELDS = ['segments.date'];
const METRIC_FIELDS = ['metrics.cost_micros', 'metrics.impressions', 'metrics.clicks', 'metrics.conversions', 'metrics.conversions_value'];

/** Fields selectable per FROM resource. */
const RESOURCE_FIELDS: Record<string, readonly string[]> = {
  campaign: [...CUSTOMER_FIELDS, ...CAMPAIGN_FIELDS, ...SEGMENT_FIELDS, ...METRIC_FIELDS],
  customer: [...CUSTOMER_FIELDS, ...SEGMENT_FIELDS, ...METRIC_FIELDS],
};
const KNOWN_FIELDS = new Set(RESOURCE_FIELDS.campaign);

export interface PreparedQuery {
  query: GaqlQuery;
  fieldMask: string;
}

/** Parses and validates a query against the emulator's schema. Throws GaqlError. */
export function prepareQuery(text: string): PreparedQuery {
  const query = parseGaql(text);
  const allowed = RESOURCE_FIELDS[query.from];
  if (!allowed) {
    throw new GaqlError('BAD_RESOURCE_TYPE_IN_FROM_CLAUSE', `Error in query: unsupported resource '${query.from}' in FROM clause.`);
  }
  const check = (field: string, where: string): void => {
    if (!KNOWN_FIELDS.has(field)) throw new GaqlError('UNRECOGNIZED_FIELD', `Unrecognized field in the query: '${field}'.`);
    if (!allowed.includes(field)) {
      throw new GaqlError(
        where === 'SELECT' ? 'PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE' : 'PROHIBITED_FIELD_IN_WHERE_CLAUSE',
        `Cannot select or filter on '${field}' when querying from '${query.from}'.`,
      );
    }
  };
  for (const f of query.select) check(f, 'SELECT');
  for (const c of query.where) check(c.field, 'WHERE');
  for (const o of query.orderBy) check(o.field, 'ORDER BY');
  for (const c of query.where) {
    if (c.field === 'segments.date') {
      for (const v of c.values) {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) {
          throw new GaqlError('BAD_VALUE', `Error in query: '${v}' is not a valid date (use YYYY-MM-DD).`);
        }
      }
    }
  }
  if (query.select.includes('segments.date') && !hasFiniteDateRange(query.where)) {
    throw new GaqlError(
      'EXPECTED_FILTERS_ON_DATE_RANGE',
      'Filters on date range are required when segments.date is selected: add a finite range on segments.date in the WHERE clause.',
    );
  }
  return { query, fieldMask: query.select.map(toJsonPath).join(',') };
}

function hasFiniteDateRange(where: GaqlCondition[]): boolean {
  let low = false;
  let high = false;
  for (const c of where) {
    if (c.field !== 'segments.date') continue;
    if (c.op === '=' || c.op === 'IN' || c.op === 'BETWEEN') return true;
    if (c.op === '>' || c.op === '>=') low = true;
    if (c.op === '<' || c.op === '<=') high = true;
  }
  return low && high;
}

type Scalar = string | number;

function compare(a: Scalar, b: Scalar): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

function matches(value: Scalar, c: GaqlCondition): boolean {
  const numeric = typeof value === 'number';
  const cast = (v: string): Scalar => (numeric ? Number(v) : v);
  const vals = c.values.map(cast);
  const first = vals[0] as Scalar;
  switch (c.op) {
    case '=':
      return compare(value, first) === 0;
    case '!=':
      return compare(value, first) !== 0;
    case '>':
      return compare(value, first) > 0;
    case '>=':
      return compare(value, first) >= 0;
    case '<':
      return compare(value, first) < 0;
    case '<=':
      return compare(value, first) <= 0;
    case 'IN':
      return vals.some((v) => compare(value, v) === 0);
    case 'NOT IN':
      return !vals.some((v) => compare(value, v) === 0);
    case 'BETWEEN':
      return compare(value, first) >= 0 && compare(value, vals[1] as Scalar) <= 0;
  }
}

interface RowSource {
  customer: GoogleAdsCustomer;
  campaign?: GoogleAdsCampaign;
  date?: string;
  metrics: AdMetrics;
}

function fieldValue(src: RowSource, field: string): Scalar {
  switch (field) {
    case 'customer.id':
      return src.customer.id;
    case 'customer.currency_code':
      return src.customer.currencyCode;
    case 'customer.time_zone':
      return src.customer.timeZone;
    case 'customer.descriptive_name':
      return src.customer.descriptiveName;
    case 'customer.resource_name':
      return `customers/${src.customer.id}`;
    case 'customer.manager':
      return String(src.customer.manager);
    case 'campaign.id':
      return src.campaign?.id ?? '';
    case 'campaign.name':
      return src.campaign?.name ?? '';
    case 'campaign.status':
      return src.campaign?.status ?? '';
    case 'campaign.advertising_channel_type':
      return src.campaign?.advertisingChannelType ?? '';
    case 'campaign.resource_name':
      return src.campaign ? `customers/${src.customer.id}/campaigns/${src.campaign.id}` : '';
    case 'segments.date':
      return src.date ?? '';
    case 'metrics.cost_micros':
      return src.metrics.spendMicros;
    case 'metrics.impressions':
      return src.metrics.impressions;
    case 'metrics.clicks':
      return src.metrics.clicks;
    case 'metrics.conversions':
      return src.metrics.conversions;
    case 'metrics.conversions_value':
      return src.metrics.conversionsValueMicros / 1_000_000;
    default:
      throw new GaqlError('UNRECOGNIZED_FIELD', `Unrecognized field in the query: '${field}'.`);
  }
}

/** JSON encoding of one field's value as the REST API sends it. */
function jsonValue(field: string, v: Scalar): unknown {
  if (field === 'metrics.conversions' || field === 'metrics.conversions_value') return round2(Number(v));
  if (field === 'customer.manager') return v === 'true';
  // int64 -> string (proto3 JSON mapping); strings and enums stay strings.
  return String(v);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function zeroMetrics(): AdMetrics {
  return { spendMicros: 0, impressions: 0, clicks: 0, conversions: 0, conversionsValueMicros: 0 };
}

function addInto(target: AdMetrics, m: AdMetrics): void {
  target.spendMicros += m.spendMicros;
  target.impressions += m.impressions;
  target.clicks += m.clicks;
  target.conversions = round2(target.conversions + m.conversions);
  target.conversionsValueMicros += m.conversionsValueMicros;
}

function isZero(m: AdMetrics): boolean {
  return m.spendMicros === 0 && m.impressions === 0 && m.clicks === 0 && m.conversions === 0 && m.conversionsValueMicros === 0;
}

/** Runs a prepared query for one customer; returns GoogleAdsRow JSON objects in order. */
export function runQuery(store: GoogleAdsStore, customerId: string, prepared: PreparedQuery): Record<string, unknown>[] {
  const { query } = prepared;
  const customer = store.customer(customerId);
  if (!customer) return [];
  const selectsMetrics = query.select.some((f) => f.startsWith('metrics.'));
  if (customer.manager && selectsMetrics) {
    throw new GaqlError('REQUESTED_METRICS_FOR_MANAGER', 'Metrics cannot be requested for a manager account. To retrieve metrics, issue separate requests against each client account under the manager account.');
  }
  const segmented = query.select.includes('segments.date');
  const dateConds = query.where.filter((c) => c.field === 'segments.date');
  const metricConds = query.where.filter((c) => c.field.startsWith('metrics.'));
  const entityConds = query.where.filter((c) => !c.field.startsWith('metrics.') && c.field !== 'segments.date');

  const campaigns = query.from === 'campaign' ? store.campaigns.filter((c) => c.customerId === customerId) : [];
  const entities: { campaign?: GoogleAdsCampaign }[] = query.from === 'campaign' ? campaigns.map((campaign) => ({ campaign })) : [{}];
  const keep = entities.filter((e) => entityConds.every((c) => matches(fieldValue({ customer, campaign: e.campaign, metrics: zeroMetrics() }, c.field), c)));
  const keepIds = new Set(keep.map((e) => e.campaign?.id ?? ''));

  // Group the matching days by entity (and date when segmented).
  const groups = new Map<string, RowSource>();
  for (const e of keep) {
    if (!segmented) groups.set(e.campaign?.id ?? '', { customer, campaign: e.campaign, metrics: zeroMetrics() });
  }
  const malformedDaily = new Map<string, string>();
  for (const d of store.customerDays(customerId)) {
    const entityId = query.from === 'campaign' ? d.campaignId : '';
    if (!keepIds.has(entityId)) continue;
    if (!dateConds.every((c) => matches(d.date, c))) continue;
    const key = segmented ? `${entityId}|${d.date}` : entityId;
    let g = groups.get(key);
    if (!g) {
      g = { customer, campaign: campaigns.find((c) => c.id === d.campaignId), date: segmented ? d.date : undefined, metrics: zeroMetrics() };
      if (query.from === 'customer') g.campaign = undefined;
      groups.set(key, g);
    }
    addInto(g.metrics, d);
    const broken = store.malformKind(d.campaignId, d.date);
    if (broken && segmented && query.from === 'campaign') malformedDaily.set(key, broken);
  }

  let rows = [...groups.entries()].filter(([, g]) => !(segmented && selectsMetrics && isZero(g.metrics)));
  rows = rows.filter(([, g]) => metricConds.every((c) => matches(fieldValue(g, c.field), c)));
  const order = query.orderBy.length > 0
    ? query.orderBy
    : [
        ...(segmented ? [{ field: 'segments.date', desc: false }] : []),
        ...(query.from === 'campaign' ? [{ field: 'campaign.id', desc: false }] : []),
      ];
  rows.sort(([, a], [, b]) => {
    for (const o of order) {
      const va = fieldValue(a, o.field);
      const vb = fieldValue(b, o.field);
      const cmp = o.field === 'campaign.id' || o.field === 'customer.id' ? Number(va) - Number(vb) : compare(va, vb);
      if (cmp !== 0) return o.desc ? -cmp : cmp;
    }
    return 0;
  });
  if (query.limit !== null) rows = rows.slice(0, query.limit);

  return rows.map(([key, g]) => {
    const row = shapeRow(g, query.select);
    const broken = malformedDaily.get(key);
    if (broken) breakRow(row, broken);
    for (const [path, value] of store.extraFields()) setPath(row, path, value);
    return row;
  });
}

function shapeRow(src: RowSource, select: string[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  const resourceOf = (field: string) => field.split('.')[0] as string;
  for (const field of select) {
    const res = resourceOf(field);
    if (res === 'customer' && !('customer' in row)) row.customer = { resourceName: `customers/${src.customer.id}` };
    if (res === 'campaign' && !('campaign' in row) && src.campaign) {
      row.campaign = { resourceName: `customers/${src.customer.id}/campaigns/${src.campaign.id}` };
    }
    setPath(row, toJsonPath(field), jsonValue(field, fieldValue(src, field)));
  }
  return row;
}

function setPath(row: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let obj = row;
  for (const p of parts.slice(0, -1)) {
    const next = obj[p];
    if (typeof next !== 'object' || next === null) obj[p] = {};
    obj = obj[p] as Record<string, unknown>;
  }
  obj[parts[parts.length - 1] as string] = value;
}

function breakRow(row: Record<string, unknown>, kind: string): void {
  const metrics = row.metrics as Record<string, unknown> | undefined;
  const segments = row.segments as Record<string, unknown> | undefined;
  const campaign = row.campaign as Record<string, unknown> | undefined;
  switch (kind) {
    case 'non_numeric_cost':
      if (metrics) metrics.costMicros = 'NaN';
      break;
    case 'missing_metrics':
      delete row.metrics;
      break;
    case 'bad_date':
      if (segments) segments.date = `${String(segments.date).slice(0, 4)}-13-45`;
      break;
    case 'missing_campaign_id':
      if (campaign) delete campaign.id;
      break;
  }
}

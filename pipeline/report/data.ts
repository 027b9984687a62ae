import { ConfigError } from '../../connectors/core/errors/index.ts';
import { isDay } from '../../connectors/core/dates.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { ATTRIBUTION_MODELS } from '../transform/attribution-mart.ts';

/**
 * What the HTML report shows, read from the marts only (never from core or staging), so the page
 * and BI tools reading the same marts agree. The KPI marts are monthly: a --from/--to range
 * selects whole months (every month that overlaps the range).
 */

export type AttributionModel = (typeof ATTRIBUTION_MODELS)[number];

export const DEFAULT_REPORT_MODEL: AttributionModel = 'w_shaped';

export interface ReportQuery {
  /** First day of the range (YYYY-MM-DD); the month containing it is the first month shown. */
  from?: string | undefined;
  /** Last day of the range (YYYY-MM-DD); the month containing it is the last month shown. */
  to?: string | undefined;
  /** Attribution model of credited figures (pipeline, revenue, customers, CAC). Default w_shaped. */
  model?: string | undefined;
}

export interface OverTimeRow { month: string; channel: string; spend: number; pipeline: number; revenue: number }

export interface ChannelKpiRow {
  channel: string;
  spend: number;
  leads: number;
  opportunities: number;
  customers: number;
  pipeline: number;
  revenue: number;
  /** revenue / spend; null without spend. */
  roas: number | null;
  /** spend / leads; null without leads. */
  cpl: number | null;
  /** spend / customers; null without customers. */
  cac: number | null;
}

export interface CreditShareRow {
  model: string;
  channel: string;
  pipeline: number;
  revenue: number;
  /** Channel's share of the model's pipeline credit over the range, 0..1 (null when the model has none). */
  pipelineShare: number | null;
  revenueShare: number | null;
}

export interface FunnelRow {
  pipeline: string;
  stage: string;
  stageOrder: number | null;
  entered: number;
  advanced: number;
  lost: number;
  stillInStage: number;
  /** advanced / entered; null when none entered. */
  conversionRate: number | null;
}

export interface GoalRow {
  goalId: string;
  kind: string;
  metric: string;
  direction: string;
  channel: string | null;
  model: string | null;
  periodStart: string;
  periodEnd: string;
  currency: string | null;
  asOf: string;
  target: number;
  targetToDate: number | null;
  actualToDate: number | null;
  pacePct: number | null;
  forecast: number | null;
  forecastMethod: string;
  onTrack: boolean | null;
}

export interface ReportData {
  model: AttributionModel;
  currency: string;
  /** The range asked for (null: open). */
  from: string | null;
  to: string | null;
  /** Months shown (first day of each), ascending. */
  months: string[];
  channels: string[];
  models: string[];
  overTime: OverTimeRow[];
  channelKpis: ChannelKpiRow[];
  creditShare: CreditShareRow[];
  funnel: FunnelRow[];
  goals: GoalRow[];
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b);

/** Checks the query and returns it normalized; a bad value is a ConfigError naming the option. */
export function parseReportQuery(query: ReportQuery): { from: string | null; to: string | null; model: AttributionModel } {
  for (const [name, value] of [['--from', query.from], ['--to', query.to]] as const) {
    if (value !== undefined && !isDay(value)) throw new ConfigError(`report: ${name}: "${value}" is not a date YYYY-MM-DD`);
  }
  if (query.from !== undefined && query.to !== undefined && query.from > query.to) throw new ConfigError(`report: --from ${query.from} is after --to ${query.to}`);
  const model = query.model ?? DEFAULT_REPORT_MODEL;
  if (!(ATTRIBUTION_MODELS as readonly string[]).includes(model)) throw new ConfigError(`report: --model: "${model}" is not an attribution model (one of ${ATTRIBUTION_MODELS.join(', ')})`);
  return { from: query.from ?? null, to: query.to ?? null, model: model as AttributionModel };
}

/** Reads every figure of the report from the marts. */
export async function readReportData(warehouse: Warehouse, query: ReportQuery = {}): Promise<ReportData> {
  const { from, to, model } = parseReportQuery(query);
  const knex = warehouse.knex;
  // Month filter shared by every monthly mart (alias-free column `month`).
  const monthFilter = `(?::date IS NULL OR month >= date_trunc('month', ?::date)::date) AND (?::date IS NULL OR month <= ?::date)`;
  const range = [from, from, to, to];

  const currencyRow = (await knex.raw(`SELECT reporting_currency FROM marts.kpi_channel_monthly LIMIT 1`)).rows[0] as { reporting_currency?: string } | undefined;
  const currency = currencyRow?.reporting_currency ?? 'USD';

  const overTime = ((await knex.raw(
    `SELECT month, channel, sum(spend) AS spend, sum(pipeline) AS pipeline, sum(revenue) AS revenue
     FROM marts.kpi_channel_monthly WHERE model = ? AND ${monthFilter}
     GROUP BY month, channel ORDER BY month, channel`,
    [model, ...range],
  )).rows as Array<Record<string, unknown>>).map((r) => ({ month: String(r.month), channel: String(r.channel), spend: num(r.spend), pipeline: num(r.pipeline), revenue: num(r.revenue) }));

  // Ratios over the whole range are computed from the summed parts (a mean of monthly ratios would be wrong).
  const channelKpis = ((await knex.raw(
    `SELECT channel, sum(spend) AS spend, sum(leads) AS leads, sum(opportunities) AS opportunities, sum(customers) AS customers,
            sum(pipeline) AS pipeline, sum(revenue) AS revenue
     FROM marts.kpi_channel_monthly WHERE model = ? AND ${monthFilter}
     GROUP BY channel ORDER BY sum(revenue) DESC, channel`,
    [model, ...range],
  )).rows as Array<Record<string, unknown>>).map((r) => {
    const spend = num(r.spend);
    const leads = num(r.leads);
    const customers = num(r.customers);
    const revenue = num(r.revenue);
    return {
      channel: String(r.channel), spend, leads, opportunities: num(r.opportunities), customers, pipeline: num(r.pipeline), revenue,
      roas: ratio(revenue, spend), cpl: ratio(spend, leads), cac: ratio(spend, customers),
    };
  });

  const creditRows = (await knex.raw(
    `SELECT model, channel, sum(pipeline) AS pipeline, sum(revenue) AS revenue
     FROM marts.kpi_channel_monthly WHERE ${monthFilter}
     GROUP BY model, channel ORDER BY model, channel`,
    range,
  )).rows as Array<Record<string, unknown>>;
  const totals = new Map<string, { pipeline: number; revenue: number }>();
  for (const r of creditRows) {
    const t = totals.get(String(r.model)) ?? { pipeline: 0, revenue: 0 };
    t.pipeline += num(r.pipeline);
    t.revenue += num(r.revenue);
    totals.set(String(r.model), t);
  }
  const creditShare = creditRows.map((r) => {
    const t = totals.get(String(r.model))!;
    return {
      model: String(r.model), channel: String(r.channel), pipeline: num(r.pipeline), revenue: num(r.revenue),
      pipelineShare: ratio(num(r.pipeline), t.pipeline), revenueShare: ratio(num(r.revenue), t.revenue),
    };
  });

  const funnel = ((await knex.raw(
    `SELECT pipeline, stage, min(stage_order) AS stage_order, sum(entered) AS entered, sum(advanced) AS advanced, sum(lost) AS lost, sum(still_in_stage) AS still
     FROM marts.kpi_funnel_monthly WHERE ${monthFilter}
     GROUP BY pipeline, stage ORDER BY pipeline, min(stage_order) NULLS LAST, stage`,
    range,
  )).rows as Array<Record<string, unknown>>).map((r) => ({
    pipeline: String(r.pipeline), stage: String(r.stage), stageOrder: numOrNull(r.stage_order),
    entered: num(r.entered), advanced: num(r.advanced), lost: num(r.lost), stillInStage: num(r.still),
    conversionRate: ratio(num(r.advanced), num(r.entered)),
  }));

  // Goals are paced at their own as_of over their own period, so the range does not apply.
  const goals = ((await knex.raw(`SELECT * FROM marts.goal_pacing ORDER BY period_start, goal_id`)).rows as Array<Record<string, unknown>>).map((g) => ({
    goalId: String(g.goal_id), kind: String(g.kind), metric: String(g.metric), direction: String(g.direction),
    channel: g.channel === null ? null : String(g.channel), model: g.model === null ? null : String(g.model),
    periodStart: String(g.period_start), periodEnd: String(g.period_end), currency: g.currency === null ? null : String(g.currency), asOf: String(g.as_of),
    target: num(g.target), targetToDate: numOrNull(g.target_to_date), actualToDate: numOrNull(g.actual_to_date), pacePct: numOrNull(g.pace_pct),
    forecast: numOrNull(g.forecast), forecastMethod: String(g.forecast_method), onTrack: g.on_track === null || g.on_track === undefined ? null : Boolean(g.on_track),
  }));

  const months = [...new Set(overTime.map((r) => r.month))].sort();
  const channels = [...new Set([...channelKpis.map((c) => c.channel), ...creditShare.map((c) => c.channel)])].sort();
  const models = ATTRIBUTION_MODELS.filter((m) => totals.has(m));
  return { model, currency, from, to, months, channels, models, overTime, channelKpis, creditShare, funnel, goals };
}

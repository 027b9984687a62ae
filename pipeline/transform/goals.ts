import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { Knex } from 'knex';
import { z } from 'zod';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { ATTRIBUTION_MODELS } from './attribution-mart.ts';

/**
 * Goals and pacing. Goals come from the `goals` section of the config file (a list) or a CSV
 * (`goals: { file: 'goals.csv' }`, columns id, metric, period, target, channel, model, split).
 * Monthly targets are planned backward from the period goal; pacing and a forecast are measured
 * at as_of. The monthly actuals come from the KPI marts in SQL; the small planning math is here.
 */
export const GOAL_METRICS = {
  leads: { kind: 'numerical', direction: 'at_least', credited: false },
  mqls: { kind: 'numerical', direction: 'at_least', credited: false },
  sqls: { kind: 'numerical', direction: 'at_least', credited: false },
  sessions: { kind: 'numerical', direction: 'at_least', credited: false },
  opportunities: { kind: 'numerical', direction: 'at_least', credited: true },
  customers: { kind: 'numerical', direction: 'at_least', credited: true },
  pipeline: { kind: 'monetary', direction: 'at_least', credited: true },
  revenue: { kind: 'monetary', direction: 'at_least', credited: true },
  spend: { kind: 'monetary', direction: 'at_most', credited: false },
  cpl: { kind: 'monetary', direction: 'at_most', credited: false },
  cac: { kind: 'monetary', direction: 'at_most', credited: true },
  webinars_held: { kind: 'production', direction: 'at_least', credited: false },
  events_held: { kind: 'production', direction: 'at_least', credited: false },
  emails_sent: { kind: 'production', direction: 'at_least', credited: false },
} as const;
export type GoalMetric = keyof typeof GOAL_METRICS;

const RATIO_METRICS: ReadonlySet<GoalMetric> = new Set(['cpl', 'cac']);

export const goalSchema = z.strictObject({
  /** snake_case id, unique. */
  id: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case'),
  metric: z.enum(Object.keys(GOAL_METRICS) as [GoalMetric, ...GoalMetric[]]),
  /** A year ('2026') or a quarter ('2026-Q3'). */
  period: z.string().regex(/^\d{4}(-Q[1-4])?$/, "must be a year ('2026') or a quarter ('2026-Q3')"),
  target: z.coerce.number().positive(),
  /** Channel the goal is for (a channel name of the grouping rules). Default: the total. */
  channel: z.string().min(1).optional(),
  /** Attribution model for credited metrics. Default w_shaped. */
  model: z.enum(ATTRIBUTION_MODELS).default('w_shaped'),
  /** Monthly plan: seasonal (weighted by the same months last year, even when there is no history) or even. Default seasonal. */
  split: z.enum(['seasonal', 'even']).default('seasonal'),
});
export type Goal = z.infer<typeof goalSchema>;

export function parseGoals(section: unknown, baseDir = process.cwd()): Goal[] {
  if (section === undefined || section === null) return [];
  let entries: unknown[];
  if (Array.isArray(section)) entries = section;
  else if (typeof section === 'object' && typeof (section as { file?: unknown }).file === 'string') {
    const file = (section as { file: string }).file;
    const path = file.startsWith('/') ? file : `${baseDir}/${file}`;
    if (!fs.existsSync(path)) throw new ConfigError(`goals.file: ${path} does not exist`);
    entries = (parse(fs.readFileSync(path, 'utf8'), { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true }) as Array<Record<string, string>>).map((row) =>
      Object.fromEntries(Object.entries(row).filter(([, v]) => v !== '')),
    );
  } else throw new ConfigError('goals: must be a list of goals or { file: <csv> }');
  const ids = new Set<string>();
  return entries.map((entry, i) => {
    const result = goalSchema.safeParse(entry);
    if (!result.success) throw new ConfigError(`goals[${i}]: ${result.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    if (ids.has(result.data.id)) throw new ConfigError(`goals[${i}]: id ${result.data.id} is used twice`);
    ids.add(result.data.id);
    return result.data;
  });
}

/**
 * A goal's channel must be one the grouping rules can give (else its actuals stay 0 and it reads
 * as off track forever): a typo is a config error naming the goal and the channels there are.
 */
export function checkGoalChannels(goals: readonly Goal[], channels: Iterable<string>): void {
  const known = new Set(channels);
  for (const goal of goals) {
    if (goal.channel !== undefined && !known.has(goal.channel)) {
      throw new ConfigError(`goals: ${goal.id}: channel ${JSON.stringify(goal.channel)} is not a channel of the grouping rules (${[...known].join(', ')})`);
    }
  }
}

const day = (d: Date) => d.toISOString().slice(0, 10);
const monthStart = (y: number, m: number) => new Date(Date.UTC(y, m, 1));

export function periodBounds(period: string): { start: Date; end: Date; months: Date[] } {
  const year = Number(period.slice(0, 4));
  const quarter = period.length > 4 ? Number(period.slice(6)) : undefined;
  const first = quarter ? (quarter - 1) * 3 : 0;
  const count = quarter ? 3 : 12;
  const months = Array.from({ length: count }, (_, i) => monthStart(year, first + i));
  return { start: months[0]!, end: new Date(monthStart(year, first + count).getTime() - 86_400_000), months };
}

/** Monthly numerator/denominator of a metric (denominator 1 for additive metrics), for months in [from, to]. */
async function monthlyActuals(trx: Knex.Transaction, goal: Goal, from: string, to: string): Promise<Map<string, { num: number; den: number }>> {
  const channel = goal.channel ?? null;
  const kpi = (num: string, den: string, credited: boolean) =>
    trx.raw(
      `SELECT month::text AS month, sum(${num})::float8 AS num, ${den === '1' ? '1' : `sum(${den})`}::float8 AS den
       FROM marts.kpi_channel_monthly
       WHERE model = ? AND month BETWEEN ?::date AND ?::date AND (?::text IS NULL OR channel = ?::text)
       GROUP BY month`,
      [credited ? goal.model : 'linear', from, to, channel, channel],
    );
  let result;
  switch (goal.metric) {
    case 'cpl':
      result = await kpi('spend', 'leads', false);
      break;
    case 'cac':
      result = await kpi('spend', 'customers', true);
      break;
    case 'webinars_held':
    case 'events_held':
      result = await trx.raw(
        `SELECT date_trunc('month', start_date)::date::text AS month, count(*)::float8 AS num, 1::float8 AS den
         FROM core.dim_campaign WHERE NOT is_deleted AND start_date BETWEEN ?::date AND (?::date + interval '1 month' - interval '1 day')
           AND lower(coalesce(campaign_type, '')) ~ ? GROUP BY 1`,
        [from, to, goal.metric === 'webinars_held' ? 'webinar' : '(event|conference|seminar|trade ?show|roadshow)'],
      );
      break;
    case 'emails_sent':
      result = await trx.raw(
        `SELECT date_trunc('month', occurred_at)::date::text AS month, count(*)::float8 AS num, 1::float8 AS den
         FROM core.fct_touchpoint WHERE NOT is_deleted AND touch_type IN ('email_send', 'email_sent', 'email_delivered')
           AND occurred_at >= ?::date AND occurred_at < (?::date + interval '1 month') GROUP BY 1`,
        [from, to],
      );
      break;
    default: {
      const meta = GOAL_METRICS[goal.metric];
      result = await kpi(goal.metric, '1', meta.credited);
    }
  }
  const rows = result.rows as Array<{ month: string; num: number; den: number }>;
  return new Map(rows.map((r) => [r.month, { num: r.num, den: r.den }]));
}

/** Computes marts.goal_monthly_targets and marts.goal_pacing for every goal. */
export async function refreshGoals(trx: Knex.Transaction, goals: readonly Goal[], options: { asOf: string; currency: string }): Promise<void> {
  await trx('marts.goal_monthly_targets').delete();
  await trx('marts.goal_pacing').delete();
  const asOf = new Date(`${options.asOf}T00:00:00Z`);
  for (const goal of goals) {
    const meta = GOAL_METRICS[goal.metric];
    const ratio = RATIO_METRICS.has(goal.metric);
    const { start, end, months } = periodBounds(goal.period);
    const priorFrom = monthStart(start.getUTCFullYear() - 1, start.getUTCMonth());
    const actuals = await monthlyActuals(trx, goal, day(priorFrom), day(months.at(-1)!));

    // Plan: last year's same months as weights when every one of them holds some of the metric
    // (partial history, e.g. data since November, would plan nothing for the months it lacks), else even.
    const prior = months.map((m) => actuals.get(day(monthStart(m.getUTCFullYear() - 1, m.getUTCMonth())))?.num ?? 0);
    const priorTotal = prior.reduce((a, b) => a + b, 0);
    const seasonal = goal.split === 'seasonal' && !ratio && prior.every((p) => p > 0);
    const weights = seasonal ? prior.map((p) => p / priorTotal) : months.map(() => 1 / months.length);

    let elapsed = 0;
    let num = 0;
    let den = 0;
    months.forEach((m, i) => {
      const next = monthStart(m.getUTCFullYear(), m.getUTCMonth() + 1);
      if (asOf >= next) elapsed += weights[i]!;
      else if (asOf >= m) elapsed += weights[i]! * ((asOf.getTime() - m.getTime()) / 86_400_000 + 1) / ((next.getTime() - m.getTime()) / 86_400_000);
      if (asOf >= m) {
        const a = actuals.get(day(m));
        num += a?.num ?? 0;
        den += a?.den ?? 0;
      }
    });
    const rows = months.map((m, i) => {
      const a = actuals.get(day(m));
      const actual = a === undefined ? (ratio ? null : 0) : ratio ? (a.den > 0 ? a.num / a.den : null) : a.num;
      return { goal_id: goal.id, month: day(m), target: ratio ? goal.target : goal.target * weights[i]!, actual, weight: weights[i]! };
    });
    await trx('marts.goal_monthly_targets').insert(rows);

    const started = asOf >= start;
    const actualToDate = ratio ? (den > 0 ? num / den : null) : num;
    const targetToDate = ratio ? goal.target : goal.target * elapsed;
    const forecast = ratio ? actualToDate : elapsed > 0 ? num / elapsed : null;
    const atMost = meta.direction === 'at_most';
    let pace: number | null = null;
    if (actualToDate !== null) {
      if (atMost) pace = actualToDate > 0 ? (targetToDate / actualToDate) * 100 : null;
      else pace = targetToDate > 0 ? (actualToDate / targetToDate) * 100 : null;
    }
    await trx('marts.goal_pacing').insert({
      goal_id: goal.id,
      kind: meta.kind,
      metric: goal.metric,
      direction: meta.direction,
      channel: goal.channel ?? null,
      model: meta.credited ? goal.model : null,
      period_start: day(start),
      period_end: day(end),
      target: goal.target,
      currency: meta.kind === 'monetary' ? options.currency : null,
      as_of: options.asOf,
      elapsed_share: Math.min(1, elapsed),
      target_to_date: targetToDate,
      actual_to_date: actualToDate,
      pace_pct: pace === null ? null : Math.round(pace * 100) / 100,
      forecast,
      forecast_method: seasonal ? 'seasonal' : 'run_rate',
      on_track: !started || forecast === null ? null : atMost ? forecast <= goal.target : forecast >= goal.target,
    });
  }
}

/** The day pacing is measured at: the latest day with spend, traffic or opportunities. */
export async function dataAsOf(trx: Knex.Transaction): Promise<string | null> {
  const row = (await trx.raw(
    `SELECT greatest((SELECT max(date) FROM marts.fct_ad_spend_daily), (SELECT max(date) FROM marts.fct_web_traffic_daily),
                     (SELECT max(created_at)::date FROM core.fct_opportunity))::text AS d`,
  )).rows[0] as { d: string | null };
  return row.d;
}

import type { Knex } from 'knex';
import { createDocumentedTable } from './documented-table.ts';

/** Goals and pacing marts. Every column commented (the data dictionary is generated from them). */
export const goalTables = [
  {
    name: 'marts.goal_monthly_targets',
    doc: 'Grain: one row per goal x month of its period. Key: (goal_id, month). The period goal planned backward into monthly targets (even split, or weighted by the same months of the previous year when that history exists), beside the month actual.',
    key: ['goal_id', 'month'],
    columns: [
      { name: 'goal_id', type: 'text NOT NULL', doc: 'Goal id from the goals configuration.' },
      { name: 'month', type: 'date NOT NULL', doc: 'First day of the month.' },
      { name: 'target', type: 'numeric', doc: 'Monthly target (for at_most goals such as max CPL: the cap, the same every month).' },
      { name: 'actual', type: 'numeric', doc: 'Actual value of the metric in the month (NULL for ratio metrics without a denominator).' },
      { name: 'weight', type: 'numeric NOT NULL', doc: 'Share of the period goal planned for this month (sums to 1 over the period).' },
    ],
  },
  {
    name: 'marts.goal_pacing',
    doc: 'Grain: one row per goal. Key: (goal_id). Where each goal stands at as_of: target and actual to date, pace, forecast at period end and whether it is on track.',
    key: ['goal_id'],
    columns: [
      { name: 'goal_id', type: 'text NOT NULL', doc: 'Goal id from the goals configuration.' },
      { name: 'kind', type: 'text NOT NULL', doc: 'production (things done: webinars held, emails sent), numerical (leads, sessions, opportunities...) or monetary (pipeline, revenue, spend, max CPL / CAC).' },
      { name: 'metric', type: 'text NOT NULL', doc: 'Metric measured: leads, mqls, sqls, sessions, opportunities, customers, pipeline, revenue, spend, cpl, cac, webinars_held, events_held, emails_sent.' },
      { name: 'direction', type: 'text NOT NULL', doc: 'at_least (reach the target) or at_most (stay under it: cpl, cac, spend caps).' },
      { name: 'channel', type: 'text', doc: 'Channel the goal is for; NULL for the total.' },
      { name: 'model', type: 'text', doc: 'Attribution model of credited metrics (opportunities, customers, pipeline, revenue, cac).' },
      { name: 'period_start', type: 'date NOT NULL', doc: 'First day of the goal period (a year or a quarter).' },
      { name: 'period_end', type: 'date NOT NULL', doc: 'Last day of the goal period.' },
      { name: 'target', type: 'numeric NOT NULL', doc: 'The period goal (for at_most ratio goals: the cap).' },
      { name: 'currency', type: 'text', doc: 'Reporting currency of monetary goals.' },
      { name: 'as_of', type: 'date NOT NULL', doc: 'The day pacing is measured at (the last day with data, or transform.asOf).' },
      { name: 'elapsed_share', type: 'numeric NOT NULL', doc: 'Share of the period elapsed at as_of, weighted by the monthly plan (0..1).' },
      { name: 'target_to_date', type: 'numeric', doc: 'Planned target up to as_of (monthly targets, the current month pro rata by days).' },
      { name: 'actual_to_date', type: 'numeric', doc: 'Actual from period start to as_of (for ratio metrics: the ratio over that span).' },
      { name: 'pace_pct', type: 'numeric', doc: 'actual_to_date / target_to_date x 100 (for at_most goals: target / actual x 100, so above 100 is good). NULL when the denominator is 0.' },
      { name: 'forecast', type: 'numeric', doc: 'Projected value at period end: actual_to_date / elapsed_share (run rate, or seasonality-weighted when history exists); ratio metrics keep their ratio to date.' },
      { name: 'forecast_method', type: 'text NOT NULL', doc: 'run_rate (even plan) or seasonal (plan weighted by last year).' },
      { name: 'on_track', type: 'boolean', doc: 'forecast >= target (at_least) or forecast <= target (at_most). NULL before the period starts.' },
    ],
  },
];

export async function up(knex: Knex): Promise<void> {
  for (const table of goalTables) await createDocumentedTable(knex, table);
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}

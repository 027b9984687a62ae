import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { fractributionAttribution, markovAttribution, shapleyAttribution, TooManyChannelsError, type PathSummary } from '../attribution/index.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { channelFunctionSql, effectiveRules } from './channels.ts';
import { parseTransformConfig, type TransformConfig } from './config.ts';
import { attributionMartSql, factMartSql, models } from './models.ts';
import { kpiCampaignSql, kpiChannelSql, kpiFunnelSql, leadTouchSql } from './kpis.ts';
import { dataAsOf, parseGoals, refreshGoals } from './goals.ts';

export { parseTransformConfig, type TransformConfig } from './config.ts';

export interface TransformOptions {
  warehouse: Warehouse;
  log: Logger;
  /** The `transform` section of the config file (validated here). */
  config?: unknown;
  /** The `goals` section of the config file (a list, or { file }). */
  goals?: unknown;
  /** Folder relative goal files resolve against. Default: the working directory. */
  baseDir?: string;
  /** Rebuild everything (the only mode for now: every run is a full, atomic refresh). */
  full?: boolean;
}

export interface TransformResult {
  steps: Array<{ name: string; ms: number }>;
  rows: Record<string, number>;
  warnings: string[];
}

/** Separator of channels in a path key (ASCII unit separator: never part of a channel name). */
const SEP = '\u001f';

const DATA_DRIVEN_MODELS = ['markov', 'shapley', 'fractribution'] as const;

/** The marts the transform refreshes. */
export const MART_TABLES = [
  'marts.fct_attribution', 'marts.fct_ad_spend_daily', 'marts.fct_web_traffic_daily',
  'marts.kpi_channel_monthly', 'marts.kpi_campaign_monthly', 'marts.kpi_funnel_monthly',
  'marts.goal_monthly_targets', 'marts.goal_pacing',
] as const;

/**
 * Path summaries for the data-driven models: one row per distinct channel path. Converting paths
 * are the opportunities' paths (value = pipeline amount in the reporting currency); non-converting
 * ones are the people with touches and no opportunity (their touches within lookbackDays of their
 * last touch).
 */
async function pathSummaries(trx: Knex.Transaction, config: TransformConfig): Promise<PathSummary[]> {
  const rows = (await trx.raw(
    `WITH opp_paths AS (
       SELECT t.connection_id, t.opportunity_id, string_agg(t.channel, chr(31) ORDER BY t.pos) AS path_key
       FROM staging.int_opportunity_touches t GROUP BY t.connection_id, t.opportunity_id
     ),
     converted AS (
       SELECT p.path_key, count(*)::int AS conversions, 0 AS nulls, coalesce(sum(o.amount_reporting), 0)::float8 AS value
       FROM opp_paths p JOIN staging.int_opportunities o USING (connection_id, opportunity_id)
       GROUP BY p.path_key
     ),
     unconverted AS (
       SELECT path_key, 0 AS conversions, count(*)::int AS nulls, 0::float8 AS value FROM (
         SELECT t.person_key, string_agg(t.channel, chr(31) ORDER BY t.occurred_at, t.touchpoint_id COLLATE "C") AS path_key
         FROM (SELECT *, max(occurred_at) OVER (PARTITION BY person_key) AS last_at FROM staging.int_touchpoints) t
         WHERE NOT EXISTS (SELECT 1 FROM staging.int_opportunity_people op WHERE op.person_key = t.person_key)
           AND t.occurred_at >= t.last_at - make_interval(days => ${config.lookbackDays})
         GROUP BY t.person_key
       ) u GROUP BY path_key
     )
     SELECT path_key, sum(conversions)::int AS conversions, sum(nulls)::int AS nulls, sum(value)::float8 AS value
     FROM (SELECT * FROM converted UNION ALL SELECT * FROM unconverted) s GROUP BY path_key ORDER BY path_key COLLATE "C"`,
  )).rows as Array<{ path_key: string; conversions: number; nulls: number; value: number }>;
  return rows.map((r) => ({ path: r.path_key.split(SEP), conversions: r.conversions, nulls: r.nulls, value: r.value }));
}

/** Solves the data-driven models in TypeScript and spreads their channel credit to touches in SQL. */
async function dataDrivenCredits(trx: Knex.Transaction, config: TransformConfig, warnings: string[]): Promise<void> {
  await trx.raw('DROP TABLE IF EXISTS staging.int_channel_weights');
  await trx.raw('CREATE TABLE staging.int_channel_weights (model text NOT NULL, path_key text, channel text NOT NULL, weight float8 NOT NULL)');
  const summaries = await pathSummaries(trx, config);
  const weights: Array<{ model: string; path_key: string | null; channel: string; weight: number }> = [];
  if (summaries.some((s) => s.conversions > 0)) {
    const markov = markovAttribution(summaries, { order: config.markovOrder });
    for (const [channel, weight] of Object.entries(markov.shares)) weights.push({ model: 'markov', path_key: null, channel, weight });
    try {
      const shapley = shapleyAttribution(summaries);
      for (const [channel, weight] of Object.entries(shapley.shares)) weights.push({ model: 'shapley', path_key: null, channel, weight });
    } catch (err) {
      if (!(err instanceof TooManyChannelsError)) throw err;
      warnings.push(`shapley skipped: ${err.message}`);
    }
    const fractribution = fractributionAttribution(summaries);
    for (const p of fractribution.paths) {
      if (p.conversions === 0) continue;
      for (const [channel, weight] of Object.entries(p.attribution)) weights.push({ model: 'fractribution', path_key: p.path.join(SEP), channel, weight });
    }
  }
  for (let i = 0; i < weights.length; i += 1000) await trx('staging.int_channel_weights').insert(weights.slice(i, i + 1000));

  // Each opportunity: a channel's weight over the sum of the weights of the channels in its path,
  // split equally over that channel's touches; when every weight is 0, the last touch gets 1.
  await trx.raw('DROP TABLE IF EXISTS staging.int_model_credits');
  await trx.raw(
    `CREATE TABLE staging.int_model_credits AS
     WITH paths AS (
       SELECT connection_id, opportunity_id, string_agg(channel, chr(31) ORDER BY pos) AS path_key
       FROM staging.int_opportunity_touches GROUP BY connection_id, opportunity_id
     ),
     weighted AS (
       SELECT t.connection_id, t.opportunity_id, t.touchpoint_id, m.model, t.pos, t.n,
              coalesce(w.weight, 0) AS w,
              count(*) OVER (PARTITION BY t.connection_id, t.opportunity_id, m.model, t.channel) AS channel_touches
       FROM staging.int_opportunity_touches t
       JOIN paths p USING (connection_id, opportunity_id)
       CROSS JOIN (VALUES ${DATA_DRIVEN_MODELS.map((m) => `('${m}')`).join(', ')}) AS m(model)
       LEFT JOIN staging.int_channel_weights w
         ON w.model = m.model AND w.channel = t.channel AND (w.path_key IS NULL OR w.path_key = p.path_key)
     ),
     totals AS (
       SELECT *, sum(w / channel_touches) OVER (PARTITION BY connection_id, opportunity_id, model) AS total FROM weighted
     )
     SELECT connection_id, opportunity_id, touchpoint_id, model,
            (CASE WHEN total > 0 THEN (w / channel_touches) / total WHEN pos = n THEN 1 ELSE 0 END)::numeric AS credit
     FROM totals`,
  );
}

async function count(trx: Knex.Transaction, table: string): Promise<number> {
  return Number(((await trx(table).count({ n: '*' }).first()) as { n: number | string }).n);
}

/**
 * Runs the transform: channel grouping, identity, touchpoint paths, every attribution model and the
 * marts, in ONE transaction, so BI never reads half-refreshed marts.
 */
export async function runTransform(options: TransformOptions): Promise<TransformResult> {
  const config = parseTransformConfig(options.config);
  const goals = parseGoals(options.goals, options.baseDir);
  const steps: TransformResult['steps'] = [];
  const warnings: string[] = [];
  const rows: Record<string, number> = {};
  await options.warehouse.knex.transaction(async (trx) => {
    const step = async (name: string, statements: string[] | (() => Promise<void>)) => {
      const t0 = performance.now();
      if (typeof statements === 'function') await statements();
      else for (const sql of statements) await trx.raw(sql);
      steps.push({ name, ms: performance.now() - t0 });
      options.log.debug({ step: name, ms: Math.round(performance.now() - t0) }, 'transform step');
    };
    await step('staging.channel_of', [channelFunctionSql(effectiveRules(config))]);
    for (const model of models) await step(model.name, model.sql(config));
    await step('staging.int_model_credits', () => dataDrivenCredits(trx, config, warnings));
    await step('marts.fct_attribution', attributionMartSql(config));
    await step('marts.fct_ad_spend_daily + marts.fct_web_traffic_daily', factMartSql(config));
    await step('staging.int_person_lead_touch', leadTouchSql());
    await step('marts.kpi_channel_monthly', kpiChannelSql(config));
    await step('marts.kpi_campaign_monthly', kpiCampaignSql(config));
    await step('marts.kpi_funnel_monthly', kpiFunnelSql());
    await step('marts.goal_pacing', async () => {
      const asOf = config.asOf ?? (await dataAsOf(trx)) ?? new Date().toISOString().slice(0, 10);
      await refreshGoals(trx, goals, { asOf, currency: config.reportingCurrency });
    });
    const missingFx = Number(((await trx('marts.fct_ad_spend_daily').whereNull('spend_reporting').count({ n: '*' }).first()) as { n: number }).n);
    if (missingFx > 0) warnings.push(`${missingFx} spend rows have no FX rate to ${config.reportingCurrency}: load rates into core.fx_rate_daily (they count as 0 in the KPI marts)`);
    for (const table of MART_TABLES) rows[table] = await count(trx, table);
  });
  for (const w of warnings) options.log.warn(w);
  return { steps, rows, warnings };
}

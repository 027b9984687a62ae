import type { TransformConfig } from './config.ts';
import { sqlLiteral } from '../../warehouse/sql.ts';
import { ATTRIBUTION_MODELS, ATTRIBUTION_MONTHLY, sumsTableBuildSql } from './attribution-mart.ts';
import { inScope } from './models.ts';

/**
 * A sum-decomposable aggregate of an intermediate model, kept in an unlogged table of its own: a
 * full run builds it from every row; an incremental run subtracts the rows of the model's slices
 * it recomputes, before, and adds them back, after (applyDeltaSql), so the KPI marts read a few
 * thousand pre-aggregated rows instead of scanning the model. Every sum is an integer or an exact
 * numeric of fixed scale, so the patched table equals a rebuilt one.
 */
export interface Aggregate {
  name: string;
  /** The intermediate model it sums (its rows() restricts by that model's scope columns). */
  model: string;
  key: readonly string[];
  /** Summed columns; the first, n, counts the rows behind a key (a key whose n falls to 0 goes). */
  sums: readonly string[];
  comment: string;
  /** Its rows for the model's slices in `scope` (null: all), times `sign`. */
  rows(scope: string | null, sign: 1 | -1): string;
}

const negate = (sign: 1 | -1) => (sign === 1 ? '' : '-');

/** Leads, MQLs and SQLs per month (of each date) x channel x campaign of the lead-creating touch. */
export const LEAD_AGGREGATE: Aggregate = {
  name: 'staging.int_lead_monthly',
  model: 'staging.int_person_lead_touch',
  key: ['month', 'channel', 'campaign_key', 'campaign_name'],
  sums: ['n', 'leads', 'mqls', 'sqls'],
  comment: 'Grain: one row per month x channel x campaign_key x campaign_name of staging.int_person_lead_touch: leads (by lead month), MQLs and SQLs (by their months). n: the dates counted.',
  rows: (scope, sign) => {
    const s = negate(sign);
    return `SELECT date_trunc('month', v.at)::date AS month, l.channel, l.campaign_key, l.campaign_name,
             ${s}count(*) AS n, ${s}count(*) FILTER (WHERE v.kind = 0) AS leads, ${s}count(*) FILTER (WHERE v.kind = 1) AS mqls, ${s}count(*) FILTER (WHERE v.kind = 2) AS sqls
      FROM staging.int_person_lead_touch l
      CROSS JOIN LATERAL (VALUES (0, l.lead_at), (1, l.mql_at), (2, l.sql_at)) AS v(kind, at)
      WHERE (v.kind = 0 OR v.at IS NOT NULL) AND ${inScope(scope, ['person_key'], 'l')}
      GROUP BY 1, 2, 3, 4`;
  },
};

/**
 * Stage changes per month entered x pipeline x stage: entered (n), advanced, lost, still in stage,
 * and the seconds in stage of those that left (numeric, scale 6: exact sums).
 */
export const FUNNEL_AGGREGATE: Aggregate = {
  name: 'staging.int_funnel_monthly',
  model: 'staging.int_stage_changes',
  key: ['month', 'pipeline', 'stage'],
  sums: ['n', 'advanced', 'lost', 'still', 'left_n', 'left_seconds'],
  comment: 'Grain: one row per month entered x pipeline x stage of staging.int_stage_changes: entered (n), advanced, lost, still in stage; left_n and left_seconds: those that left and their seconds in the stage.',
  rows: (scope, sign) => {
    const s = negate(sign);
    return `SELECT month, pipeline, stage, ${s}count(*) AS n,
             ${s}count(*) FILTER (WHERE NOT still AND NOT lost) AS advanced, ${s}count(*) FILTER (WHERE lost) AS lost, ${s}count(*) FILTER (WHERE still) AS still,
             ${s}count(seconds) AS left_n, ${s}coalesce(sum(seconds), 0.000000) AS left_seconds
      FROM (SELECT pipeline, stage, date_trunc('month', entered_at)::date AS month,
                   next_stage IS NULL AS still, coalesce(next_stage ~* 'lost', false) AS lost,
                   extract(epoch FROM next_at - entered_at) AS seconds
            FROM staging.int_stage_changes c WHERE ${inScope(scope, ['connection_id', 'opportunity_id'], 'c')}) x
      GROUP BY 1, 2, 3`;
  },
};

/** How many stage changes have each position in their opportunity, per pipeline x stage (the funnel's stage_order is their median). */
export const STAGE_POSITION_AGGREGATE: Aggregate = {
  name: 'staging.int_stage_positions',
  model: 'staging.int_stage_changes',
  key: ['pipeline', 'stage', 'position'],
  sums: ['n'],
  comment: 'Grain: one row per pipeline x stage x position of staging.int_stage_changes: n, how many changes to the stage were the position-th of their opportunity.',
  rows: (scope, sign) => `SELECT pipeline, stage, position, ${negate(sign)}count(*) AS n FROM staging.int_stage_changes c
      WHERE ${inScope(scope, ['connection_id', 'opportunity_id'], 'c')} GROUP BY 1, 2, 3`,
};

export const AGGREGATES: readonly Aggregate[] = [LEAD_AGGREGATE, FUNNEL_AGGREGATE, STAGE_POSITION_AGGREGATE];

/** Builds an aggregate from every row of its model. */
export function aggregateBuildSql(a: Aggregate): string[] {
  return sumsTableBuildSql(a.name, a.rows(null, 1), a.key.join(', '), a.comment);
}

/** KPI columns computed from the aggregated parts (empty denominators give NULL). */
const ratios = `
  CASE WHEN leads > 0 THEN round(spend / leads, 6) END AS cpl,
  CASE WHEN opportunities > 0 THEN round(spend / opportunities, 6) END AS cost_per_opportunity,
  CASE WHEN customers > 0 THEN round(spend / customers, 6) END AS cac,
  CASE WHEN spend > 0 THEN round(revenue / spend, 6) END AS roas,
  CASE WHEN spend > 0 THEN round((revenue - spend) / spend, 6) END AS roi,
  CASE WHEN leads > 0 THEN round(opportunities / leads, 6) END AS lead_to_opportunity_rate,
  CASE WHEN opportunities > 0 THEN round(customers / opportunities, 6) END AS opportunity_to_won_rate`;

const kpiInsertColumns = `model, reporting_currency, spend, impressions, clicks, sessions, leads, mqls, sqls, opportunities, customers, pipeline, revenue,
  cpl, cost_per_opportunity, cac, roas, roi, lead_to_opportunity_rate, opportunity_to_won_rate`;

/**
 * One KPI mart: `dim` is the grouping column expression in each source. `months`: null, every
 * month; else a relation with a month column, the only months whose rows are written anew (the
 * others stay as they are), each part's rows filtered before they are summed.
 */
function kpiMart(table: string, config: TransformConfig, months: string | null, dims: { key: string; extra: string[]; join?: string }, parts: {
  spend: string;
  traffic: string;
  leads: string;
  credited: string;
  won: string;
}): string[] {
  const rc = sqlLiteral(config.reportingCurrency);
  const models = `(VALUES ${ATTRIBUTION_MODELS.map((m) => `(${sqlLiteral(m)})`).join(', ')}) AS m(model)`;
  const keyCols = `month, ${dims.key}`;
  // The filter on the grouping column goes down into each part, below its GROUP BY, as an array
  // (an IN (subquery) would stay a semi join above it: every month summed, then most thrown away).
  const only = (part: string) => (months === null ? part : `SELECT * FROM (${part}) p WHERE p.month = ANY (ARRAY(SELECT month FROM ${months}))`);
  return [
    months === null ? `DELETE FROM ${table}` : `DELETE FROM ${table} WHERE month IN (SELECT month FROM ${months})`,
    `INSERT INTO ${table} (month, ${dims.key}, ${dims.extra.map((e) => e.split(' AS ')[1]!.trim()).join(', ')}${dims.extra.length ? ', ' : ''}${kpiInsertColumns})
     WITH spend AS (${only(parts.spend)}),
          traffic AS (${only(parts.traffic)}),
          leads AS (${only(parts.leads)}),
          credited AS (${only(parts.credited)}),
          won AS (${only(parts.won)}),
          keys AS (
            SELECT ${keyCols} FROM spend UNION SELECT ${keyCols} FROM traffic UNION SELECT ${keyCols} FROM leads
            UNION SELECT ${keyCols} FROM credited UNION SELECT ${keyCols} FROM won
          ),
          base AS (
            SELECT k.month, k.${dims.key}, m.model,
                   coalesce(s.spend, 0) AS spend, coalesce(s.impressions, 0) AS impressions, coalesce(s.clicks, 0) AS clicks,
                   coalesce(t.sessions, 0) AS sessions, coalesce(l.leads, 0) AS leads, coalesce(l.mqls, 0) AS mqls, coalesce(l.sqls, 0) AS sqls,
                   coalesce(c.opportunities, 0) AS opportunities, coalesce(c.pipeline, 0) AS pipeline,
                   coalesce(w.customers, 0) AS customers, coalesce(w.revenue, 0) AS revenue
                   ${dims.extra.length ? `, ${dims.extra.join(', ')}` : ''}
            FROM keys k CROSS JOIN ${models}
            ${dims.join ?? ''}
            LEFT JOIN spend s ON s.month = k.month AND s.${dims.key} = k.${dims.key}
            LEFT JOIN traffic t ON t.month = k.month AND t.${dims.key} = k.${dims.key}
            LEFT JOIN leads l ON l.month = k.month AND l.${dims.key} = k.${dims.key}
            LEFT JOIN credited c ON c.month = k.month AND c.${dims.key} = k.${dims.key} AND c.model = m.model
            LEFT JOIN won w ON w.month = k.month AND w.${dims.key} = k.${dims.key} AND w.model = m.model
          )
     SELECT month, ${dims.key}, ${dims.extra.map((e) => e.split(' AS ')[1]!.trim()).join(', ')}${dims.extra.length ? ', ' : ''}
            model, ${rc}, round(spend, 6), impressions, clicks, sessions, leads, mqls, sqls,
            round(opportunities, 9), round(customers, 9), round(pipeline, 6), round(revenue, 6), ${ratios}
     FROM base`,
  ];
}

/** Leads, MQLs and SQLs per month x `dim`, from their aggregate. */
const leadsBy = (dim: string) => `SELECT month, ${dim}, sum(leads)::int8 AS leads, sum(mqls)::int8 AS mqls, sum(sqls)::int8 AS sqls
            FROM ${LEAD_AGGREGATE.name} GROUP BY 1, 2`;

/** Opportunities and pipeline credited per month created x `dim` x model, from the monthly attribution sums. */
const creditedBy = (dim: string) => `SELECT month, ${dim}, model, sum(credit) AS opportunities, sum(amount) AS pipeline
            FROM ${ATTRIBUTION_MONTHLY} WHERE kind = 'created' GROUP BY 1, 2, 3`;

/** Customers and revenue credited per close month x `dim` x model. */
const wonBy = (dim: string) => `SELECT month, ${dim}, model, sum(credit) AS customers, sum(amount) AS revenue
            FROM ${ATTRIBUTION_MONTHLY} WHERE kind = 'won' GROUP BY 1, 2, 3`;

/** marts.kpi_channel_monthly, every month or (`months`, see kpiMart) some. */
export function kpiChannelSql(config: TransformConfig, months: string | null = null): string[] {
  return kpiMart('marts.kpi_channel_monthly', config, months, { key: 'channel', extra: [] }, {
    spend: `SELECT date_trunc('month', date)::date AS month, channel, sum(coalesce(spend_reporting, 0)) AS spend,
                   sum(impressions) AS impressions, sum(clicks) AS clicks FROM marts.fct_ad_spend_daily GROUP BY 1, 2`,
    traffic: `SELECT date_trunc('month', date)::date AS month, channel, sum(sessions) AS sessions FROM marts.fct_web_traffic_daily GROUP BY 1, 2`,
    leads: leadsBy('channel'),
    credited: creditedBy('channel'),
    won: wonBy('channel'),
  });
}

/** marts.kpi_campaign_monthly, every month or (`months`, see kpiMart) some. */
export function kpiCampaignSql(config: TransformConfig, months: string | null = null): string[] {
  const parts = kpiMart('marts.kpi_campaign_monthly', config, months, {
    key: 'campaign_key',
    extra: ['n.campaign_name AS campaign_name', 'n.channel AS channel'],
    // A join, not a subquery per row: the names CTE has no index.
    join: 'LEFT JOIN campaign_names n ON n.campaign_key = k.campaign_key',
  }, {
    spend: `SELECT date_trunc('month', date)::date AS month, campaign_id AS campaign_key, sum(coalesce(spend_reporting, 0)) AS spend,
                   sum(impressions) AS impressions, sum(clicks) AS clicks FROM marts.fct_ad_spend_daily GROUP BY 1, 2`,
    traffic: `SELECT date_trunc('month', w.date)::date AS month, coalesce(n.campaign_key, w.campaign) AS campaign_key, sum(w.sessions) AS sessions
              FROM marts.fct_web_traffic_daily w
              LEFT JOIN (${TRAFFIC_CAMPAIGNS}) n ON n.campaign_name = w.campaign
              WHERE w.campaign NOT IN ('(not set)', '(direct)', '(organic)', '(referral)') GROUP BY 1, 2`,
    leads: leadsBy('campaign_key'),
    credited: creditedBy('campaign_key'),
    won: wonBy('campaign_key'),
  });
  return [parts[0]!, parts[1]!.replace('WITH spend AS (', `WITH campaign_names AS (${CAMPAIGN_NAMES}),\n          spend AS (`)];
}

/**
 * Campaign names and channels of marts.kpi_campaign_monthly (one row per campaign_key): from spend
 * where the campaign spends, else from the touches. Each source's distinct names first (hashing),
 * then the first by preference (sorting a few hundred rows, not every row).
 */
const CAMPAIGN_NAMES = `
    SELECT DISTINCT ON (campaign_key) campaign_key, campaign_name, channel FROM (
      SELECT campaign_id AS campaign_key, campaign_name, channel, 0 AS pref FROM marts.fct_ad_spend_daily GROUP BY 1, 2, 3
      UNION ALL SELECT campaign_key, campaign, channel, 1 FROM ${ATTRIBUTION_MONTHLY} GROUP BY 1, 2, 3
      UNION ALL SELECT campaign_key, campaign_name, channel, 2 FROM ${LEAD_AGGREGATE.name} GROUP BY 1, 2, 3
    ) n ORDER BY campaign_key, pref, campaign_name NULLS LAST, channel`;

/** The campaign a web traffic row is credited to by its campaign name: the spend mart's (the lowest campaign id of that name). */
export const TRAFFIC_CAMPAIGNS = `SELECT DISTINCT ON (campaign_name) campaign_name, campaign_id AS campaign_key FROM marts.fct_ad_spend_daily
                         ORDER BY campaign_name, campaign_id`;

/**
 * True when a campaign's name or channel in marts.kpi_campaign_monthly is not what the mart would
 * get now (the campaign_key of every row of every month carries them): a month-scoped refresh
 * would leave the other months with the old ones.
 */
export function campaignNamesMovedSql(): string {
  return `SELECT EXISTS (
    SELECT 1 FROM (SELECT DISTINCT campaign_key, campaign_name, channel FROM marts.kpi_campaign_monthly) k
    LEFT JOIN (${CAMPAIGN_NAMES}) n ON n.campaign_key = k.campaign_key
    WHERE (n.campaign_name, n.channel) IS DISTINCT FROM (k.campaign_name, k.channel)) AS moved`;
}

export function kpiFunnelSql(): string[] {
  const f = FUNNEL_AGGREGATE.name;
  return [
    'DELETE FROM marts.kpi_funnel_monthly',
    `INSERT INTO marts.kpi_funnel_monthly (month, pipeline, stage, stage_order, entered, advanced, lost, still_in_stage, conversion_rate, avg_days_in_stage)
     WITH orders AS (
       -- The median position (percentile_disc(0.5)): the first whose running count reaches half the changes.
       SELECT DISTINCT ON (pipeline, stage) pipeline, stage, position AS stage_order
       FROM (SELECT pipeline, stage, position, sum(n) OVER (PARTITION BY pipeline, stage ORDER BY position) AS running,
                    sum(n) OVER (PARTITION BY pipeline, stage) AS total
             FROM ${STAGE_POSITION_AGGREGATE.name}) p
       WHERE running * 2 >= total
       ORDER BY pipeline, stage, position
     )
     SELECT f.month, f.pipeline, f.stage, o.stage_order, f.n, f.advanced, f.lost, f.still,
            round(f.advanced::numeric / f.n, 6),
            CASE WHEN f.left_n > 0 THEN round(f.left_seconds / (f.left_n * 86400), 4) END
     FROM ${f} f JOIN orders o USING (pipeline, stage)`,
  ];
}

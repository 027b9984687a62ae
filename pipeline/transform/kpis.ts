import type { TransformConfig } from './config.ts';
import { sqlLiteral } from '../../warehouse/sql.ts';
import { ATTRIBUTION_MODELS } from './attribution-mart.ts';

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

/** One KPI mart: `dim` is the grouping column expression in each source. */
function kpiMart(table: string, config: TransformConfig, dims: { key: string; extra: string[]; join?: string }, parts: {
  spend: string;
  traffic: string;
  leads: string;
  credited: string;
  won: string;
}): string[] {
  const rc = sqlLiteral(config.reportingCurrency);
  const models = `(VALUES ${ATTRIBUTION_MODELS.map((m) => `(${sqlLiteral(m)})`).join(', ')}) AS m(model)`;
  const keyCols = `month, ${dims.key}`;
  return [
    `DELETE FROM ${table}`,
    `INSERT INTO ${table} (month, ${dims.key}, ${dims.extra.map((e) => e.split(' AS ')[1]!.trim()).join(', ')}${dims.extra.length ? ', ' : ''}${kpiInsertColumns})
     WITH spend AS (${parts.spend}),
          traffic AS (${parts.traffic}),
          leads AS (${parts.leads}),
          credited AS (${parts.credited}),
          won AS (${parts.won}),
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

export function kpiChannelSql(config: TransformConfig): string[] {
  return kpiMart('marts.kpi_channel_monthly', config, { key: 'channel', extra: [] }, {
    spend: `SELECT date_trunc('month', date)::date AS month, channel, sum(coalesce(spend_reporting, 0)) AS spend,
                   sum(impressions) AS impressions, sum(clicks) AS clicks FROM marts.fct_ad_spend_daily GROUP BY 1, 2`,
    traffic: `SELECT date_trunc('month', date)::date AS month, channel, sum(sessions) AS sessions FROM marts.fct_web_traffic_daily GROUP BY 1, 2`,
    leads: `SELECT month, channel, sum(leads) AS leads, sum(mqls) AS mqls, sum(sqls) AS sqls FROM (
              SELECT date_trunc('month', lead_at)::date AS month, channel, 1 AS leads, 0 AS mqls, 0 AS sqls FROM staging.int_person_lead_touch
              UNION ALL SELECT date_trunc('month', mql_at)::date, channel, 0, 1, 0 FROM staging.int_person_lead_touch WHERE mql_at IS NOT NULL
              UNION ALL SELECT date_trunc('month', sql_at)::date, channel, 0, 0, 1 FROM staging.int_person_lead_touch WHERE sql_at IS NOT NULL
            ) x GROUP BY 1, 2`,
    credited: `SELECT created_month AS month, channel, model, sum(credit) AS opportunities, sum(pipeline) AS pipeline
               FROM staging.int_attribution_monthly GROUP BY 1, 2, 3`,
    won: `SELECT close_month AS month, channel, model, sum(credit) AS customers, sum(revenue) AS revenue
          FROM staging.int_attribution_monthly WHERE is_won GROUP BY 1, 2, 3`,
  });
}

export function kpiCampaignSql(config: TransformConfig): string[] {
  const parts = kpiMart('marts.kpi_campaign_monthly', config, {
    key: 'campaign_key',
    extra: ['n.campaign_name AS campaign_name', 'n.channel AS channel'],
    // A join, not a subquery per row: the names CTE has no index.
    join: 'LEFT JOIN campaign_names n ON n.campaign_key = k.campaign_key',
  }, {
    spend: `SELECT date_trunc('month', date)::date AS month, campaign_id AS campaign_key, sum(coalesce(spend_reporting, 0)) AS spend,
                   sum(impressions) AS impressions, sum(clicks) AS clicks FROM marts.fct_ad_spend_daily GROUP BY 1, 2`,
    traffic: `SELECT date_trunc('month', w.date)::date AS month, coalesce(n.campaign_key, w.campaign) AS campaign_key, sum(w.sessions) AS sessions
              FROM marts.fct_web_traffic_daily w
              LEFT JOIN (SELECT DISTINCT ON (campaign_name) campaign_name, campaign_id AS campaign_key FROM marts.fct_ad_spend_daily
                         ORDER BY campaign_name, campaign_id) n ON n.campaign_name = w.campaign
              WHERE w.campaign NOT IN ('(not set)', '(direct)', '(organic)', '(referral)') GROUP BY 1, 2`,
    leads: `SELECT month, campaign_key, sum(leads) AS leads, sum(mqls) AS mqls, sum(sqls) AS sqls FROM (
              SELECT date_trunc('month', lead_at)::date AS month, campaign_key, 1 AS leads, 0 AS mqls, 0 AS sqls FROM staging.int_person_lead_touch
              UNION ALL SELECT date_trunc('month', mql_at)::date, campaign_key, 0, 1, 0 FROM staging.int_person_lead_touch WHERE mql_at IS NOT NULL
              UNION ALL SELECT date_trunc('month', sql_at)::date, campaign_key, 0, 0, 1 FROM staging.int_person_lead_touch WHERE sql_at IS NOT NULL
            ) x GROUP BY 1, 2`,
    credited: `SELECT created_month AS month, campaign_key, model, sum(credit) AS opportunities, sum(pipeline) AS pipeline
               FROM staging.int_attribution_monthly GROUP BY 1, 2, 3`,
    won: `SELECT close_month AS month, campaign_key, model, sum(credit) AS customers, sum(revenue) AS revenue
          FROM staging.int_attribution_monthly WHERE is_won GROUP BY 1, 2, 3`,
  });
  // Campaign names and channels: from spend where the campaign spends, else from the touches.
  const names = `campaign_names AS (
    SELECT DISTINCT ON (campaign_key) campaign_key, campaign_name, channel FROM (
      SELECT campaign_id AS campaign_key, campaign_name, channel, 0 AS pref FROM marts.fct_ad_spend_daily
      UNION ALL SELECT campaign_key, campaign, channel, 1 FROM staging.int_attribution_monthly
      UNION ALL SELECT campaign_key, campaign_name, channel, 2 FROM staging.int_person_lead_touch
    ) n ORDER BY campaign_key, pref, campaign_name NULLS LAST, channel
  )`;
  return [parts[0]!, parts[1]!.replace('WITH spend AS (', `WITH ${names},\n          spend AS (`)];
}

export function kpiFunnelSql(): string[] {
  return [
    'DELETE FROM marts.kpi_funnel_monthly',
    `INSERT INTO marts.kpi_funnel_monthly (month, pipeline, stage, stage_order, entered, advanced, lost, still_in_stage, conversion_rate, avg_days_in_stage)
     WITH changes AS (
       -- Each change's outcome once (a regular expression per row, not three).
       SELECT pipeline, stage, position, date_trunc('month', entered_at)::date AS month,
              next_stage IS NULL AS still, coalesce(next_stage ~* 'lost', false) AS lost,
              extract(epoch FROM next_at - entered_at) / 86400 AS days
       FROM staging.int_stage_changes
     ),
     orders AS (
       SELECT pipeline, stage, percentile_disc(0.5) WITHIN GROUP (ORDER BY position)::int AS stage_order FROM changes GROUP BY 1, 2
     )
     SELECT c.month, c.pipeline, c.stage, max(o.stage_order),
            count(*) AS entered,
            count(*) FILTER (WHERE NOT c.still AND NOT c.lost) AS advanced,
            count(*) FILTER (WHERE c.lost) AS lost,
            count(*) FILTER (WHERE c.still) AS still_in_stage,
            round(count(*) FILTER (WHERE NOT c.still AND NOT c.lost)::numeric / count(*), 6),
            round(avg(c.days)::numeric, 4)
     FROM changes c JOIN orders o USING (pipeline, stage)
     GROUP BY 1, 2, 3`,
  ];
}

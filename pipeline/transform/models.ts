import type { TransformConfig } from './config.ts';

/**
 * The transform's SQL models, in dependency order (staging -> intermediate -> marts), each headed
 * by its grain and key. Intermediate models are rebuilt as tables in `staging`; marts are tables
 * created by migrations and refreshed here. Everything is set-based SQL run in the warehouse.
 */
export interface SqlModel {
  name: string;
  grain: string;
  /** Statements run in order inside the transform's transaction. */
  sql(config: TransformConfig): string[];
}

const lit = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** Amount converted to the reporting currency at the latest rate on or before `day` (NULL if none). */
function fx(amount: string, currency: string, day: string, reporting: string): string {
  return `CASE WHEN ${amount} IS NULL THEN NULL
    WHEN ${currency} = ${lit(reporting)} THEN ${amount}
    ELSE ${amount} * (SELECT r.rate FROM core.fx_rate_daily r
                      WHERE r.from_currency = ${currency} AND r.to_currency = ${lit(reporting)} AND r.date <= ${day}
                      ORDER BY r.date DESC LIMIT 1) END`;
}

export const models: SqlModel[] = [
  {
    name: 'staging.int_people',
    grain: 'one row per CRM person (lead or contact). Key: (connection_id, person_id). person_key follows a converted Salesforce lead to its contact.',
    sql: () => [
      'DROP TABLE IF EXISTS staging.int_people',
      `CREATE TABLE staging.int_people AS
       SELECT p.connection_id, p.person_id, p.person_type,
              p.connection_id || ':' || coalesce(nullif(p.converted_contact_id, ''), p.person_id) AS person_key,
              coalesce(p.lead_at, p.created_at) AS lead_at,
              p.converted_opportunity_id
       FROM core.dim_person p
       WHERE NOT p.is_deleted`,
      'CREATE INDEX ON staging.int_people (connection_id, person_id)',
    ],
  },
  {
    name: 'staging.int_touchpoints',
    grain: 'one row per touchpoint of a known person. Key: (connection_id, touchpoint_id). Carries the channel from the channel grouping rules.',
    sql: () => [
      'DROP TABLE IF EXISTS staging.int_touchpoints',
      `CREATE TABLE staging.int_touchpoints AS
       SELECT t.connection_id, t.touchpoint_id, ip.person_key, t.occurred_at, t.touch_type,
              coalesce(t.utm_source, c.utm_source) AS source,
              coalesce(t.utm_medium, c.utm_medium) AS medium,
              coalesce(t.utm_campaign, c.utm_campaign, c.name) AS campaign,
              t.ad_campaign_id,
              staging.channel_of(coalesce(t.utm_source, c.utm_source), coalesce(t.utm_medium, c.utm_medium),
                                 coalesce(t.utm_campaign, c.utm_campaign, c.name),
                                 coalesce(nullif(t.touch_type, 'campaign_member'), c.channel_hint, c.campaign_type)) AS channel
       FROM core.fct_touchpoint t
       JOIN staging.int_people ip ON ip.connection_id = t.connection_id AND ip.person_id = t.person_id
       LEFT JOIN core.dim_campaign c ON c.connection_id = t.connection_id AND c.campaign_id = t.campaign_id
       WHERE NOT t.is_deleted`,
      'CREATE INDEX ON staging.int_touchpoints (person_key, occurred_at)',
    ],
  },
  {
    name: 'staging.int_opportunity_people',
    grain: 'one row per opportunity x person linked to it (contact roles / deal associations, and the lead converted into it). Key: (connection_id, opportunity_id, person_key).',
    sql: () => [
      'DROP TABLE IF EXISTS staging.int_opportunity_people',
      `CREATE TABLE staging.int_opportunity_people AS
       SELECT DISTINCT connection_id, opportunity_id, person_key FROM (
         SELECT b.connection_id, b.opportunity_id, ip.person_key
         FROM core.bridge_opportunity_person b
         JOIN staging.int_people ip ON ip.connection_id = b.connection_id AND ip.person_id = b.person_id
         WHERE NOT b.is_deleted
         UNION ALL
         SELECT ip.connection_id, ip.converted_opportunity_id, ip.person_key
         FROM staging.int_people ip WHERE ip.converted_opportunity_id IS NOT NULL
       ) links`,
    ],
  },
  {
    name: 'staging.int_opportunities',
    grain: 'one row per live opportunity. Key: (connection_id, opportunity_id). conversion_at is when credited touches end (the conversion event); lead_at the earliest lead creation of its people.',
    sql: (config) => [
      'DROP TABLE IF EXISTS staging.int_opportunities',
      `CREATE TABLE staging.int_opportunities AS
       SELECT o.connection_id, o.opportunity_id, o.created_at, o.is_won, o.close_date, o.amount, o.currency,
              o.is_closed, o.stage,
              coalesce(o.closed_at, o.close_date::timestamptz) AS won_at,
              ${config.conversionEvent === 'closed_won'
                ? `CASE WHEN o.is_won THEN coalesce(o.closed_at, o.close_date::timestamptz) ELSE o.created_at END`
                : 'o.created_at'} AS conversion_at,
              ${fx('o.amount', 'o.currency', "(o.created_at AT TIME ZONE 'UTC')::date", config.reportingCurrency)} AS amount_reporting,
              CASE WHEN o.is_won THEN ${fx('o.amount', 'o.currency', 'o.close_date', config.reportingCurrency)} ELSE 0 END AS won_amount_reporting,
              (SELECT min(ip.lead_at) FROM staging.int_opportunity_people op
                 JOIN staging.int_people ip ON ip.person_key = op.person_key
                WHERE op.connection_id = o.connection_id AND op.opportunity_id = o.opportunity_id) AS lead_at
       FROM core.fct_opportunity o
       WHERE NOT o.is_deleted AND o.created_at IS NOT NULL`,
    ],
  },
  {
    name: 'staging.int_opportunity_touches',
    grain: 'one row per opportunity x touchpoint in its path: touches of its people within lookbackDays before the opportunity was created, up to the conversion event. Key: (connection_id, opportunity_id, touchpoint_id). Key-moment flags mark one touch each.',
    sql: (config) => [
      'DROP TABLE IF EXISTS staging.int_opportunity_touches',
      `CREATE TABLE staging.int_opportunity_touches AS
       WITH path AS (
         SELECT o.connection_id, o.opportunity_id, t.touchpoint_id, t.person_key, t.occurred_at, t.channel, t.campaign, t.ad_campaign_id,
                o.created_at, o.conversion_at, o.lead_at, o.won_at, o.is_won,
                row_number() OVER w AS pos,
                count(*) OVER (PARTITION BY o.connection_id, o.opportunity_id) AS n
         FROM staging.int_opportunities o
         JOIN staging.int_opportunity_people op ON op.connection_id = o.connection_id AND op.opportunity_id = o.opportunity_id
         JOIN staging.int_touchpoints t ON t.person_key = op.person_key
         WHERE t.occurred_at >= o.created_at - make_interval(days => ${config.lookbackDays})
           AND t.occurred_at <= o.conversion_at
         WINDOW w AS (PARTITION BY o.connection_id, o.opportunity_id ORDER BY t.occurred_at, t.touchpoint_id COLLATE "C")
       ),
       moments AS (
         SELECT connection_id, opportunity_id,
                max(pos) FILTER (WHERE lead_at IS NOT NULL AND occurred_at <= lead_at) AS lead_pos,
                max(pos) FILTER (WHERE occurred_at <= created_at) AS opp_pos,
                ${config.conversionEvent === 'closed_won' ? 'max(pos) FILTER (WHERE is_won AND occurred_at <= won_at)' : 'NULL::bigint'} AS won_pos
         FROM path GROUP BY connection_id, opportunity_id
       )
       SELECT p.connection_id, p.opportunity_id, p.touchpoint_id, p.person_key, p.occurred_at, p.channel, p.campaign, p.ad_campaign_id,
              p.conversion_at, p.pos::int AS pos, p.n::int AS n,
              p.pos = 1 AS is_first,
              coalesce(p.pos = m.lead_pos, false) AS is_lead,
              coalesce(p.pos = m.opp_pos, false) AS is_opp,
              p.pos IS NOT DISTINCT FROM m.won_pos AS is_won_touch,
              coalesce(m.lead_pos, 0)::int AS lead_pos
       FROM path p JOIN moments m USING (connection_id, opportunity_id)`,
      'CREATE INDEX ON staging.int_opportunity_touches (connection_id, opportunity_id)',
    ],
  },
  {
    name: 'staging.int_rule_credits',
    grain: 'one row per opportunity x touchpoint x rule model. Key: (connection_id, opportunity_id, touchpoint_id, model). Implements pipeline/attribution/README.md exactly (the TypeScript rules are its test oracle).',
    sql: (config) => {
      const cw = config.customWeights;
      const direct = config.directChannels.map(lit).join(', ');
      // Position models: key-moment weight on the moment's touch (coinciding moments add up), the
      // rest weight split over "the rest", then divided by the opportunity's total.
      const position = (name: string, w: { f: number; l: number; o: number; won: number; rest: number }, restExpr: string) => `
        SELECT connection_id, opportunity_id, touchpoint_id, ${lit(name)} AS model,
               raw / nullif(sum(raw) OVER (PARTITION BY connection_id, opportunity_id), 0) AS credit
        FROM (
          SELECT *, (CASE WHEN ${w.f} > 0 AND is_first THEN ${w.f} ELSE 0 END
                   + CASE WHEN ${w.l} > 0 AND is_lead THEN ${w.l} ELSE 0 END
                   + CASE WHEN ${w.o} > 0 AND is_opp THEN ${w.o} ELSE 0 END
                   + CASE WHEN ${w.won} > 0 AND is_won_touch THEN ${w.won} ELSE 0 END
                   + CASE WHEN in_rest THEN ${w.rest}::numeric / rest_n ELSE 0 END) AS raw
          FROM (
            SELECT *, count(*) FILTER (WHERE in_rest) OVER (PARTITION BY connection_id, opportunity_id) AS rest_n
            FROM (SELECT *, ${restExpr} AS in_rest FROM staging.int_opportunity_touches) r
          ) r2
        ) r3`;
      const notKey = (w: { f: number; l: number; o: number; won: number }) =>
        `NOT ((${w.f} > 0 AND is_first) OR (${w.l} > 0 AND is_lead) OR (${w.o} > 0 AND is_opp) OR (${w.won} > 0 AND is_won_touch))`;
      const wU = { f: 0.4, l: 0.4, o: 0, won: 0, rest: 0.2 };
      const wW = { f: 0.3, l: 0.3, o: 0.3, won: 0, rest: 0.1 };
      const wFull = { f: 0.225, l: 0.225, o: 0.225, won: 0.225, rest: 0.1 };
      const wCustom = { f: cw.first, l: cw.lead, o: cw.opportunity, won: cw.won, rest: cw.rest };
      const halfLifeSeconds = config.timeDecayHalfLifeDays * 86_400;
      return [
        'DROP TABLE IF EXISTS staging.int_rule_credits',
        `CREATE TABLE staging.int_rule_credits AS
         SELECT connection_id, opportunity_id, touchpoint_id, 'first_touch' AS model, CASE WHEN is_first THEN 1 ELSE 0 END::numeric AS credit FROM staging.int_opportunity_touches
         UNION ALL
         SELECT connection_id, opportunity_id, touchpoint_id, 'last_touch', CASE WHEN pos = n THEN 1 ELSE 0 END::numeric FROM staging.int_opportunity_touches
         UNION ALL
         SELECT connection_id, opportunity_id, touchpoint_id, 'last_non_direct',
                CASE WHEN pos = coalesce(max(pos) FILTER (WHERE channel NOT IN (${direct})) OVER (PARTITION BY connection_id, opportunity_id), n) THEN 1 ELSE 0 END::numeric
         FROM staging.int_opportunity_touches
         UNION ALL
         SELECT connection_id, opportunity_id, touchpoint_id, 'linear', 1::numeric / n FROM staging.int_opportunity_touches
         UNION ALL
         SELECT connection_id, opportunity_id, touchpoint_id, 'time_decay',
                (w / sum(w) OVER (PARTITION BY connection_id, opportunity_id))::numeric
         FROM (SELECT *, power(2::float8, -extract(epoch FROM (max(occurred_at) OVER (PARTITION BY connection_id, opportunity_id) - occurred_at)) / ${halfLifeSeconds}) AS w
               FROM staging.int_opportunity_touches) td
         UNION ALL ${position('u_shaped', wU, 'lead_pos > 1 AND pos > 1 AND pos < lead_pos')}
         UNION ALL ${position('w_shaped', wW, notKey(wW))}
         UNION ALL ${position('full_path', wFull, notKey(wFull))}
         UNION ALL ${position('custom', wCustom, notKey(wCustom))}`,
      ];
    },
  },
];

/** Refreshes marts.fct_attribution from the rule credits and the data-driven credits (staging.int_model_credits). */
export function attributionMartSql(config: TransformConfig): string[] {
  const rc = lit(config.reportingCurrency);
  return [
    'DELETE FROM marts.fct_attribution',
    `INSERT INTO marts.fct_attribution (connection_id, opportunity_id, touchpoint_id, model, person_key, occurred_at, touch_position, touch_count,
       channel, campaign, ad_campaign_id, is_first_touch, is_lead_creation_touch, is_opportunity_creation_touch, is_closed_won_touch,
       credit, pipeline_credit, revenue_credit, reporting_currency, opportunity_created_at, is_won, close_date)
     SELECT t.connection_id, t.opportunity_id, t.touchpoint_id, c.model, t.person_key, t.occurred_at, t.pos, t.n,
            t.channel, t.campaign, t.ad_campaign_id, t.is_first, t.is_lead, t.is_opp, t.is_won_touch,
            round(c.credit, 12),
            round(c.credit * o.amount_reporting, 6),
            round(c.credit * o.won_amount_reporting, 6),
            ${rc}, o.created_at, o.is_won, o.close_date
     FROM (SELECT * FROM staging.int_rule_credits UNION ALL SELECT * FROM staging.int_model_credits) c
     JOIN staging.int_opportunity_touches t USING (connection_id, opportunity_id, touchpoint_id)
     JOIN staging.int_opportunities o USING (connection_id, opportunity_id)
     WHERE c.credit IS NOT NULL`,
  ];
}

/** Refreshes the spend and traffic marts from core. */
export function factMartSql(config: TransformConfig): string[] {
  const rc = lit(config.reportingCurrency);
  return [
    'DELETE FROM marts.fct_ad_spend_daily',
    `INSERT INTO marts.fct_ad_spend_daily (date, connection_id, campaign_id, source_system, account_id, campaign_name, channel, currency, spend, spend_reporting,
       reporting_currency, impressions, clicks, platform_conversions, platform_conversion_value, ctr, cpc)
     SELECT s.date, s.connection_id, s.campaign_id, s.source_system, s.account_id, coalesce(s.campaign_name, c.name),
            staging.channel_of(
              CASE s.source_system WHEN 'google_ads' THEN 'google' WHEN 'meta_ads' THEN 'facebook' END,
              CASE s.source_system WHEN 'google_ads' THEN CASE WHEN upper(coalesce(c.campaign_type, s.channel_hint, '')) IN ('DISPLAY', 'VIDEO', 'DEMAND_GEN') THEN 'display' ELSE 'cpc' END
                                   WHEN 'meta_ads' THEN 'paid_social' END,
              coalesce(s.campaign_name, c.name), coalesce(s.channel_hint, c.channel_hint, c.campaign_type)),
            s.currency, s.spend, round(${fx('s.spend', 's.currency', 's.date', config.reportingCurrency)}, 6), ${rc},
            s.impressions, s.clicks, s.conversions, s.conversion_value,
            round(s.clicks::numeric / nullif(s.impressions, 0), 6), round(s.spend / nullif(s.clicks, 0), 6)
     FROM core.fct_ad_spend_daily s
     LEFT JOIN core.dim_campaign c ON c.connection_id = s.connection_id AND c.campaign_id = s.campaign_id
     WHERE NOT s.is_deleted`,
    'DELETE FROM marts.fct_web_traffic_daily',
    `INSERT INTO marts.fct_web_traffic_daily (date, connection_id, property_id, source, medium, campaign, channel, ga4_default_channel_group,
       sessions, engaged_sessions, conversions, users)
     SELECT w.date, w.connection_id, w.property_id, w.source, w.medium, w.campaign,
            staging.channel_of(w.source, w.medium, w.campaign, NULL), w.default_channel_group,
            w.sessions, w.engaged_sessions, w.key_events, w.total_users
     FROM core.fct_web_traffic_daily w
     WHERE NOT w.is_deleted`,
  ];
}

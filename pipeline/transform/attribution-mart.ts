import type { TransformConfig } from './config.ts';
import { inScope, ruleCreditsWideSelect, RULE_MODEL_NAMES, TOUCH_COLUMNS } from './models.ts';
import { sqlLiteral } from '../../warehouse/sql.ts';

/**
 * marts.fct_attribution (grain: one row per opportunity x touchpoint x model) is a view over one
 * row per opportunity x touchpoint, staging.int_attribution_touches, which holds the touch, its
 * opportunity's amounts and one float8 credit column per stored model; Markov and Shapley credits
 * are computed by the view from staging.int_attribution_shares. Writing twelve rows per touch
 * (ten million on the large world) was most of a full run, and Markov / Shapley channel weights
 * move with any new path, which rewrote every opportunity's rows on every incremental run.
 *
 * A credit becomes the mart's numeric through integers: credit = round(c * 1e12) / 1e12,
 * pipeline_credit = round(c * amount * 1e6) / 1e6 (c, amount float8). The view and the monthly sums
 * (staging.int_attribution_monthly, summed over integers, exactly) use the same expressions, so the
 * KPI marts equal sums of the view, and no float-to-numeric conversion runs per row at build time.
 */

/** The per-touch storage of marts.fct_attribution. */
export const ATTRIBUTION_TOUCHES = 'staging.int_attribution_touches';
/**
 * Shares of Markov and Shapley: grain one row per model x channel set x channel, a channel set
 * being the channels of a converting path, sorted, joined by chr(31). share = the channel's weight
 * / the sum of the weights of the set's channels; a touch gets share / its channel's touches in the
 * path. A set without rows (every weight 0, or no weights at all) gives the last touch 1.
 */
export const ATTRIBUTION_SHARES = 'staging.int_attribution_shares';

/** Models whose credits are stored per touch (recomputed per opportunity). */
export const STORED_MODELS = [...RULE_MODEL_NAMES, 'fractribution'] as const;
/** Models the view computes from channel-set shares (their weights depend on every path). */
export const SET_MODELS = ['markov', 'shapley'] as const;
export const ATTRIBUTION_MODELS = [...STORED_MODELS, ...SET_MODELS] as const;

const OPP = ['connection_id', 'opportunity_id'] as const;

export const ATTRIBUTION_STORAGE_DDL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${ATTRIBUTION_TOUCHES} (
    connection_id text NOT NULL, opportunity_id text NOT NULL, touchpoint_id text NOT NULL,
    person_key text NOT NULL, occurred_at timestamptz NOT NULL, touch_position integer NOT NULL, touch_count integer NOT NULL,
    channel text NOT NULL, campaign text, ad_campaign_id text,
    is_first_touch boolean NOT NULL, is_lead_creation_touch boolean NOT NULL, is_opportunity_creation_touch boolean NOT NULL, is_closed_won_touch boolean NOT NULL,
    channel_touches integer NOT NULL, channel_set text NOT NULL,
    ${STORED_MODELS.map((m) => `${m} float8`).join(', ')},
    amount_reporting float8, won_amount_reporting float8, reporting_currency text NOT NULL,
    opportunity_created_at timestamptz, is_won boolean NOT NULL, close_date date
  )`,
  `COMMENT ON TABLE ${ATTRIBUTION_TOUCHES} IS ${sqlLiteral('Grain: one row per opportunity x touchpoint in its path. Key: (connection_id, opportunity_id, touchpoint_id). The storage of marts.fct_attribution (a view): the touch, its opportunity, channel_touches (touches of its channel in the path), channel_set (the channels of the path) and one float8 credit column per rule model and fractribution.')}`,
  `CREATE TABLE IF NOT EXISTS ${ATTRIBUTION_SHARES} (model text NOT NULL, key text NOT NULL, channel text NOT NULL, share float8 NOT NULL, PRIMARY KEY (model, key, channel))`,
  `COMMENT ON TABLE ${ATTRIBUTION_SHARES} IS ${sqlLiteral('Grain: one row per data-driven model x key x channel. Key: (model, key, channel). key: a channel set (markov, shapley); share: the channel weight over the sum of the weights of the key channels.')}`,
];

/** Index of the storage (the grain, and the lookup by opportunity), dropped while a full run refills it. */
export const ATTRIBUTION_TOUCHES_INDEX = `CREATE UNIQUE INDEX IF NOT EXISTS int_attribution_touches_key ON ${ATTRIBUTION_TOUCHES} (connection_id, opportunity_id, touchpoint_id)`;

/** The float8 credit of `model` for a storage row `a` (set models: joined to their shares as `s_<model>`). */
function creditOf(model: string): string {
  if ((SET_MODELS as readonly string[]).includes(model)) {
    return `CASE WHEN s_${model}.share IS NOT NULL THEN s_${model}.share / a.channel_touches WHEN a.touch_position = a.touch_count THEN 1 ELSE 0 END::float8`;
  }
  return `a.${model}`;
}

function sharesJoin(model: string): string {
  return (SET_MODELS as readonly string[]).includes(model)
    ? `LEFT JOIN ${ATTRIBUTION_SHARES} s_${model} ON s_${model}.model = ${sqlLiteral(model)} AND s_${model}.key = a.channel_set AND s_${model}.channel = a.channel`
    : '';
}

/** Integer units of a float8 credit and of the amounts it credits (the mart's numerics, exactly). */
const creditUnits = (c: string) => `round(${c} * 1e12::float8)::int8`;
const moneyUnits = (c: string, amount: string) => `round(${c} * ${amount} * 1e6::float8)::int8`;

/**
 * Rows of marts.fct_attribution (its columns, in order) for `models`, of the opportunities in
 * `scope` (a relation with connection_id, opportunity_id; null: all): one UNION ALL branch per
 * model, so a filter on model prunes the other branches.
 */
export function attributionRowsSql(scope: string | null, models: readonly string[] = ATTRIBUTION_MODELS): string {
  return models.map((m) => {
    const c = creditOf(m);
    return `SELECT a.connection_id, a.opportunity_id, a.touchpoint_id, ${sqlLiteral(m)}::text AS model, a.person_key, a.occurred_at,
             a.touch_position, a.touch_count, a.channel, a.campaign, a.ad_campaign_id,
             a.is_first_touch, a.is_lead_creation_touch, a.is_opportunity_creation_touch, a.is_closed_won_touch,
             ${creditUnits(c)}::numeric * 0.000000000001 AS credit,
             ${moneyUnits(c, 'a.amount_reporting')}::numeric * 0.000001 AS pipeline_credit,
             ${moneyUnits(c, 'a.won_amount_reporting')}::numeric * 0.000001 AS revenue_credit,
             a.reporting_currency, a.opportunity_created_at, a.is_won, a.close_date
      FROM ${ATTRIBUTION_TOUCHES} a ${sharesJoin(m)}
      WHERE ${c} IS NOT NULL AND ${inScope(scope, OPP, 'a')}`;
  }).join('\n      UNION ALL\n      ');
}

/** (Re)defines the view (same columns, so comments and grants stay). */
export function attributionViewSql(): string {
  return `CREATE OR REPLACE VIEW marts.fct_attribution AS\n      ${attributionRowsSql(null)}`;
}

/** fractribution's credit of the touch at `pos` of `n` from its path's credits (none: the last touch gets 1). */
function fractributionCredit(credits: string, pos: string, n: string): string {
  return `CASE WHEN ${credits} IS NOT NULL THEN ${credits}[${pos}] WHEN ${pos} = ${n} THEN 1 ELSE 0 END::float8`;
}

/**
 * Sets the fractribution credits of the stored rows of the opportunities in `scope` (their paths'
 * credits moved; nothing else about them did).
 */
export function attributionTouchesFractributionSql(scope: string): string {
  return `UPDATE ${ATTRIBUTION_TOUCHES} a SET fractribution = ${fractributionCredit('f.credits', 'a.touch_position', 'a.touch_count')}
    FROM ${scope} s
    JOIN staging.int_opportunity_paths p ON p.connection_id = s.connection_id AND p.opportunity_id = s.opportunity_id
    LEFT JOIN staging.int_fractribution_paths f ON f.path_key = p.path_key
    WHERE a.connection_id = s.connection_id AND a.opportunity_id = s.opportunity_id`;
}

/**
 * Inserts the storage rows of the opportunities in `scope` (null: all): the rule credits, the
 * touches per channel, the channel set, and fractribution's credit (from its path's credits in
 * staging.int_fractribution_paths; a path without them: the last touch gets 1).
 */
export function attributionTouchesInsertSql(config: TransformConfig, scope: string | null): string {
  const carry = TOUCH_COLUMNS;
  return `INSERT INTO ${ATTRIBUTION_TOUCHES} (connection_id, opportunity_id, touchpoint_id, person_key, occurred_at, touch_position, touch_count,
      channel, campaign, ad_campaign_id, is_first_touch, is_lead_creation_touch, is_opportunity_creation_touch, is_closed_won_touch,
      channel_touches, channel_set, ${STORED_MODELS.join(', ')},
      amount_reporting, won_amount_reporting, reporting_currency, opportunity_created_at, is_won, close_date)
    SELECT w.connection_id, w.opportunity_id, w.touchpoint_id, ${carry.map((c) => `w.${c}`).join(', ')},
           w.channel_touches, o.channel_set, ${RULE_MODEL_NAMES.map((m) => `w.${m}`).join(', ')},
           ${fractributionCredit('o.credits', 'w.pos', 'w.n')},
           o.amount_reporting, o.won_amount_reporting, ${sqlLiteral(config.reportingCurrency)}, o.created_at, o.is_won, o.close_date
    FROM (SELECT r.*, count(*) OVER (PARTITION BY r.connection_id, r.opportunity_id, r.channel)::int AS channel_touches
          FROM (${ruleCreditsWideSelect(config, scope, undefined, carry)}) r) w
    -- Per opportunity first (its path, amounts and fractribution credits), then one join per touch.
    JOIN (SELECT p.connection_id, p.opportunity_id, p.channel_set, f.credits, o.amount_reporting::float8 AS amount_reporting,
                 o.won_amount_reporting::float8 AS won_amount_reporting, o.created_at, o.is_won, o.close_date
          FROM staging.int_opportunity_paths p
          JOIN staging.int_opportunities o ON o.connection_id = p.connection_id AND o.opportunity_id = p.opportunity_id
          LEFT JOIN staging.int_fractribution_paths f ON f.path_key = p.path_key
          WHERE ${inScope(scope, OPP, 'p')}
          OFFSET 0) o ON o.connection_id = w.connection_id AND o.opportunity_id = w.opportunity_id`;
}

/** Key of staging.int_attribution_monthly. */
export const ATTRIBUTION_MONTHLY_KEY = `model, channel, campaign_key, campaign, created_month, close_month, is_won`;

/**
 * staging.int_attribution_monthly rows (grain: model x channel x campaign x month created x month
 * closed x won: n rows of the mart, credit, pipeline and revenue credit, exact numerics) of the
 * opportunities in `scope` (null: all) under `models`, times `sign`: one pass over the storage,
 * every model's sums side by side, then one row per model.
 */
export function attributionMonthlySql(scope: string | null, models: readonly string[], sign: 1 | -1 = 1): string {
  const s = sign === 1 ? '' : '-';
  const i = (m: string) => ATTRIBUTION_MODELS.indexOf(m as (typeof ATTRIBUTION_MODELS)[number]);
  return `SELECT v.model, g.channel, g.campaign_key, g.campaign, g.created_month, g.close_month, g.is_won,
                 ${s}v.n AS n, ${s}v.k * 0.000000000001 AS credit, ${s}coalesce(v.p, 0) * 0.000001 AS pipeline, ${s}coalesce(v.r, 0) * 0.000001 AS revenue
    FROM (
      SELECT a.channel, coalesce(a.ad_campaign_id, a.campaign, '(none)') AS campaign_key, a.campaign,
             date_trunc('month', a.opportunity_created_at)::date AS created_month, date_trunc('month', a.close_date)::date AS close_month, a.is_won,
             ${models.map((m) => {
               const c = creditOf(m);
               return `count(${c}) AS n${i(m)}, sum(${creditUnits(c)}) AS k${i(m)}, sum(${moneyUnits(c, 'a.amount_reporting')}) AS p${i(m)}, sum(${moneyUnits(c, 'a.won_amount_reporting')}) AS r${i(m)}`;
             }).join(',\n             ')}
      FROM ${ATTRIBUTION_TOUCHES} a ${models.map(sharesJoin).join(' ')}
      WHERE ${inScope(scope, OPP, 'a')}
      GROUP BY 1, 2, 3, 4, 5, 6
    ) g
    CROSS JOIN LATERAL (VALUES ${models.map((m) => `(${sqlLiteral(m)}, g.n${i(m)}, g.k${i(m)}, g.p${i(m)}, g.r${i(m)})`).join(', ')}) AS v(model, n, k, p, r)
    WHERE v.n > 0`;
}

/**
 * Builds staging.int_attribution_monthly from `parts` (relations or SELECTs with its columns, signed
 * partial sums; the same key may come several times): summed per key, keys whose rows all went are
 * dropped. A new (unlogged, as the other intermediate tables) table swapped in: cheaper than
 * updating tens of thousands of summed rows in place.
 */
export function attributionMonthlyBuildSql(parts: readonly string[]): string[] {
  return [
    'DROP TABLE IF EXISTS staging.int_attribution_monthly_next',
    `CREATE UNLOGGED TABLE staging.int_attribution_monthly_next AS
     SELECT ${ATTRIBUTION_MONTHLY_KEY}, sum(n) AS n, sum(credit) AS credit, sum(pipeline) AS pipeline, sum(revenue) AS revenue
     FROM (${parts.join('\n       UNION ALL ')}) p
     GROUP BY ${ATTRIBUTION_MONTHLY_KEY} HAVING sum(n) <> 0`,
    'DROP TABLE IF EXISTS staging.int_attribution_monthly',
    'ALTER TABLE staging.int_attribution_monthly_next RENAME TO int_attribution_monthly',
    `CREATE UNIQUE INDEX int_attribution_monthly_key ON staging.int_attribution_monthly (${ATTRIBUTION_MONTHLY_KEY}) NULLS NOT DISTINCT`,
  ];
}

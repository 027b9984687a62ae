import type { TransformConfig } from './config.ts';
import { inScope, ruleCreditsWideSelect, RULE_MODEL_NAMES, TOUCH_COLUMNS } from './models.ts';
import { sqlLiteral } from '../../warehouse/sql.ts';

/**
 * marts.fct_attribution (grain: one row per opportunity x touchpoint x model) is a view over one
 * row per opportunity x touchpoint, staging.int_attribution_touches, which holds the touch, its
 * opportunity's amounts, its path's id and one float8 credit column per rule model. fractribution
 * credits come from the path (staging.int_fractribution_paths), Markov and Shapley credits from
 * their shares per channel set (staging.int_attribution_shares). Writing twelve rows per touch
 * (ten million on the large world) was most of a full run, and Markov / Shapley channel weights
 * move with any new path, which rewrote every opportunity's rows on every incremental run.
 *
 * Every credit becomes the mart's numeric through integers, so the monthly sums
 * (staging.int_attribution_monthly, exact) equal sums of the view and the KPI marts follow:
 * - rule models and fractribution round per touch: credit = round(c * 1e12) * 1e-12,
 *   pipeline_credit = round(c * amount * 1e6) * 1e-6 (c, amount float8); their monthly sums are
 *   patched per opportunity;
 * - Markov and Shapley are exact products of integer units, linear in the touch (SET_UNIT), so
 *   their monthly sums are re-weighted from per-group sums when the shares move.
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
export const STORED_MODELS = RULE_MODEL_NAMES;
/** fractribution: credits per path (staging.int_fractribution_paths), looked up by the touch's path_id and position. */
export const PATH_MODELS = ['fractribution'] as const;
/** Models the view computes from channel-set shares (their weights depend on every path). */
export const SET_MODELS = ['markov', 'shapley'] as const;
/** Models whose monthly sums are kept per opportunity slice (minus the old rows, plus the new ones). */
export const SLICED_MODELS = [...STORED_MODELS, ...PATH_MODELS] as const;
/** Every attribution model the marts carry (rule models, then data-driven ones), in the order reports list them. */
export const ATTRIBUTION_MODELS = [...STORED_MODELS, ...SET_MODELS, ...PATH_MODELS] as const;

/** fractribution's per-touch credits of each converting path (grain: one row per path; credits in touch order). */
export const FRACTRIBUTION_PATHS = 'staging.int_fractribution_paths';
/**
 * Set models' sums per group of touches that share a channel set, channel, campaign, months and
 * won flag: what their monthly credits are computed from when the shares move.
 */
export const ATTRIBUTION_SET_GROUPS = 'staging.int_attribution_set_groups';

const OPP = ['connection_id', 'opportunity_id'] as const;

export const ATTRIBUTION_STORAGE_DDL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${ATTRIBUTION_TOUCHES} (
    connection_id text NOT NULL, opportunity_id text NOT NULL, touchpoint_id text NOT NULL,
    person_key text NOT NULL, occurred_at timestamptz NOT NULL, touch_position integer NOT NULL, touch_count integer NOT NULL,
    channel text NOT NULL, campaign text, ad_campaign_id text,
    is_first_touch boolean NOT NULL, is_lead_creation_touch boolean NOT NULL, is_opportunity_creation_touch boolean NOT NULL, is_closed_won_touch boolean NOT NULL,
    channel_touches integer NOT NULL, channel_set text NOT NULL, path_id bigint NOT NULL,
    ${STORED_MODELS.map((m) => `${m} float8`).join(', ')},
    amount_reporting float8, won_amount_reporting float8, reporting_currency text NOT NULL,
    opportunity_created_at timestamptz, is_won boolean NOT NULL, close_date date
  )`,
  `COMMENT ON TABLE ${ATTRIBUTION_TOUCHES} IS ${sqlLiteral('Grain: one row per opportunity x touchpoint in its path. Key: (connection_id, opportunity_id, touchpoint_id). The storage of marts.fct_attribution (a view): the touch, its opportunity, channel_touches (touches of its channel in the path), channel_set (the channels of the path), path_id (its path in staging.int_path_summary: fractribution credits) and one float8 credit column per rule model.')}`,
  `CREATE TABLE IF NOT EXISTS ${ATTRIBUTION_SHARES} (model text NOT NULL, key text NOT NULL, channel text NOT NULL, share float8 NOT NULL, PRIMARY KEY (model, key, channel))`,
  `CREATE TABLE IF NOT EXISTS ${FRACTRIBUTION_PATHS} (path_id bigint PRIMARY KEY, path_key text NOT NULL, credits float8[] NOT NULL)`,
  `COMMENT ON TABLE ${FRACTRIBUTION_PATHS} IS ${sqlLiteral('Grain: one row per converting path with fractions. Key: path_id (of staging.int_path_summary). credits: the fractribution credit of each touch, in touch order. A converting path without a row gives its last touch 1.')}`,
  `COMMENT ON TABLE ${ATTRIBUTION_SHARES} IS ${sqlLiteral('Grain: one row per data-driven model x key x channel. Key: (model, key, channel). key: a channel set (markov, shapley); share: the channel weight over the sum of the weights of the key channels.')}`,
];

/** Index of the storage (the grain, and the lookup by opportunity), dropped while a full run refills it. */
export const ATTRIBUTION_TOUCHES_INDEX = `CREATE UNIQUE INDEX IF NOT EXISTS int_attribution_touches_key ON ${ATTRIBUTION_TOUCHES} (connection_id, opportunity_id, touchpoint_id)`;

const isSetModel = (model: string) => (SET_MODELS as readonly string[]).includes(model);

/** The float8 credit of a rule model or fractribution for a storage row `a` (fractribution: joined to its path's credits as `f`). */
function creditOf(model: string, paths = 'f'): string {
  if ((PATH_MODELS as readonly string[]).includes(model)) {
    return `CASE WHEN ${paths}.credits IS NOT NULL THEN ${paths}.credits[a.touch_position] WHEN a.touch_position = a.touch_count THEN 1 ELSE 0 END::float8`;
  }
  return `a.${model}`;
}

function joinsOf(models: readonly string[]): string {
  return [
    ...(models.some((m) => (PATH_MODELS as readonly string[]).includes(m)) ? [`LEFT JOIN ${FRACTRIBUTION_PATHS} f ON f.path_id = a.path_id`] : []),
    ...models.filter(isSetModel).map((m) => `LEFT JOIN ${ATTRIBUTION_SHARES} s_${m} ON s_${m}.model = ${sqlLiteral(m)} AND s_${m}.key = a.channel_set AND s_${m}.channel = a.channel`),
  ].join(' ');
}

/** Integer units of a float8 credit and of the amounts it credits (the mart's numerics, exactly). */
const creditUnits = (c: string) => `round(${c} * 1e12::float8)::int8`;
const moneyUnits = (c: string, amount: string) => `round(${c} * ${amount} * 1e6::float8)::int8`;

/** A touch's money units of `amount` under a set model, and a last touch's (for sets without shares). */
const setMoneyUnits = (amount: string) => `round(${amount} * 1e6::float8 / a.channel_touches)::int8`;
const lastMoneyUnits = (amount: string) => `round(${amount} * 1e6::float8)::int8`;

/**
 * Set models (markov, shapley) credit a touch its channel's share of the path's channel set over
 * the channel's touches in the path. Their numerics are exact products of integer units, linear in
 * the touch, so their monthly sums can be kept per group of touches and re-weighted when the shares
 * move (s = round(share * 1e12), ct = channel touches; float8 arithmetic inside round()):
 *   credit = s * round(1e12 / ct) * 1e-24
 *   pipeline_credit = s * round(amount * 1e6 / ct) * 1e-18 (revenue alike)
 * A channel set without shares (no weights, or all 0) gives its last touch 1 (and round(amount *
 * 1e6) * 1e-6) and the others 0.
 */
const SET_UNIT = {
  credit: 'round(1e12::float8 / a.channel_touches)::int8',
  pipeline: setMoneyUnits('a.amount_reporting'),
  revenue: setMoneyUnits('a.won_amount_reporting'),
};
const SET_LAST = { pipeline: lastMoneyUnits('a.amount_reporting'), revenue: lastMoneyUnits('a.won_amount_reporting') };
/** A share in integer units of 1e-12 (so a credit is units * units * 1e-24, and money units * units * 1e-18, exactly). */
const shareUnits = (share: string) => `round(${share} * 1e12::float8)::int8::numeric`;
/** The scales of share units times SET_UNIT credit units, and times money units. */
const SET_SCALE = { credit: '0.000000000000000000000001', pipeline: '0.000000000000000001', revenue: '0.000000000000000001' } as const;

function setValue(model: string, what: keyof typeof SET_UNIT): string {
  const share = `s_${model}.share`;
  const last = what === 'credit' ? '1::numeric' : `${SET_LAST[what]} * 0.000001`;
  const other = what === 'credit' ? '0::numeric' : `0 * ${SET_LAST[what]}::numeric`;
  return `CASE WHEN ${share} IS NOT NULL THEN ${shareUnits(share)} * ${SET_UNIT[what]} * ${SET_SCALE[what]} WHEN a.touch_position = a.touch_count THEN ${last} ELSE ${other} END`;
}

/** The mart's credit, pipeline_credit and revenue_credit of `model` for a storage row `a`. */
function valuesOf(model: string): { credit: string; pipeline: string; revenue: string } {
  if (isSetModel(model)) return { credit: setValue(model, 'credit'), pipeline: setValue(model, 'pipeline'), revenue: setValue(model, 'revenue') };
  const c = creditOf(model);
  return {
    credit: `${creditUnits(c)}::numeric * 0.000000000001`,
    pipeline: `${moneyUnits(c, 'a.amount_reporting')}::numeric * 0.000001`,
    revenue: `${moneyUnits(c, 'a.won_amount_reporting')}::numeric * 0.000001`,
  };
}

/**
 * Rows of marts.fct_attribution (its columns, in order) for `models`, of the opportunities in
 * `scope` (a relation with connection_id, opportunity_id; null: all): one UNION ALL branch per
 * model, so a filter on model prunes the other branches.
 */
export function attributionRowsSql(scope: string | null, models: readonly string[] = ATTRIBUTION_MODELS): string {
  return models.map((m) => {
    const v = valuesOf(m);
    return `SELECT a.connection_id, a.opportunity_id, a.touchpoint_id, ${sqlLiteral(m)}::text AS model, a.person_key, a.occurred_at,
             a.touch_position, a.touch_count, a.channel, a.campaign, a.ad_campaign_id,
             a.is_first_touch, a.is_lead_creation_touch, a.is_opportunity_creation_touch, a.is_closed_won_touch,
             ${v.credit} AS credit, ${v.pipeline} AS pipeline_credit, ${v.revenue} AS revenue_credit,
             a.reporting_currency, a.opportunity_created_at, a.is_won, a.close_date
      FROM ${ATTRIBUTION_TOUCHES} a ${joinsOf([m])}
      WHERE ${isSetModel(m) ? 'true' : `${creditOf(m)} IS NOT NULL`} AND ${inScope(scope, OPP, 'a')}`;
  }).join('\n      UNION ALL\n      ');
}

/** (Re)defines the view (same columns, so comments and grants stay). */
export function attributionViewSql(): string {
  return `CREATE OR REPLACE VIEW marts.fct_attribution AS\n      ${attributionRowsSql(null)}`;
}

/**
 * Where the storage rows are computed from: staging.int_opportunity_touches, int_opportunity_paths
 * and int_opportunities, or relations holding the same rows for the opportunities in scope.
 */
export interface AttributionSources {
  touches: string;
  paths: string;
  opportunities: string;
}

const STAGED_SOURCES: AttributionSources = {
  touches: 'staging.int_opportunity_touches', paths: 'staging.int_opportunity_paths', opportunities: 'staging.int_opportunities',
};

/**
 * Inserts the storage rows of the opportunities in `scope` (null: all) into `into` (the storage,
 * or a table like it): the rule credits, the touches per channel, the channel set and the path's id.
 */
export function attributionTouchesInsertSql(
  config: TransformConfig, scope: string | null, into = ATTRIBUTION_TOUCHES, sources: AttributionSources = STAGED_SOURCES,
): string {
  const carry = TOUCH_COLUMNS;
  return `INSERT INTO ${into} (connection_id, opportunity_id, touchpoint_id, person_key, occurred_at, touch_position, touch_count,
      channel, campaign, ad_campaign_id, is_first_touch, is_lead_creation_touch, is_opportunity_creation_touch, is_closed_won_touch,
      channel_touches, channel_set, path_id, ${STORED_MODELS.join(', ')},
      amount_reporting, won_amount_reporting, reporting_currency, opportunity_created_at, is_won, close_date)
    SELECT w.connection_id, w.opportunity_id, w.touchpoint_id, ${carry.map((c) => `w.${c}`).join(', ')},
           w.channel_touches, o.channel_set, o.path_id, ${RULE_MODEL_NAMES.map((m) => `w.${m}`).join(', ')},
           o.amount_reporting, o.won_amount_reporting, ${sqlLiteral(config.reportingCurrency)}, o.created_at, o.is_won, o.close_date
    FROM (SELECT r.*, count(*) OVER (PARTITION BY r.connection_id, r.opportunity_id, r.channel)::int AS channel_touches
          FROM (${ruleCreditsWideSelect(config, scope, undefined, carry, sources.touches)}) r) w
    -- Per opportunity first (its path and amounts), then one join per touch.
    JOIN (SELECT p.connection_id, p.opportunity_id, p.channel_set, ps.path_id, o.amount_reporting::float8 AS amount_reporting,
                 o.won_amount_reporting::float8 AS won_amount_reporting, o.created_at, o.is_won, o.close_date
          FROM ${sources.paths} p
          JOIN ${sources.opportunities} o ON o.connection_id = p.connection_id AND o.opportunity_id = p.opportunity_id
          JOIN staging.int_path_summary ps ON ps.path_key = p.path_key
          WHERE ${inScope(scope, OPP, 'p')}
          OFFSET 0) o ON o.connection_id = w.connection_id AND o.opportunity_id = w.opportunity_id`;
}

/** The monthly sums of marts.fct_attribution: what the KPI marts read. */
export const ATTRIBUTION_MONTHLY = 'staging.int_attribution_monthly';

/**
 * Key of staging.int_attribution_monthly. kind 'created': the opportunities by the month they were
 * created (n rows of the mart, credit, amount = pipeline credit); kind 'won': the won ones by the
 * month they closed (n, credit = customers, amount = revenue credit). That is all the KPI marts
 * read, in a third of the rows a key with both months would take.
 */
export const ATTRIBUTION_MONTHLY_KEY = `kind, model, channel, campaign_key, campaign, month`;

/**
 * Expands each storage row `a` into its kinds: (kind, month, the amount credited in that kind),
 * a row of a won opportunity into both, of another into 'created' only.
 */
const KIND_ROWS = `CROSS JOIN LATERAL (VALUES ('created', a.opportunity_created_at, a.amount_reporting), ('won', a.close_date::timestamptz, a.won_amount_reporting))
        AS kd(kind, at, amount)`;
const KIND_FILTER = `(kd.kind = 'created' OR a.is_won)`;
/** The monthly key of an expanded storage row (but the model). */
const KIND_COLUMNS = `kd.kind, a.channel, coalesce(a.ad_campaign_id, a.campaign, '(none)') AS campaign_key, a.campaign, date_trunc('month', kd.at)::date AS month`;

/** Index of a sliced model's columns in a wide row (n<i>, k<i>, m<i>). */
const sliced = (m: string) => (SLICED_MODELS as readonly string[]).indexOf(m);

/**
 * The "wide" sums of the stored touches, in one pass: per kind x channel set x channel x campaign
 * x month, for every sliced model (rule models, fractribution) its rows n<i>, credit units k<i> and
 * money units m<i> (the mart's numerics x 1e12 and x 1e6, exactly), and the set models' group sums
 * (staging.int_attribution_set_groups' columns). Both the monthly sums and the set groups are
 * summed from it. `parts` leaves one side out: a full run sums every touch twice, once per side,
 * as the wide sums of a million touches would not fit in memory (the monthly side alone is keyed
 * without the channel set, a few thousand groups). An incremental run patches both with the wide
 * sums of its slices' change (attributionWideChangeSql).
 */
export function attributionWideSql(parts: { sliced: boolean; set: boolean }): string {
  return wideSumsSql(`${ATTRIBUTION_TOUCHES} a ${parts.sliced ? joinsOf(SLICED_MODELS) : ''}`, null, parts);
}

/**
 * The wide sums (as attributionWideSql) of how a recomputed slice changes, in one pass: its
 * stored touches minus (the opportunities in `scope`, with their fractribution credits as they
 * were: `old` holds the credits before of the paths whose credits moved, NULL where a path had
 * none) and the fresh rows in `fresh` (a table like the storage) plus, with the credits written
 * now. Summing both sides in one aggregation instead of one each took ~0.15 s off the large
 * world's incremental run.
 */
export function attributionWideChangeSql(scope: string, fresh: string, old: string): string {
  const before = `SELECT -1 AS sign, a.*, CASE WHEN o.path_id IS NOT NULL THEN o.credits ELSE f.credits END AS credits
      FROM ${ATTRIBUTION_TOUCHES} a LEFT JOIN ${old} o ON o.path_id = a.path_id LEFT JOIN ${FRACTRIBUTION_PATHS} f ON f.path_id = a.path_id
      WHERE ${inScope(scope, OPP, 'a')}`;
  // The credits of the fresh rows' paths only (a few thousand looked up, not every path hashed).
  const after = `SELECT 1 AS sign, n.*, f.credits FROM ${fresh} n
      LEFT JOIN (SELECT path_id, credits FROM ${FRACTRIBUTION_PATHS} WHERE path_id IN (SELECT path_id FROM ${fresh})) f ON f.path_id = n.path_id`;
  return wideSumsSql(`(${before}\n      UNION ALL ${after}) a`, 'a', { sliced: true, set: true });
}

/**
 * The wide sums over the rows `a` of `from`: each row counted once, or, with `signed` (the alias
 * of rows carrying a sign column and their fractribution `credits`), times its sign.
 */
function wideSumsSql(from: string, signed: string | null, parts: { sliced: boolean; set: boolean }): string {
  const last = 'a.touch_position = a.touch_count';
  const filter = (cond?: string) => (cond ? ` FILTER (WHERE ${cond})` : '');
  // count(*) and sum(x), each over the rows meeting `cond`, signed.
  const count = (cond?: string) => (signed ? `coalesce(sum(${signed}.sign)${filter(cond)}, 0)` : `count(*)${filter(cond)}`);
  const sum = (x: string, cond?: string) => (signed ? `sum(${signed}.sign * ${x})${filter(cond)}` : `sum(${x})${filter(cond)}`);
  const paths = signed ?? 'f';
  const sums = [
    ...(parts.sliced ? SLICED_MODELS.map((m) => {
      const c = creditOf(m, paths);
      return `${signed ? count(`${c} IS NOT NULL`) : `count(${c})`} AS n${sliced(m)}, ${sum(creditUnits(c))} AS k${sliced(m)}, ${sum(moneyUnits(c, 'kd.amount'))} AS m${sliced(m)}`;
    }) : []),
    ...(parts.set ? [`${count()} AS n, coalesce(${sum(SET_UNIT.credit)}, 0) AS unit_credit, coalesce(${sum(setMoneyUnits('kd.amount'))}, 0) AS unit_amount,
           ${count(last)} AS n_last, coalesce(${sum(lastMoneyUnits('kd.amount'), last)}, 0) AS last_amount`] : []),
  ];
  return `SELECT ${parts.set ? KIND_COLUMNS.replace('a.channel,', 'a.channel_set, a.channel,') : KIND_COLUMNS},
           ${sums.join(',\n           ')}
    FROM ${from}
    ${KIND_ROWS}
    WHERE ${KIND_FILTER}
    GROUP BY ${parts.set ? '1, 2, 3, 4, 5, 6' : '1, 2, 3, 4, 5'}`;
}

/**
 * staging.int_attribution_monthly rows (grain: kind x model x channel x campaign x month: n rows
 * of the mart, credit and amount, exact numerics) of the sliced models, summed from the wide rows
 * in `wide`. `build`: only keys with rows (a full build); else every key, as signed changes.
 */
export function attributionMonthlyFromWideSql(wide: string, build: boolean): string {
  // Summed per monthly key first (the set's rows fold together), then one row per model.
  const cols = (m: string) => [`n${sliced(m)}`, `k${sliced(m)}`, `m${sliced(m)}`];
  return `SELECT w.kind, v.model, w.channel, w.campaign_key, w.campaign, w.month,
           v.n, coalesce(v.k, 0) * 0.000000000001 AS credit, coalesce(v.m, 0) * 0.000001 AS amount
    FROM (SELECT kind, channel, campaign_key, campaign, month, ${SLICED_MODELS.flatMap(cols).map((c) => `sum(${c}) AS ${c}`).join(', ')}
          FROM ${wide} GROUP BY 1, 2, 3, 4, 5) w
    CROSS JOIN LATERAL (VALUES ${SLICED_MODELS.map((m) => `(${sqlLiteral(m)}, ${cols(m).map((c) => `w.${c}`).join(', ')})`).join(', ')}) AS v(model, n, k, m)${build ? '\n    WHERE v.n > 0' : ''}`;
}

/**
 * The change of fractribution's monthly sums when the credits of some paths move, for the
 * opportunities in `scope` (on those paths, rows otherwise unchanged): one pass over their stored
 * touches, new units (staging.int_fractribution_paths, written already) minus old units (`old`: a
 * relation path_id, credits with the changed paths' credits before, NULL where a path had none).
 * The rows behind each key stay, so n is 0.
 */
export function fractributionMovedSql(scope: string, old: string): string {
  const [model] = PATH_MODELS;
  const now = creditOf(model, 'f');
  const was = creditOf(model, 'o');
  return `SELECT g.kind, ${sqlLiteral(model)}::text AS model, g.channel, g.campaign_key, g.campaign, g.month,
                 0::int8 AS n, g.k * 0.000000000001 AS credit, coalesce(g.m, 0) * 0.000001 AS amount
    FROM (
      SELECT ${KIND_COLUMNS},
             sum(${creditUnits(now)} - ${creditUnits(was)}) AS k, sum(${moneyUnits(now, 'kd.amount')} - ${moneyUnits(was, 'kd.amount')}) AS m
      FROM ${ATTRIBUTION_TOUCHES} a
      JOIN ${old} o ON o.path_id = a.path_id
      LEFT JOIN (SELECT path_id, credits FROM ${FRACTRIBUTION_PATHS} WHERE path_id IN (SELECT path_id FROM ${old})) f ON f.path_id = a.path_id
      ${KIND_ROWS}
      WHERE ${KIND_FILTER} AND ${inScope(scope, OPP, 'a')}
      GROUP BY 1, 2, 3, 4, 5
    ) g`;
}

/** Key of staging.int_attribution_set_groups (its sums: SET_GROUP_SUMS, columns of the wide rows). */
export const SET_GROUP_KEY = `kind, channel_set, channel, campaign_key, campaign, month`;

/**
 * staging.int_attribution_monthly rows of the set models, from their groups and the current shares:
 * exactly the sums of the view's rows (the products are exact, and linear in the touch). Each
 * share's units are computed once (per share row, not per group row), the scale applied to the sums.
 * `groups`: the set groups, or signed group sums (the wide sums of a slice's change), which give,
 * while the shares stay as they are, the change of those rows (every key, as signed changes).
 */
export function attributionSetMonthlySql(groups = ATTRIBUTION_SET_GROUPS): string {
  return `SELECT g.kind, m.model, g.channel, g.campaign_key, g.campaign, g.month, sum(g.n) AS n,
           sum(CASE WHEN s.units IS NOT NULL THEN s.units * g.unit_credit ELSE g.n_last * 1000000000000000000000000::numeric END) * ${SET_SCALE.credit} AS credit,
           sum(CASE WHEN s.units IS NOT NULL THEN s.units * g.unit_amount ELSE g.last_amount * 1000000000000::numeric END) * ${SET_SCALE.pipeline} AS amount
    FROM ${groups} g
    CROSS JOIN (VALUES ${SET_MODELS.map((m) => `(${sqlLiteral(m)})`).join(', ')}) AS m(model)
    LEFT JOIN (SELECT model, key, channel, ${shareUnits('share')} AS units FROM ${ATTRIBUTION_SHARES}) s
      ON s.model = m.model AND s.key = g.channel_set AND s.channel = g.channel
    GROUP BY 1, 2, 3, 4, 5, 6${groups === ATTRIBUTION_SET_GROUPS ? '\n    HAVING sum(g.n) > 0' : ''}`;
}

/**
 * Builds staging.int_attribution_set_groups and staging.int_attribution_monthly (full runs) from
 * every stored touch, one pass each.
 */
export function attributionSumsBuildSql(): string[] {
  return [
    ...sumsTableBuildSql(ATTRIBUTION_SET_GROUPS, attributionWideSql({ sliced: false, set: true }), SET_GROUP_KEY,
      'Grain: one row per kind x channel set x channel x campaign x month of the stored touches (kinds as in staging.int_attribution_monthly): their count and the sums the markov and shapley monthly credits are weighted from.'),
    ...sumsTableBuildSql(ATTRIBUTION_MONTHLY,
      `${attributionMonthlyFromWideSql(`(${attributionWideSql({ sliced: true, set: false })}) sums`, true)}
       UNION ALL ${attributionSetMonthlySql()}`,
      ATTRIBUTION_MONTHLY_KEY,
      'Grain: one row per kind x model x channel x campaign x month of marts.fct_attribution. kind created: every opportunity by its month created (n rows, credit, amount = pipeline credit); kind won: the won ones by their close month (n, credit = customers, amount = revenue credit). Exact sums; what the KPI marts read.'),
  ];
}

/**
 * Builds a table of sums that incremental runs keep up (applyDeltaSql, attributionMonthlyUpdateSql) from `select`:
 * unlogged like the other intermediate tables, unique on `key` (NULLs equal, as in a GROUP BY),
 * fillfactor 80 so that the patches' updates stay HOT (no new index entries).
 */
export function sumsTableBuildSql(table: string, select: string, key: string, comment: string): string[] {
  return [
    `DROP TABLE IF EXISTS ${table}`,
    `CREATE UNLOGGED TABLE ${table} WITH (fillfactor = 80) AS ${select}`,
    `CREATE UNIQUE INDEX ${table.split('.')[1]}_key ON ${table} (${key}) NULLS NOT DISTINCT`,
    `COMMENT ON TABLE ${table} IS ${sqlLiteral(comment)}`,
    `ANALYZE ${table}`,
  ];
}

/**
 * Adds the signed partial sums in `delta` (a relation with `key` and `sums` columns) to `table`
 * in place (a key whose rows all went is deleted): incremental runs patch the few keys they moved.
 */
export function applyDeltaSql(table: string, key: string, sums: readonly string[], delta: string): string[] {
  return [
    `INSERT INTO ${table} AS t (${key}, ${sums.join(', ')})
     SELECT ${key}, ${sums.map((c) => `sum(${c})`).join(', ')} FROM ${delta} GROUP BY ${key}
     HAVING ${sums.map((c) => `sum(${c}) <> 0`).join(' OR ')}
     ON CONFLICT (${key}) DO UPDATE SET ${sums.map((c) => `${c} = t.${c} + excluded.${c}`).join(', ')}`,
    `DELETE FROM ${table} WHERE n = 0`,
  ];
}

export const MONTHLY_SUMS = ['n', 'credit', 'amount'] as const;

/**
 * Brings staging.int_attribution_monthly up to date in an incremental run, from the signed monthly
 * rows in `delta` (the sliced models') and the signed set group sums in `wide`:
 * - while no Markov or Shapley share moved (`sharesMoved` false: a change that moved no path, or
 *   moved paths without moving a share), the set models' rows change by their groups' change under
 *   the same shares (their credits are linear in the group sums), and every key is patched in place;
 * - else the set models' rows are weighted again from their groups by the current shares, and the
 *   table (a few ten thousand rows) is written anew: the sliced models' rows plus their changes (a
 *   key whose rows all went drops out) and the set models' rows. Rewriting it costs less than
 *   patching most of its keys in place, as applyDeltaSql does with the larger set groups.
 * After one opportunity's new amount, the attribution step took 0.42 s on the large sandbox world
 * with the table written anew, 0.04 s patched.
 */
export function attributionMonthlyUpdateSql(delta: string, wide: string, sharesMoved: boolean): string[] {
  const key = ATTRIBUTION_MONTHLY_KEY;
  const sums = MONTHLY_SUMS.join(', ');
  if (!sharesMoved) {
    return [`INSERT INTO ${delta} (${key}, ${sums}) SELECT ${key}, ${sums} FROM (${attributionSetMonthlySql(wide)}) d`, ...applyDeltaSql(ATTRIBUTION_MONTHLY, key, MONTHLY_SUMS, delta)];
  }
  return [
    `CREATE TEMP TABLE inc_monthly ON COMMIT DROP AS
      SELECT ${key}, ${MONTHLY_SUMS.map((c) => `sum(${c}) AS ${c}`).join(', ')}
      FROM (SELECT ${key}, ${sums} FROM ${ATTRIBUTION_MONTHLY} WHERE model NOT IN (${SET_MODELS.map((m) => sqlLiteral(m)).join(', ')})
            UNION ALL SELECT ${key}, ${sums} FROM ${delta}) parts
      GROUP BY ${key} HAVING sum(n) <> 0`,
    // Into a table of its own first: CREATE TABLE AS may weigh the 113k groups of the large world
    // with parallel workers, INSERT ... SELECT may not (0.21 s instead of 0.39 s there).
    `CREATE TEMP TABLE inc_set_monthly ON COMMIT DROP AS ${attributionSetMonthlySql()}`,
    `TRUNCATE ${ATTRIBUTION_MONTHLY}`,
    `INSERT INTO ${ATTRIBUTION_MONTHLY} (${key}, ${sums}) SELECT ${key}, ${sums} FROM inc_monthly UNION ALL SELECT ${key}, ${sums} FROM inc_set_monthly`,
  ];
}
export const SET_GROUP_SUMS = ['n', 'unit_credit', 'unit_amount', 'n_last', 'last_amount'] as const;

import type { TransformConfig } from './config.ts';
import { sqlLiteral } from '../../warehouse/sql.ts';

/**
 * The transform's SQL models, in dependency order (staging -> intermediate -> marts), each headed
 * by its grain and key. Intermediate models are tables in `staging`; marts are tables created by
 * migrations and refreshed here. Everything is set-based SQL run in the warehouse.
 *
 * Every intermediate model is a SELECT that can be restricted to a scope: a relation holding the
 * values of the model's `scope` columns to recompute. A full run builds the table from the
 * unrestricted SELECT; an incremental run deletes the scope's rows and inserts the restricted
 * SELECT, which gives exactly the rows a full build would have for those keys.
 */
export interface SqlModel {
  name: string;
  grain: string;
  /** Columns identifying the slice the model is recomputed by (a prefix of its key or a coarser key). */
  scope: readonly string[];
  /** The model's rows; `scope` names a relation with the scope columns (only those keys), or null for every row. */
  select(config: TransformConfig, scope: string | null): string;
  /** Indexes the incremental run and the next models look rows up by. */
  indexes: readonly string[];
  /** Statements run before the SELECT (temporary lookup tables it reads), for the same scope. */
  prepare?(config: TransformConfig, scope: string | null): string[];
}


/** `(alias.a, alias.b) IN (SELECT a, b FROM scope)`, or `true` without a scope. */
export function inScope(scope: string | null, columns: readonly string[], alias: string): string {
  if (scope === null) return 'true';
  return `(${columns.map((c) => `${alias}.${c}`).join(', ')}) IN (SELECT ${columns.join(', ')} FROM ${scope})`;
}

/** Amount converted to the reporting currency at the latest rate on or before `day` (NULL if none). */
export function fx(amount: string, currency: string, day: string, reporting: string): string {
  return `CASE WHEN ${amount} IS NULL THEN NULL
    WHEN ${currency} = ${sqlLiteral(reporting)} THEN ${amount}
    ELSE ${amount} * (SELECT r.rate FROM core.fx_rate_daily r
                      WHERE r.from_currency = ${currency} AND r.to_currency = ${sqlLiteral(reporting)} AND r.date <= ${day}
                      ORDER BY r.date DESC LIMIT 1) END`;
}

const OPP = ['connection_id', 'opportunity_id'] as const;

/** A touch's source, medium, campaign and channel hint: its own UTMs, else its CRM campaign's. */
/** Touch rows that are records of what marketing did, not of what a person did (an email sent):
 * counted by goals (emails_sent), never part of a journey or credited. */
export const NOT_CREDITED_TOUCH_TYPES = "'email_send'";

const TOUCH_DIMENSIONS = `coalesce(t.utm_source, c.utm_source) AS source, coalesce(t.utm_medium, c.utm_medium) AS medium,
  coalesce(t.utm_campaign, c.utm_campaign, c.name) AS campaign,
  coalesce(nullif(t.touch_type, 'campaign_member'), c.channel_hint, c.campaign_type) AS hint`;

export const models: SqlModel[] = [
  {
    name: 'staging.int_people',
    grain: 'one row per CRM person (lead or contact). Key: (connection_id, person_id). person_key follows a converted Salesforce lead to its contact.',
    scope: ['connection_id', 'person_id'],
    select: (_config, scope) => `
      SELECT p.connection_id, p.person_id, p.person_type,
             p.connection_id || ':' || coalesce(nullif(p.converted_contact_id, ''), p.person_id) AS person_key,
             coalesce(p.lead_at, p.created_at) AS lead_at,
             p.converted_opportunity_id, p.mql_at, p.sql_at
      FROM core.dim_person p
      WHERE NOT p.is_deleted AND ${inScope(scope, ['connection_id', 'person_id'], 'p')}`,
    indexes: [
      'CREATE UNIQUE INDEX ON staging.int_people (connection_id, person_id)',
      'CREATE INDEX ON staging.int_people (person_key)',
      'CREATE INDEX ON staging.int_people (connection_id, converted_opportunity_id) WHERE converted_opportunity_id IS NOT NULL',
    ],
  },
  {
    name: 'staging.int_touchpoints',
    grain: 'one row per touchpoint of a known person. Key: (connection_id, touchpoint_id). Carries the channel from the channel grouping rules. A touch with no person_id (the vendor gave only an email address) belongs to the live person of its connection with that email, the earliest created first.',
    scope: ['connection_id', 'touchpoint_id'],
    // The channel rules run once per distinct (source, medium, campaign, hint) in a small lookup
    // table, not once per touch: a million touches share a few hundred combinations.
    prepare: (_config, scope) => [
      'DROP TABLE IF EXISTS pg_temp.touch_channels',
      `CREATE TEMP TABLE touch_channels AS
       SELECT source, medium, campaign, hint, staging.channel_of(source, medium, campaign, hint) AS channel FROM (
         SELECT DISTINCT ${TOUCH_DIMENSIONS}
         FROM core.fct_touchpoint t LEFT JOIN core.dim_campaign c ON c.connection_id = t.connection_id AND c.campaign_id = t.campaign_id
         WHERE NOT t.is_deleted AND t.touch_type NOT IN (${NOT_CREDITED_TOUCH_TYPES}) AND ${inScope(scope, ['connection_id', 'touchpoint_id'], 't')}
       ) d`,
      'ANALYZE pg_temp.touch_channels',
    ],
    select: (_config, scope) => `
      SELECT b.connection_id, b.touchpoint_id, b.person_key, b.occurred_at, b.touch_type, b.source, b.medium, b.campaign, b.ad_campaign_id, tc.channel, b.person_id
      FROM (
        SELECT t.connection_id, t.touchpoint_id, ip.person_key, ip.person_id, t.occurred_at, t.touch_type, t.ad_campaign_id, ${TOUCH_DIMENSIONS}
        FROM core.fct_touchpoint t
        LEFT JOIN (
          -- People by email, only for the addresses of touches that have no person (few, indexed).
          SELECT DISTINCT ON (p.connection_id, lower(p.email)) p.connection_id, lower(p.email) AS email, p.person_id
          FROM core.dim_person p
          WHERE NOT p.is_deleted AND (p.connection_id, lower(p.email)) IN (SELECT connection_id, email FROM core.fct_touchpoint WHERE person_id IS NULL)
          ORDER BY p.connection_id, lower(p.email), p.created_at NULLS LAST, p.person_id
        ) pe ON t.person_id IS NULL AND pe.connection_id = t.connection_id AND pe.email = t.email
        JOIN staging.int_people ip ON ip.connection_id = t.connection_id AND ip.person_id = coalesce(t.person_id, pe.person_id)
        LEFT JOIN core.dim_campaign c ON c.connection_id = t.connection_id AND c.campaign_id = t.campaign_id
        WHERE NOT t.is_deleted AND t.touch_type NOT IN (${NOT_CREDITED_TOUCH_TYPES}) AND ${inScope(scope, ['connection_id', 'touchpoint_id'], 't')}
        OFFSET 0 -- a fence: the lookup's (misestimated) join must not reorder the people join into a nested loop
      ) b
      -- NULLs match through a sentinel no UTM value holds.
      JOIN pg_temp.touch_channels tc ON ${['source', 'medium', 'campaign', 'hint'].map((col) => `coalesce(tc.${col}, chr(30)) = coalesce(b.${col}, chr(30))`).join(' AND ')}`,
    indexes: [
      'CREATE INDEX ON staging.int_touchpoints (person_key, occurred_at)',
      'CREATE UNIQUE INDEX ON staging.int_touchpoints (connection_id, touchpoint_id)',
      'CREATE INDEX ON staging.int_touchpoints (connection_id, person_id)',
    ],
  },
  {
    name: 'staging.int_opportunity_people',
    grain: 'one row per opportunity x person linked to it (contact roles / deal associations, and the lead converted into it). Key: (connection_id, opportunity_id, person_key).',
    scope: OPP,
    select: (_config, scope) => `
      SELECT DISTINCT connection_id, opportunity_id, person_key FROM (
        SELECT b.connection_id, b.opportunity_id, ip.person_key
        FROM core.bridge_opportunity_person b
        JOIN staging.int_people ip ON ip.connection_id = b.connection_id AND ip.person_id = b.person_id
        WHERE NOT b.is_deleted AND ${inScope(scope, OPP, 'b')}
        UNION ALL
        SELECT ip.connection_id, ip.converted_opportunity_id, ip.person_key
        FROM staging.int_people ip
        WHERE ip.converted_opportunity_id IS NOT NULL
          AND ${scope === null ? 'true' : `(ip.connection_id, ip.converted_opportunity_id) IN (SELECT connection_id, opportunity_id FROM ${scope})`}
      ) links`,
    indexes: [
      'CREATE INDEX ON staging.int_opportunity_people (connection_id, opportunity_id)',
      'CREATE INDEX ON staging.int_opportunity_people (person_key)',
    ],
  },
  {
    name: 'staging.int_opportunities',
    grain: 'one row per live opportunity. Key: (connection_id, opportunity_id). conversion_at is when credited touches end (the conversion event); lead_at the earliest lead creation of its people.',
    scope: OPP,
    select: (config, scope) => `
      WITH lead AS (
        SELECT op.connection_id, op.opportunity_id, min(ip.lead_at) AS lead_at
        FROM staging.int_opportunity_people op
        JOIN staging.int_people ip ON ip.person_key = op.person_key
        WHERE ${inScope(scope, OPP, 'op')}
        GROUP BY op.connection_id, op.opportunity_id
      )
      SELECT o.connection_id, o.opportunity_id, o.created_at, o.is_won, o.close_date, o.amount, o.currency,
             o.is_closed, o.stage,
             coalesce(o.closed_at, o.close_date::timestamptz) AS won_at,
             ${config.conversionEvent === 'closed_won'
               ? `CASE WHEN o.is_won THEN coalesce(o.closed_at, o.close_date::timestamptz) ELSE o.created_at END`
               : 'o.created_at'} AS conversion_at,
             ${fx('o.amount', 'o.currency', "(o.created_at AT TIME ZONE 'UTC')::date", config.reportingCurrency)} AS amount_reporting,
             CASE WHEN o.is_won THEN ${fx('o.amount', 'o.currency', 'o.close_date', config.reportingCurrency)} ELSE 0 END AS won_amount_reporting,
             l.lead_at
      FROM core.fct_opportunity o
      LEFT JOIN lead l ON l.connection_id = o.connection_id AND l.opportunity_id = o.opportunity_id
      WHERE NOT o.is_deleted AND o.created_at IS NOT NULL AND ${inScope(scope, OPP, 'o')}`,
    indexes: ['CREATE UNIQUE INDEX ON staging.int_opportunities (connection_id, opportunity_id)'],
  },
  {
    name: 'staging.int_opportunity_touches',
    grain: 'one row per opportunity x touchpoint in its path: touches of its people within lookbackDays before the opportunity was created, up to the conversion event. Key: (connection_id, opportunity_id, touchpoint_id). Key-moment flags mark one touch each; last_at is the time of the last touch of the path.',
    scope: OPP,
    select: (config, scope) => `
      SELECT connection_id, opportunity_id, touchpoint_id, person_key, occurred_at, channel, campaign, ad_campaign_id,
             conversion_at, pos::int AS pos, n::int AS n,
             pos = 1 AS is_first,
             coalesce(pos = lead_pos, false) AS is_lead,
             coalesce(pos = opp_pos, false) AS is_opp,
             pos IS NOT DISTINCT FROM won_pos AS is_won_touch,
             coalesce(lead_pos, 0)::int AS lead_pos, last_at
      FROM (
        -- Key moments as window aggregates over the same partition: one sort, no self-join.
        SELECT *,
               max(pos) FILTER (WHERE lead_at IS NOT NULL AND occurred_at <= lead_at) OVER whole AS lead_pos,
               max(pos) FILTER (WHERE occurred_at <= created_at) OVER whole AS opp_pos,
               ${config.conversionEvent === 'closed_won' ? 'max(pos) FILTER (WHERE is_won AND occurred_at <= won_at) OVER whole' : 'NULL::bigint'} AS won_pos,
               max(occurred_at) OVER whole AS last_at
        FROM (
          SELECT o.connection_id, o.opportunity_id, t.touchpoint_id, t.person_key, t.occurred_at, t.channel, t.campaign, t.ad_campaign_id,
                 o.created_at, o.conversion_at, o.lead_at, o.won_at, o.is_won,
                 row_number() OVER w AS pos,
                 count(*) OVER (PARTITION BY o.connection_id, o.opportunity_id) AS n
          FROM staging.int_opportunities o
          JOIN staging.int_opportunity_people op ON op.connection_id = o.connection_id AND op.opportunity_id = o.opportunity_id
          JOIN staging.int_touchpoints t ON t.person_key = op.person_key
          WHERE t.occurred_at >= o.created_at - make_interval(days => ${config.lookbackDays})
            AND t.occurred_at <= o.conversion_at
            AND ${inScope(scope, OPP, 'o')}
          WINDOW w AS (PARTITION BY o.connection_id, o.opportunity_id ORDER BY t.occurred_at, t.touchpoint_id COLLATE "C")
        ) path
        WINDOW whole AS (PARTITION BY connection_id, opportunity_id)
      ) p`,
    indexes: ['CREATE INDEX ON staging.int_opportunity_touches (connection_id, opportunity_id, pos)'],
  },
  {
    name: 'staging.int_opportunity_paths',
    grain: 'one row per opportunity with touches: its channel path (channels in touch order joined by chr(31)), its channel set (its distinct channels in byte order, joined by chr(31)) and pipeline amount in the reporting currency. Key: (connection_id, opportunity_id). The converting paths of the data-driven models.',
    scope: OPP,
    select: (_config, scope) => `
      SELECT t.connection_id, t.opportunity_id, string_agg(t.channel, chr(31) ORDER BY t.pos) AS path_key,
             string_agg(DISTINCT t.channel COLLATE "C", chr(31) ORDER BY t.channel COLLATE "C") AS channel_set,
             min(o.amount_reporting) AS amount_reporting
      FROM staging.int_opportunity_touches t
      JOIN staging.int_opportunities o USING (connection_id, opportunity_id)
      WHERE ${inScope(scope, OPP, 't')}
      GROUP BY t.connection_id, t.opportunity_id`,
    indexes: ['CREATE UNIQUE INDEX ON staging.int_opportunity_paths (connection_id, opportunity_id)'],
  },
  {
    name: 'staging.int_person_paths',
    grain: 'one row per person with touches and no opportunity: the channel path of their touches within lookbackDays of their last touch. Key: person_key. The non-converting paths of the data-driven models.',
    scope: ['person_key'],
    select: (config, scope) => `
      SELECT t.person_key, string_agg(t.channel, chr(31) ORDER BY t.occurred_at, t.touchpoint_id COLLATE "C") AS path_key
      -- People with an opportunity left out before their touches are read (it is a property of the
      -- person, so of the whole window partition).
      FROM (SELECT *, max(occurred_at) OVER (PARTITION BY person_key) AS last_at
            FROM staging.int_touchpoints tp WHERE ${inScope(scope, ['person_key'], 'tp')}
              AND NOT EXISTS (SELECT 1 FROM staging.int_opportunity_people op WHERE op.person_key = tp.person_key)) t
      WHERE t.occurred_at >= t.last_at - make_interval(days => ${config.lookbackDays})
      GROUP BY t.person_key`,
    indexes: ['CREATE UNIQUE INDEX ON staging.int_person_paths (person_key)'],
  },
  {
    name: 'staging.int_person_lead_touch',
    grain: 'one row per person with a lead date. Key: person_key. The channel and campaign of the touch that created the lead (the last touch at or before it).',
    scope: ['person_key'],
    select: (_config, scope) => `
      WITH people AS (
        SELECT ip.person_key, min(ip.lead_at) AS lead_at, min(ip.mql_at) AS mql_at, min(ip.sql_at) AS sql_at
        FROM staging.int_people ip
        WHERE ${inScope(scope, ['person_key'], 'ip')}
        GROUP BY ip.person_key
      )
      SELECT pe.person_key, pe.lead_at, pe.mql_at, pe.sql_at,
             coalesce(lt.channel, 'Other') AS channel,
             coalesce(lt.ad_campaign_id, lt.campaign, '(none)') AS campaign_key,
             lt.campaign AS campaign_name
      FROM people pe
      LEFT JOIN LATERAL (
        SELECT t.channel, t.ad_campaign_id, t.campaign FROM staging.int_touchpoints t
        WHERE t.person_key = pe.person_key AND t.occurred_at <= pe.lead_at
        ORDER BY t.occurred_at DESC, t.touchpoint_id COLLATE "C" DESC LIMIT 1
      ) lt ON true
      WHERE pe.lead_at IS NOT NULL`,
    indexes: ['CREATE UNIQUE INDEX ON staging.int_person_lead_touch (person_key)'],
  },
  {
    name: 'staging.int_stage_changes',
    grain: 'one row per stage change of a live opportunity (history rows that only record other edits, such as amount or close date, are dropped). Key: (connection_id, opportunity_id, history_id). position is the 1-based order of the change in its opportunity.',
    scope: OPP,
    select: (_config, scope) => `
      WITH history AS (
        SELECT h.connection_id, h.opportunity_id, coalesce(o.pipeline, 'default') AS pipeline, h.stage, h.entered_at, h.history_id,
               lag(h.stage) OVER w AS previous_stage
        FROM core.fct_opportunity_stage_history h
        JOIN core.fct_opportunity o ON o.connection_id = h.connection_id AND o.opportunity_id = h.opportunity_id AND NOT o.is_deleted
        WHERE NOT h.is_deleted AND ${inScope(scope, OPP, 'h')}
        WINDOW w AS (PARTITION BY h.connection_id, h.opportunity_id ORDER BY h.entered_at, h.history_id COLLATE "C")
      )
      SELECT connection_id, opportunity_id, history_id, pipeline, stage, entered_at,
             lead(stage) OVER w AS next_stage, lead(entered_at) OVER w AS next_at,
             (row_number() OVER w)::int AS position
      FROM history WHERE previous_stage IS DISTINCT FROM stage
      WINDOW w AS (PARTITION BY connection_id, opportunity_id ORDER BY entered_at, history_id COLLATE "C")`,
    indexes: ['CREATE INDEX ON staging.int_stage_changes (connection_id, opportunity_id)'],
  },
];

/**
 * Statements that build a model's table from scratch. UNLOGGED: intermediate tables are rebuilt
 * from core at will, so they skip the write-ahead log (a crash empties them; the transform then
 * runs full, see TRANSFORM_SENTINEL in index.ts).
 */
export function buildModelSql(model: SqlModel, config: TransformConfig): string[] {
  return [...(model.prepare?.(config, null) ?? []), `DROP TABLE IF EXISTS ${model.name}`, `CREATE UNLOGGED TABLE ${model.name} AS ${model.select(config, null)}`, ...model.indexes, `ANALYZE ${model.name}`];
}

/** Statements that recompute the rows of a model for the keys in `scope` (a relation with the model's scope columns). */
export function refreshModelSql(model: SqlModel, config: TransformConfig, scope: string): string[] {
  const on = model.scope.map((c) => `m.${c} = s.${c}`).join(' AND ');
  return [
    ...(model.prepare?.(config, scope) ?? []),
    `DELETE FROM ${model.name} m USING ${scope} s WHERE ${on}`,
    `INSERT INTO ${model.name} ${model.select(config, scope)}`,
  ];
}

/**
 * refreshModelSql() with an early cutoff: the model's rows for `scope` are computed into a
 * temporary table and compared with the stored ones, and only the slices whose rows differ (as
 * multisets: each row counted +1 stored and -1 computed, grouped by all of `columns`, the model's
 * columns, so every column needs an equality: no json) are rewritten. Their keys are added to
 * `changed` (a relation with the scope columns), so the steps after it can leave alone the slices
 * that came out the same. A slice can be in scope and unchanged: an opportunity of a person whose
 * new touch falls after its conversion, say.
 */
export function refreshChangedModelSql(model: SqlModel, config: TransformConfig, scope: string, changed: string, columns: readonly string[]): string[] {
  const short = model.name.split('.')[1]!;
  const fresh = freshRowsOf(model.name);
  const differs = `inc_changed_${short}`;
  const keys = model.scope.join(', ');
  const cols = columns.map((c) => `"${c}"`).join(', ');
  return [
    ...(model.prepare?.(config, scope) ?? []),
    `CREATE TEMP TABLE ${fresh} ON COMMIT DROP AS ${model.select(config, scope)}`,
    `CREATE TEMP TABLE ${differs} ON COMMIT DROP AS SELECT DISTINCT ${keys} FROM (
       SELECT ${cols} FROM (
         SELECT ${cols}, 1 AS mpm_side FROM ${model.name} m WHERE ${inScope(scope, model.scope, 'm')}
         UNION ALL SELECT ${cols}, -1 FROM ${fresh}) sides
       GROUP BY ${cols} HAVING sum(mpm_side) <> 0) d`,
    `DELETE FROM ${model.name} m USING ${differs} s WHERE ${model.scope.map((c) => `m.${c} = s.${c}`).join(' AND ')}`,
    `INSERT INTO ${model.name} SELECT n.* FROM ${fresh} n WHERE ${inScope(differs, model.scope, 'n')}`,
    `INSERT INTO ${changed} (${keys}) SELECT ${keys} FROM ${differs}`,
  ];
}

/**
 * The temporary table refreshChangedModelSql() computes a model's rows of the scope into: until
 * the commit, every row of the model for those keys (changed or not), as the model now has them.
 */
export function freshRowsOf(modelName: string): string {
  return `inc_new_${modelName.split('.')[1]!}`;
}

/**
 * Credits of the rule models, wide: one row per opportunity x touchpoint (key: connection_id,
 * opportunity_id, touchpoint_id), one float8 column per rule model, for the opportunities in
 * `scope` (null: all), read from `touches` (rows of staging.int_opportunity_touches). Implements
 * pipeline/attribution/README.md exactly (the TypeScript rules are its test oracle).
 */
export function ruleCreditsWideSelect(
  config: TransformConfig, scope: string | null, only?: readonly string[], carry: readonly string[] = [], touches = 'staging.int_opportunity_touches',
): string {
  const want = (model: string) => !only || only.includes(model);
  const cw = config.customWeights;
  // No direct channels (an empty list): every touch is non-direct, so last_non_direct is the last touch.
  const direct = config.directChannels.map(sqlLiteral).join(', ');
  type W = { f: number; l: number; o: number; won: number; rest: number };
  const notKey = (w: W) => `NOT ((${w.f} > 0 AND is_first) OR (${w.l} > 0 AND is_lead) OR (${w.o} > 0 AND is_opp) OR (${w.won} > 0 AND is_won_touch))`;
  // Position models: key-moment weight on the moment's touch (coinciding moments add up), the
  // rest weight split over "the rest", then divided by the opportunity's total.
  const position: Array<{ model: string; w: W; rest: string }> = [
    { model: 'u_shaped', w: { f: 0.4, l: 0.4, o: 0, won: 0, rest: 0.2 }, rest: 'lead_pos > 1 AND pos > 1 AND pos < lead_pos' },
    { model: 'w_shaped', w: { f: 0.3, l: 0.3, o: 0.3, won: 0, rest: 0.1 }, rest: '' },
    { model: 'full_path', w: { f: 0.225, l: 0.225, o: 0.225, won: 0.225, rest: 0.1 }, rest: '' },
    { model: 'custom', w: { f: cw.first, l: cw.lead, o: cw.opportunity, won: cw.won, rest: cw.rest }, rest: '' },
  ].map((p) => ({ ...p, rest: p.rest || notKey(p.w) })).filter((p) => want(p.model));
  const w = (x: number) => `${x}::float8`;
  // A touch's raw weight: the key-moment weights it carries (coinciding moments add up) plus its
  // share of the rest. The opportunity's total is known without summing: every key moment marks
  // one touch, and the rest shares add up to the rest weight when there is a rest.
  const raw = (p: (typeof position)[number], i: number) => `(CASE WHEN ${p.w.f} > 0 AND is_first THEN ${w(p.w.f)} ELSE 0 END
      + CASE WHEN ${p.w.l} > 0 AND is_lead THEN ${w(p.w.l)} ELSE 0 END
      + CASE WHEN ${p.w.o} > 0 AND is_opp THEN ${w(p.w.o)} ELSE 0 END
      + CASE WHEN ${p.w.won} > 0 AND is_won_touch THEN ${w(p.w.won)} ELSE 0 END
      + CASE WHEN in_rest_${i} THEN ${w(p.w.rest)} / rest_n_${i} ELSE 0 END)`;
  const total = (p: (typeof position)[number], i: number) => `(${w(p.w.f)}
      + CASE WHEN ${p.w.l} > 0 AND has_lead THEN ${w(p.w.l)} ELSE 0 END
      + CASE WHEN ${p.w.o} > 0 AND has_opp THEN ${w(p.w.o)} ELSE 0 END
      + CASE WHEN ${p.w.won} > 0 AND has_won THEN ${w(p.w.won)} ELSE 0 END
      + CASE WHEN rest_n_${i} > 0 THEN ${w(p.w.rest)} ELSE 0 END)`;
  const halfLifeSeconds = config.timeDecayHalfLifeDays * 86_400;
  // 2^-(half-lives before the last touch), at most 1,000 of them: Postgres's power() raises an
  // underflow error past ~1,074 (a short half-life on a long path). 2^-1000 (~1e-301) next to the
  // last touch's 1 rounds to the mart's 0 as TypeScript's underflow to 0 does.
  const decay = `power(2::float8, -least(extract(epoch FROM (last_at - occurred_at)) / ${halfLifeSeconds}, 1000))`;
  const credits: Array<[string, string]> = [
    ['first_touch', 'CASE WHEN is_first THEN 1 ELSE 0 END::float8'],
    ['last_touch', 'CASE WHEN pos = n THEN 1 ELSE 0 END::float8'],
    ['last_non_direct', 'CASE WHEN pos = coalesce(last_non_direct_pos, n) THEN 1 ELSE 0 END::float8'],
    ['linear', '1::float8 / n'],
    ['time_decay', 'decay / decay_total'],
    // A total of 0 (custom only: every positive weight on a missing moment, rest 0): equal shares.
    ...position.map((p, i): [string, string] => [p.model, `coalesce(${raw(p, i)} / nullif(${total(p, i)}, 0), 1::float8 / n)`]),
  ];
  // One window level (one pass over touches the (connection_id, opportunity_id, pos) index delivers
  // in order); float8 arithmetic, as numeric is several times slower over millions of rows (the
  // mart rounds credits to 12 places, below float8's 15 significant digits). The decay total is
  // summed in touch order, so it does not depend on row order.
  return `
    SELECT connection_id, opportunity_id, touchpoint_id, ${carry.map((c) => `${c}, `).join('')}${credits.filter(([m]) => want(m)).map(([m, e]) => `${e} AS ${m}`).join(',\n           ')}
    FROM (
      SELECT *, ${position.map((_, i) => `count(*) FILTER (WHERE in_rest_${i}) OVER whole AS rest_n_${i}`).join(', ')},
             bool_or(is_lead) OVER whole AS has_lead, bool_or(is_opp) OVER whole AS has_opp, bool_or(is_won_touch) OVER whole AS has_won,
             ${!want('last_non_direct') ? 'NULL::bigint' : direct ? `max(pos) FILTER (WHERE channel NOT IN (${direct})) OVER whole` : 'n'} AS last_non_direct_pos,
             ${want('time_decay') ? 'sum(decay) OVER whole' : 'NULL::float8'} AS decay_total
      FROM (SELECT connection_id, opportunity_id, touchpoint_id, pos, n, channel, is_first, is_lead, is_opp, is_won_touch,
                   ${carry.filter((c) => !['pos', 'n', 'channel', 'is_first', 'is_lead', 'is_opp', 'is_won_touch'].includes(c)).map((c) => `${c}, `).join('')}
                   ${want('time_decay') ? decay : 'NULL::float8'} AS decay,
                   ${position.map((p, i) => `(${p.rest}) AS in_rest_${i}`).join(', ')}
            FROM ${touches} t WHERE ${inScope(scope, OPP, 't')}) t0
      WINDOW whole AS (PARTITION BY connection_id, opportunity_id ORDER BY pos ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ) t`;
}

/** Columns of staging.int_opportunity_touches the attribution mart repeats on every model's row (see attribution-mart.ts). */
export const TOUCH_COLUMNS = ['person_key', 'occurred_at', 'pos', 'n', 'channel', 'campaign', 'ad_campaign_id', 'is_first', 'is_lead', 'is_opp', 'is_won_touch'] as const;

export const RULE_MODEL_NAMES = ['first_touch', 'last_touch', 'last_non_direct', 'linear', 'time_decay', 'u_shaped', 'w_shaped', 'full_path', 'custom'] as const;

/** The spend mart's rows for the spend keys in `scope` (connection_id, campaign_id, date), or all. */
export function spendMartInsertSql(config: TransformConfig, scope: string | null): string {
  const rc = sqlLiteral(config.reportingCurrency);
  return `INSERT INTO marts.fct_ad_spend_daily (date, connection_id, campaign_id, source_system, account_id, campaign_name, channel, currency, spend, spend_reporting,
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
     WHERE NOT s.is_deleted AND ${inScope(scope, ['connection_id', 'campaign_id', 'date'], 's')}`;
}

export const TRAFFIC_KEY = ['connection_id', 'property_id', 'date', 'source', 'medium', 'campaign'] as const;

/** The traffic mart's rows for the traffic keys in `scope`, or all. */
export function trafficMartInsertSql(scope: string | null): string {
  return `INSERT INTO marts.fct_web_traffic_daily (date, connection_id, property_id, source, medium, campaign, channel, ga4_default_channel_group,
       sessions, engaged_sessions, conversions, users)
     SELECT w.date, w.connection_id, w.property_id, w.source, w.medium, w.campaign,
            staging.channel_of(w.source, w.medium, w.campaign, NULL), w.default_channel_group,
            w.sessions, w.engaged_sessions, w.key_events, w.total_users
     FROM core.fct_web_traffic_daily w
     WHERE NOT w.is_deleted AND ${inScope(scope, TRAFFIC_KEY, 'w')}`;
}

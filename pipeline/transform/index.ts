import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { fractributionAttribution, markovAttribution, shapleyAttribution, TooManyChannelsError, type PathSummary } from '../attribution/index.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { channelFunctionSql, effectiveRules } from './channels.ts';
import { parseTransformConfig, type TransformConfig } from './config.ts';
import { attributionInsertSql, buildModelSql, models, refreshModelSql, ruleCreditsSelect, spendMartInsertSql, TOUCH_COLUMNS, trafficMartInsertSql, type SqlModel } from './models.ts';
import { ALL_MODELS, attributionMonthlyApplySql, attributionMonthlyBuildSql, attributionMonthlyGroupSql, kpiCampaignSql, kpiChannelSql, kpiFunnelSql } from './kpis.ts';
import { dataAsOf, parseGoals, refreshGoals } from './goals.ts';
import { detectChanges, type ChangeSets } from './incremental.ts';

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
  /**
   * Rebuild everything. Default false: recompute only what core rows changed since the last run
   * touched (falls back to a full run when there is no previous run, the config changed, FX rates
   * changed or a core table was truncated).
   */
  full?: boolean;
}

export interface TransformResult {
  mode: 'full' | 'incremental';
  /** Why a full run was chosen (absent for incremental runs). */
  reason?: string;
  steps: Array<{ name: string; ms: number }>;
  rows: Record<string, number>;
  /** Incremental runs: how many keys were recomputed (opportunities, person keys, spend and traffic rows...). */
  scope?: Record<string, number>;
  warnings: string[];
}

/**
 * Bumped whenever the SQL of a model changes what it produces, so marts built by an older
 * transform are rebuilt fully instead of being patched.
 */
const TRANSFORM_VERSION = 3;

const DATA_DRIVEN_MODELS = ['markov', 'shapley', 'fractribution'] as const;
const RULE_MODELS = ALL_MODELS.filter((m) => !(DATA_DRIVEN_MODELS as readonly string[]).includes(m));
const GLOBAL_MODELS = ['markov', 'shapley'] as const;

/** Separator of channels in a path key (ASCII unit separator: never part of a channel name). */
const SEP = '\u001f';

/** The marts the transform refreshes. */
export const MART_TABLES = [
  'marts.fct_attribution', 'marts.fct_ad_spend_daily', 'marts.fct_web_traffic_daily',
  'marts.kpi_channel_monthly', 'marts.kpi_campaign_monthly', 'marts.kpi_funnel_monthly',
  'marts.goal_monthly_targets', 'marts.goal_pacing',
] as const;

const valuesOf = (items: readonly string[]) => `(VALUES ${items.map((m) => `('${m}')`).join(', ')})`;

export function configHash(config: TransformConfig): string {
  return createHash('sha256').update(JSON.stringify({ version: TRANSFORM_VERSION, config })).digest('hex');
}

/**
 * Path summaries for the data-driven models: one row per distinct channel path. Converting paths
 * are the opportunities' paths (value = pipeline amount in the reporting currency); non-converting
 * ones are the people with touches and no opportunity (their touches within lookbackDays of their
 * last touch). Aggregated in SQL from the per-opportunity and per-person path models.
 */
async function pathSummaries(trx: Knex.Transaction): Promise<PathSummary[]> {
  const rows = (await trx.raw(
    `SELECT path_key, sum(conversions)::int AS conversions, sum(nulls)::int AS nulls, coalesce(sum(value), 0)::float8 AS value FROM (
       SELECT path_key, 1 AS conversions, 0 AS nulls, amount_reporting AS value FROM staging.int_opportunity_paths
       UNION ALL SELECT path_key, 0, 1, NULL FROM staging.int_person_paths
     ) s GROUP BY path_key ORDER BY path_key COLLATE "C"`,
  )).rows as Array<{ path_key: string; conversions: number; nulls: number; value: number }>;
  return rows.map((r) => ({ path: r.path_key.split(SEP), conversions: r.conversions, nulls: r.nulls, value: r.value }));
}

interface Weight {
  model: string;
  path_key: string | null;
  channel: string;
  weight: number;
}

/** Solves the data-driven models in TypeScript on the path summaries. */
function solve(summaries: PathSummary[], config: TransformConfig, warnings: string[]): Weight[] {
  const weights: Weight[] = [];
  if (!summaries.some((s) => s.conversions > 0)) return weights;
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
  return weights;
}

/**
 * Replaces staging.int_channel_weights (grain: one row per model x channel, and per path for
 * fractribution) and tells which weights differ from the stored ones: models whose channel
 * weights changed (every opportunity is re-spread) and fractribution paths whose weights changed.
 */
async function storeWeights(trx: Knex.Transaction, weights: Weight[], previous: boolean): Promise<{ globalChanged: Set<string>; changedPaths: Set<string> }> {
  const globalChanged = new Set<string>();
  const changedPaths = new Set<string>();
  if (previous) {
    const key = (w: Pick<Weight, 'model' | 'path_key' | 'channel'>) => `${w.model}\u0000${w.path_key ?? ''}\u0000${w.channel}`;
    const old = new Map<string, Weight>();
    for (const w of (await trx('staging.int_channel_weights').select('model', 'path_key', 'channel', 'weight')) as Weight[]) old.set(key(w), w);
    const mark = (w: Weight) => (w.path_key === null ? globalChanged.add(w.model) : changedPaths.add(w.path_key));
    for (const w of weights) {
      const o = old.get(key(w));
      if (o === undefined || o.weight !== w.weight) mark(w);
      old.delete(key(w));
    }
    for (const w of old.values()) mark(w);
  }
  await trx.raw('DROP TABLE IF EXISTS staging.int_channel_weights');
  await trx.raw('CREATE TABLE staging.int_channel_weights (model text NOT NULL, path_key text, channel text NOT NULL, weight float8 NOT NULL)');
  // One statement over arrays: fractribution has a row per path and channel (tens of thousands).
  // (JSON numbers round-trip float8 exactly: shortest representation in, correctly rounded out.)
  await trx.raw(
    `INSERT INTO staging.int_channel_weights (model, path_key, channel, weight)
     SELECT model, path_key, channel, weight FROM jsonb_to_recordset(?::jsonb) AS w(model text, path_key text, channel text, weight float8)`,
    [JSON.stringify(weights)],
  );
  await trx.raw('CREATE INDEX ON staging.int_channel_weights (model, channel, path_key)');
  await trx.raw('ANALYZE staging.int_channel_weights');
  return { globalChanged, changedPaths };
}

/**
 * Data-driven credits of the opportunities in `scope` (a relation with connection_id,
 * opportunity_id, model; null: every opportunity under every data-driven model): a channel's weight
 * over the sum of the weights of the channels in its path, split equally over that channel's
 * touches; when every weight is 0, the last touch gets 1.
 */
function modelCreditsSelect(scope: string | null, modelNames: readonly string[] = DATA_DRIVEN_MODELS): string {
  const join = scope === null
    ? `CROSS JOIN ${valuesOf(modelNames)} AS s(model)`
    : `JOIN ${scope} s ON s.connection_id = t.connection_id AND s.opportunity_id = t.opportunity_id`;
  return `
    (WITH weighted AS (
      SELECT t.connection_id, t.opportunity_id, t.touchpoint_id, ${TOUCH_COLUMNS.map((c) => `t.${c}`).join(', ')}, s.model,
             coalesce(wg.weight, wp.weight, 0) AS w,
             count(*) OVER (PARTITION BY t.connection_id, t.opportunity_id, s.model, t.channel) AS channel_touches
      FROM staging.int_opportunity_touches t
      JOIN staging.int_opportunity_paths p ON p.connection_id = t.connection_id AND p.opportunity_id = t.opportunity_id
      ${join}
      LEFT JOIN staging.int_channel_weights wg ON wg.path_key IS NULL AND wg.model = s.model AND wg.channel = t.channel
      LEFT JOIN staging.int_channel_weights wp ON wp.path_key = p.path_key AND wp.model = s.model AND wp.channel = t.channel
    ),
    totals AS (
      -- Summed in touch order: the float total must not depend on row order (incremental = full).
      SELECT *, sum(w / channel_touches) OVER (PARTITION BY connection_id, opportunity_id, model ORDER BY pos
                                               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS total FROM weighted
    )
    SELECT connection_id, opportunity_id, touchpoint_id, ${TOUCH_COLUMNS.join(', ')}, model,
           CASE WHEN total > 0 THEN (w / channel_touches) / total WHEN pos = n THEN 1 ELSE 0 END::float8 AS credit
    FROM totals)`;
}

async function count(trx: Knex.Transaction, table: string): Promise<number> {
  return Number(((await trx(table).count({ n: '*' }).first()) as { n: number | string }).n);
}

/** Tables an incremental run patches: all must exist, else the run is full. */
const STATE_TABLES = [...models.map((m) => m.name), 'staging.int_channel_weights', 'staging.int_attribution_monthly'];

/**
 * The watermark of this run: now, or the start of the oldest other open transaction in this
 * database, whichever is earlier. Rows such a transaction writes (stamped with its start time) are
 * not visible yet, and must count as changed at the next run. Read before the transform's own
 * transaction starts, so every transaction that began earlier has either committed (and is seen)
 * or is still open (and holds the watermark back).
 */
async function nextWatermark(knex: Knex): Promise<string> {
  // As text: a JS Date would drop the microseconds.
  const row = (await knex.raw(
    `SELECT least(now(), (SELECT min(xact_start) FROM pg_stat_activity
                          WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL))::text AS wm`,
  )).rows[0] as { wm: string };
  return row.wm;
}

/**
 * Runs the transform: channel grouping, identity, touchpoint paths, every attribution model and the
 * marts, in ONE transaction, so BI never reads half-refreshed marts. Incremental by default (see
 * TransformOptions.full); an incremental run leaves every mart exactly as a full run would.
 */
export async function runTransform(options: TransformOptions): Promise<TransformResult> {
  const config = parseTransformConfig(options.config);
  const goals = parseGoals(options.goals, options.baseDir);
  const hash = configHash(config);
  const steps: TransformResult['steps'] = [];
  const warnings: string[] = [];
  const rows: Record<string, number> = {};
  const watermark = await nextWatermark(options.warehouse.knex);
  let mode: TransformResult['mode'] = 'full';
  let reason: string | undefined;
  let scopeCounts: Record<string, number> | undefined;
  await options.warehouse.knex.transaction(async (trx) => {
    const step = async (name: string, statements: string[] | (() => Promise<void>)) => {
      const t0 = performance.now();
      if (typeof statements === 'function') await statements();
      else for (const sql of statements) await trx.raw(sql);
      steps.push({ name, ms: performance.now() - t0 });
      options.log.debug({ step: name, ms: Math.round(performance.now() - t0) }, 'transform step');
    };
    // One transform at a time: a second waits, then sees the first one's results.
    await trx.raw(`SELECT pg_advisory_xact_lock(hashtext('mpm.transform'))`);
    // Sorts and hashes of a million rows spill to disk at the default 4MB.
    if (options.warehouse.kind === 'postgres') await trx.raw(`SET LOCAL work_mem = '128MB'`);

    const state = (await trx.raw(`SELECT watermark::text AS watermark, config_hash FROM meta.transform_state WHERE id = 'default'`)).rows[0] as
      { watermark: string; config_hash: string } | undefined;
    let changes: ChangeSets | null = null;
    if (options.full) reason = 'requested (--full)';
    else if (!state) reason = 'no previous transform';
    else if (state.config_hash !== hash) reason = 'the transform config (or the transform itself) changed';
    else {
      const missing = [];
      for (const table of STATE_TABLES) if (((await trx.raw('SELECT to_regclass(?) AS t', [table])).rows[0] as { t: string | null }).t === null) missing.push(table);
      if (missing.length) reason = `${missing.join(', ')} missing`;
      else {
        const t0 = performance.now();
        const detected = await detectChanges(trx, state.watermark);
        steps.push({ name: 'detect changes', ms: performance.now() - t0 });
        if (typeof detected === 'string') reason = detected;
        else changes = detected;
      }
    }

    await step('staging.channel_of', [channelFunctionSql(effectiveRules(config))]);
    if (changes) {
      mode = 'incremental';
      scopeCounts = await incremental(trx, config, changes, step, warnings);
    } else {
      options.log.info({ reason }, 'full transform');
      await full(trx, config, step, warnings);
    }
    await step('marts.kpi_channel_monthly', kpiChannelSql(config));
    await step('marts.kpi_campaign_monthly', kpiCampaignSql(config));
    await step('marts.kpi_funnel_monthly', kpiFunnelSql());
    await step('marts.goal_pacing', async () => {
      const asOf = config.asOf ?? (await dataAsOf(trx)) ?? new Date().toISOString().slice(0, 10);
      await refreshGoals(trx, goals, { asOf, currency: config.reportingCurrency });
    });
    const missingFx = Number(((await trx('marts.fct_ad_spend_daily').whereNull('spend_reporting').count({ n: '*' }).first()) as { n: number }).n);
    if (missingFx > 0) warnings.push(`${missingFx} spend rows have no FX rate to ${config.reportingCurrency}: load rates into core.fx_rate_daily (they count as 0 in the KPI marts)`);
    for (const table of MART_TABLES) {
      // The attribution mart's row count is kept in its monthly sums: counting ten million rows would cost more than an incremental run.
      rows[table] = table === 'marts.fct_attribution'
        ? Number(((await trx.raw('SELECT coalesce(sum(n), 0) AS n FROM staging.int_attribution_monthly')).rows[0] as { n: string | number }).n)
        : await count(trx, table);
    }
    await trx.raw(
      `INSERT INTO meta.transform_state (id, watermark, config_hash, last_mode, finished_at) VALUES ('default', ?::timestamptz, ?, ?, now())
       ON CONFLICT (id) DO UPDATE SET watermark = excluded.watermark, config_hash = excluded.config_hash, last_mode = excluded.last_mode, finished_at = excluded.finished_at`,
      [watermark, hash, mode],
    );
    await trx.raw(`DELETE FROM meta.transform_deletions WHERE deleted_at < ?::timestamptz`, [watermark]);
  });
  for (const w of warnings) options.log.warn(w);
  return { mode, ...(reason !== undefined && mode === 'full' ? { reason } : {}), steps, rows, ...(scopeCounts ? { scope: scopeCounts } : {}), warnings };
}

type Step = (name: string, statements: string[] | (() => Promise<void>)) => Promise<void>;

/**
 * Empties a big mart and refills it with `insert`, its indexes dropped meanwhile and rebuilt after
 * (building a btree over ten million rows once is several times faster than growing it row by
 * row). TRUNCATE holds an exclusive lock until commit: BI queries of this table wait for a full
 * run, not for incremental ones, which patch rows in place.
 */
async function bulkReplace(trx: Knex.Transaction, table: string, insert: string): Promise<void> {
  const [schema, name] = table.split('.');
  const indexes = (await trx.raw(
    `SELECT i.indexrelid::regclass::text AS index, pg_get_indexdef(i.indexrelid) AS def, c.conname, pg_get_constraintdef(c.oid) AS condef
     FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
     WHERE i.indrelid = to_regclass(?)`,
    [`${schema}.${name}`],
  )).rows as Array<{ index: string; def: string; conname: string | null; condef: string | null }>;
  await trx.raw(`TRUNCATE ${table}`);
  for (const ix of indexes) await trx.raw(ix.conname ? `ALTER TABLE ${table} DROP CONSTRAINT "${ix.conname}"` : `DROP INDEX ${ix.index}`);
  await trx.raw(insert);
  for (const ix of indexes) await trx.raw(ix.conname ? `ALTER TABLE ${table} ADD CONSTRAINT "${ix.conname}" ${ix.condef}` : ix.def);
  await trx.raw(`ANALYZE ${table}`);
}

/** Everything from scratch. */
async function full(trx: Knex.Transaction, config: TransformConfig, step: Step, warnings: string[]): Promise<void> {
  for (const model of models) await step(model.name, buildModelSql(model, config));
  await step('data-driven weights', async () => {
    await storeWeights(trx, solve(await pathSummaries(trx), config, warnings), false);
  });
  await step('marts.fct_attribution', () =>
    bulkReplace(trx, 'marts.fct_attribution', attributionInsertSql(config, `(${ruleCreditsSelect(config, null)} UNION ALL ${modelCreditsSelect(null)})`)));
  await step('staging.int_attribution_monthly', attributionMonthlyBuildSql());
  await step('marts.fct_ad_spend_daily + marts.fct_web_traffic_daily', [
    'DELETE FROM marts.fct_ad_spend_daily', spendMartInsertSql(config, null),
    'DELETE FROM marts.fct_web_traffic_daily', trafficMartInsertSql(null),
  ]);
}

/** Recomputes the slices of every staging model and mart that the changed core rows feed. */
async function incremental(trx: Knex.Transaction, config: TransformConfig, changes: ChangeSets, step: Step, warnings: string[]): Promise<Record<string, number>> {
  const model = (name: string): SqlModel => models.find((m) => m.name === name)!;
  const refresh = (name: string, scope: string) => step(`${name} (incremental)`, refreshModelSql(model(name), config, scope));
  const analyze = (...tables: string[]) => Promise.all(tables.map((t) => trx.raw(`ANALYZE ${t}`)));

  // People, then their touches: collect the person keys and opportunities the old and the new rows belong to.
  await step('scope: people', [
    `INSERT INTO inc_pkey SELECT ip.person_key FROM staging.int_people ip JOIN inc_person s USING (connection_id, person_id)`,
    `INSERT INTO inc_opp SELECT ip.connection_id, ip.converted_opportunity_id FROM staging.int_people ip JOIN inc_person s USING (connection_id, person_id) WHERE ip.converted_opportunity_id IS NOT NULL`,
  ]);
  await refresh('staging.int_people', 'inc_person');
  await step('scope: touchpoints', [
    `INSERT INTO inc_pkey SELECT ip.person_key FROM staging.int_people ip JOIN inc_person s USING (connection_id, person_id)`,
    `INSERT INTO inc_opp SELECT ip.connection_id, ip.converted_opportunity_id FROM staging.int_people ip JOIN inc_person s USING (connection_id, person_id) WHERE ip.converted_opportunity_id IS NOT NULL`,
    // A person's touches follow its person_key; a campaign's touches its name, UTMs and type.
    `INSERT INTO inc_touch SELECT t.connection_id, t.touchpoint_id FROM core.fct_touchpoint t JOIN inc_person s USING (connection_id, person_id)`,
    ...(changes.campaigns > 0 ? [`INSERT INTO inc_touch SELECT t.connection_id, t.touchpoint_id FROM core.fct_touchpoint t JOIN inc_campaign s USING (connection_id, campaign_id)`] : []),
    `CREATE TEMP TABLE inc_touch_keys ON COMMIT DROP AS SELECT DISTINCT connection_id, touchpoint_id FROM inc_touch`,
    `INSERT INTO inc_pkey SELECT t.person_key FROM staging.int_touchpoints t JOIN inc_touch_keys s USING (connection_id, touchpoint_id)`,
  ]);
  await analyze('inc_touch_keys');
  await refresh('staging.int_touchpoints', 'inc_touch_keys');
  await step('scope: opportunities', [
    `INSERT INTO inc_pkey SELECT t.person_key FROM staging.int_touchpoints t JOIN inc_touch_keys s USING (connection_id, touchpoint_id)`,
    `CREATE TEMP TABLE inc_pkeys ON COMMIT DROP AS SELECT DISTINCT person_key FROM inc_pkey`,
    // Opportunities linked to a changed person (its person_key may have moved) or to a person key whose touches or lead date changed.
    `INSERT INTO inc_opp SELECT b.connection_id, b.opportunity_id FROM core.bridge_opportunity_person b JOIN inc_person s USING (connection_id, person_id)`,
    `INSERT INTO inc_opp SELECT op.connection_id, op.opportunity_id FROM staging.int_opportunity_people op JOIN inc_pkeys s USING (person_key)`,
    `CREATE TEMP TABLE inc_opps ON COMMIT DROP AS SELECT DISTINCT connection_id, opportunity_id FROM inc_opp WHERE opportunity_id IS NOT NULL`,
    // People whose having-an-opportunity status may change: their non-converting path is recomputed.
    `CREATE TEMP TABLE inc_unconv ON COMMIT DROP AS SELECT person_key FROM inc_pkeys
       UNION SELECT op.person_key FROM staging.int_opportunity_people op JOIN inc_opps s USING (connection_id, opportunity_id)`,
  ]);
  await analyze('inc_pkeys', 'inc_opps');
  await refresh('staging.int_opportunity_people', 'inc_opps');
  await step('scope: people of opportunities', [
    `INSERT INTO inc_unconv SELECT op.person_key FROM staging.int_opportunity_people op JOIN inc_opps s USING (connection_id, opportunity_id)`,
    `CREATE TEMP TABLE inc_unconv_keys ON COMMIT DROP AS SELECT DISTINCT person_key FROM inc_unconv`,
    `CREATE TEMP TABLE inc_funnel_opps ON COMMIT DROP AS SELECT connection_id, opportunity_id FROM inc_opps UNION SELECT connection_id, opportunity_id FROM inc_history_opp`,
  ]);
  await analyze('inc_unconv_keys', 'inc_funnel_opps');
  for (const name of ['staging.int_opportunities', 'staging.int_opportunity_touches', 'staging.int_opportunity_paths']) await refresh(name, 'inc_opps');
  await refresh('staging.int_person_paths', 'inc_unconv_keys');
  await refresh('staging.int_person_lead_touch', 'inc_pkeys');
  await refresh('staging.int_stage_changes', 'inc_funnel_opps');

  // Data-driven weights from all paths (cheap); re-spread a model everywhere only if its weights moved.
  let spread: { globalChanged: Set<string>; changedPaths: Set<string> } = { globalChanged: new Set(), changedPaths: new Set() };
  await step('data-driven weights', async () => {
    spread = await storeWeights(trx, solve(await pathSummaries(trx), config, warnings), true);
  });
  const globalModels = GLOBAL_MODELS.filter((m) => spread.globalChanged.has(m));
  const localModels = DATA_DRIVEN_MODELS.filter((m) => !spread.globalChanged.has(m));
  await step('scope: attribution', async () => {
    await trx.raw(`CREATE TEMP TABLE inc_changed_paths (path_key text) ON COMMIT DROP`);
    await trx.raw(`INSERT INTO inc_changed_paths SELECT unnest(?::text[])`, [[...spread.changedPaths]]);
    // (opportunity, model) slices of marts.fct_attribution to recompute.
    await trx.raw(`CREATE TEMP TABLE inc_attr ON COMMIT DROP AS
      SELECT o.connection_id, o.opportunity_id, m.model FROM inc_opps o CROSS JOIN ${valuesOf([...RULE_MODELS, ...localModels])} AS m(model)
      UNION
      SELECT p.connection_id, p.opportunity_id, 'fractribution' FROM staging.int_opportunity_paths p JOIN inc_changed_paths c USING (path_key)
      ${localModels.includes('fractribution') ? '' : 'WHERE false'}`);
    await trx.raw(`CREATE TEMP TABLE inc_spread ON COMMIT DROP AS SELECT * FROM inc_attr WHERE model IN ${valuesOf(localModels.length ? localModels : ['-'])}`);
    await analyze('inc_attr', 'inc_spread');
  });
  await step('marts.fct_attribution (incremental)', async () => {
    const credits = `(${ruleCreditsSelect(config, 'inc_opps')}
                     UNION ALL ${modelCreditsSelect('inc_spread')}
                     ${globalModels.length ? `UNION ALL ${modelCreditsSelect(null, globalModels)}` : ''})`;
    const scoped = `(SELECT a.* FROM marts.fct_attribution a JOIN inc_attr s USING (connection_id, opportunity_id, model))`;
    await trx.raw(`CREATE TEMP TABLE inc_attr_delta ON COMMIT DROP AS ${attributionMonthlyGroupSql(scoped, -1)}`);
    await trx.raw(`DELETE FROM marts.fct_attribution a USING inc_attr s WHERE a.connection_id = s.connection_id AND a.opportunity_id = s.opportunity_id AND a.model = s.model`);
    if (globalModels.length) {
      // Every opportunity of these models: drop their monthly sums and rebuild them after the insert.
      await trx.raw(`DELETE FROM staging.int_attribution_monthly WHERE model IN ${valuesOf(globalModels)}`);
      await trx.raw(`DELETE FROM marts.fct_attribution WHERE model IN ${valuesOf(globalModels)}`);
    }
    await trx.raw(attributionInsertSql(config, credits));
    await trx.raw(`INSERT INTO inc_attr_delta ${attributionMonthlyGroupSql(scoped, 1)}`);
    if (globalModels.length) await trx.raw(`INSERT INTO inc_attr_delta ${attributionMonthlyGroupSql(`(SELECT * FROM marts.fct_attribution WHERE model IN ${valuesOf(globalModels)})`, 1)}`);
    for (const sql of attributionMonthlyApplySql('inc_attr_delta')) await trx.raw(sql);
  });
  await step('marts.fct_ad_spend_daily + marts.fct_web_traffic_daily (incremental)', [
    ...(changes.campaigns > 0 ? [
      `INSERT INTO inc_spend SELECT s.connection_id, s.campaign_id, s.date FROM core.fct_ad_spend_daily s JOIN inc_campaign c USING (connection_id, campaign_id)`,
      `INSERT INTO inc_spend SELECT s.connection_id, s.campaign_id, s.date FROM marts.fct_ad_spend_daily s JOIN inc_campaign c USING (connection_id, campaign_id)`,
    ] : []),
    `CREATE TEMP TABLE inc_spend_keys ON COMMIT DROP AS SELECT DISTINCT * FROM inc_spend`,
    `DELETE FROM marts.fct_ad_spend_daily m USING inc_spend_keys s WHERE m.connection_id = s.connection_id AND m.campaign_id = s.campaign_id AND m.date = s.date`,
    spendMartInsertSql(config, 'inc_spend_keys'),
    `CREATE TEMP TABLE inc_traffic_keys ON COMMIT DROP AS SELECT DISTINCT * FROM inc_traffic`,
    `DELETE FROM marts.fct_web_traffic_daily m USING inc_traffic_keys s
      WHERE (m.connection_id, m.property_id, m.date, m.source, m.medium, m.campaign) = (s.connection_id, s.property_id, s.date, s.source, s.medium, s.campaign)`,
    trafficMartInsertSql('inc_traffic_keys'),
  ]);
  const sizes: Record<string, number> = {};
  for (const [name, table] of [['people', 'inc_person'], ['touchpoints', 'inc_touch_keys'], ['person_keys', 'inc_pkeys'], ['opportunities', 'inc_opps'],
    ['attribution_slices', 'inc_attr'], ['spend_rows', 'inc_spend_keys'], ['traffic_rows', 'inc_traffic_keys']] as const) {
    sizes[name] = await count(trx, table);
  }
  sizes.respread_models = globalModels.length;
  return sizes;
}

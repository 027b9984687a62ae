import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Warehouse } from '../../warehouse/db.ts';
import { channelFunctionSql, channelsOf, checkChannelRegexes, checkDirectChannels, effectiveRules } from './channels.ts';
import { parseTransformConfig, type TransformConfig } from './config.ts';
import { buildModelSql, freshRowsOf, models, refreshChangedModelSql, refreshModelSql, spendMartInsertSql, trafficMartInsertSql, type SqlModel } from './models.ts';
import { aggregateBuildSql, AGGREGATES, type Aggregate, campaignNamesMovedSql, kpiCampaignSql, kpiChannelSql, kpiFunnelSql, LEAD_AGGREGATE, TRAFFIC_CAMPAIGNS } from './kpis.ts';
import {
  applyDeltaSql, ATTRIBUTION_MONTHLY, ATTRIBUTION_SET_GROUPS, ATTRIBUTION_TOUCHES, attributionMonthlyFromWideSql, attributionMonthlyUpdateSql, attributionSumsBuildSql,
  attributionTouchesInsertSql, attributionViewSql, attributionWideChangeSql, FRACTRIBUTION_PATHS, fractributionMovedSql, SET_GROUP_KEY, SET_GROUP_SUMS,
} from './attribution-mart.ts';
import { checkGoalChannels, dataAsOf, parseGoals, refreshGoals } from './goals.ts';
import { detectChanges, type ChangeSets } from './incremental.ts';
import { buildDataDriven, DATA_DRIVEN_TABLES, PATH_DELTA, updateDataDriven, type DataDrivenChanges } from './data-driven.ts';

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
const TRANSFORM_VERSION = 9;

/** The marts the transform refreshes. */
export const MART_TABLES = [
  'marts.fct_attribution', 'marts.fct_ad_spend_daily', 'marts.fct_web_traffic_daily',
  'marts.kpi_channel_monthly', 'marts.kpi_campaign_monthly', 'marts.kpi_funnel_monthly',
  'marts.goal_monthly_targets', 'marts.goal_pacing',
] as const;

export function configHash(config: TransformConfig): string {
  return createHash('sha256').update(JSON.stringify({ version: TRANSFORM_VERSION, config })).digest('hex');
}

async function count(trx: Knex.Transaction, table: string): Promise<number> {
  return Number(((await trx(table).count({ n: '*' }).first()) as { n: number | string }).n);
}

/**
 * One row, written by every full run, in an UNLOGGED table like the intermediate ones: crash
 * recovery empties every unlogged table, so an empty sentinel means they lost their rows and the
 * next run must be full.
 */
const TRANSFORM_SENTINEL = 'staging.int_transform_sentinel';

/** Tables an incremental run patches: all must exist, else the run is full. */
const STATE_TABLES = [...models.map((m) => m.name), ...AGGREGATES.map((a) => a.name), ...DATA_DRIVEN_TABLES, ATTRIBUTION_SET_GROUPS, ATTRIBUTION_MONTHLY, TRANSFORM_SENTINEL];

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
 * Parses and checks the `transform` and `goals` sections as a run would (a ConfigError names what
 * is wrong): what runTransform does first, and what a worker checks at start, so a bad section
 * stops it there instead of failing every transform job.
 */
export async function checkTransformConfig(
  knex: Knex, sections: Pick<TransformOptions, 'config' | 'goals' | 'baseDir'>,
): Promise<{ config: TransformConfig; goals: ReturnType<typeof parseGoals> }> {
  const config = parseTransformConfig(sections.config);
  const goals = parseGoals(sections.goals, sections.baseDir);
  checkDirectChannels(sections.config, config);
  checkGoalChannels(goals, channelsOf(config));
  await checkChannelRegexes(knex, config.channelRules);
  return { config, goals };
}

/**
 * Runs the transform: channel grouping, identity, touchpoint paths, every attribution model and the
 * marts, in ONE transaction, so BI never reads half-refreshed marts. Incremental by default (see
 * TransformOptions.full); an incremental run leaves every mart exactly as a full run would.
 */
export async function runTransform(options: TransformOptions): Promise<TransformResult> {
  const { config, goals } = await checkTransformConfig(options.warehouse.knex, options);
  const hash = configHash(config);
  const steps: TransformResult['steps'] = [];
  const warnings: string[] = [];
  const rows: Record<string, number> = {};
  const watermark = await nextWatermark(options.warehouse.knex);
  let mode: TransformResult['mode'] = 'full';
  let reason: string | undefined;
  let scopeCounts: Record<string, number> | undefined;
  let kpiMonths = false;
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
    // Index builds in memory; no JIT (compiling the wide attribution queries costs more than it saves).
    if (options.warehouse.kind === 'postgres') {
      for (const setting of [`work_mem = '128MB'`, `maintenance_work_mem = '512MB'`, 'jit = off']) await trx.raw(`SET LOCAL ${setting}`);
    }

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
      else if ((await trx.raw(`SELECT 1 FROM ${TRANSFORM_SENTINEL} LIMIT 1`)).rows.length === 0) reason = 'the intermediate (unlogged) tables were emptied by a crash recovery';
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
      // Incremental statements look a few thousand keys up in million-row tables that are cached:
      // index lookups beat scans, which the default page cost (4, for spinning disks) prefers.
      if (options.warehouse.kind === 'postgres') await trx.raw('SET LOCAL random_page_cost = 1.1');
      ({ sizes: scopeCounts, kpiMonths } = await incremental(trx, config, changes, step, warnings));
    } else {
      options.log.info({ reason }, 'full transform');
      await full(trx, config, step, warnings);
    }
    // The KPI marts read only what the core rows feed: with no core row changed they stay as they are.
    if (!changes || changes.total > 0) {
      const months = kpiMonths ? 'inc_kpi_months' : null;
      await step(`marts.kpi_channel_monthly${months ? ' (incremental)' : ''}`, kpiChannelSql(config, months));
      await step(`marts.kpi_campaign_monthly${months ? ' (incremental)' : ''}`, kpiCampaignSql(config, months));
      await step('marts.kpi_funnel_monthly', kpiFunnelSql());
    }
    await step('marts.goal_pacing', async () => {
      const asOf = config.asOf ?? (await dataAsOf(trx)) ?? new Date().toISOString().slice(0, 10);
      await refreshGoals(trx, goals, { asOf, currency: config.reportingCurrency });
    });
    const missingFx = Number(((await trx('marts.fct_ad_spend_daily').whereNull('spend_reporting').count({ n: '*' }).first()) as { n: number }).n);
    if (missingFx > 0) warnings.push(`${missingFx} spend rows have no FX rate to ${config.reportingCurrency}: load rates into core.fx_rate_daily (they count as 0 in the KPI marts)`);
    for (const table of MART_TABLES) {
      // The attribution mart's row count is kept in its monthly sums: counting ten million rows would cost more than an incremental run.
      rows[table] = table === 'marts.fct_attribution'
        ? Number(((await trx.raw(`SELECT coalesce(sum(n), 0) AS n FROM ${ATTRIBUTION_MONTHLY} WHERE kind = 'created'`)).rows[0] as { n: string | number }).n)
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
 * Empties a big table and refills it with `insert`, its indexes dropped meanwhile and rebuilt after
 * (building a btree over a million rows once is several times faster than growing it row by
 * row). TRUNCATE holds an exclusive lock until commit: BI queries of marts.fct_attribution (a view
 * over staging.int_attribution_touches) wait for a full run, not for incremental ones, which patch
 * rows in place.
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
  await trx.raw(`DROP TABLE IF EXISTS ${TRANSFORM_SENTINEL}`);
  await trx.raw(`CREATE UNLOGGED TABLE ${TRANSFORM_SENTINEL} AS SELECT now() AS built_at`);
  for (const model of models) await step(model.name, buildModelSql(model, config));
  for (const aggregate of AGGREGATES) await step(aggregate.name, aggregateBuildSql(aggregate));
  await step('data-driven weights', () => buildDataDriven(trx, config, warnings));
  await step(ATTRIBUTION_TOUCHES, async () => {
    await bulkReplace(trx, ATTRIBUTION_TOUCHES, attributionTouchesInsertSql(config, null));
    await trx.raw(attributionViewSql());
  });
  await step(`${ATTRIBUTION_SET_GROUPS} + ${ATTRIBUTION_MONTHLY}`, attributionSumsBuildSql());
  await step('marts.fct_ad_spend_daily + marts.fct_web_traffic_daily', [
    'DELETE FROM marts.fct_ad_spend_daily', spendMartInsertSql(config, null),
    'DELETE FROM marts.fct_web_traffic_daily', trafficMartInsertSql(null),
  ]);
}

/** The temporary table an incremental run keeps an aggregate's change in (its slices' rows minus before, plus after). */
const deltaOf = (aggregate: Aggregate) => `inc_delta_${aggregate.name.split('.')[1]}`;

/**
 * Recomputes the slices of every staging model and mart that the changed core rows feed. Returns
 * the scope's sizes, and whether the KPI marts need only the months in temporary table
 * inc_kpi_months written anew.
 */
async function incremental(
  trx: Knex.Transaction, config: TransformConfig, changes: ChangeSets, step: Step, warnings: string[],
): Promise<{ sizes: Record<string, number>; kpiMonths: boolean }> {
  const model = (name: string): SqlModel => models.find((m) => m.name === name)!;
  // A model's slices recomputed; the aggregates of the model patched: minus the slices' rows before, plus after.
  const refresh = (name: string, scope: string) => {
    const aggregates = AGGREGATES.filter((a) => a.model === name);
    return step(`${name} (incremental)`, [
      ...aggregates.map((a) => `CREATE TEMP TABLE ${deltaOf(a)} ON COMMIT DROP AS ${a.rows(scope, -1)}`),
      ...refreshModelSql(model(name), config, scope),
      ...aggregates.flatMap((a) => [`INSERT INTO ${deltaOf(a)} ${a.rows(scope, 1)}`, ...applyDeltaSql(a.name, a.key.join(', '), a.sums, deltaOf(a))]),
    ]);
  };
  const analyze = (...tables: string[]) => Promise.all(tables.map((t) => trx.raw(`ANALYZE ${t}`)));
  // A model without aggregates recomputed for its slices, but rewritten only where they changed (early cutoff; see refreshChangedModelSql).
  const refreshChanged = (name: string, scope: string, changed: string) => {
    if (AGGREGATES.some((a) => a.model === name)) throw new Error(`${name} has aggregates: refresh it whole`);
    return step(`${name} (incremental)`, async () => {
      const columns = ((await trx.raw(
        `SELECT attname FROM pg_attribute WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, [name],
      )).rows as Array<{ attname: string }>).map((r) => r.attname);
      for (const sql of refreshChangedModelSql(model(name), config, scope, changed, columns)) await trx.raw(sql);
    });
  };

  // The opportunities whose own core rows (or links) changed, before the scope widens to those of changed people.
  await trx.raw(`CREATE TEMP TABLE inc_core_opps ON COMMIT DROP AS SELECT DISTINCT connection_id, opportunity_id FROM inc_opp WHERE opportunity_id IS NOT NULL`);

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
    // Touches known by email only: those a changed person was linked to, and those its email now names.
    `INSERT INTO inc_touch SELECT t.connection_id, t.touchpoint_id FROM staging.int_touchpoints t JOIN inc_person s USING (connection_id, person_id)`,
    `INSERT INTO inc_touch SELECT t.connection_id, t.touchpoint_id FROM core.fct_touchpoint t
       JOIN core.dim_person p ON p.connection_id = t.connection_id AND lower(p.email) = t.email
       JOIN inc_person s ON s.connection_id = p.connection_id AND s.person_id = p.person_id
      WHERE t.person_id IS NULL`,
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
    // Stage changes read only the opportunity's core row and stage history.
    `CREATE TEMP TABLE inc_funnel_opps ON COMMIT DROP AS SELECT connection_id, opportunity_id FROM inc_core_opps UNION SELECT connection_id, opportunity_id FROM inc_history_opp`,
  ]);
  await analyze('inc_unconv_keys', 'inc_funnel_opps');
  // The paths' counts before and after (the data-driven models keep counts per path).
  const pathDelta = (sign: 1 | -1) => [
    `INSERT INTO ${PATH_DELTA} SELECT p.path_key, ${sign}, 0 FROM staging.int_opportunity_paths p JOIN inc_opps s USING (connection_id, opportunity_id)`,
    `INSERT INTO ${PATH_DELTA} SELECT p.path_key, 0, ${sign} FROM staging.int_person_paths p JOIN inc_unconv_keys s USING (person_key)`,
  ];
  await step('scope: paths before', [`CREATE TEMP TABLE ${PATH_DELTA} (path_key text NOT NULL, conversions int NOT NULL, nulls int NOT NULL) ON COMMIT DROP`, ...pathDelta(-1)]);
  // The opportunities whose path rows came out different: only their attribution rows are recomputed.
  await trx.raw('CREATE TEMP TABLE inc_attr_opp (connection_id text, opportunity_id text) ON COMMIT DROP');
  for (const name of ['staging.int_opportunities', 'staging.int_opportunity_touches', 'staging.int_opportunity_paths']) await refreshChanged(name, 'inc_opps', 'inc_attr_opp');
  await trx.raw('CREATE TEMP TABLE inc_attr_opps ON COMMIT DROP AS SELECT DISTINCT connection_id, opportunity_id FROM inc_attr_opp');
  await analyze('inc_attr_opps');
  await refresh('staging.int_person_paths', 'inc_unconv_keys');
  await step('scope: paths after', pathDelta(1));
  await refresh('staging.int_person_lead_touch', 'inc_pkeys');
  await refresh('staging.int_stage_changes', 'inc_funnel_opps');

  // The data-driven models: their kept counts patched with the paths that moved, Markov and
  // Shapley solved again, fractribution recomputed for the paths whose inputs moved.
  let moved!: DataDrivenChanges;
  await step('data-driven weights', async () => {
    moved = await updateDataDriven(trx, config, warnings);
  });
  await step('scope: attribution', async () => {
    // Opportunities whose stored rows keep their path but whose path's fractribution credits moved.
    await trx.raw(`CREATE TEMP TABLE inc_fract_opps ON COMMIT DROP AS
      SELECT p.connection_id, p.opportunity_id FROM staging.int_opportunity_paths p
      JOIN staging.int_path_summary s ON s.path_key = p.path_key JOIN inc_changed_paths c ON c.path_id = s.path_id
      EXCEPT SELECT connection_id, opportunity_id FROM inc_attr_opps`);
    await analyze('inc_fract_opps');
  });
  const attributionOpps = await count(trx, 'inc_attr_opps');
  const fractOpps = await count(trx, 'inc_fract_opps');
  const movedPaths = await count(trx, 'inc_changed_paths');
  // Nothing the attribution rows or their sums are computed from moved: no opportunity's rows, no
  // fractribution path, no Markov or Shapley share (a spend-only or empty change).
  const attributionMoved = attributionOpps + fractOpps + movedPaths > 0 || moved.sharesChanged || moved.globalChanged.size > 0;
  if (attributionMoved) await step(`${ATTRIBUTION_TOUCHES} (incremental)`, async () => {
    // Monthly sums and set groups: minus the rows before, plus the rows after, of the recomputed
    // slices (the wide sums of their change, one pass); the opportunities whose fractribution
    // credits alone moved in another, new credits minus the old ones kept here.
    await trx.raw(`CREATE TEMP TABLE inc_fract_old ON COMMIT DROP AS
      SELECT c.path_id, f.credits FROM (SELECT DISTINCT path_id FROM inc_changed_paths) c LEFT JOIN ${FRACTRIBUTION_PATHS} f USING (path_id)`);
    await analyze('inc_fract_old');
    await moved.write();
    // The new rows, from the staging rows the early cutoff computed (still in its temporary tables), summed with the old ones, then stored.
    await trx.raw(`CREATE TEMP TABLE inc_attr_new (LIKE ${ATTRIBUTION_TOUCHES}) ON COMMIT DROP`);
    await trx.raw(attributionTouchesInsertSql(config, 'inc_attr_opps', 'inc_attr_new', {
      touches: freshRowsOf('staging.int_opportunity_touches'), paths: freshRowsOf('staging.int_opportunity_paths'), opportunities: freshRowsOf('staging.int_opportunities'),
    }));
    await trx.raw(`CREATE TEMP TABLE inc_wide ON COMMIT DROP AS ${attributionWideChangeSql('inc_attr_opps', 'inc_attr_new', 'inc_fract_old')}`);
    await trx.raw(`DELETE FROM ${ATTRIBUTION_TOUCHES} a USING inc_attr_opps s WHERE a.connection_id = s.connection_id AND a.opportunity_id = s.opportunity_id`);
    await trx.raw(`INSERT INTO ${ATTRIBUTION_TOUCHES} SELECT * FROM inc_attr_new`);
    await trx.raw(`CREATE TEMP TABLE inc_attr_delta ON COMMIT DROP AS ${attributionMonthlyFromWideSql('inc_wide', false)}
      UNION ALL ${fractributionMovedSql('inc_fract_opps', 'inc_fract_old')}`);
    for (const sql of applyDeltaSql(ATTRIBUTION_SET_GROUPS, SET_GROUP_KEY, SET_GROUP_SUMS, 'inc_wide')) await trx.raw(sql);
    for (const sql of attributionMonthlyUpdateSql('inc_attr_delta', 'inc_wide', moved.sharesChanged)) await trx.raw(sql);
  });
  // The campaign each web traffic row is credited to by name, as the spend mart has it before its rows move.
  if (changes.spend > 0) await trx.raw(`CREATE TEMP TABLE inc_traffic_campaigns ON COMMIT DROP AS ${TRAFFIC_CAMPAIGNS}`);
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
  // The months whose KPI rows can have moved: those of the spend and traffic rows, leads and
  // attribution sums recomputed. Every month's can when a Markov or Shapley share moved (their
  // credits move in every month), when the campaign traffic is credited to by name moved, or when
  // a campaign's name or channel on the KPI rows (those of every month) would. A changed campaign
  // (rare: its spend rows, touches and names can move in any month) rewrites every month too,
  // rather than being traced. Without a changed core row the KPI marts are not written at all.
  let kpiMonths = changes.total > 0 && !moved.sharesChanged && changes.campaigns === 0;
  if (kpiMonths && changes.spend > 0) {
    kpiMonths = !((await trx.raw(`WITH mapped AS (${TRAFFIC_CAMPAIGNS})
      SELECT EXISTS (SELECT campaign_name, campaign_key FROM mapped EXCEPT SELECT campaign_name, campaign_key FROM inc_traffic_campaigns)
          OR EXISTS (SELECT campaign_name, campaign_key FROM inc_traffic_campaigns EXCEPT SELECT campaign_name, campaign_key FROM mapped) AS moved`)).rows[0] as { moved: boolean }).moved;
  }
  if (kpiMonths) kpiMonths = !((await trx.raw(campaignNamesMovedSql())).rows[0] as { moved: boolean }).moved;
  if (kpiMonths) {
    await trx.raw(`CREATE TEMP TABLE inc_kpi_months ON COMMIT DROP AS
      SELECT date_trunc('month', date)::date AS month FROM inc_spend_keys
      UNION SELECT date_trunc('month', date)::date FROM inc_traffic_keys
      UNION SELECT month FROM ${deltaOf(LEAD_AGGREGATE)}${attributionMoved ? '\n      UNION SELECT month FROM inc_attr_delta' : ''}`);
  }
  const sizes: Record<string, number> = {};
  for (const [name, table] of [['people', 'inc_person'], ['touchpoints', 'inc_touch_keys'], ['person_keys', 'inc_pkeys'], ['opportunities', 'inc_opps'],
    ['spend_rows', 'inc_spend_keys'], ['traffic_rows', 'inc_traffic_keys']] as const) {
    sizes[name] = await count(trx, table);
  }
  // Opportunities whose stored attribution rows were recomputed (all of them, or their fractribution credits).
  sizes.attribution_opportunities = attributionOpps;
  sizes.attribution_slices = attributionOpps + fractOpps;
  sizes.respread_models = moved.globalChanged.size;
  sizes.fractribution_paths = movedPaths;
  return { sizes, kpiMonths };
}

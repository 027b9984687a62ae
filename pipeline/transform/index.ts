import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { fractributionAttribution, markovAttribution, shapleyAttribution, TooManyChannelsError, type PathSummary } from '../attribution/index.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { channelFunctionSql, effectiveRules } from './channels.ts';
import { parseTransformConfig, type TransformConfig } from './config.ts';
import { buildModelSql, models, refreshModelSql, spendMartInsertSql, trafficMartInsertSql, type SqlModel } from './models.ts';
import { kpiCampaignSql, kpiChannelSql, kpiFunnelSql } from './kpis.ts';
import {
  ATTRIBUTION_MODELS, ATTRIBUTION_SHARES, ATTRIBUTION_TOUCHES, attributionMonthlyBuildSql, attributionMonthlySql, attributionTouchesFractributionSql, attributionTouchesInsertSql, attributionViewSql, SET_MODELS,
} from './attribution-mart.ts';
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
const TRANSFORM_VERSION = 5;

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
     ) s GROUP BY path_key`, // (no ORDER BY: the solvers merge and sort the summaries themselves)
  )).rows as Array<{ path_key: string; conversions: number; nulls: number; value: number }>;
  return rows.map((r) => ({ path: r.path_key.split(SEP), conversions: r.conversions, nulls: r.nulls, value: r.value }));
}

/** Channel weights of the data-driven models, solved on the path summaries. */
interface Solved {
  /** markov, shapley: one weight per channel (absent when the model was skipped or nothing converted). */
  global: Map<string, Record<string, number>>;
  /** fractribution: per converting path (key: channels joined by SEP), a fraction per channel of the path. */
  paths: Map<string, Record<string, number>>;
}

/** Solves the data-driven models in TypeScript on the path summaries. */
function solve(summaries: PathSummary[], config: TransformConfig, warnings: string[]): Solved {
  const solved: Solved = { global: new Map(), paths: new Map() };
  if (!summaries.some((s) => s.conversions > 0)) return solved;
  solved.global.set('markov', markovAttribution(summaries, { order: config.markovOrder }).shares);
  try {
    solved.global.set('shapley', shapleyAttribution(summaries).shares);
  } catch (err) {
    if (!(err instanceof TooManyChannelsError)) throw err;
    warnings.push(`shapley skipped: ${err.message}`);
  }
  for (const p of fractributionAttribution(summaries).paths) if (p.conversions > 0) solved.paths.set(p.path.join(SEP), p.attribution);
  return solved;
}

interface Share {
  model: string;
  key: string;
  channel: string;
  share: number;
}

/** Each channel's weight over the sum of the weights of `channels` (summed in that order); null when the sum is 0. */
function sharesOf(weights: Record<string, number>, channels: readonly string[]): Array<[string, number]> | null {
  let total = 0;
  for (const c of channels) total += weights[c] ?? 0;
  if (!(total > 0)) return null;
  return channels.map((c) => [c, (weights[c] ?? 0) / total]);
}

/** Rows of staging.int_attribution_shares: markov and shapley, per channel set of a converting path. */
function setShares(solved: Solved, channelSets: readonly string[]): Share[] {
  const rows: Share[] = [];
  for (const [model, weights] of solved.global) {
    for (const set of channelSets) for (const [channel, share] of sharesOf(weights, set.split(SEP)) ?? []) rows.push({ model, key: set, channel, share });
  }
  return rows;
}

/**
 * fractribution's credit of every touch of every converting path, in touch order, as Postgres
 * array literals: its channel's share of the path over the channel's touches in the path.
 */
function fractributionCredits(solved: Solved): { keys: string[]; credits: string[] } {
  const keys: string[] = [];
  const credits: string[] = [];
  for (const [key, attribution] of solved.paths) {
    const path = key.split(SEP);
    const shares = new Map(sharesOf(attribution, Object.keys(attribution)) ?? []);
    if (!shares.size) continue;
    const touches = new Map<string, number>();
    for (const c of path) touches.set(c, (touches.get(c) ?? 0) + 1);
    keys.push(key);
    credits.push(`{${path.map((c) => (shares.get(c) ?? 0) / touches.get(c)!).join(',')}}`);
  }
  return { keys, credits };
}

/**
 * Writes rows as one statement over one array per column (parsed much faster than JSON; numbers
 * are sent in their shortest round-trip form, so float8 values arrive exactly).
 */
async function insertArrays<R extends object>(trx: Knex.Transaction, table: string, columns: ReadonlyArray<readonly [keyof R & string, string]>, rows: readonly R[]): Promise<void> {
  if (!rows.length) return;
  await trx.raw(
    `INSERT INTO ${table} (${columns.map(([c]) => c).join(', ')}) SELECT * FROM unnest(${columns.map(([, t]) => `?::${t}[]`).join(', ')})`,
    columns.map(([c]) => rows.map((r) => r[c])) as Knex.RawBinding[],
  );
}

const WEIGHT_COLUMNS = [['model', 'text'], ['channel', 'text'], ['weight', 'float8']] as const;
const SHARE_COLUMNS = [['model', 'text'], ['key', 'text'], ['channel', 'text'], ['share', 'float8']] as const;
/** fractribution's per-touch credits of each converting path (grain: one row per path; credits in touch order). */
const FRACTRIBUTION_PATHS = 'staging.int_fractribution_paths';

/** Solved weights against the stored ones, and how to store them. */
interface WeightChanges {
  /** markov / shapley whose channel weights moved: every opportunity's credit under them moves. */
  globalChanged: Set<string>;
  /** Writes the weights: only what differs, or everything on a full run. */
  write(): Promise<void>;
}

/** Per (model, key): its channels and shares, as one comparable string. */
function sharesByKey(rows: readonly Share[]): Map<string, string> {
  const byKey = new Map<string, Array<[string, number]>>();
  for (const r of rows) {
    const k = `${r.model}\u0000${r.key}`;
    if (!byKey.has(k)) byKey.set(k, []);
    byKey.get(k)!.push([r.channel, r.share]);
  }
  return new Map([...byKey].map(([k, v]) => [k, JSON.stringify(v.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))]));
}

/**
 * Compares the solved weights with the stored ones: staging.int_channel_weights (grain: one row
 * per global model x channel), staging.int_attribution_shares and staging.int_fractribution_paths.
 * Incremental runs also get inc_changed_paths: the fractribution paths whose credits moved. `full`:
 * nothing is compared, everything is rewritten.
 */
async function compareWeights(trx: Knex.Transaction, solved: Solved, full: boolean): Promise<WeightChanges> {
  const channelSets = ((await trx.raw(`SELECT DISTINCT channel_set FROM staging.int_opportunity_paths`)).rows as Array<{ channel_set: string }>).map((r) => r.channel_set);
  const shares = setShares(solved, channelSets);
  const weights = [...solved.global].flatMap(([model, w]) => Object.entries(w).map(([channel, weight]) => ({ model, channel, weight })));
  const fract = fractributionCredits(solved);
  const fractRows = `SELECT path_key, credits::float8[] AS credits FROM unnest(?::text[], ?::text[]) AS f(path_key, credits)`;
  if (full) {
    return {
      globalChanged: new Set(),
      write: async () => {
        await trx.raw('DROP TABLE IF EXISTS staging.int_channel_weights');
        await trx.raw('CREATE UNLOGGED TABLE staging.int_channel_weights (model text NOT NULL, channel text NOT NULL, weight float8 NOT NULL, PRIMARY KEY (model, channel))');
        await insertArrays(trx, 'staging.int_channel_weights', WEIGHT_COLUMNS, weights);
        await trx.raw(`TRUNCATE ${ATTRIBUTION_SHARES}`);
        await insertArrays(trx, ATTRIBUTION_SHARES, SHARE_COLUMNS, shares);
        await trx.raw(`ANALYZE ${ATTRIBUTION_SHARES}`);
        await trx.raw(`DROP TABLE IF EXISTS ${FRACTRIBUTION_PATHS}`);
        await trx.raw(`CREATE UNLOGGED TABLE ${FRACTRIBUTION_PATHS} (path_key text NOT NULL, credits float8[] NOT NULL)`);
        await trx.raw(`INSERT INTO ${FRACTRIBUTION_PATHS} ${fractRows}`, [fract.keys, fract.credits]);
        await trx.raw(`CREATE UNIQUE INDEX ON ${FRACTRIBUTION_PATHS} (path_key)`);
        await trx.raw(`ANALYZE ${FRACTRIBUTION_PATHS}`);
      },
    };
  }
  // A global model whose weights moved (or appeared, or went) is re-spread everywhere.
  const globalChanged = new Set<string>();
  const oldWeights = new Map<string, number>();
  for (const w of (await trx('staging.int_channel_weights').select('model', 'channel', 'weight')) as Array<{ model: string; channel: string; weight: number }>) {
    oldWeights.set(`${w.model}\u0000${w.channel}`, w.weight);
  }
  for (const w of weights) {
    const key = `${w.model}\u0000${w.channel}`;
    if (oldWeights.get(key) !== w.weight) globalChanged.add(w.model);
    oldWeights.delete(key);
  }
  for (const key of oldWeights.keys()) globalChanged.add(key.split('\u0000')[0]!);
  // Channel-set shares (a few thousand rows): the keys whose rows differ are rewritten.
  const oldShares = sharesByKey((await trx.raw(`SELECT model, key, channel, share FROM ${ATTRIBUTION_SHARES}`)).rows as Share[]);
  const newShares = sharesByKey(shares);
  const changed = new Set<string>();
  for (const [k, v] of newShares) if (oldShares.get(k) !== v) changed.add(k);
  for (const k of oldShares.keys()) if (!newShares.has(k)) changed.add(k);
  // fractribution paths: compared in the warehouse (the new credits go there anyway).
  await trx.raw(`CREATE TEMP TABLE inc_fract_new (path_key text NOT NULL, credits float8[] NOT NULL) ON COMMIT DROP`);
  await trx.raw(`INSERT INTO inc_fract_new ${fractRows}`, [fract.keys, fract.credits]);
  await trx.raw(`CREATE TEMP TABLE inc_changed_paths ON COMMIT DROP AS
    SELECT path_key FROM inc_fract_new n FULL JOIN ${FRACTRIBUTION_PATHS} o USING (path_key) WHERE n.credits IS DISTINCT FROM o.credits`);
  await trx.raw('ANALYZE inc_changed_paths');
  return {
    globalChanged,
    write: async () => {
      if (globalChanged.size) {
        await trx('staging.int_channel_weights').whereIn('model', [...globalChanged]).delete();
        await insertArrays(trx, 'staging.int_channel_weights', WEIGHT_COLUMNS, weights.filter((w) => globalChanged.has(w.model)));
      }
      if (changed.size) {
        const keys = [...changed].map((k) => k.split('\u0000') as [string, string]);
        await trx.raw(`DELETE FROM ${ATTRIBUTION_SHARES} s USING unnest(?::text[], ?::text[]) AS c(model, key) WHERE s.model = c.model AND s.key = c.key`,
          [keys.map(([m]) => m), keys.map(([, k]) => k)]);
        await insertArrays(trx, ATTRIBUTION_SHARES, SHARE_COLUMNS, shares.filter((s) => changed.has(`${s.model}\u0000${s.key}`)));
      }
      await trx.raw(`DELETE FROM ${FRACTRIBUTION_PATHS} f USING inc_changed_paths c WHERE f.path_key = c.path_key`);
      await trx.raw(`INSERT INTO ${FRACTRIBUTION_PATHS} SELECT n.* FROM inc_fract_new n JOIN inc_changed_paths c USING (path_key)`);
    },
  };
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
const STATE_TABLES = [...models.map((m) => m.name), 'staging.int_channel_weights', FRACTRIBUTION_PATHS, 'staging.int_attribution_monthly', TRANSFORM_SENTINEL];

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
      scopeCounts = await incremental(trx, config, changes, step, warnings, options.warehouse.kind === 'postgres');
    } else {
      options.log.info({ reason }, 'full transform');
      await full(trx, config, step, warnings);
    }
    await step('marts.kpi_channel_monthly', kpiChannelSql(config));
    await step('marts.kpi_campaign_monthly', kpiCampaignSql(config));
    // (Incremental runs on Postgres rebuilt it while the data-driven models were solved.)
    if (!(mode === 'incremental' && options.warehouse.kind === 'postgres')) await step('marts.kpi_funnel_monthly', kpiFunnelSql());
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
  await step('data-driven weights', async () => {
    await (await compareWeights(trx, solve(await pathSummaries(trx), config, warnings), true)).write();
  });
  await step(ATTRIBUTION_TOUCHES, async () => {
    await bulkReplace(trx, ATTRIBUTION_TOUCHES, attributionTouchesInsertSql(config, null));
    await trx.raw(attributionViewSql());
  });
  await step('staging.int_attribution_monthly', attributionMonthlyBuildSql([attributionMonthlySql(null, ATTRIBUTION_MODELS)]));
  await step('marts.fct_ad_spend_daily + marts.fct_web_traffic_daily', [
    'DELETE FROM marts.fct_ad_spend_daily', spendMartInsertSql(config, null),
    'DELETE FROM marts.fct_web_traffic_daily', trafficMartInsertSql(null),
  ]);
}

/**
 * Recomputes the slices of every staging model and mart that the changed core rows feed.
 * `overlap` (Postgres): the funnel mart is rebuilt by the warehouse while the data-driven models
 * are solved here (it reads staging.int_stage_changes only, refreshed by then).
 */
async function incremental(trx: Knex.Transaction, config: TransformConfig, changes: ChangeSets, step: Step, warnings: string[], overlap: boolean): Promise<Record<string, number>> {
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
    `CREATE TEMP TABLE inc_funnel_opps ON COMMIT DROP AS SELECT connection_id, opportunity_id FROM inc_opps UNION SELECT connection_id, opportunity_id FROM inc_history_opp`,
  ]);
  await analyze('inc_unconv_keys', 'inc_funnel_opps');
  for (const name of ['staging.int_opportunities', 'staging.int_opportunity_touches', 'staging.int_opportunity_paths']) await refresh(name, 'inc_opps');
  await refresh('staging.int_person_paths', 'inc_unconv_keys');
  await refresh('staging.int_person_lead_touch', 'inc_pkeys');
  await refresh('staging.int_stage_changes', 'inc_funnel_opps');

  // Data-driven weights from all paths (cheap). Markov and Shapley credits are computed by the
  // view: when their weights move, only their monthly sums are recomputed; fractribution's are
  // stored, so the opportunities on paths whose shares moved are recomputed.
  let solved: WeightChanges | undefined;
  let funnel: Promise<unknown> | undefined;
  await step('data-driven weights', async () => {
    const summaries = await pathSummaries(trx);
    if (overlap) {
      // One multi-statement query (no bindings: the simple protocol), sent before the solvers
      // block the event loop: setImmediate runs once knex has written it to the connection.
      funnel = trx.raw(kpiFunnelSql().join(';\n')).then(() => undefined);
      funnel.catch(() => undefined); // (awaited below; a solver error must not leave it unhandled)
      await new Promise((resolve) => setImmediate(resolve));
    }
    const weights = solve(summaries, config, warnings);
    // Queries queue on the connection: compareWeights's run after the funnel's.
    solved = await compareWeights(trx, weights, false);
  });
  if (funnel) await step('marts.kpi_funnel_monthly (rebuilt while solving)', async () => { await funnel; });
  const moved = solved!;
  const globalModels = SET_MODELS.filter((m) => moved.globalChanged.has(m));
  const localModels = ATTRIBUTION_MODELS.filter((m) => !moved.globalChanged.has(m));
  await step('scope: attribution', async () => {
    // Stored rows recomputed: every row of the changed opportunities; the fractribution credits of
    // the other opportunities on a path whose fractribution credits moved.
    await trx.raw(`CREATE TEMP TABLE inc_fract_opps ON COMMIT DROP AS
      SELECT p.connection_id, p.opportunity_id FROM staging.int_opportunity_paths p JOIN inc_changed_paths c USING (path_key)
      EXCEPT SELECT connection_id, opportunity_id FROM inc_opps`);
    await analyze('inc_fract_opps');
  });
  await step(`${ATTRIBUTION_TOUCHES} (incremental)`, async () => {
    // Monthly sums: minus the rows before, plus the rows after, of the recomputed slices.
    const slices = (sign: 1 | -1) => `${attributionMonthlySql('inc_opps', localModels, sign)} UNION ALL ${attributionMonthlySql('inc_fract_opps', ['fractribution'], sign)}`;
    await trx.raw(`CREATE TEMP TABLE inc_attr_delta ON COMMIT DROP AS ${slices(-1)}`);
    await moved.write();
    await trx.raw(`DELETE FROM ${ATTRIBUTION_TOUCHES} a USING inc_opps s WHERE a.connection_id = s.connection_id AND a.opportunity_id = s.opportunity_id`);
    await trx.raw(attributionTouchesInsertSql(config, 'inc_opps'));
    await trx.raw(attributionTouchesFractributionSql('inc_fract_opps'));
    await trx.raw(`INSERT INTO inc_attr_delta ${slices(1)}`);
    // The monthly sums plus the deltas; models whose weights moved: summed again over every opportunity.
    const monthly = globalModels.length
      ? [`SELECT * FROM staging.int_attribution_monthly WHERE model NOT IN ${valuesOf(globalModels)}`, attributionMonthlySql(null, globalModels)]
      : ['SELECT * FROM staging.int_attribution_monthly'];
    for (const sql of attributionMonthlyBuildSql([...monthly, 'SELECT * FROM inc_attr_delta'])) await trx.raw(sql);
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
    ['spend_rows', 'inc_spend_keys'], ['traffic_rows', 'inc_traffic_keys']] as const) {
    sizes[name] = await count(trx, table);
  }
  // Opportunities whose stored attribution rows were recomputed (all of them, or their fractribution credits).
  sizes.attribution_slices = sizes.opportunities! + (await count(trx, 'inc_fract_opps'));
  sizes.respread_models = globalModels.length;
  sizes.fractribution_paths = await count(trx, 'inc_changed_paths');
  return sizes;
}

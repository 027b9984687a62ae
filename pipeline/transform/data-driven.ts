import type { Knex } from 'knex';
import {
  addMarkovPath, addShapleyPath, compareCodeUnits, fractributionPathFractions, KEY_SEP, leaveOneOutKeys, markovAttributionFromTransitions,
  markovTransitionKey, parseMarkovTransitionKey, shapleyFromSets, splitPathKey, TooManyChannelsError,
  type MarkovChainShape, type MarkovTransitionKind, type MarkovTransitions, type ShapleySets,
} from '../attribution/index.ts';
import type { TransformConfig } from './config.ts';
import { ATTRIBUTION_SHARES, FRACTRIBUTION_PATHS } from './attribution-mart.ts';

/**
 * The data-driven models (markov, shapley, fractribution) of the transform. Their inputs are the
 * path summaries (one row per distinct channel path: converting journeys = opportunities, and
 * non-converting ones = people with touches and no opportunity), and every result depends on them
 * through integer counts only, which the warehouse keeps:
 * - staging.int_path_summary: conversions and nulls per path, and its path_id (the attribution
 *   storage refers to paths by it);
 * - staging.int_markov_transitions: journeys per transition of the chain (pipeline/attribution/markov.ts);
 * - staging.int_shapley_sets: conversions and journeys per channel set;
 * - staging.int_fractribution_loo: the leave-one-out paths of each converting path, the paths
 *   whose conversion probability its credits depend on.
 * A full run builds them from every path; an incremental run adds the change of the few paths whose
 * counts moved, solves Markov and Shapley again on the (small) counts and recomputes fractribution
 * for the converting paths whose own or leave-one-out counts moved. Counts are exact, and the
 * solvers read them in a canonical order, so both runs give the same floats.
 */

const PATH_SUMMARY = 'staging.int_path_summary';
const MARKOV_TRANSITIONS = 'staging.int_markov_transitions';
const SHAPLEY_SETS = 'staging.int_shapley_sets';
const FRACTRIBUTION_LOO = 'staging.int_fractribution_loo';
const CHANNEL_WEIGHTS = 'staging.int_channel_weights';
/** Numbers new paths (after the full run's). */
const PATH_IDS = 'staging.int_path_id_seq';

/** Tables an incremental run needs (else the run is full). */
export const DATA_DRIVEN_TABLES = [PATH_IDS, PATH_SUMMARY, MARKOV_TRANSITIONS, SHAPLEY_SETS, FRACTRIBUTION_LOO, FRACTRIBUTION_PATHS, CHANNEL_WEIGHTS];

/** The changes of path counts an incremental run collects while refreshing the path models. */
export const PATH_DELTA = 'inc_path_delta';

/**
 * A 53-bit hash of a path key (cyrb53), to find paths by key in the warehouse through an int8
 * index. Only ever used to narrow a lookup: every match is checked by its key, so a collision costs
 * a wasted row, never a wrong answer.
 */
export function pathHash(key: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const probabilityOf = (c: { conversions: number; nulls: number } | undefined): number => {
  const n = c ? c.conversions + c.nulls : 0;
  return n > 0 ? c!.conversions / n : 0;
};

/**
 * Writes rows as one statement over one array per column (parsed much faster than JSON; numbers
 * are sent in their shortest round-trip form, so float8 values arrive exactly). A column is
 * [name, array element type, optional select expression over the unnested arrays].
 */
async function insertArrays<R extends object>(trx: Knex.Transaction, table: string, columns: ReadonlyArray<readonly [keyof R & string, string, string?]>, rows: readonly R[], conflict = ''): Promise<void> {
  const names = columns.map(([c]) => c).join(', ');
  for (let i = 0; i < rows.length; i += 200_000) {
    const chunk = rows.slice(i, i + 200_000);
    await trx.raw(
      `INSERT INTO ${table} (${names}) SELECT ${columns.map(([c, , select]) => select ?? c).join(', ')}
       FROM unnest(${columns.map(([, t]) => `?::${t}[]`).join(', ')}) AS u(${names}) ${conflict}`,
      columns.map(([c]) => chunk.map((r) => r[c])) as Knex.RawBinding[],
    );
  }
}

interface Weight { model: string; channel: string; weight: number }
interface Share { model: string; key: string; channel: string; share: number }
interface FractPath { path_id: number; path_key: string; credits: string }
interface Loo { loo_hash: number; path_id: number }
const WEIGHT_COLUMNS = [['model', 'text'], ['channel', 'text'], ['weight', 'float8']] as const;
const SHARE_COLUMNS = [['model', 'text'], ['key', 'text'], ['channel', 'text'], ['share', 'float8']] as const;
const LOO_COLUMNS = [['loo_hash', 'int8'], ['path_id', 'int8']] as const;
/** (credits: array literals, one per path, cast on the way in: paths differ in length.) */
const FRACT_COLUMNS = [['path_id', 'int8'], ['path_key', 'text'], ['credits', 'text', 'credits::float8[]']] as const;

interface TransitionRow { kind: MarkovTransitionKind; from_state: string; to_state: string; weight: number }
interface SetRow { channel_set: string; conversions: number; journeys: number }
const TRANSITION_COLUMNS = [['kind', 'text'], ['from_state', 'text'], ['to_state', 'text'], ['weight', 'int8']] as const;
const SET_COLUMNS = [['channel_set', 'text'], ['conversions', 'int8'], ['journeys', 'int8']] as const;

/**
 * Writes Markov transition and Shapley set counts: the full run's, or (`add`) an incremental
 * run's changes, added to the kept ones (a count back at 0 is dropped).
 */
async function writeCounts(trx: Knex.Transaction, transitions: MarkovTransitions, sets: ShapleySets, add: boolean): Promise<void> {
  await insertArrays<TransitionRow>(trx, MARKOV_TRANSITIONS, TRANSITION_COLUMNS, [...transitions].map(([k, weight]) => {
    const t = parseMarkovTransitionKey(k);
    return { kind: t.kind, from_state: t.from, to_state: t.to, weight };
  }), add ? `ON CONFLICT (kind, from_state, to_state) DO UPDATE SET weight = ${MARKOV_TRANSITIONS}.weight + excluded.weight` : '');
  await insertArrays<SetRow>(trx, SHAPLEY_SETS, SET_COLUMNS, [...sets].map(([channel_set, v]) => ({ channel_set, ...v })),
    add ? `ON CONFLICT (channel_set) DO UPDATE SET conversions = ${SHAPLEY_SETS}.conversions + excluded.conversions, journeys = ${SHAPLEY_SETS}.journeys + excluded.journeys` : '');
  if (add) {
    await trx.raw(`DELETE FROM ${MARKOV_TRANSITIONS} WHERE weight = 0`);
    await trx.raw(`DELETE FROM ${SHAPLEY_SETS} WHERE journeys = 0 AND conversions = 0`);
  }
}

/** Each channel's weight over the sum of the weights of `channels` (summed in that order); null when the sum is 0. */
function sharesOf(weights: Record<string, number>, channels: readonly string[]): Array<[string, number]> | null {
  let total = 0;
  for (const c of channels) total += weights[c] ?? 0;
  if (!(total > 0)) return null;
  return channels.map((c) => [c, (weights[c] ?? 0) / total]);
}

/**
 * fractribution's credit of every touch of a converting path, in touch order, as a Postgres array
 * literal: its channel's share of the path over the channel's touches in the path. Null when the
 * path has no fractions (the view then gives the last touch 1).
 */
function fractributionCredits(key: string, probability: (key: string) => number): string | null {
  const path = splitPathKey(key);
  if (path.length === 0) return null;
  const attribution = fractributionPathFractions(path, key, probability).attribution;
  const shares = new Map(sharesOf(attribution, Object.keys(attribution)) ?? []);
  if (!shares.size) return null;
  const touches = new Map<string, number>();
  for (const c of path) touches.set(c, (touches.get(c) ?? 0) + 1);
  return `{${path.map((c) => (shares.get(c) ?? 0) / touches.get(c)!).join(',')}}`;
}

/** The leave-one-out rows of a converting path (distinct keys). */
function looRows(key: string, pathId: number): Loo[] {
  const path = splitPathKey(key);
  if (path.length < 2) return [];
  return [...new Set(leaveOneOutKeys(path, key))].map((k) => ({ loo_hash: pathHash(k), path_id: pathId }));
}

/** The Markov chain the transform builds (repeats kept as self-transitions, the default). */
const chainOf = (config: TransformConfig): MarkovChainShape => ({ order: config.markovOrder, repeats: 'keep' });

/** markov / shapley channel weights, solved on the kept counts. */
async function solveGlobal(trx: Knex.Transaction, config: TransformConfig, warnings: string[]): Promise<Weight[]> {
  const transitions: MarkovTransitions = new Map();
  for (const r of (await trx.raw(`SELECT kind, from_state, to_state, weight::float8 AS weight FROM ${MARKOV_TRANSITIONS}`)).rows as TransitionRow[]) {
    transitions.set(markovTransitionKey(r.kind, r.from_state, r.to_state), r.weight);
  }
  const sets = await readShapleySets(trx);
  const weights: Weight[] = [];
  if (![...sets.values()].some((s) => s.conversions > 0)) return weights;
  for (const [channel, weight] of Object.entries(markovAttributionFromTransitions(transitions, { order: config.markovOrder }).shares)) weights.push({ model: 'markov', channel, weight });
  for (const [channel, weight] of Object.entries(shapleyShares(sets, warnings))) weights.push({ model: 'shapley', channel, weight });
  return weights;
}

async function readShapleySets(trx: Knex.Transaction): Promise<ShapleySets> {
  const sets: ShapleySets = new Map();
  for (const r of (await trx.raw(`SELECT channel_set, conversions::float8 AS conversions, journeys::float8 AS journeys FROM ${SHAPLEY_SETS}`)).rows as SetRow[]) {
    sets.set(r.channel_set, { conversions: r.conversions, journeys: r.journeys });
  }
  return sets;
}

/** Exact Shapley shares per channel, or none (and a warning) when there are too many channels for them. */
function shapleyShares(sets: ShapleySets, warnings: string[]): Record<string, number> {
  try {
    return shapleyFromSets(sets).shares;
  } catch (err) {
    if (!(err instanceof TooManyChannelsError)) throw err;
    warnings.push(`shapley skipped: ${err.message}`);
    return {};
  }
}

/** Rows of staging.int_attribution_shares: markov and shapley, per channel set of a converting path. */
async function setShares(trx: Knex.Transaction, weights: readonly Weight[]): Promise<Share[]> {
  const channelSets = ((await trx.raw(`SELECT DISTINCT channel_set FROM staging.int_opportunity_paths`)).rows as Array<{ channel_set: string }>).map((r) => r.channel_set);
  const byModel = new Map<string, Record<string, number>>();
  for (const w of weights) {
    if (!byModel.has(w.model)) byModel.set(w.model, {});
    byModel.get(w.model)![w.channel] = w.weight;
  }
  const rows: Share[] = [];
  for (const [model, w] of byModel) {
    for (const set of channelSets) for (const [channel, share] of sharesOf(w, set.split(KEY_SEP)) ?? []) rows.push({ model, key: set, channel, share });
  }
  return rows;
}

const COUNT_TABLES_DDL = [
  `CREATE UNLOGGED TABLE ${MARKOV_TRANSITIONS} (kind text NOT NULL, from_state text NOT NULL, to_state text NOT NULL, weight bigint NOT NULL, PRIMARY KEY (kind, from_state, to_state))`,
  `COMMENT ON TABLE ${MARKOV_TRANSITIONS} IS 'Grain: one row per transition of the Markov chain (kind start / step / conversion / null, from state, to state). weight: journeys through it.'`,
  `CREATE UNLOGGED TABLE ${SHAPLEY_SETS} (channel_set text PRIMARY KEY, conversions bigint NOT NULL, journeys bigint NOT NULL)`,
  `COMMENT ON TABLE ${SHAPLEY_SETS} IS 'Grain: one row per channel set of a path (its distinct channels, sorted, joined by chr(31)): conversions and journeys of its paths.'`,
];

/** Full run: every count from every path, then the weights and fractribution's credits of every converting path. */
export async function buildDataDriven(trx: Knex.Transaction, config: TransformConfig, warnings: string[]): Promise<void> {
  // (staging.int_fractribution_paths is the storage of marts.fct_attribution, as its shares: emptied, not dropped.)
  for (const t of DATA_DRIVEN_TABLES) await trx.raw(t === PATH_IDS ? `DROP SEQUENCE IF EXISTS ${t}` : t === FRACTRIBUTION_PATHS ? `TRUNCATE ${t}` : `DROP TABLE IF EXISTS ${t}`);
  // Paths numbered in key order (code units), from 1; later runs number new paths after them.
  const rows = (await trx.raw(
    `SELECT path_key, sum(conversions)::int AS conversions, sum(nulls)::int AS nulls FROM (
       SELECT path_key, 1 AS conversions, 0 AS nulls FROM staging.int_opportunity_paths
       UNION ALL SELECT path_key, 0, 1 FROM staging.int_person_paths
     ) s GROUP BY path_key`,
  )).rows as Array<{ path_key: string; conversions: number; nulls: number }>;
  rows.sort((x, y) => compareCodeUnits(x.path_key, y.path_key));
  const summary = new Map<string, { id: number; conversions: number; nulls: number }>();
  rows.forEach((r, i) => summary.set(r.path_key, { id: i + 1, conversions: r.conversions, nulls: r.nulls }));
  await trx.raw(`CREATE UNLOGGED TABLE ${PATH_SUMMARY} (path_id bigint PRIMARY KEY, path_key text NOT NULL, path_hash bigint NOT NULL, conversions int NOT NULL, nulls int NOT NULL)`);
  await trx.raw(`COMMENT ON TABLE ${PATH_SUMMARY} IS 'Grain: one row per distinct channel path (path_key: channels in touch order joined by chr(31)). conversions: opportunities with that path; nulls: people with touches and no opportunity. path_hash: pipeline/transform/data-driven.ts pathHash.'`);
  await insertArrays(trx, PATH_SUMMARY, [['path_id', 'int8'], ['path_key', 'text'], ['path_hash', 'int8'], ['conversions', 'int4'], ['nulls', 'int4']],
    rows.map((r, i) => ({ path_id: i + 1, path_key: r.path_key, path_hash: pathHash(r.path_key), conversions: r.conversions, nulls: r.nulls })));
  await trx.raw(`CREATE UNIQUE INDEX ON ${PATH_SUMMARY} (path_key)`);
  await trx.raw(`CREATE INDEX ON ${PATH_SUMMARY} (path_hash)`);
  await trx.raw(`CREATE SEQUENCE ${PATH_IDS} START ${rows.length + 1}`);
  for (const sql of COUNT_TABLES_DDL) await trx.raw(sql);

  const transitions: MarkovTransitions = new Map();
  const sets: ShapleySets = new Map();
  const fract: FractPath[] = [];
  const loo: Loo[] = [];
  const probability = (key: string) => probabilityOf(summary.get(key));
  for (const [key, c] of summary) {
    const path = splitPathKey(key);
    addMarkovPath(transitions, path, c.conversions, c.nulls, chainOf(config));
    addShapleyPath(sets, path, c.conversions, c.nulls);
    if (c.conversions > 0) {
      const credits = fractributionCredits(key, probability);
      if (credits) fract.push({ path_id: c.id, path_key: key, credits });
      loo.push(...looRows(key, c.id));
    }
  }
  await writeCounts(trx, transitions, sets, false);

  await insertArrays(trx, FRACTRIBUTION_PATHS, FRACT_COLUMNS, fract);
  await trx.raw(`ANALYZE ${FRACTRIBUTION_PATHS}`);
  await trx.raw(`CREATE UNLOGGED TABLE ${FRACTRIBUTION_LOO} (loo_hash bigint NOT NULL, path_id bigint NOT NULL)`);
  await trx.raw(`COMMENT ON TABLE ${FRACTRIBUTION_LOO} IS 'Grain: one row per converting path (path_id) x distinct path without one of its touches (loo_hash: pathHash of its key): the paths whose conversion probability its fractribution credits depend on.'`);
  await insertArrays(trx, FRACTRIBUTION_LOO, LOO_COLUMNS, loo);
  await trx.raw(`CREATE INDEX ON ${FRACTRIBUTION_LOO} (loo_hash)`);

  const weights = await solveGlobal(trx, config, warnings);
  await trx.raw(`CREATE UNLOGGED TABLE ${CHANNEL_WEIGHTS} (model text NOT NULL, channel text NOT NULL, weight float8 NOT NULL, PRIMARY KEY (model, channel))`);
  await insertArrays(trx, CHANNEL_WEIGHTS, WEIGHT_COLUMNS, weights);
  await trx.raw(`TRUNCATE ${ATTRIBUTION_SHARES}`);
  await insertArrays(trx, ATTRIBUTION_SHARES, SHARE_COLUMNS, await setShares(trx, weights));
  await trx.raw(`ANALYZE ${ATTRIBUTION_SHARES}`);
}

/** What an incremental run found moved, and how to store it. */
export interface DataDrivenChanges {
  /** markov / shapley whose channel weights moved: every opportunity's credit under them moves. */
  globalChanged: Set<string>;
  /** Some channel set's shares moved, appeared or went (the set models' monthly sums move). */
  sharesChanged: boolean;
  /**
   * Writes the moved weights, channel-set shares and fractribution credits (deferred: the
   * caller first reads the old ones). The paths whose fractribution credits moved are in the
   * temporary table inc_changed_paths (path_id) already.
   */
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
 * Incremental run: applies the path count changes collected in inc_path_delta (path_key,
 * conversions, nulls: signed) to every kept count, solves again, and compares.
 */
export async function updateDataDriven(trx: Knex.Transaction, config: TransformConfig, warnings: string[]): Promise<DataDrivenChanges> {
  const deltas = (await trx.raw(
    `SELECT path_key, sum(conversions)::int AS conversions, sum(nulls)::int AS nulls FROM ${PATH_DELTA}
     GROUP BY path_key HAVING sum(conversions) <> 0 OR sum(nulls) <> 0`,
  )).rows as Array<{ path_key: string; conversions: number; nulls: number }>;
  await trx.raw(`CREATE TEMP TABLE inc_changed_paths (path_id bigint NOT NULL) ON COMMIT DROP`);
  // No path's counts moved: the counts every model is solved from are those of the last run, and
  // so are the weights, the shares, the channel sets and every fractribution credit.
  if (deltas.length === 0) {
    // The warning of the last solve, if Shapley was skipped (Markov weights without Shapley ones):
    // too many channels, which the check finds before any coalition is counted.
    const solved = (await trx(CHANNEL_WEIGHTS).distinct('model').pluck('model')) as string[];
    if (solved.includes('markov') && !solved.includes('shapley')) shapleyShares(await readShapleySets(trx), warnings);
    return { globalChanged: new Set(), sharesChanged: false, write: async () => undefined };
  }

  // Path counts: old and new of each moved path (a path keeps its id while it has journeys).
  const before = new Map<string, { id: number; conversions: number; nulls: number }>();
  const keys = deltas.map((d) => d.path_key);
  for (const r of (await trx.raw(`SELECT path_id::float8 AS id, path_key, conversions, nulls FROM ${PATH_SUMMARY} WHERE path_key = ANY(?::text[])`, [keys])).rows as Array<{ id: number; path_key: string; conversions: number; nulls: number }>) {
    before.set(r.path_key, { id: r.id, conversions: r.conversions, nulls: r.nulls });
  }
  const transitions: MarkovTransitions = new Map();
  const sets: ShapleySets = new Map();
  const after = new Map<string, { conversions: number; nulls: number }>();
  for (const d of deltas) {
    const path = splitPathKey(d.path_key);
    addMarkovPath(transitions, path, d.conversions, d.nulls, chainOf(config));
    addShapleyPath(sets, path, d.conversions, d.nulls);
    const b = before.get(d.path_key) ?? { conversions: 0, nulls: 0 };
    const a = { conversions: b.conversions + d.conversions, nulls: b.nulls + d.nulls };
    if (a.conversions < 0 || a.nulls < 0) throw new Error(`transform state is inconsistent: path counts of ${JSON.stringify(d.path_key)} went below 0 (run mpm transform --full)`);
    after.set(d.path_key, a);
  }
  const ids = new Map<string, number>();
  for (const [k, b] of before) ids.set(k, b.id);
  if (deltas.length) {
    const kept = [...after].filter(([k, a]) => before.has(k) && a.conversions + a.nulls > 0);
    const gone = [...after].filter(([k, a]) => before.has(k) && a.conversions + a.nulls === 0);
    const born = [...after].filter(([k, a]) => !before.has(k) && a.conversions + a.nulls > 0);
    if (gone.length) await trx.raw(`DELETE FROM ${PATH_SUMMARY} WHERE path_id = ANY(?::int8[])`, [gone.map(([k]) => ids.get(k)!)]);
    if (kept.length) {
      await trx.raw(`UPDATE ${PATH_SUMMARY} s SET conversions = u.c, nulls = u.n FROM unnest(?::int8[], ?::int[], ?::int[]) AS u(i, c, n) WHERE s.path_id = u.i`,
        [kept.map(([k]) => ids.get(k)!), kept.map(([, a]) => a.conversions), kept.map(([, a]) => a.nulls)]);
    }
    if (born.length) {
      for (const r of (await trx.raw(
        `INSERT INTO ${PATH_SUMMARY} (path_id, path_key, path_hash, conversions, nulls)
         SELECT nextval('${PATH_IDS}'), k, h, c, n FROM unnest(?::text[], ?::int8[], ?::int[], ?::int[]) WITH ORDINALITY AS u(k, h, c, n, o) ORDER BY o
         RETURNING path_id::float8 AS id, path_key`,
        [born.map(([k]) => k), born.map(([k]) => pathHash(k)), born.map(([, a]) => a.conversions), born.map(([, a]) => a.nulls)],
      )).rows as Array<{ id: number; path_key: string }>) ids.set(r.path_key, r.id);
    }
    await writeCounts(trx, transitions, sets, true);
  }

  // fractribution: the converting paths whose own counts or leave-one-out paths' counts moved.
  const converting = (c: { conversions: number } | undefined) => (c?.conversions ?? 0) > 0;
  const started = [...after].filter(([k, a]) => converting(a) && !converting(before.get(k))).map(([k]) => k);
  const stopped = [...after].filter(([k, a]) => !converting(a) && converting(before.get(k))).map(([k]) => k);
  if (stopped.length) await trx.raw(`DELETE FROM ${FRACTRIBUTION_LOO} WHERE path_id = ANY(?::int8[])`, [stopped.map((k) => ids.get(k)!)]);
  await insertArrays(trx, FRACTRIBUTION_LOO, LOO_COLUMNS, started.flatMap((k) => looRows(k, ids.get(k)!)));
  const affected = new Set([...after].filter(([, a]) => converting(a)).map(([k]) => k));
  // Counts of the affected paths and of their leave-one-out paths (found by hash, kept by key).
  const counts = new Map<string, { conversions: number; nulls: number }>();
  if (keys.length) {
    // (A hash matching a moved path's hash without being its key only adds a path recomputed for nothing.)
    for (const r of (await trx.raw(
      `SELECT DISTINCT s.path_id::float8 AS id, s.path_key, s.conversions, s.nulls FROM ${FRACTRIBUTION_LOO} l JOIN ${PATH_SUMMARY} s ON s.path_id = l.path_id
       WHERE l.loo_hash = ANY(?::int8[]) AND s.conversions > 0`, [keys.map(pathHash)],
    )).rows as Array<{ id: number; path_key: string; conversions: number; nulls: number }>) {
      affected.add(r.path_key);
      ids.set(r.path_key, r.id);
      counts.set(r.path_key, { conversions: r.conversions, nulls: r.nulls });
    }
  }
  for (const [k, a] of after) counts.set(k, a);
  const recompute = [...affected];
  const looHashes = [...new Set(recompute.flatMap((k) => { const path = splitPathKey(k); return path.length < 2 ? [] : leaveOneOutKeys(path, k).map(pathHash); }))];
  if (looHashes.length) {
    for (const r of (await trx.raw(`SELECT path_key, conversions, nulls FROM ${PATH_SUMMARY} WHERE path_hash = ANY(?::int8[])`, [looHashes])).rows as Array<{ path_key: string; conversions: number; nulls: number }>) {
      counts.set(r.path_key, { conversions: r.conversions, nulls: r.nulls });
    }
  }
  // (Paths whose journeys all went are gone from the summary: probability 0, as in a full run.)
  for (const [k, a] of after) if (a.conversions + a.nulls === 0) counts.delete(k);
  const probability = (key: string) => probabilityOf(counts.get(key));
  const fresh = new Map<string, string | null>();
  for (const k of recompute) fresh.set(k, fractributionCredits(k, probability));
  for (const k of stopped) fresh.set(k, null);
  const old = new Map<string, string>();
  const lookup = [...fresh.keys()];
  if (lookup.length) {
    for (const r of (await trx.raw(`SELECT path_key, credits::text AS credits FROM ${FRACTRIBUTION_PATHS} WHERE path_id = ANY(?::int8[])`, [lookup.map((k) => ids.get(k)!)])).rows as Array<{ path_key: string; credits: string }>) {
      old.set(r.path_key, r.credits);
    }
  }
  // Compared as numbers (both sides print float8 in shortest round-trip form, with different exponent formats).
  const numbers = (a: string | null | undefined) => (a == null ? null : a.slice(1, -1).split(',').map(Number));
  const same = (a: number[] | null, b: number[] | null) => (a === null || b === null ? a === b : a.length === b.length && a.every((x, i) => x === b[i]));
  const changedPaths = lookup.filter((k) => !same(numbers(old.get(k)), numbers(fresh.get(k))));
  await trx.raw(`INSERT INTO inc_changed_paths SELECT unnest(?::int8[])`, [changedPaths.map((k) => ids.get(k)!)]);
  await trx.raw('ANALYZE inc_changed_paths');

  // markov / shapley weights and the channel-set shares.
  const weights = await solveGlobal(trx, config, warnings);
  const globalChanged = new Set<string>();
  const oldWeights = new Map<string, number>();
  for (const w of (await trx(CHANNEL_WEIGHTS).select('model', 'channel', 'weight')) as Weight[]) oldWeights.set(`${w.model}\u0000${w.channel}`, w.weight);
  for (const w of weights) {
    const key = `${w.model}\u0000${w.channel}`;
    if (oldWeights.get(key) !== w.weight) globalChanged.add(w.model);
    oldWeights.delete(key);
  }
  for (const key of oldWeights.keys()) globalChanged.add(key.split('\u0000')[0]!);
  const shares = await setShares(trx, weights);
  const oldShares = sharesByKey((await trx.raw(`SELECT model, key, channel, share FROM ${ATTRIBUTION_SHARES}`)).rows as Share[]);
  const newShares = sharesByKey(shares);
  const changedShares = new Set<string>();
  for (const [k, v] of newShares) if (oldShares.get(k) !== v) changedShares.add(k);
  for (const k of oldShares.keys()) if (!newShares.has(k)) changedShares.add(k);

  return {
    globalChanged,
    sharesChanged: changedShares.size > 0,
    write: async () => {
      if (globalChanged.size) {
        await trx(CHANNEL_WEIGHTS).whereIn('model', [...globalChanged]).delete();
        await insertArrays(trx, CHANNEL_WEIGHTS, WEIGHT_COLUMNS, weights.filter((w) => globalChanged.has(w.model)));
      }
      if (changedShares.size) {
        const k = [...changedShares].map((s) => s.split('\u0000') as [string, string]);
        await trx.raw(`DELETE FROM ${ATTRIBUTION_SHARES} s USING unnest(?::text[], ?::text[]) AS c(model, key) WHERE s.model = c.model AND s.key = c.key`,
          [k.map(([m]) => m), k.map(([, key]) => key)]);
        await insertArrays(trx, ATTRIBUTION_SHARES, SHARE_COLUMNS, shares.filter((s) => changedShares.has(`${s.model}\u0000${s.key}`)));
      }
      if (changedPaths.length) {
        await trx.raw(`DELETE FROM ${FRACTRIBUTION_PATHS} f USING inc_changed_paths c WHERE f.path_id = c.path_id`);
        await insertArrays(trx, FRACTRIBUTION_PATHS, FRACT_COLUMNS,
          changedPaths.filter((k) => fresh.get(k) != null).map((k) => ({ path_id: ids.get(k)!, path_key: k, credits: fresh.get(k)! })));
      }
    },
  };
}

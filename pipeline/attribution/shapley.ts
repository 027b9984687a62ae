/**
 * Shapley-value attribution over path summaries, in two flavours.
 *
 * (a) `shapleyAttribution`: exact Shapley values of the coalition game of Zhao, Mahboobi and
 *     Bagheri (2018), "Shapley Value Methods for Attribution Modeling in Online Advertising"
 *     (the "Shapley value-based attribution in multi-channel advertising" formulation):
 *       v(S) = total conversions of the paths whose channel SET is a subset of S.
 *     We use conversion COUNTS, not conversion rates, so that v(all channels) is the number of
 *     conversions to share out (efficiency axiom: the values sum to v(N)). Values are also
 *     computed on conversion value with the same game (Shapley values are linear in v).
 *     Computed exactly over all 2^n coalitions with the standard weights
 *     |S|! (n - |S| - 1)! / n!; n is capped by `maxChannels` (default 15).
 *     Empty paths are in no coalition's gain (v(empty set) would be a constant) and are left
 *     out, reported in `excluded`.
 *
 * (b) `fractributionAttribution`: the per-path leave-one-out counterfactual of
 *     google/fractribution (py/fractribution.py, `_get_counterfactual_marginal_contributions`
 *     and `run_shapley_attribution`), matched rule for rule:
 *     - duplicate paths are merged (conversions and non-conversions summed);
 *     - p(path) = conversions / (conversions + non-conversions); 0 for a path not in the
 *       summaries or with no journeys;
 *     - a one-touch path gives its channel p(path);
 *     - otherwise touch i gets max(0, p(path) - p(path with touch i removed)), where "touch i
 *       removed" deletes that one position (a channel occurring twice is tested once per
 *       occurrence, exactly as fractribution does);
 *     - contributions are divided by their sum; when they are all 0 the last touch gets 1;
 *     - per channel, the touches' fractions are added up;
 *     - paths without conversions get no attribution; an empty path with conversions gives its
 *       conversions to `unmatchedChannel` (fractribution's 'Unmatched_Channel');
 *     - channel totals = sum over paths of fraction * conversions (and * value).
 *     One deliberate difference: fractribution keeps only the first row's revenue when the same
 *     path appears twice; we sum values.
 */
import { z } from 'zod';
import {
  compareCodeUnits,
  mergePathSummaries,
  pathKey,
  splitPathKey,
  sortedCredit,
  type ChannelCredit,
  type PathSummary,
} from './types.ts';

/** Thrown when exact Shapley would need more than `maxChannels` channels (2^n coalitions). */
export class TooManyChannelsError extends Error {
  override readonly name = 'TooManyChannelsError';
}

export const ShapleyOptionsSchema = z.object({
  /** Most channels allowed for the exact 2^n computation. Default 15; hard ceiling 24. */
  maxChannels: z.int().min(1).max(24).default(15),
});
export type ShapleyOptions = z.input<typeof ShapleyOptionsSchema>;

export type ShapleyResult = {
  channels: string[];
  /** Shapley value of each channel on conversions; sums to totalConversions. */
  conversions: ChannelCredit;
  /** Shapley value of each channel on conversion value; sums to totalValue. */
  value: ChannelCredit;
  /** conversions / totalConversions (all 0 when there are no conversions). */
  shares: ChannelCredit;
  totalConversions: number;
  totalValue: number;
  excluded: { conversions: number; value: number };
};

/** The players (channels in code-unit order), or TooManyChannelsError above `maxChannels`. */
function players(channelSet: Iterable<string>, maxChannels: number): string[] {
  const channels = [...new Set(channelSet)].sort(compareCodeUnits);
  const n = channels.length;
  if (n > maxChannels) throw new TooManyChannelsError(`exact Shapley needs 2^${n} coalitions; ${n} channels exceed maxChannels=${maxChannels}`);
  return channels;
}

/**
 * Shapley values of the game v(S) = sum of the dividends of the channel sets within S, given
 * each set's dividend (added in the order given), and v(all channels).
 */
function coalitionShapley(channels: readonly string[], dividends: Iterable<[set: readonly string[], dividend: number]>): { phi: Float64Array; total: number } {
  const n = channels.length;
  const bit = new Map(channels.map((c, i) => [c, 1 << i]));
  const f = new Float64Array(1 << n);
  for (const [set, d] of dividends) {
    let mask = 0;
    for (const c of set) mask |= bit.get(c)!;
    f[mask] = f[mask]! + d;
  }
  const v = subsetSums(f, n);
  return { phi: shapleyFromGame(v, n), total: v[(1 << n) - 1] ?? 0 };
}

/** Exact Shapley values of v(S) = conversions of paths whose channel set is within S. */
export function shapleyAttribution(summaries: readonly PathSummary[], options: ShapleyOptions = {}): ShapleyResult {
  const opts = ShapleyOptionsSchema.parse(options);
  const merged = mergePathSummaries(summaries);
  const channels = players(merged.flatMap((p) => p.path), opts.maxChannels);
  const paths = merged.filter((p) => p.path.length > 0);
  const excluded = { conversions: 0, value: 0 };
  for (const p of merged) {
    if (p.path.length > 0) continue;
    excluded.conversions += p.conversions;
    excluded.value += p.value;
  }
  const conv = coalitionShapley(channels, paths.map((p) => [p.path, p.conversions]));
  const value = coalitionShapley(channels, paths.map((p) => [p.path, p.value]));
  return {
    channels,
    conversions: sortedCredit(channels.map((c, i) => [c, conv.phi[i]!])),
    value: sortedCredit(channels.map((c, i) => [c, value.phi[i]!])),
    shares: sortedCredit(channels.map((c, i) => [c, conv.total > 0 ? conv.phi[i]! / conv.total : 0])),
    totalConversions: conv.total,
    totalValue: value.total,
    excluded,
  };
}

/**
 * The sufficient statistics of exact Shapley on conversions: per channel set (its distinct channels
 * in code-unit order, joined by U+001F; `shapleySetKey`), the conversions and journeys of the paths
 * with that set. Integer counts that add up, so a warehouse can keep them and apply the changes of a
 * few paths; a set whose journeys reach 0 is dropped.
 */
export type ShapleySets = Map<string, { conversions: number; journeys: number }>;

export function shapleySetKey(path: readonly string[]): string {
  return pathKey([...new Set(path)].sort(compareCodeUnits));
}

/** Adds one path's conversions and nulls (negative: removed) to `into`. Empty paths are in no coalition. */
export function addShapleyPath(into: ShapleySets, path: readonly string[], conversions: number, nulls: number): void {
  if (path.length === 0 || (conversions === 0 && nulls === 0)) return;
  const key = shapleySetKey(path);
  const cur = into.get(key) ?? { conversions: 0, journeys: 0 };
  const next = { conversions: cur.conversions + conversions, journeys: cur.journeys + conversions + nulls };
  if (next.journeys === 0 && next.conversions === 0) into.delete(key);
  else into.set(key, next);
}

/**
 * Exact Shapley values on conversions from channel-set counts: the same game as
 * `shapleyAttribution` (its players: the channels of every set with journeys).
 */
export function shapleyFromSets(sets: ShapleySets, options: ShapleyOptions = {}): Pick<ShapleyResult, 'channels' | 'conversions' | 'shares' | 'totalConversions'> {
  const opts = ShapleyOptionsSchema.parse(options);
  for (const [key, v] of sets) {
    if (!Number.isSafeInteger(v.conversions) || !Number.isSafeInteger(v.journeys) || v.conversions < 0 || v.journeys < v.conversions) {
      throw new RangeError(`shapley set ${JSON.stringify(key)}: counts ${v.conversions}/${v.journeys} are not valid`);
    }
  }
  const live = [...sets].filter(([, v]) => v.journeys > 0).map(([key, v]) => [splitPathKey(key), v.conversions] as [string[], number]);
  const channels = players(live.flatMap(([set]) => set), opts.maxChannels);
  const conv = coalitionShapley(channels, live);
  return {
    channels,
    conversions: sortedCredit(channels.map((c, i) => [c, conv.phi[i]!])),
    shares: sortedCredit(channels.map((c, i) => [c, conv.total > 0 ? conv.phi[i]! / conv.total : 0])),
    totalConversions: conv.total,
  };
}

/** Zeta transform: v(S) = sum of f(T) over T subset of S, for all 2^n masks. */
function subsetSums(f: Float64Array, n: number): Float64Array {
  const v = Float64Array.from(f);
  for (let i = 0; i < n; i++) {
    const b = 1 << i;
    for (let mask = 0; mask < v.length; mask++) if (mask & b) v[mask] = v[mask]! + v[mask ^ b]!;
  }
  return v;
}

function popcount(x: number): number {
  let c = 0;
  for (let y = x; y; y &= y - 1) c++;
  return c;
}

/**
 * phi_i = sum over S not containing i of w(|S|) (v(S + i) - v(S)), w(s) = s!(n-s-1)!/n!,
 * computed as 1 / (n * C(n-1, s)) to avoid factorial overflow.
 */
export function shapleyFromGame(v: Float64Array, n: number): Float64Array {
  if (v.length !== 1 << n) throw new RangeError(`shapleyFromGame: expected ${1 << n} coalition values`);
  const weight = new Float64Array(Math.max(n, 1));
  let binom = 1; // C(n-1, s)
  for (let s = 0; s < n; s++) {
    weight[s] = 1 / (n * binom);
    binom = (binom * (n - 1 - s)) / (s + 1);
  }
  const phi = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = 1 << i;
    let sum = 0;
    for (let mask = 0; mask < v.length; mask++) {
      if (mask & b) continue;
      sum += weight[popcount(mask)]! * (v[mask | b]! - v[mask]!);
    }
    phi[i] = sum;
  }
  return phi;
}

export const FractributionOptionsSchema = z.object({
  /** Channel that receives empty converting paths. Default 'Unmatched_Channel' (as fractribution). */
  unmatchedChannel: z.string().min(1).default('Unmatched_Channel'),
});
export type FractributionOptions = z.input<typeof FractributionOptionsSchema>;

export type FractributionPath = {
  path: string[];
  conversions: number;
  nulls: number;
  value: number;
  /** Fraction of this path's conversions per channel (sums to 1; empty when it has none). */
  attribution: ChannelCredit;
  /** True when every marginal contribution was 0 and the last touch took all the credit. */
  lastTouchFallback: boolean;
};

export type FractributionResult = {
  paths: FractributionPath[];
  /** Sum over paths of attribution * conversions. */
  conversions: ChannelCredit;
  /** Sum over paths of attribution * value. */
  value: ChannelCredit;
  totalConversions: number;
  totalValue: number;
};

/** google/fractribution's leave-one-out "shapley" model; see the module comment for the rules. */
export function fractributionAttribution(
  summaries: readonly PathSummary[],
  options: FractributionOptions = {},
): FractributionResult {
  const opts = FractributionOptionsSchema.parse(options);
  const merged = mergePathSummaries(summaries);
  const byKey = new Map(merged.map((p) => [p.key, p]));
  // By path key: the leave-one-out paths are looked up by key, cut out of their path's key.
  const probability = (key: string): number => {
    const p = byKey.get(key);
    if (!p) return 0;
    const count = p.conversions + p.nulls;
    return count > 0 ? p.conversions / count : 0;
  };
  const paths: FractributionPath[] = [];
  const convTotals = new Map<string, number>();
  const valueTotals = new Map<string, number>();
  let totalConversions = 0;
  let totalValue = 0;
  for (const p of merged) {
    let attribution: ChannelCredit = {};
    let lastTouchFallback = false;
    if (p.conversions > 0) {
      if (p.path.length === 0) {
        attribution = { [opts.unmatchedChannel]: 1 };
      } else {
        const r = fractributionPathFractions(p.path, p.key, probability);
        attribution = r.attribution;
        lastTouchFallback = r.lastTouchFallback;
      }
    }
    paths.push({ path: p.path, conversions: p.conversions, nulls: p.nulls, value: p.value, attribution, lastTouchFallback });
    totalConversions += p.conversions;
    totalValue += p.value;
    for (const [c, f] of Object.entries(attribution)) {
      convTotals.set(c, (convTotals.get(c) ?? 0) + f * p.conversions);
      valueTotals.set(c, (valueTotals.get(c) ?? 0) + f * p.value);
    }
  }
  return {
    paths,
    conversions: sortedCredit(convTotals),
    value: sortedCredit(valueTotals),
    totalConversions,
    totalValue,
  };
}

const KEY_SEP_LENGTH = pathKey(['', '']).length;

/**
 * The keys of `path` (key: `pathKey(path)`) without its touch i, for every i: the paths whose
 * conversion probability fractribution compares with the path's (paths of two touches or more).
 */
export function leaveOneOutKeys(path: readonly string[], key: string): string[] {
  // pathKey(path without touch i): the key without channel i and one separator next to it.
  const starts: number[] = [];
  let at = 0;
  for (const c of path) {
    starts.push(at);
    at += c.length + KEY_SEP_LENGTH;
  }
  const last = path.length - 1;
  return path.map((_, i) => (i < last ? key.slice(0, starts[i]) + key.slice(starts[i + 1]) : key.slice(0, starts[last]! - KEY_SEP_LENGTH)));
}

/**
 * fractribution's fractions of one converting path per channel (see the module comment), given the
 * conversion probability of any path by key (`pathKey`): the path's own and its leave-one-out
 * paths'. Exported so a warehouse can recompute only the paths whose inputs moved.
 */
export function fractributionPathFractions(
  path: readonly string[],
  key: string,
  probability: (key: string) => number,
): { attribution: ChannelCredit; lastTouchFallback: boolean } {
  const pPath = probability(key);
  const contributions = path.length === 1 ? [pPath] : leaveOneOutKeys(path, key).map((without) => Math.max(0, pPath - probability(without)));
  let sum = 0;
  for (const c of contributions) sum += c;
  const lastTouchFallback = sum === 0;
  const fractions = lastTouchFallback
    ? contributions.map((_, i) => (i === path.length - 1 ? 1 : 0))
    : contributions.map((c) => c / sum);
  const perChannel = new Map<string, number>();
  path.forEach((c, i) => perChannel.set(c, (perChannel.get(c) ?? 0) + fractions[i]!));
  return { attribution: sortedCredit(perChannel), lastTouchFallback };
}

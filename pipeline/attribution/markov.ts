/**
 * Markov-chain (removal effect) attribution over channel path summaries.
 *
 * States: `start`, one transient state per channel (order 1) or per tuple of the last k
 * channels with start padding (order k), and the absorbing states `conversion` and `null`.
 * Transition probabilities are transition counts weighted by the number of journeys on each
 * path (conversions + nulls), divided by the state's total outgoing count. The conversion
 * probability from start is the exact solution of the absorbing chain (I - Q) x = r (see
 * linalg.ts). Removing a channel redirects every transition into it to `null`, i.e. every
 * state whose tuple contains the channel gets conversion probability 0.
 *
 *   removal effect(c) = 1 - P(conversion | c removed) / P(conversion)
 *   share(c)          = removal effect(c) / sum of removal effects
 *   credit(c)         = share(c) * total conversions (and * total value)
 *
 * Reference: Anderl, Becker, von Wangenheim, Schumann (2016), "Mapping the customer journey:
 * Lessons learned from graph-based online attribution modeling"; the worked 3-channel example
 * in tests is the classic one from that literature.
 *
 * Edge cases (by design):
 * - Empty paths (journeys without any touch) cannot be credited to a channel; they are left
 *   out of the chain and reported in `excluded`.
 * - Zero conversions: P(conversion) = 0, every removal effect, share and credit is 0.
 * - Removal effects are clamped to [0, 1] against rounding.
 */
import { z } from 'zod';
import { absorptionFromStart, type AbsorbingChain, type AbsorptionOptions } from './linalg.ts';
import { compareCodeUnits, KEY_SEP, mergePathSummaries, sortedCredit, type ChannelCredit, type MergedPath, type PathSummary } from './types.ts';

export const MarkovOptionsSchema = z.object({
  /** Memory of the chain: states are the last `order` channels. Default 1. */
  order: z.int().min(1).max(4).default(1),
  /** 'keep' (default): A > A stays a self-transition; 'collapse': consecutive repeats become one touch. */
  repeats: z.enum(['keep', 'collapse']).default('keep'),
  /** Solver: 'auto' (default) uses dense LU up to `directMaxStates` free states, else bracketed Gauss-Seidel. */
  method: z.enum(['auto', 'direct', 'iterative']).default('auto'),
  /** Largest state count solved by dense LU under 'auto'. Default 400. */
  directMaxStates: z.int().min(0).default(400),
  /** Iterative solver: maximum width of the [lower, upper] bracket on each probability. Default 1e-12. */
  tolerance: z.number().positive().default(1e-12),
  /** Iterative solver: sweep budget before a ConvergenceError. Default 1,000,000. */
  maxSweeps: z.int().min(1).default(1_000_000),
});
export type MarkovOptions = z.input<typeof MarkovOptionsSchema>;

/** The chain built from path summaries; exposed for inspection and tests. */
export type MarkovChainModel = {
  order: number;
  /** Channels in code-unit order. */
  channels: string[];
  /** State labels in index order: channel names joined by ' > ', start padding shown as '(start)'. */
  states: string[];
  /** Channel indexes per state (0 = start padding, c + 1 = channels[c]). */
  stateTuples: number[][];
  chain: AbsorbingChain;
  /** Probability of entering each state first from `start`. */
  start: Float64Array;
  /** One-step probability of going to `null` from each state. */
  nullProb: Float64Array;
  totalConversions: number;
  totalValue: number;
  excluded: { conversions: number; nulls: number; value: number };
};

export type MarkovResult = {
  order: number;
  channels: string[];
  stateCount: number;
  conversionProbability: number;
  removalEffects: ChannelCredit;
  /** Removal effects normalised to sum to 1 (all 0 when there are no conversions). */
  shares: ChannelCredit;
  /** shares * total conversions. */
  conversions: ChannelCredit;
  /** shares * total value. */
  value: ChannelCredit;
  totalConversions: number;
  totalValue: number;
  excluded: { conversions: number; nulls: number; value: number };
  /** Solver used for the full chain and the widest bracket over all solves (0 for direct). */
  solver: { method: 'direct' | 'iterative'; maxBracket: number; sweeps: number };
};

const START_LABEL = '(start)';

function collapseRepeats(path: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of path) if (out[out.length - 1] !== c) out.push(c);
  return out;
}

/**
 * The sufficient statistics of the chain: journey counts (integers) per transition, keyed by
 * `markovTransitionKey`. A state is the tuple of its last `order` channels joined by U+001F, start
 * padding as an empty name. Kinds: 'start' (start -> to), 'step' (from -> to), 'conversion' and
 * 'null' (from -> the absorbing state; `to` is empty). Counts of several path sets add up, so a
 * warehouse can keep them and apply the changes of a few paths (negative counts remove paths);
 * the chain built from them does not depend on the order they were added in.
 */
export type MarkovTransitions = Map<string, number>;
export type MarkovTransitionKind = 'start' | 'step' | 'conversion' | 'null';
/** The options that shape the chain's states (validated). */
export type MarkovChainShape = Pick<z.output<typeof MarkovOptionsSchema>, 'order' | 'repeats'>;

export function markovTransitionKey(kind: MarkovTransitionKind, from: string, to: string): string {
  return `${kind}\u0000${from}\u0000${to}`;
}

export function parseMarkovTransitionKey(key: string): { kind: MarkovTransitionKind; from: string; to: string } {
  const [kind, from, to] = key.split('\u0000') as [MarkovTransitionKind, string, string];
  return { kind, from, to };
}

/**
 * Adds the transitions of one path's journeys to `into` (conversions and nulls may be negative:
 * removing journeys). Empty paths are not part of the chain. `chain`: the order and repeats
 * options, already validated (this runs once per path).
 */
export function addMarkovPath(into: MarkovTransitions, path: readonly string[], conversions: number, nulls: number,
  chain: MarkovChainShape): void {
  const steps = chain.repeats === 'collapse' ? collapseRepeats(path) : path;
  const w = conversions + nulls;
  if (steps.length === 0 || (conversions === 0 && nulls === 0)) return;
  const add = (key: string, n: number) => {
    if (n === 0) return;
    const v = (into.get(key) ?? 0) + n;
    if (v === 0) into.delete(key);
    else into.set(key, v);
  };
  const window: string[] = new Array<string>(chain.order).fill('');
  let prev: string | undefined;
  for (const c of steps) {
    window.shift();
    window.push(c);
    const s = window.join(KEY_SEP);
    add(prev === undefined ? markovTransitionKey('start', '', s) : markovTransitionKey('step', prev, s), w);
    prev = s;
  }
  add(markovTransitionKey('conversion', prev!, ''), conversions);
  add(markovTransitionKey('null', prev!, ''), nulls);
}

/** The transitions of path summaries (merged first). */
export function markovTransitions(summaries: readonly PathSummary[], options: MarkovOptions = {}): MarkovTransitions {
  return transitionsOfMerged(mergePathSummaries(summaries), MarkovOptionsSchema.parse(options));
}

function transitionsOfMerged(merged: readonly MergedPath[], chain: MarkovChainShape): MarkovTransitions {
  const out: MarkovTransitions = new Map();
  for (const p of merged) addMarkovPath(out, p.path, p.conversions, p.nulls, chain);
  return out;
}

function compareTuples(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * Builds the (higher-order) absorbing chain from transition counts. States are numbered in tuple
 * order (channels in code-unit order, start padding first), so the chain, and every sum over
 * it, is the same however the counts were gathered.
 */
export function markovChainFromTransitions(transitions: MarkovTransitions, order = 1): MarkovChainModel {
  const entries: Array<{ kind: MarkovTransitionKind; from: string; to: string; weight: number }> = [];
  const stateKeys = new Set<string>();
  for (const [key, weight] of transitions) {
    if (weight === 0) continue;
    if (!(weight > 0) || !Number.isSafeInteger(weight)) throw new RangeError(`markov transition ${JSON.stringify(key)}: count ${weight} is not a positive integer`);
    const t = parseMarkovTransitionKey(key);
    entries.push({ ...t, weight });
    if (t.kind !== 'start') stateKeys.add(t.from);
    if (t.kind === 'start' || t.kind === 'step') stateKeys.add(t.to);
  }
  const channelSet = new Set<string>();
  for (const k of stateKeys) for (const c of k.split(KEY_SEP)) if (c !== '') channelSet.add(c);
  const channels = [...channelSet].sort(compareCodeUnits);
  const channelId = new Map(channels.map((c, i) => [c, i + 1]));
  const tuples = [...stateKeys].map((k) => ({ key: k, tuple: k.split(KEY_SEP).map((c) => (c === '' ? 0 : channelId.get(c)!)) }));
  tuples.sort((a, b) => compareTuples(a.tuple, b.tuple));
  const stateIndex = new Map(tuples.map((t, i) => [t.key, i]));
  const stateTuples = tuples.map((t) => t.tuple);
  const n = stateTuples.length;

  const succ: Map<number, number>[] = stateTuples.map(() => new Map());
  const convCount = new Array<number>(n).fill(0);
  const nullCount = new Array<number>(n).fill(0);
  const startCount = new Map<number, number>();
  let totalWeight = 0;
  let totalConversions = 0;
  for (const e of entries) {
    if (e.kind === 'start') {
      const s = stateIndex.get(e.to)!;
      startCount.set(s, (startCount.get(s) ?? 0) + e.weight);
      totalWeight += e.weight;
    } else if (e.kind === 'step') {
      const from = stateIndex.get(e.from)!;
      const to = stateIndex.get(e.to)!;
      succ[from]!.set(to, (succ[from]!.get(to) ?? 0) + e.weight);
    } else if (e.kind === 'conversion') {
      convCount[stateIndex.get(e.from)!]! += e.weight;
      totalConversions += e.weight;
    } else {
      nullCount[stateIndex.get(e.from)!]! += e.weight;
    }
  }

  const rowStart = new Int32Array(n + 1);
  const cols: number[] = [];
  const probs: number[] = [];
  const target = new Float64Array(n);
  const nullProb = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    // Successors sorted by index so the row layout (and every sum over it) is canonical.
    const row = [...succ[s]!.entries()].sort((a, b) => a[0] - b[0]);
    let out = convCount[s]! + nullCount[s]!;
    for (const [, c] of row) out += c;
    for (const [j, c] of row) {
      cols.push(j);
      probs.push(c / out);
    }
    rowStart[s + 1] = cols.length;
    target[s] = out > 0 ? convCount[s]! / out : 0;
    nullProb[s] = out > 0 ? nullCount[s]! / out : 0;
  }
  const start = new Float64Array(n);
  for (const [s, c] of startCount) start[s] = c / totalWeight;
  const label = (t: number[]) => t.map((id) => (id === 0 ? START_LABEL : channels[id - 1]!)).join(' > ');
  return {
    order,
    channels,
    states: stateTuples.map(label),
    stateTuples,
    chain: { size: n, rowStart, col: Int32Array.from(cols), prob: Float64Array.from(probs), target },
    start,
    nullProb,
    totalConversions,
    totalValue: 0,
    excluded: { conversions: 0, nulls: 0, value: 0 },
  };
}

/** Builds the (higher-order) absorbing chain from path summaries. */
export function buildMarkovChain(summaries: readonly PathSummary[], options: MarkovOptions = {}): MarkovChainModel {
  const opts = MarkovOptionsSchema.parse(options);
  const merged = mergePathSummaries(summaries);
  const model = markovChainFromTransitions(transitionsOfMerged(merged, opts), opts.order);
  for (const p of merged) {
    if (p.path.length === 0) {
      model.excluded.conversions += p.conversions;
      model.excluded.nulls += p.nulls;
      model.excluded.value += p.value;
    } else if (p.conversions + p.nulls > 0) {
      model.totalValue += p.value;
    }
  }
  return model;
}

/** Markov removal-effect attribution; see the module comment for the exact definitions. */
export function markovAttribution(summaries: readonly PathSummary[], options: MarkovOptions = {}): MarkovResult {
  return markovAttributionOfChain(buildMarkovChain(summaries, options), options);
}

/** Markov removal-effect attribution of transition counts (value credits are 0: counts carry no value). */
export function markovAttributionFromTransitions(transitions: MarkovTransitions, options: MarkovOptions = {}): MarkovResult {
  return markovAttributionOfChain(markovChainFromTransitions(transitions, MarkovOptionsSchema.parse(options).order), options);
}

function markovAttributionOfChain(model: MarkovChainModel, options: MarkovOptions): MarkovResult {
  const opts = MarkovOptionsSchema.parse(options);
  const solve: AbsorptionOptions = {
    method: opts.method,
    directMaxStates: opts.directMaxStates,
    tolerance: opts.tolerance,
    maxSweeps: opts.maxSweeps,
  };
  const n = model.chain.size;
  const full = absorptionFromStart(model.chain, model.start, solve);
  let maxBracket = full.upperBound - full.lowerBound;
  let sweeps = full.sweeps;
  const p = full.probability;
  const effects: [string, number][] = [];
  model.channels.forEach((channel, ci) => {
    if (!(p > 0)) {
      effects.push([channel, 0]);
      return;
    }
    const id = ci + 1;
    const zeroStates = new Uint8Array(n);
    model.stateTuples.forEach((t, s) => {
      if (t.includes(id)) zeroStates[s] = 1;
    });
    const removed = absorptionFromStart(model.chain, model.start, { ...solve, zeroStates });
    maxBracket = Math.max(maxBracket, removed.upperBound - removed.lowerBound);
    sweeps += removed.sweeps;
    effects.push([channel, Math.min(1, Math.max(0, 1 - removed.probability / p))]);
  });
  let sum = 0;
  for (const [, e] of effects) sum += e;
  const share = (e: number) => (sum > 0 ? e / sum : 0);
  return {
    order: model.order,
    channels: model.channels,
    stateCount: n,
    conversionProbability: p,
    removalEffects: sortedCredit(effects),
    shares: sortedCredit(effects.map(([c, e]) => [c, share(e)])),
    conversions: sortedCredit(effects.map(([c, e]) => [c, share(e) * model.totalConversions])),
    value: sortedCredit(effects.map(([c, e]) => [c, share(e) * model.totalValue])),
    totalConversions: model.totalConversions,
    totalValue: model.totalValue,
    excluded: model.excluded,
    solver: { method: full.method, maxBracket, sweeps },
  };
}

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
import { compareCodeUnits, mergePathSummaries, sortedCredit, type ChannelCredit, type PathSummary } from './types.ts';

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

/** Builds the (higher-order) absorbing chain from path summaries. */
export function buildMarkovChain(summaries: readonly PathSummary[], options: MarkovOptions = {}): MarkovChainModel {
  const opts = MarkovOptionsSchema.parse(options);
  const k = opts.order;
  const prepared = mergePathSummaries(
    summaries.map((s) => (opts.repeats === 'collapse' ? { ...s, path: collapseRepeats(s.path) } : s)),
  );
  const excluded = { conversions: 0, nulls: 0, value: 0 };
  const channelSet = new Set<string>();
  for (const p of prepared) for (const c of p.path) channelSet.add(c);
  const channels = [...channelSet].sort(compareCodeUnits);
  const channelId = new Map(channels.map((c, i) => [c, i + 1]));

  const stateIndex = new Map<string, number>();
  const stateTuples: number[][] = [];
  const succ: Map<number, number>[] = [];
  const convCount: number[] = [];
  const nullCount: number[] = [];
  const startCount = new Map<number, number>();
  const stateOf = (tuple: number[]): number => {
    const key = tuple.join(',');
    let s = stateIndex.get(key);
    if (s === undefined) {
      s = stateTuples.length;
      stateIndex.set(key, s);
      stateTuples.push([...tuple]);
      succ.push(new Map());
      convCount.push(0);
      nullCount.push(0);
    }
    return s;
  };

  let totalWeight = 0;
  let totalConversions = 0;
  let totalValue = 0;
  for (const p of prepared) {
    const w = p.conversions + p.nulls;
    if (p.path.length === 0) {
      excluded.conversions += p.conversions;
      excluded.nulls += p.nulls;
      excluded.value += p.value;
      continue;
    }
    if (w === 0) continue;
    totalWeight += w;
    totalConversions += p.conversions;
    totalValue += p.value;
    const window: number[] = new Array<number>(k).fill(0);
    let prev = -1;
    for (const c of p.path) {
      window.shift();
      window.push(channelId.get(c)!);
      const s = stateOf(window);
      if (prev < 0) startCount.set(s, (startCount.get(s) ?? 0) + w);
      else succ[prev]!.set(s, (succ[prev]!.get(s) ?? 0) + w);
      prev = s;
    }
    convCount[prev] = convCount[prev]! + p.conversions;
    nullCount[prev] = nullCount[prev]! + p.nulls;
  }

  const n = stateTuples.length;
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
    order: k,
    channels,
    states: stateTuples.map(label),
    stateTuples,
    chain: { size: n, rowStart, col: Int32Array.from(cols), prob: Float64Array.from(probs), target },
    start,
    nullProb,
    totalConversions,
    totalValue,
    excluded,
  };
}

/** Markov removal-effect attribution; see the module comment for the exact definitions. */
export function markovAttribution(summaries: readonly PathSummary[], options: MarkovOptions = {}): MarkovResult {
  const opts = MarkovOptionsSchema.parse(options);
  const model = buildMarkovChain(summaries, opts);
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

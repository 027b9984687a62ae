import { describe, expect, it } from 'vitest';
import { addMarkovPath, buildMarkovChain, markovAttribution, markovAttributionFromTransitions, markovTransitions, type MarkovTransitions } from './markov.ts';
import type { PathSummary } from './types.ts';

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** Deterministic PRNG (mulberry32) so generated inputs are the same every run. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPaths(seed: number, channels: number, count: number, maxLen: number): PathSummary[] {
  const rnd = rng(seed);
  const names = Array.from({ length: channels }, (_, i) => `ch${i}`);
  const seen = new Set<string>();
  const out: PathSummary[] = [];
  while (out.length < count) {
    const len = 1 + Math.floor(rnd() * maxLen);
    const path = Array.from({ length: len }, () => names[Math.floor(rnd() * channels)]!);
    const key = path.join('>');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, conversions: Math.floor(rnd() * 5), nulls: Math.floor(rnd() * 40), value: Math.floor(rnd() * 1000) });
  }
  return out;
}

describe('first-order Markov, hand-computed', () => {
  it('reproduces the classic 3-channel example (removal effects 0.5, 1, 1 -> 0.2, 0.4, 0.4)', () => {
    // Paths: C1>C2>C3 converts, C1 ends null, C2>C3 ends null.
    // start->C1 2/3, start->C2 1/3; C1->C2 1/2, C1->null 1/2; C2->C3 1; C3->conv 1/2, C3->null 1/2.
    // x_C3 = 1/2, x_C2 = 1/2, x_C1 = 1/4; P = 2/3 * 1/4 + 1/3 * 1/2 = 1/3.
    // Remove C1: P = 1/3 * 1/2 = 1/6 -> RE 1/2. Remove C2 or C3: P = 0 -> RE 1.
    // Shares: 0.5/2.5 = 0.2, 1/2.5 = 0.4, 0.4.
    const r = markovAttribution([
      { path: ['C1', 'C2', 'C3'], conversions: 1, nulls: 0, value: 100 },
      { path: ['C1'], conversions: 0, nulls: 1 },
      { path: ['C2', 'C3'], conversions: 0, nulls: 1 },
    ]);
    expect(r.conversionProbability).toBeCloseTo(1 / 3, 14);
    expect(r.removalEffects.C1).toBeCloseTo(0.5, 14);
    expect(r.removalEffects.C2).toBeCloseTo(1, 14);
    expect(r.removalEffects.C3).toBeCloseTo(1, 14);
    expect(r.shares.C1).toBeCloseTo(0.2, 14);
    expect(r.shares.C2).toBeCloseTo(0.4, 14);
    expect(r.shares.C3).toBeCloseTo(0.4, 14);
    expect(r.conversions.C2).toBeCloseTo(0.4, 14);
    expect(r.value.C1).toBeCloseTo(20, 12);
    expect(r.value.C3).toBeCloseTo(40, 12);
    expect(Object.keys(r.shares)).toEqual(['C1', 'C2', 'C3']);
  });

  it('solves a chain with a cycle A <-> B exactly (weighted counts)', () => {
    // Paths: [A,B] 1 conv; [B,A] 1 null; [A] 1 conv 1 null. Weights (conv + null): 1, 1, 2.
    // start->A 3/4, start->B 1/4. A: ->B 1, ->null 1 (from B,A), ->conv 1, ->null 1 => 1/4, 1/2 null, 1/4 conv.
    // B: ->conv 1 (A,B), ->A 1 (B,A) => 1/2, 1/2.
    // x_A = 1/4 + x_B/4, x_B = 1/2 + x_A/2 => x_A = 3/7, x_B = 5/7; P = 3/4*3/7 + 1/4*5/7 = 1/2.
    // Remove A: x_B = 1/2, P = 1/8, RE_A = 3/4. Remove B: x_A = 1/4, P = 3/16, RE_B = 5/8.
    // Shares: (3/4) / (11/8) = 6/11, (5/8) / (11/8) = 5/11; credits * 2 conversions.
    const paths: PathSummary[] = [
      { path: ['A', 'B'], conversions: 1, nulls: 0 },
      { path: ['B', 'A'], conversions: 0, nulls: 1 },
      { path: ['A'], conversions: 1, nulls: 1 },
    ];
    const chain = buildMarkovChain(paths);
    expect(chain.states).toEqual(['A', 'B']);
    expect(chain.start[0]).toBeCloseTo(0.75, 15);
    expect(chain.nullProb[0]).toBeCloseTo(0.5, 15);
    const r = markovAttribution(paths);
    expect(r.conversionProbability).toBeCloseTo(0.5, 14);
    expect(r.removalEffects.A).toBeCloseTo(0.75, 14);
    expect(r.removalEffects.B).toBeCloseTo(0.625, 14);
    expect(r.shares.A).toBeCloseTo(6 / 11, 14);
    expect(r.conversions.B).toBeCloseTo(10 / 11, 14);
    const it = markovAttribution(paths, { method: 'iterative' });
    expect(it.solver.method).toBe('iterative');
    expect(it.shares.A).toBeCloseTo(6 / 11, 11);
  });

  it('second-order chain on the same data gives the hand-computed 2/3, 1/3', () => {
    // States (s,A), (A,B), (s,B), (B,A). start: (s,A) 3/4, (s,B) 1/4.
    // (s,A): ->(A,B) 1/3, conv 1/3, null 1/3. (A,B): conv 1. (s,B): ->(B,A) 1. (B,A): null 1.
    // x(A,B) = 1, x(B,A) = x(s,B) = 0, x(s,A) = 1/3 + 1/3 = 2/3; P = 3/4 * 2/3 = 1/2.
    // Remove A (every state holding A): P = 0, RE 1. Remove B: x(s,A) = 1/3, P = 1/4, RE 1/2.
    // Shares 2/3, 1/3; 2 conversions -> 4/3, 2/3.
    const paths: PathSummary[] = [
      { path: ['A', 'B'], conversions: 1, nulls: 0 },
      { path: ['B', 'A'], conversions: 0, nulls: 1 },
      { path: ['A'], conversions: 1, nulls: 1 },
    ];
    const chain = buildMarkovChain(paths, { order: 2 });
    expect(chain.states).toEqual(['(start) > A', '(start) > B', 'A > B', 'B > A']); // tuple order
    const r = markovAttribution(paths, { order: 2 });
    expect(r.stateCount).toBe(4);
    expect(r.conversionProbability).toBeCloseTo(0.5, 14);
    expect(r.removalEffects.A).toBeCloseTo(1, 14);
    expect(r.removalEffects.B).toBeCloseTo(0.5, 14);
    expect(r.conversions.A).toBeCloseTo(4 / 3, 14);
    expect(r.conversions.B).toBeCloseTo(2 / 3, 14);
  });

  it('keeps repeats as self-loops by default and collapses them on request', () => {
    // [A,A,B] converts, [A] ends null. keep: A->A 1/3, A->B 1/3, A->null 1/3; collapse: A->B 1/2, A->null 1/2.
    // Both: x_B = 1; keep: x_A = x_A/3 + 1/3 -> 1/2; collapse: x_A = 1/2. P = 1/2 either way.
    const paths: PathSummary[] = [
      { path: ['A', 'A', 'B'], conversions: 1, nulls: 0 },
      { path: ['A'], conversions: 0, nulls: 1 },
    ];
    const keep = buildMarkovChain(paths);
    const a = keep.states.indexOf('A');
    const row = (m: typeof keep, s: number) =>
      Array.from(m.chain.col.subarray(m.chain.rowStart[s], m.chain.rowStart[s + 1]), (j, k) => [
        m.states[j],
        m.chain.prob[m.chain.rowStart[s]! + k],
      ]);
    expect(row(keep, a)).toEqual([
      ['A', 1 / 3],
      ['B', 1 / 3],
    ]);
    const collapse = buildMarkovChain(paths, { repeats: 'collapse' });
    expect(row(collapse, collapse.states.indexOf('A'))).toEqual([['B', 0.5]]);
    expect(markovAttribution(paths).conversionProbability).toBeCloseTo(0.5, 14);
    expect(markovAttribution(paths, { repeats: 'collapse' }).conversionProbability).toBeCloseTo(0.5, 14);
  });
});

describe('Markov edge cases', () => {
  it('single channel gets all conversions', () => {
    const r = markovAttribution([{ path: ['Email'], conversions: 2, nulls: 3, value: 50 }]);
    expect(r.conversionProbability).toBeCloseTo(0.4, 15);
    expect(r.shares).toEqual({ Email: 1 });
    expect(r.conversions).toEqual({ Email: 2 });
    expect(r.value).toEqual({ Email: 50 });
  });

  it('zero conversions: every removal effect, share and credit is 0', () => {
    const r = markovAttribution([
      { path: ['A', 'B'], conversions: 0, nulls: 4 },
      { path: ['B'], conversions: 0, nulls: 1 },
    ]);
    expect(r.conversionProbability).toBe(0);
    expect(r.removalEffects).toEqual({ A: 0, B: 0 });
    expect(r.shares).toEqual({ A: 0, B: 0 });
    expect(r.conversions).toEqual({ A: 0, B: 0 });
  });

  it('empty paths are excluded and reported', () => {
    const r = markovAttribution([
      { path: [], conversions: 3, nulls: 2, value: 7 },
      { path: ['A'], conversions: 1, nulls: 1 },
    ]);
    expect(r.excluded).toEqual({ conversions: 3, nulls: 2, value: 7 });
    expect(r.totalConversions).toBe(1);
    expect(r.conversions).toEqual({ A: 1 });
  });

  it('a 200-touch run of one channel is solved exactly by both solvers', () => {
    // A's outgoing counts: 199 self-transitions and 1 conversion (long path) + 1 null ([A]) = 201.
    // x_A = (199/201) x_A + 1/201 -> x_A = 1/2.
    const paths: PathSummary[] = [
      { path: Array.from({ length: 200 }, () => 'A'), conversions: 1, nulls: 0 },
      { path: ['A'], conversions: 0, nulls: 1 },
    ];
    expect(markovAttribution(paths, { method: 'direct' }).conversionProbability).toBeCloseTo(0.5, 14);
    expect(markovAttribution(paths, { method: 'iterative' }).conversionProbability).toBeCloseTo(0.5, 12);
  });

  it('rejects invalid counts', () => {
    expect(() => markovAttribution([{ path: ['A'], conversions: -1, nulls: 0 }])).toThrow(/conversions/);
    expect(() => markovAttribution([{ path: [''], conversions: 1, nulls: 0 }])).toThrow(/channel names/);
  });
});

describe('Markov determinism and solver agreement', () => {
  it('gives bit-identical output for shuffled input and split duplicate rows', () => {
    const paths = randomPaths(7, 6, 300, 6);
    const shuffled = [...paths].reverse();
    // Split one path's counts over two rows: merged back to the same integers.
    const first = shuffled.pop()!;
    shuffled.unshift(
      { path: [...first.path], conversions: first.conversions, nulls: 0, value: first.value ?? 0 },
      { path: [...first.path], conversions: 0, nulls: first.nulls },
    );
    for (const order of [1, 2, 3] as const) {
      const a = markovAttribution(paths, { order });
      const b = markovAttribution(shuffled, { order });
      expect(b).toStrictEqual(a);
    }
  });

  it('direct and iterative solvers agree on an order-2 chain', () => {
    const paths = randomPaths(11, 5, 400, 7);
    const d = markovAttribution(paths, { order: 2, method: 'direct' });
    const i = markovAttribution(paths, { order: 2, method: 'iterative' });
    expect(i.solver.maxBracket).toBeLessThanOrEqual(1e-12);
    expect(i.conversionProbability).toBeCloseTo(d.conversionProbability, 11);
    for (const c of d.channels) expect(i.shares[c]).toBeCloseTo(d.shares[c]!, 9);
  });

  it('order 3 with 10 channels and 5,000 distinct paths: shares sum to 1, credits to conversions', () => {
    const paths = randomPaths(3, 10, 5000, 8);
    const r = markovAttribution(paths, { order: 3 });
    expect(r.stateCount).toBeGreaterThan(1000);
    expect(r.solver.method).toBe('iterative');
    expect(r.solver.maxBracket).toBeLessThanOrEqual(1e-12);
    expect(sum(r.shares)).toBeCloseTo(1, 12);
    expect(sum(r.conversions)).toBeCloseTo(r.totalConversions, 8);
    for (const s of Object.values(r.shares)) expect(s).toBeGreaterThan(0);
  });

  it('transition counts add up: adding and removing paths gives the counts, and the exact result, of the final set', () => {
    for (const order of [1, 2]) {
      const initial = randomPaths(21, 5, 300, 5);
      const final = randomPaths(22, 5, 300, 5);
      // Start from the initial set's counts, remove it path by path, add the final set.
      const counts: MarkovTransitions = markovTransitions(initial, { order });
      for (const p of initial) addMarkovPath(counts, p.path, -p.conversions, -p.nulls, { order, repeats: 'keep' });
      expect(counts.size).toBe(0);
      for (const p of [...final].reverse()) addMarkovPath(counts, p.path, p.conversions, p.nulls, { order, repeats: 'keep' });
      expect(new Map([...counts].sort())).toEqual(new Map([...markovTransitions(final, { order })].sort()));
      // The same floats as the summaries' own result, bit for bit.
      const fromCounts = markovAttributionFromTransitions(counts, { order });
      const direct = markovAttribution(final, { order });
      expect(fromCounts.shares).toStrictEqual(direct.shares);
      expect(fromCounts.conversionProbability).toBe(direct.conversionProbability);
    }
  });

  it('rejects counts that went below zero (state out of step with its paths)', () => {
    const counts = markovTransitions([{ path: ['A'], conversions: 1, nulls: 0 }]);
    addMarkovPath(counts, ['B'], -1, 0, { order: 1, repeats: 'keep' });
    expect(() => markovAttributionFromTransitions(counts)).toThrow(/not a positive integer/);
  });
});

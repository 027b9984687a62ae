import { describe, expect, it } from 'vitest';
import { addShapleyPath, fractributionAttribution, shapleyAttribution, shapleyFromGame, shapleyFromSets, TooManyChannelsError, type ShapleySets } from './shapley.ts';
import type { PathSummary } from './types.ts';

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

describe('exact Shapley (v(S) = conversions of paths whose channel set is within S)', () => {
  // Channel sets: {A}: 10, {B}: 20, {A,B}: 30 (two rows, one with a repeat), {A,B,C}: 30, {C}: 0.
  // v: {}=0, A=10, B=20, C=0, AB=60, AC=10, BC=20, ABC=90.
  // phi_C: C's marginal is 0 except joining {A,B}: 90 - 60 = 30 with weight 2!0!/3! = 1/3 -> 10.
  // phi_A: joins {} 10 (w 1/3), {B} 40 (w 1/6), {C} 10 (w 1/6), {B,C} 70 (w 1/3) -> (20 + 40 + 10 + 140)/6 = 35.
  // phi_B = 90 - 35 - 10 = 45 (check: {} 20/3, {A} 50/6, {C} 20/6, {A,C} 80/3 -> (40 + 50 + 20 + 160)/6 = 45).
  const paths: PathSummary[] = [
    { path: ['A'], conversions: 10, nulls: 5, value: 100 },
    { path: ['B'], conversions: 20, nulls: 5, value: 0 },
    { path: ['A', 'B'], conversions: 10, nulls: 1 },
    { path: ['B', 'A', 'B'], conversions: 20, nulls: 1 },
    { path: ['C', 'B', 'A'], conversions: 30, nulls: 9, value: 300 },
    { path: ['C'], conversions: 0, nulls: 50 },
  ];

  it('matches the hand-computed 3-channel values', () => {
    const r = shapleyAttribution(paths);
    expect(r.channels).toEqual(['A', 'B', 'C']);
    expect(r.conversions.A).toBeCloseTo(35, 12);
    expect(r.conversions.B).toBeCloseTo(45, 12);
    expect(r.conversions.C).toBeCloseTo(10, 12);
    expect(r.shares.A).toBeCloseTo(35 / 90, 12);
    // Value game: {A}: 100, {A,B,C}: 300 -> phi_A = 100 + 100, phi_B = 100, phi_C = 100.
    expect(r.value.A).toBeCloseTo(200, 12);
    expect(r.value.B).toBeCloseTo(100, 12);
    expect(r.value.C).toBeCloseTo(100, 12);
  });

  it('satisfies efficiency: values sum to v(all channels)', () => {
    const r = shapleyAttribution(paths);
    expect(sum(r.conversions)).toBeCloseTo(90, 12);
    expect(r.totalConversions).toBe(90);
    expect(sum(r.value)).toBeCloseTo(400, 12);
  });

  it('gives symmetric channels equal values and a null player 0', () => {
    // Sets {A,B}: 6, {A,C}: 3, {B,C}: 3 -> A and B symmetric: 3 + 1.5 = 4.5 each, C = 3. D never converts.
    const r = shapleyAttribution([
      { path: ['A', 'B'], conversions: 4, nulls: 0 },
      { path: ['B', 'A'], conversions: 2, nulls: 0 },
      { path: ['A', 'C'], conversions: 3, nulls: 0 },
      { path: ['C', 'B'], conversions: 3, nulls: 0 },
      { path: ['D'], conversions: 0, nulls: 8 },
    ]);
    expect(r.conversions.A).toBeCloseTo(4.5, 12);
    expect(r.conversions.B).toBeCloseTo(4.5, 12);
    expect(r.conversions.C).toBeCloseTo(3, 12);
    expect(r.conversions.D).toBe(0);
  });

  it('computes the standard weights correctly for a non-additive game', () => {
    // Glove game, n = 3: v = 1 when {L, R1} or {L, R2} is present. Known values: L = 2/3, R1 = R2 = 1/6.
    // masks: bit0 = L, bit1 = R1, bit2 = R2.
    const v = Float64Array.from([0, 0, 0, 1, 0, 1, 0, 1]);
    const phi = shapleyFromGame(v, 3);
    expect(phi[0]).toBeCloseTo(2 / 3, 14);
    expect(phi[1]).toBeCloseTo(1 / 6, 14);
    expect(phi[2]).toBeCloseTo(1 / 6, 14);
  });

  it('excludes empty paths and throws above maxChannels', () => {
    const r = shapleyAttribution([
      { path: [], conversions: 4, nulls: 0, value: 9 },
      { path: ['A'], conversions: 1, nulls: 0 },
    ]);
    expect(r.excluded).toEqual({ conversions: 4, value: 9 });
    expect(r.conversions).toEqual({ A: 1 });
    const many: PathSummary[] = Array.from({ length: 16 }, (_, i) => ({ path: [`c${i}`], conversions: 1, nulls: 0 }));
    expect(() => shapleyAttribution(many)).toThrow(TooManyChannelsError);
    const r16 = shapleyAttribution(many, { maxChannels: 16 });
    expect(r16.conversions.c7).toBeCloseTo(1, 12);
  });

  it('zero conversions give all-zero values and shares', () => {
    const r = shapleyAttribution([{ path: ['A', 'B'], conversions: 0, nulls: 3 }]);
    expect(r.conversions).toEqual({ A: 0, B: 0 });
    expect(r.shares).toEqual({ A: 0, B: 0 });
  });
});

describe('exact Shapley from channel-set counts', () => {
  it('equals the path summaries result, and counts add up as paths come and go', () => {
    const paths: PathSummary[] = [
      { path: ['A', 'B', 'A'], conversions: 3, nulls: 2 },
      { path: ['B'], conversions: 1, nulls: 4 },
      { path: ['C', 'A'], conversions: 2, nulls: 0 },
      { path: ['D'], conversions: 0, nulls: 5 },
    ];
    const sets: ShapleySets = new Map();
    addShapleyPath(sets, ['B', 'C'], 4, 1); // a path that later goes
    for (const p of paths) addShapleyPath(sets, p.path, p.conversions, p.nulls);
    addShapleyPath(sets, ['C', 'B'], -4, -1);
    expect(sets.get('A\u001fB')).toEqual({ conversions: 3, journeys: 5 });
    expect(sets.has('B\u001fC')).toBe(false);
    const fromSets = shapleyFromSets(sets);
    const direct = shapleyAttribution(paths);
    expect(fromSets.channels).toEqual(['A', 'B', 'C', 'D']); // D: a null player, still a player
    expect(fromSets.shares).toStrictEqual(direct.shares);
    expect(fromSets.conversions).toStrictEqual(direct.conversions);
  });
});

describe('fractribution leave-one-out (google/fractribution py/fractribution.py)', () => {
  // p: [A] 1/4, [B] 1/2, [A,B] 3/4 (rows split 2+1 / 1+0), [B,A] 1/4, [A,B,A] 1/2, [C,A] 1, [A,A] missing.
  // [A,B]: A = 3/4 - p[B] = 1/4, B = 3/4 - p[A] = 1/2 -> A 1/3, B 2/3.
  // [B,A]: B = max(0, 1/4 - 1/4) = 0, A = max(0, 1/4 - 1/2) = 0 -> last touch: A 1 (fallback).
  // [A,B,A]: pos0 1/2 - p[B,A] = 1/4, pos1 1/2 - p[A,A] = 1/2, pos2 max(0, 1/2 - 3/4) = 0 -> A 1/3, B 2/3.
  // [C,A]: C = 1 - p[A] = 3/4, A = 1 - p[C] (missing, 0) = 1 -> C 3/7, A 4/7.
  // Single-touch paths: all to their channel. [] with 2 conversions -> Unmatched_Channel. [D] never converts.
  // Totals: A = 1*1 + 3*1/3 + 1*1 + 2*1/3 + 1*4/7 = 89/21; B = 1 + 3*2/3 + 2*2/3 = 13/3; C = 3/7.
  const paths: PathSummary[] = [
    { path: ['A'], conversions: 1, nulls: 3 },
    { path: ['B'], conversions: 1, nulls: 1 },
    { path: ['A', 'B'], conversions: 2, nulls: 1, value: 60 },
    { path: ['A', 'B'], conversions: 1, nulls: 0, value: 30 },
    { path: ['B', 'A'], conversions: 1, nulls: 3 },
    { path: ['A', 'B', 'A'], conversions: 2, nulls: 2 },
    { path: ['C', 'A'], conversions: 1, nulls: 0 },
    { path: [], conversions: 2, nulls: 5 },
    { path: ['D'], conversions: 0, nulls: 5 },
  ];
  const r = fractributionAttribution(paths);
  const find = (p: string[]) => r.paths.find((x) => x.path.join('>') === p.join('>'))!;

  it('computes per-path fractions by hand', () => {
    expect(find(['A', 'B']).attribution.A).toBeCloseTo(1 / 3, 14);
    expect(find(['A', 'B']).attribution.B).toBeCloseTo(2 / 3, 14);
    expect(find(['A', 'B', 'A']).attribution.A).toBeCloseTo(1 / 3, 14);
    expect(find(['C', 'A']).attribution.C).toBeCloseTo(3 / 7, 14);
    expect(find(['A']).attribution).toEqual({ A: 1 });
    expect(find([]).attribution).toEqual({ Unmatched_Channel: 1 });
    expect(find(['D']).attribution).toEqual({});
  });

  it('falls back to last touch when every contribution is 0', () => {
    expect(find(['B', 'A']).attribution).toEqual({ A: 1, B: 0 });
    expect(find(['B', 'A']).lastTouchFallback).toBe(true);
    expect(find(['A', 'B']).lastTouchFallback).toBe(false);
  });

  it('merges duplicate rows and totals conversions and value per channel', () => {
    expect(find(['A', 'B']).conversions).toBe(3);
    expect(r.conversions.A).toBeCloseTo(89 / 21, 12);
    expect(r.conversions.B).toBeCloseTo(13 / 3, 12);
    expect(r.conversions.C).toBeCloseTo(3 / 7, 12);
    expect(r.conversions.Unmatched_Channel).toBe(2);
    expect(sum(r.conversions)).toBeCloseTo(r.totalConversions, 12);
    expect(r.totalConversions).toBe(11);
    // Value 90 on [A,B] split 1/3, 2/3.
    expect(r.value.A).toBeCloseTo(30, 12);
    expect(r.value.B).toBeCloseTo(60, 12);
  });

  it('is independent of input order', () => {
    expect(fractributionAttribution([...paths].reverse())).toStrictEqual(r);
  });
});

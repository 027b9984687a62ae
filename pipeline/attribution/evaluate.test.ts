import { describe, expect, it } from 'vitest';
import { compareToTruth, InvalidCreditError } from './evaluate.ts';

describe('compareToTruth', () => {
  it('compares shares over the union of channels', () => {
    // Model shares: A 30/40 = 0.75, B 0.25, C 0. Truth: A 0.5, B 0.25, C 0.25.
    // Errors: A +0.25, B 0, C -0.25 -> total 0.5, max 0.25.
    const r = compareToTruth({ A: 30, B: 10 }, { A: 0.5, B: 0.25, C: 0.25 });
    expect(Object.keys(r.perChannel)).toEqual(['A', 'B', 'C']);
    expect(r.perChannel.A).toEqual({ model: 0.75, truth: 0.5, error: 0.25 });
    expect(r.perChannel.C).toEqual({ model: 0, truth: 0.25, error: -0.25 });
    expect(r.totalAbsoluteShareError).toBeCloseTo(0.5, 15);
    expect(r.maxAbsoluteShareError).toBeCloseTo(0.25, 15);
  });

  it('is 0 for proportional inputs and rejects negative values', () => {
    expect(compareToTruth({ A: 2, B: 6 }, { A: 1, B: 3 }).totalAbsoluteShareError).toBe(0);
    expect(() => compareToTruth({ A: -1 }, { A: 1 })).toThrow(InvalidCreditError);
  });
});

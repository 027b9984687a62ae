import { describe, expect, it } from 'vitest';
import { absorptionFromStart, luFactor, SingularMatrixError, solveDense, type AbsorbingChain } from './linalg.ts';

describe('dense LU', () => {
  it('solves a system that needs a row swap (zero leading pivot)', () => {
    // A = [0 2 1; 1 1 0; 2 0 3], x = (1, 2, 3): b = (0 + 4 + 3, 1 + 2 + 0, 2 + 0 + 9) = (7, 3, 11).
    const a = Float64Array.from([0, 2, 1, 1, 1, 0, 2, 0, 3]);
    const x = solveDense(a, Float64Array.from([7, 3, 11]), 3);
    expect(x[0]).toBeCloseTo(1, 12);
    expect(x[1]).toBeCloseTo(2, 12);
    expect(x[2]).toBeCloseTo(3, 12);
  });

  it('leaves its input untouched and rejects a singular matrix', () => {
    const a = Float64Array.from([1, 2, 2, 4]);
    expect(() => luFactor(a, 2)).toThrow(SingularMatrixError);
    expect([...a]).toEqual([1, 2, 2, 4]);
  });
});

// Chain: state 0 -> 1 with 1/2, conversion 1/4, null 1/4; state 1 -> 0 with 1/2, conversion 1/2.
// x0 = 1/4 + x1/2, x1 = 1/2 + x0/2 -> x0 = 1/4 + 1/4 + x0/4 -> x0 = 2/3, x1 = 5/6.
// Start 0 with 1/2 and 1 with 1/2: P = (2/3 + 5/6) / 2 = 3/4.
const chain: AbsorbingChain = {
  size: 2,
  rowStart: Int32Array.from([0, 1, 2]),
  col: Int32Array.from([1, 0]),
  prob: Float64Array.from([0.5, 0.5]),
  target: Float64Array.from([0.25, 0.5]),
};
const start = Float64Array.from([0.5, 0.5]);

describe('absorptionFromStart', () => {
  it('direct solve matches the hand computation', () => {
    const r = absorptionFromStart(chain, start, { method: 'direct' });
    expect(r.method).toBe('direct');
    expect(r.probability).toBeCloseTo(0.75, 14);
  });

  it('iterative solve brackets the exact value within the tolerance', () => {
    const r = absorptionFromStart(chain, start, { method: 'iterative', tolerance: 1e-13 });
    expect(r.method).toBe('iterative');
    expect(r.lowerBound).toBeLessThanOrEqual(0.75 + 1e-15);
    expect(r.upperBound).toBeGreaterThanOrEqual(0.75 - 1e-15);
    expect(r.upperBound - r.lowerBound).toBeLessThanOrEqual(1e-13);
  });

  it('zeroStates pins a state to probability 0 (x0 = 1/4, P = 1/8)', () => {
    const zeroStates = Uint8Array.from([0, 1]);
    expect(absorptionFromStart(chain, start, { method: 'direct', zeroStates }).probability).toBeCloseTo(0.125, 14);
    expect(absorptionFromStart(chain, start, { method: 'iterative', zeroStates }).probability).toBeCloseTo(0.125, 12);
  });

  it('divides self-loops out exactly: a 0.999 self-loop converges in one sweep', () => {
    // x = 0.999 x + 0.0005 -> x = 0.5.
    const loop: AbsorbingChain = {
      size: 1,
      rowStart: Int32Array.from([0, 1]),
      col: Int32Array.from([0]),
      prob: Float64Array.from([0.999]),
      target: Float64Array.from([0.0005]),
    };
    const r = absorptionFromStart(loop, Float64Array.from([1]), { method: 'iterative' });
    expect(r.probability).toBeCloseTo(0.5, 12);
    expect(r.sweeps).toBe(1);
  });
});

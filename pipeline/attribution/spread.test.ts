import { describe, expect, it } from 'vitest';
import { InvalidChannelCreditError, spreadChannelCredit, sumByChannel } from './spread.ts';

const byId = (r: { id: string; credit: number }[]) => Object.fromEntries(r.map((c) => [c.id, c.credit]));

describe('spreadChannelCredit', () => {
  const path = [
    { id: 'p3', at: 3, channel: 'A' },
    { id: 'p1', at: 1, channel: 'A' },
    { id: 'p2', at: 2, channel: 'B' },
  ];

  it('restricts to the path, renormalises, then splits each channel equally over its touches', () => {
    // Present: A 0.6, B 0.2 (C absent) -> A 0.75, B 0.25; A has two touches -> 0.375 each.
    const r = spreadChannelCredit(path, { A: 0.6, B: 0.2, C: 0.2 });
    expect(r.map((c) => c.id)).toEqual(['p1', 'p2', 'p3']);
    const c = byId(r);
    expect(c.p1).toBeCloseTo(0.375, 15);
    expect(c.p2).toBeCloseTo(0.25, 15);
    expect(c.p3).toBeCloseTo(0.375, 15);
  });

  it('treats a channel missing from the credits as 0', () => {
    expect(byId(spreadChannelCredit(path, { B: 5 }))).toEqual({ p1: 0, p2: 1, p3: 0 });
  });

  it('falls back to last touch (default) or linear when the path has no credit', () => {
    expect(byId(spreadChannelCredit(path, { A: 0, C: 1 }))).toEqual({ p1: 0, p2: 0, p3: 1 });
    const linear = byId(spreadChannelCredit(path, {}, { fallback: 'linear' }));
    for (const v of Object.values(linear)) expect(v).toBeCloseTo(1 / 3, 15);
  });

  it('handles empty paths and rejects negative credit', () => {
    expect(spreadChannelCredit([], { A: 1 })).toEqual([]);
    expect(() => spreadChannelCredit(path, { A: -1 })).toThrow(InvalidChannelCreditError);
  });

  it('sums touch credits back to channels', () => {
    // A: 0.375 + 0.375 = 0.75, B: 0.25.
    const r = sumByChannel(spreadChannelCredit(path, { A: 0.6, B: 0.2 }));
    expect(Object.keys(r)).toEqual(['A', 'B']);
    expect(r.A).toBeCloseTo(0.75, 15);
    expect(r.B).toBeCloseTo(0.25, 15);
  });
});

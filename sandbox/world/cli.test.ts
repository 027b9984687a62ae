import { describe, expect, it } from 'vitest';
import { parseWorldArgs } from './cli.ts';

describe('world CLI arguments', () => {
  it('maps flags to world options', () => {
    expect(parseWorldArgs(['--seed', '7', '--scale', 'tiny', '--end-date', '2025-12-31', '--out', 'x.json'])).toEqual({
      options: { seed: 7, scale: 'tiny', endDate: '2025-12-31' },
      out: 'x.json',
    });
    expect(parseWorldArgs(['--scale', '0.5'])).toEqual({ options: { scale: 0.5 } });
    expect(parseWorldArgs([])).toEqual({ options: {} });
  });

  it('rejects bad values and unknown flags', () => {
    expect(() => parseWorldArgs(['--scale', 'huge'])).toThrow();
    expect(() => parseWorldArgs(['--seed', '1.5'])).toThrow();
    expect(() => parseWorldArgs(['--end-date', '31/12/2025'])).toThrow();
    expect(() => parseWorldArgs(['--colour', 'red'])).toThrow();
  });
});

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { generateWorld } from './index.ts';

// Exposes V8's gc() so heap samples measure retained memory, not garbage waiting to be swept.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('large world', () => {
  it('streams ~1M touchpoints with flat memory', () => {
    const w = generateWorld({ scale: 'large' });
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let people = 0;
    let touches = 0;
    let maxGrowth = 0;
    for (const p of w.people()) {
      people++;
      touches += p.touchpoints.length;
      if (people % 20_000 === 0) {
        gc();
        maxGrowth = Math.max(maxGrowth, process.memoryUsage().heapUsed - baseline);
      }
    }
    expect(touches).toBeGreaterThan(800_000);
    expect(touches).toBeLessThan(1_300_000);
    expect(people).toBeGreaterThan(100_000);
    // Holding the people would take hundreds of MB; a stream keeps only the current account.
    expect(maxGrowth).toBeLessThan(32 * 1024 * 1024);
  }, 180_000);
});

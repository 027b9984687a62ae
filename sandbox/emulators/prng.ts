/**
 * Small deterministic PRNG helpers for the emulators. Never Math.random: every fault and every
 * data mutation must replay identically for the same seed.
 */

/** mulberry32: 32-bit state, good enough spread for test fault schedules. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a 32-bit hash of a string, used to derive independent sub-seeds from names. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A uniform number in [0, 1) that depends only on the seed and the key, so the draw for the n-th
 * request of a route does not depend on how requests to other routes interleave with it.
 */
export function keyedUniform(seed: number, key: string): number {
  return mulberry32((seed ^ fnv1a(key)) >>> 0)();
}

/** Picks `count` distinct items deterministically (a partial Fisher-Yates shuffle). */
export function pickDistinct<T>(items: readonly T[], count: number, rand: () => number): T[] {
  const copy = items.slice();
  const n = Math.min(count, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rand() * (copy.length - i));
    const tmp = copy[i] as T;
    copy[i] = copy[j] as T;
    copy[j] = tmp;
  }
  return copy.slice(0, n);
}

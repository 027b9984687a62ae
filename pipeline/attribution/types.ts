/**
 * Shared types and input validation for the attribution math library.
 *
 * Everything here is pure data: no database, no I/O. The warehouse aggregates journeys into
 * path summaries in SQL; this library solves the remaining math.
 */

/**
 * One distinct channel path with how often it occurred.
 * - `path`: channel names in time order (repeats allowed).
 * - `conversions`: journeys with this path that converted.
 * - `nulls`: journeys with this path that did not convert.
 * - `value`: total conversion value (e.g. revenue) of the converting journeys; optional, 0 when absent.
 */
export type PathSummary = {
  path: string[];
  conversions: number;
  nulls: number;
  value?: number;
};

/** Credit per channel. Keys are inserted in ascending code-unit order so output is stable. */
export type ChannelCredit = Record<string, number>;

/** Credit for one touchpoint of one opportunity. */
export type TouchCredit = { id: string; channel: string; credit: number };

/** Thrown when a path summary has a negative or non-finite count, or an empty channel name. */
export class InvalidPathSummaryError extends Error {
  override readonly name = 'InvalidPathSummaryError';
}

/** Deterministic string order (UTF-16 code units), the same as Postgres `COLLATE "C"`. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Builds a ChannelCredit with keys in code-unit order. */
export function sortedCredit(entries: Iterable<[string, number]>): ChannelCredit {
  const list = [...entries].sort((x, y) => compareCodeUnits(x[0], y[0]));
  const out: ChannelCredit = {};
  for (const [k, v] of list) out[k] = v;
  return out;
}

/**
 * Sums numbers in ascending order so the result does not depend on the order the caller
 * supplied them in (floating-point addition is not associative).
 */
export function stableSum(values: readonly number[]): number {
  if (values.length === 1) return 0 + values[0]!; // as the loop below: 0 + v
  const sorted = [...values].sort((a, b) => a - b);
  let s = 0;
  for (const v of sorted) s += v;
  return s;
}

export function validatePathSummary(s: PathSummary, index: number): void {
  const bad = (what: string): never => {
    throw new InvalidPathSummaryError(`path summary #${index}: ${what}`);
  };
  if (!Array.isArray(s.path)) bad('path must be an array');
  for (const c of s.path) if (typeof c !== 'string' || c.length === 0) bad('channel names must be non-empty strings');
  if (!Number.isFinite(s.conversions) || s.conversions < 0) bad('conversions must be a finite number >= 0');
  if (!Number.isFinite(s.nulls) || s.nulls < 0) bad('nulls must be a finite number >= 0');
  if (s.value !== undefined && (!Number.isFinite(s.value) || s.value < 0)) bad('value must be a finite number >= 0');
}

/** A path summary after validation and merging of duplicate paths. */
export type MergedPath = { path: string[]; key: string; conversions: number; nulls: number; value: number };

// U+001F (unit separator) cannot appear in sane channel names and keeps keys unambiguous.
export const KEY_SEP = '\u001f';

export function pathKey(path: readonly string[]): string {
  return path.join(KEY_SEP);
}

/** The channels of a key made by `pathKey` (the empty key: the empty path). */
export function splitPathKey(key: string): string[] {
  return key === '' ? [] : key.split(KEY_SEP);
}

/**
 * Validates summaries, merges rows with the same path (counts and values summed in a
 * caller-order-independent way) and returns them sorted by path key, so every model sees the
 * same canonical input whatever order the rows came in.
 */
export function mergePathSummaries(summaries: readonly PathSummary[]): MergedPath[] {
  const groups = new Map<string, { path: string[]; conv: number[]; nulls: number[]; value: number[] }>();
  summaries.forEach((s, i) => {
    validatePathSummary(s, i);
    const key = pathKey(s.path);
    let g = groups.get(key);
    if (!g) {
      g = { path: [...s.path], conv: [], nulls: [], value: [] };
      groups.set(key, g);
    }
    g.conv.push(s.conversions);
    g.nulls.push(s.nulls);
    g.value.push(s.value ?? 0);
  });
  const keys = [...groups.keys()].sort(compareCodeUnits);
  return keys.map((key) => {
    const g = groups.get(key)!;
    return { path: g.path, key, conversions: stableSum(g.conv), nulls: stableSum(g.nulls), value: stableSum(g.value) };
  });
}

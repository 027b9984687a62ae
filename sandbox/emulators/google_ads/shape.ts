/**
 * Structural comparison of JSON values, used by the emulator tests to hold a response against a
 * documented example: same field names at every level and the same JSON types, values ignored.
 */

export type Shape = string | { [key: string]: Shape } | Shape[];

/** The JSON type tree of a value (arrays are described by their first element). */
export function shapeOf(value: unknown): Shape {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? [] : [shapeOf(value[0])];
  if (typeof value === 'object') {
    const out: { [key: string]: Shape } = {};
    for (const key of Object.keys(value as Record<string, unknown>).sort()) {
      out[key] = shapeOf((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return typeof value;
}

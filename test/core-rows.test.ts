import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../sandbox/emulators/prng.ts';
import { coreRowParser, coreRowSchema, coreTables, type Column, type CoreTableName, type SqlType } from '../warehouse/core-tables.ts';

/**
 * The loader validates normalized rows with coreRowParser(), whose fast paths must accept only
 * values the zod schema accepts and return the same output for them. Compared here on seeded random
 * rows: a valid row per table with one to three columns replaced by values from a pool of valid,
 * borderline and invalid ones, some columns left out, some unknown columns added.
 */

const ABSENT = Symbol('absent');

const POOL: unknown[] = [
  ABSENT, undefined, null, '', ' ', 'x', 'tab\there', ' 12.50 ', '12.5', '-3', '1e3', '1.5E-7', '0x10', 'NaN', 'abc',
  '2024-02-29', '2024-02-30', '2024-13-01', '2024-1-01', '2024-01-01T10:00:00Z', '2024-06-30T23:59:59.123+02:00', 'not a date',
  0, -0, 1, -7, 1.5, 1e21, 2 ** 53, 2 ** 53 + 2, Number.NaN, Number.POSITIVE_INFINITY, true, false,
  new Date('2024-05-06T07:08:09.010Z'), new Date('invalid'), { a: 1 }, { nested: { b: [1, 2] } }, [], [1], Object.create(null),
];

const VALID: Record<SqlType, unknown[]> = {
  text: ['x', 'lead'],
  numeric: ['1.5', 42],
  bigint: [7],
  date: ['2024-01-02'],
  timestamptz: ['2024-01-02T03:04:05Z', new Date('2024-01-02T03:04:05Z')],
  boolean: [true],
  jsonb: [{ a: 1 }],
};

function validRow(table: CoreTableName): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [name, column] of Object.entries(coreTables[table].columns as Record<string, Column>)) {
    const value = VALID[column.sql].find((v) => column.schema.safeParse(v).success);
    if (value === undefined) throw new Error(`no valid sample for ${table}.${name}`);
    row[name] = value;
  }
  return row;
}

describe('coreRowParser', () => {
  const tables = Object.keys(coreTables) as CoreTableName[];

  it.each(tables)('%s: a valid row parses as zod parses it', (table) => {
    const row = validRow(table);
    const expected = coreRowSchema(table).safeParse(row);
    expect(expected.success).toBe(true);
    expect(coreRowParser(table)(row)).toStrictEqual(expected);
  });

  it.each(tables)('%s: 3,000 mutated rows give zod\'s result, success and failure alike', (table) => {
    const random = mulberry32(tables.indexOf(table) + 1); // seeded: a failure reproduces
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const columns = Object.keys(coreTables[table].columns);
    const outcomes = { ok: 0, failed: 0 };
    for (let i = 0; i < 3000; i++) {
      const row = validRow(table);
      const changes = 1 + Math.floor(random() * 3);
      for (let c = 0; c < changes; c++) {
        const value = pick(POOL);
        const column = random() < 0.05 ? 'no_such_column' : pick(columns);
        if (value === ABSENT) delete row[column];
        else row[column] = value;
      }
      const expected = coreRowSchema(table).safeParse(row);
      const actual = coreRowParser(table)(row);
      expect(actual.success, JSON.stringify(row)).toBe(expected.success);
      if (expected.success) expect(actual.data, JSON.stringify(row)).toStrictEqual(expected.data);
      else expect(actual.error?.issues).toStrictEqual(expected.error.issues);
      outcomes[expected.success ? 'ok' : 'failed']++;
    }
    // Both branches exercised, so the comparison means something.
    expect(outcomes.ok).toBeGreaterThan(100);
    expect(outcomes.failed).toBeGreaterThan(100);
  });

  it('returns a fresh default object per row for an absent jsonb column', () => {
    const parse = coreRowParser('core.fct_web_traffic_daily');
    const row = validRow('core.fct_web_traffic_daily');
    delete row.extra;
    const a = parse(row);
    const b = parse(row);
    expect(a.success && b.success).toBe(true);
    expect(a.data?.extra).toEqual({});
    expect(a.data?.extra).not.toBe(b.data?.extra);
  });
});

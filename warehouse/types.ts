/**
 * The one place where Postgres and PGlite are made to return the same JS values.
 *
 * | Postgres type | JS value            | why                                                        |
 * |---------------|---------------------|------------------------------------------------------------|
 * | int8 (bigint) | number              | counts and ids we keep in int8 stay far below 2^53          |
 * | numeric       | string              | money must stay exact; callers decide how to do arithmetic  |
 * | date          | 'YYYY-MM-DD' string | a calendar day has no time zone; Date would shift it        |
 * | timestamptz   | Date                | an instant                                                 |
 * | json / jsonb  | parsed value        |                                                            |
 */
export const OID = {
  INT8: 20,
  NUMERIC: 1700,
  DATE: 1082,
  TIMESTAMP: 1114,
  TIMESTAMPTZ: 1184,
  JSON: 114,
  JSONB: 3802,
} as const;

function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} exceeds the safe integer range`);
  return n;
}

function parseTimestamptz(value: string): Date {
  // Postgres sends e.g. '2026-11-01 10:00:00+00' or with fractional seconds / +05:30 offsets.
  const iso = value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  return new Date(iso);
}

/** Text-format parsers keyed by type OID, shared by the pg and PGlite drivers. */
export const typeParsers: Record<number, (value: string) => unknown> = {
  [OID.INT8]: parseInt8,
  [OID.NUMERIC]: (v) => v,
  [OID.DATE]: (v) => v,
  [OID.TIMESTAMP]: (v) => v,
  [OID.TIMESTAMPTZ]: parseTimestamptz,
  [OID.JSON]: (v) => JSON.parse(v),
  [OID.JSONB]: (v) => JSON.parse(v),
};

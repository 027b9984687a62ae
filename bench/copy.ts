import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** COPY helpers of the benchmarks (they load data around the code they measure). */

export type Cell = string | number | boolean | null | undefined;

/** One field in COPY text format: backslash, tab, newline and carriage return escaped; \N for NULL. */
export function copyText(value: Cell): string {
  if (value === null || value === undefined) return '\\N';
  return String(value).replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** Joins COPY lines into strings of about 1 MiB. */
function* chunked(lines: Iterable<string>): Generator<string> {
  let buffer = '';
  for (const line of lines) {
    buffer += line;
    if (buffer.length > 1 << 20) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer) yield buffer;
}

/** COPYs ready COPY-text lines (each ending in \n) into `table` on `conn`, inside the caller's transaction. */
export async function copyLines(conn: pg.PoolClient, table: string, columns: readonly string[], lines: Iterable<string>): Promise<void> {
  await pipeline(Readable.from(chunked(lines)), conn.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`)));
}

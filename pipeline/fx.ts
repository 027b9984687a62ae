import fs from 'node:fs';
import { parse } from 'csv-parse';
import { z } from 'zod';
import { dayString } from '../connectors/core/dates.ts';
import { ConfigError } from '../connectors/core/errors/index.ts';
import type { Warehouse } from '../warehouse/db.ts';

/** One daily rate: 1 `from` = `rate` `to`. */
export const fxRateSchema = z.object({
  date: dayString,
  from_currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
  to_currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
  rate: z.coerce.number().positive('must be a positive number'),
});
export type FxRate = z.infer<typeof fxRateSchema>;

/** Upserts rates into core.fx_rate_daily in batches; `withInverse` also stores to -> from. */
export async function loadFxRates(warehouse: Warehouse, rates: Iterable<FxRate>, options: { source: string; withInverse?: boolean }): Promise<number> {
  let batch: Array<Record<string, unknown>> = [];
  let n = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await warehouse.knex('core.fx_rate_daily').insert(batch).onConflict(['date', 'from_currency', 'to_currency']).merge(['rate', 'source', '_synced_at']);
    n += batch.length;
    batch = [];
  };
  for (const r of rates) {
    batch.push({ ...r, rate: String(r.rate), source: options.source, _synced_at: new Date() });
    if (options.withInverse) batch.push({ date: r.date, from_currency: r.to_currency, to_currency: r.from_currency, rate: String(1 / r.rate), source: options.source, _synced_at: new Date() });
    if (batch.length >= 1000) await flush();
  }
  await flush();
  return n;
}

/** Reads a CSV with the columns date, from_currency, to_currency, rate; a bad row names its line. */
export async function readFxCsv(file: string): Promise<FxRate[]> {
  if (!fs.existsSync(file)) throw new ConfigError(`fx: file ${file} does not exist`);
  const rows: FxRate[] = [];
  let line = 1;
  for await (const record of fs.createReadStream(file).pipe(parse({ columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), bom: true, skip_empty_lines: true }))) {
    line++;
    const parsed = fxRateSchema.safeParse(record);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConfigError(`fx: ${file} line ${line}: ${issue.path.join('.')}: ${issue.message}`);
    }
    rows.push(parsed.data);
  }
  return rows;
}

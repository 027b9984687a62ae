import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse';
import { z } from 'zod';
import { defineConnector, defineStream, type Page, type StreamContext } from '../core/connector.ts';
import { ConfigError } from '../core/errors/index.ts';

/**
 * csv: offline spend (events, print, sponsorships, direct mail...) from a CSV file with the columns
 * date, channel, campaign, spend, currency, impressions, clicks (header row required; extra columns
 * are kept in raw). One connection per file.
 */
export const csvConfigSchema = z.strictObject({
  /** Path of the CSV file (relative paths resolve against the working directory). */
  path: z.string().min(1),
  /** Field delimiter. Default ','. */
  delimiter: z.string().length(1).default(','),
  /** Currency for rows whose currency column is empty or missing. Default: none (such rows are quarantined). */
  defaultCurrency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD').optional(),
  /** account_id written to core rows, to tell several offline sources apart. Default 'offline'. */
  accountId: z.string().min(1).default('offline'),
  /** Rows per page (per loader transaction). Default 5,000. */
  pageSize: z.number().int().positive().max(100_000).default(5_000),
});
export type CsvConfig = z.infer<typeof csvConfigSchema>;

const decimal = /^\d+(\.\d+)?$/;
const count = z
  .string()
  .trim()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === '') return 0;
    if (!/^\d+$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: `must be a non-negative whole number, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return Number(v);
  });

/** One CSV row as parsed (every value a string). */
export const csvSpendRecord = z.looseObject({
  date: z
    .string()
    .trim()
    .refine((v) => /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) && new Date(`${v}T00:00:00Z`).toISOString().startsWith(v), 'must be a date YYYY-MM-DD'),
  channel: z.string().trim().min(1, 'is empty'),
  campaign: z.string().trim().min(1, 'is empty'),
  spend: z.string().trim().regex(decimal, 'must be a non-negative decimal with a dot, e.g. 1250.00'),
  currency: z.string().trim().optional(),
  impressions: count,
  clicks: count,
});
export type CsvSpendRecord = z.infer<typeof csvSpendRecord>;

/** A loaded row as [date, campaign] (as written in the file), channel and currency: enough to mark it deleted later. */
const keptRow = z.tuple([z.string(), z.string(), z.string(), z.string()]);
type KeptRow = z.infer<typeof keptRow>;

const checkpointSchema = z.object({
  /** sha256 of the file the rows came from. */
  fingerprint: z.string(),
  /** Data rows stored so far. */
  rowsDone: z.number().int().nonnegative(),
  complete: z.boolean(),
  /** Rows earlier reads loaded that this read has not finished checking against (deletes by absence). */
  previous: z.array(keptRow).default([]),
  /** Rows this read has loaded so far. */
  seen: z.array(keptRow).default([]),
});
type CsvCheckpoint = z.infer<typeof checkpointSchema>;

/** The currency a row is stored in, or undefined when it has none the connection can use. */
function resolveCurrency(record: Pick<CsvSpendRecord, 'currency'>, config: Pick<CsvConfig, 'defaultCurrency'>): string | undefined {
  const currency = record.currency && record.currency !== '' ? record.currency.toUpperCase() : config.defaultCurrency;
  return currency && /^[A-Z]{3}$/.test(currency) ? currency : undefined;
}

const rowKey = (date: string, campaign: string): string => `${date.trim()}\u0001${campaign.trim()}`;

async function fileFingerprint(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Columns a spend file must have; currency, impressions and clicks may be absent (defaults apply). */
const REQUIRED_COLUMNS = ['date', 'channel', 'campaign', 'spend'] as const;

/** A header without a required column is a file problem, not thousands of bad rows: say so once. */
function checkHeader(connectionId: string, file: string, header: readonly string[]): void {
  const missing = REQUIRED_COLUMNS.filter((c) => !header.includes(c));
  const repeated = header.filter((c, i) => c !== '' && header.indexOf(c) !== i);
  if (missing.length === 0 && repeated.length === 0) return;
  const problems = [
    ...(missing.length ? [`no ${missing.join(', ')} column${missing.length > 1 ? 's' : ''}`] : []),
    ...(repeated.length ? [`column ${[...new Set(repeated)].join(', ')} twice`] : []),
  ];
  throw new ConfigError(
    `connection ${connectionId}: ${file}: the header row has ${problems.join(' and ')}; expected date, channel, campaign, spend[, currency, impressions, clicks] (found: ${header.join(', ') || 'nothing'})`,
  );
}

async function* readSpend(ctx: StreamContext<CsvConfig>, checkpoint: CsvCheckpoint | undefined): AsyncIterable<Page<CsvCheckpoint>> {
  const file = path.resolve(ctx.config.path);
  if (!fs.existsSync(file)) throw new ConfigError(`connection ${ctx.connectionId}: path: file ${file} does not exist`);
  const fingerprint = await fileFingerprint(file);
  const sameFile = checkpoint?.fingerprint === fingerprint && ctx.mode !== 'full';
  if (sameFile && checkpoint.complete) {
    ctx.log.info('file unchanged since the last complete sync; nothing to read');
    return;
  }
  const skip = sameFile ? checkpoint.rowsDone : 0;
  // Deletes by absence: a row an earlier read loaded that the changed file no longer has (a
  // corrected campaign name, a cancelled booking) is marked deleted, or its spend would count
  // twice. Windows (backfills) and --full reads do not know the earlier rows and skip this.
  const tracking = !ctx.window;
  let previous: KeptRow[] = [];
  let seen: KeptRow[] = [];
  if (tracking && checkpoint) {
    if (sameFile) {
      previous = checkpoint.previous;
      seen = [...checkpoint.seen];
    } else {
      previous = checkpoint.complete ? checkpoint.seen : [...checkpoint.previous, ...checkpoint.seen];
    }
  }
  let header: string[] | undefined;
  const parser = fs.createReadStream(file).pipe(
    parse({
      columns: (names: string[]) => (header = names.map((h) => h.trim().toLowerCase())),
      delimiter: ctx.config.delimiter,
      bom: true,
      skip_empty_lines: true,
      // Spreadsheet exports end with rows of bare delimiters (",,,,,,"): not data, not errors.
      skip_records_with_empty_values: true,
      trim: false,
      relax_column_count: true,
      info: true,
    }),
  );
  let rowsDone = 0;
  let buffer: unknown[] = [];
  /** Line of the first row of each (date, campaign): both rows would become one core row, so one would silently vanish. */
  const firstLine = new Map<string, number>();
  for await (const { record: row, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    if (rowsDone === 0) checkHeader(ctx.connectionId, file, header ?? []);
    rowsDone++;
    if (typeof row.date === 'string' && typeof row.campaign === 'string' && row.date.trim() !== '' && row.campaign.trim() !== '') {
      const key = `${row.date.trim()}|${row.campaign.trim()}`;
      const first = firstLine.get(key);
      if (first !== undefined) {
        throw new ConfigError(
          `connection ${ctx.connectionId}: ${file} line ${info.lines}: date ${row.date.trim()} and campaign "${row.campaign.trim()}" already appear on line ${first}; the file needs one row per date and campaign (add the amounts up, or name the campaigns apart)`,
        );
      }
      firstLine.set(key, info.lines);
    }
    if (rowsDone <= skip) continue;
    if (ctx.window && typeof row.date === 'string' && (row.date < ctx.window.from || row.date > ctx.window.to)) continue;
    buffer.push(row);
    if (tracking) {
      const parsed = csvSpendRecord.safeParse(row);
      const currency = parsed.success ? resolveCurrency(parsed.data, ctx.config) : undefined;
      if (parsed.success && currency && typeof row.date === 'string' && typeof row.campaign === 'string') seen.push([row.date, row.campaign, parsed.data.channel, currency]);
    }
    if (buffer.length >= ctx.config.pageSize) {
      yield { records: buffer, checkpoint: { fingerprint, rowsDone, complete: false, previous, seen: [...seen] } };
      buffer = [];
      if (ctx.signal.aborted) return;
    }
  }
  if (rowsDone === 0 && header) checkHeader(ctx.connectionId, file, header);
  const present = new Set(seen.map(([date, campaign]) => rowKey(date, campaign)));
  const removed = new Map<string, KeptRow>();
  for (const row of previous) if (!present.has(rowKey(row[0], row[1]))) removed.set(rowKey(row[0], row[1]), row);
  if (removed.size > 0) ctx.log.info({ rows: removed.size }, `rows no longer in ${file} are marked deleted`);
  for (const [date, campaign, channel, currency] of removed.values()) buffer.push({ date, campaign, channel, spend: '0', currency, _removed: true });
  yield { records: buffer, checkpoint: { fingerprint, rowsDone, complete: true, previous: [], seen } };
}

const spend = defineStream<CsvConfig>()({
  name: 'spend',
  description: 'Offline spend rows: one per date x campaign',
  primaryKey: ['date', 'campaign'],
  cursorField: undefined,
  pageSize: 5_000,
  recordSchema: csvSpendRecord,
  checkpointSchema,
  targets: ['core.fct_ad_spend_daily', 'core.dim_campaign'],
  read: readSpend,
  // A row that left the file (see readSpend): its day's spend row is flagged, the campaign stays.
  isDeleted: (record) => record._removed === true,
  normalize(record, { config }) {
    const currency = resolveCurrency(record, config);
    if (!currency) {
      throw new Error(`currency: ${record.currency ? `"${record.currency}" is not an ISO 4217 code` : 'is empty and the connection has no defaultCurrency'}`);
    }
    const day = {
      'core.fct_ad_spend_daily': [
        {
          campaign_id: record.campaign,
          date: record.date,
          account_id: config.accountId,
          campaign_name: record.campaign,
          channel_hint: record.channel,
          currency,
          spend: record.spend,
          impressions: record.impressions,
          clicks: record.clicks,
          conversions: '0',
          conversion_value: '0',
        },
      ],
    };
    if (record._removed === true) return day;
    return {
      ...day,
      'core.dim_campaign': [
        // The ad connectors' dim_campaign shape; an offline campaign has no platform status or time zone.
        { campaign_id: record.campaign, name: record.campaign, channel_hint: record.channel, currency, account_id: config.accountId, campaign_type: 'offline', status: null, time_zone: null },
      ],
    };
  },
});

export const csvConnector = defineConnector<CsvConfig>({
  name: 'csv',
  description: 'Offline spend from a CSV file (date, channel, campaign, spend, currency, impressions, clicks)',
  configSchema: csvConfigSchema,
  env: [
    { name: 'CSV_SPEND_FILE', description: 'Path of the offline spend CSV file' },
    { name: 'CSV_DEFAULT_CURRENCY', description: 'Currency for rows without one (ISO 4217)' },
  ],
  fromEnv(env) {
    if (!env.CSV_SPEND_FILE) return undefined;
    return { path: env.CSV_SPEND_FILE, ...(env.CSV_DEFAULT_CURRENCY ? { defaultCurrency: env.CSV_DEFAULT_CURRENCY } : {}) };
  },
  streams: [spend],
});

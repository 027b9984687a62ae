import type { z } from 'zod';
import type { Logger } from 'pino';
import type { CoreRows, CoreTableName } from '../../warehouse/core-tables.ts';

/** The connector names mpm ships; they are connection ids by default and raw table prefixes. */
export const CONNECTOR_NAMES = ['salesforce', 'hubspot', 'google_ads', 'meta_ads', 'ga4', 'csv'] as const;
export type ConnectorName = (typeof CONNECTOR_NAMES)[number];

export type SyncMode = 'full' | 'incremental' | 'backfill';

/** Inclusive calendar days, 'YYYY-MM-DD'. */
export interface DateWindow {
  from: string;
  to: string;
}

export interface StreamContext<Cfg> {
  connectionId: string;
  config: Cfg;
  mode: SyncMode;
  /** Set for backfills and for `sync --from/--to`: the days to read, whatever the checkpoint says. */
  window: DateWindow | undefined;
  log: Logger;
  /** Aborted on shutdown: stop after the current page. */
  signal: AbortSignal;
  /** The clock; the sandbox and tests pin it so syncs are reproducible. */
  now(): Date;
  /** Records a warning on the run (meta.sync_runs.warnings) and in the log. */
  warn(message: string, detail?: Record<string, unknown>): void;
  /**
   * full mode only: the checkpoint stored under this scope, which a full run does not resume
   * from (unvalidated: the stream parses it). For state that must outlive a full run, such as
   * the ids a full re-read compares with to detect deletes by absence. Undefined in other modes.
   */
  previousCheckpoint?: unknown;
}

export interface NormalizeContext<Cfg> {
  connectionId: string;
  config: Cfg;
}

/**
 * One page of vendor records and the checkpoint that is true once the page is stored. The loader
 * stores records, normalized rows and this checkpoint in one transaction.
 */
export interface Page<Ckpt> {
  records: readonly unknown[];
  checkpoint: Ckpt;
  /** Set on the page that finishes re-reading a range of days completely (see StreamDefinition.windowSweep). */
  sweep?: WindowSweep;
}

/** Days `from`..`to` (inclusive, in the records' own day format) of one scope, e.g. an ad account, fully read. */
export interface WindowSweep {
  scope: string;
  from: string;
  to: string;
}

export interface StreamDefinition<Cfg, Rec, Ckpt> {
  /** snake_case; the raw table is raw.<connector>__<name>. */
  name: string;
  description: string;
  /** Dot paths into the vendor record whose values, joined by '|', identify it (e.g. ['Id']). */
  primaryKey: readonly string[];
  /** The vendor field the incremental cursor follows (documentation and status output). */
  cursorField: string | undefined;
  /** Records per page the stream asks the vendor for (and so per loader transaction). */
  pageSize: number;
  /** The vendor's record shape; a record that fails it is quarantined, the rest of the page loads. */
  recordSchema: z.ZodType<Rec>;
  checkpointSchema: z.ZodType<Ckpt>;
  /** Core tables normalize() writes to. */
  targets: readonly CoreTableName[];
  /**
   * Child rows a record owns in another core table (a deal's contact associations): rows of
   * `table` whose `parent` columns match a `from` row of the page, but which the page no longer
   * emits, get is_deleted (the record dropped them). Default: none.
   */
  ownedRows?: ReadonlyArray<{ table: CoreTableName; from: CoreTableName; parent: readonly string[] }>;
  /**
   * Date-partitioned streams whose re-reads overwrite whole days (restatement lookbacks): stored
   * records of this connection whose `scopePath` value is a page's sweep.scope and whose `dayPath`
   * value is in sweep.from..to, but which the run did not read again since the previous sweep, are
   * marked deleted (pipeline/window-sweep.ts). Default: none.
   */
  windowSweep?: { dayPath: string; scopePath: string };
  /** True when the vendor marks this record deleted/archived; its core rows get is_deleted. */
  isDeleted?(record: Rec): boolean;
  normalize(record: Rec, ctx: NormalizeContext<Cfg>): CoreRows;
  read(ctx: StreamContext<Cfg>, checkpoint: Ckpt | undefined): AsyncIterable<Page<Ckpt>>;
}

export interface EnvVarDoc {
  name: string;
  description: string;
  /** Secret values are masked in every log line and error. */
  secret?: boolean;
}

export interface ConnectorDefinition<Cfg> {
  /** One of CONNECTOR_NAMES for the connectors mpm ships (the registry checks); snake_case. */
  name: string;
  description: string;
  /** Validates a connection's settings (everything but id and connector). */
  configSchema: z.ZodType<Cfg>;
  /** The documented environment variables of the single env-configured connection. */
  env: readonly EnvVarDoc[];
  /** Settings of the env-configured connection, or undefined when the environment does not configure one. */
  fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined;
  streams: ReadonlyArray<StreamDefinition<Cfg, unknown, unknown>>;
}

/** Declares a stream; the identity function that lets TypeScript infer Rec and Ckpt from the schemas. */
export function defineStream<Cfg>() {
  return <Rec, Ckpt>(stream: StreamDefinition<Cfg, Rec, Ckpt>): StreamDefinition<Cfg, Rec, Ckpt> => {
    if (!/^[a-z][a-z0-9_]*$/.test(stream.name)) throw new Error(`stream name ${stream.name} must be snake_case`);
    if (stream.pageSize <= 0) throw new Error(`stream ${stream.name}: pageSize must be positive`);
    if (stream.primaryKey.length === 0) throw new Error(`stream ${stream.name}: primaryKey is empty`);
    return stream;
  };
}

export function defineConnector<Cfg>(connector: ConnectorDefinition<Cfg>): ConnectorDefinition<Cfg> {
  const names = new Set<string>();
  for (const stream of connector.streams) {
    if (names.has(stream.name)) throw new Error(`connector ${connector.name}: duplicate stream ${stream.name}`);
    names.add(stream.name);
  }
  return connector;
}

/** raw.<connector>__<stream>, the table a stream's vendor records land in. */
export function rawTableName(connector: string, stream: string): string {
  return `raw.${connector}__${stream}`;
}

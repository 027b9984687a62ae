/**
 * The offline demo: the whole pipeline against the sandbox. Starts the seeded world behind the
 * vendor emulators in this process, syncs every registered connector through its real code path
 * (configured only by the NAME=value environment the sandbox prints, as a user would), loads the
 * world's FX rates, runs the transform and reads the summary back from the marts.
 *
 * Deterministic: the world is seeded and the connectors' clock is pinned to the day after the
 * world's last day, so two runs give the same figures.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ConnectorDefinition } from '../connectors/core/connector.ts';
import { connectors as registeredConnectors } from '../connectors/registry.ts';
import type { FaultSpec } from '../sandbox/emulators/faults.ts';
import { startSandbox, type Sandbox } from '../sandbox/index.ts';
import type { WorldScale } from '../sandbox/world/types.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { buildConnection, type Connection } from './config/connections.ts';
import { loadFxRates, type FxRate } from './fx.ts';
import { runSync, type SyncProgress, type SyncResult } from './sync.ts';
import { writeReport } from './report/index.ts';
import { runTransform, type TransformResult } from './transform/index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SAMPLE_CSV = path.resolve(here, '../connectors/csv/sample/offline-spend.csv');
export const DEMO_GOALS = path.resolve(here, '../sandbox/demo-goals.csv');

export interface DemoOptions {
  warehouse: Warehouse;
  log: Logger;
  seed?: number;
  scale?: WorldScale;
  faults?: string | FaultSpec;
  /** Where to write the HTML dashboard (default: not written). */
  reportPath?: string;
  /** Connectors to run (default: every registered one). */
  only?: readonly string[];
  /** Called as streams start, page and finish (the CLI draws progress from it). */
  onStream?(event: StreamEvent): void;
  /** Called when a stage starts. */
  onStage?(stage: string): void;
}

export type StreamEvent =
  | { kind: 'start'; connection: string; stream: string }
  | { kind: 'page'; connection: string; stream: string; progress: SyncProgress }
  | { kind: 'done'; result: SyncResult; ms: number };

export interface ChannelSummary {
  channel: string;
  spend: number;
  pipeline: number;
  revenue: number;
  roas: number | null;
  cac: number | null;
}

export interface DemoSummary {
  world: { seed: number; scale: WorldScale; from: string; to: string };
  currency: string;
  /** Connectors the sandbox could not serve (no emulator), so they did not run. */
  skipped: Array<{ connector: string; reason: string }>;
  syncs: SyncResult[];
  transform: TransformResult | null;
  tables: Array<{ table: string; rows: number }>;
  /** Per channel under the summary model (w_shaped), over the whole world. */
  channels: ChannelSummary[];
  summaryModel: string;
  /** Share of revenue credit per channel, per model (0..1). */
  creditShare: Array<{ model: string; shares: Record<string, number> }>;
  goals: Array<{ goal_id: string; metric: string; channel: string | null; target: number; actual_to_date: number | null; pace_pct: number | null; forecast: number | null; on_track: boolean | null }>;
  /** The HTML dashboard, when one was written. */
  report: { path: string; bytes: number; charts: number } | null;
}

export const SUMMARY_MODEL = 'w_shaped';

/** The day after `day`, at 12:00 UTC: the clock the connectors see. In every ad account's time
 * zone (UTC-12 to UTC+12) it is then already the next day, so "up to yesterday" is the world's last day. */
function dayAfter(day: string): Date {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d;
}

/**
 * What a team would put in mpm.config.json for the sandbox's orgs beyond the environment: the
 * sandbox Salesforce org keeps UTMs in custom fields (UTM_*__c) on leads and campaigns, as many
 * real orgs do.
 */
const SANDBOX_UTM_FIELDS = { source: 'UTM_Source__c', medium: 'UTM_Medium__c', campaign: 'UTM_Campaign__c' };
const SANDBOX_SETTINGS: Record<string, Record<string, unknown>> = {
  salesforce: { objects: { lead: { utmFields: SANDBOX_UTM_FIELDS }, campaign: { utmFields: SANDBOX_UTM_FIELDS } } },
};

/** Settings for a connector from the sandbox env; date connectors start on the world's first day. */
function demoSettings(connector: ConnectorDefinition<unknown>, box: Sandbox): Record<string, unknown> | undefined {
  if (connector.name === 'csv') return { path: SAMPLE_CSV };
  const fromEnv = connector.fromEnv(box.env);
  if (!fromEnv) return undefined;
  const settings = { ...fromEnv, ...SANDBOX_SETTINGS[connector.name] };
  const withStart = { ...settings, startDate: box.world.startDate };
  const parsed = connector.configSchema.safeParse(withStart);
  return parsed.success && (parsed.data as Record<string, unknown>).startDate === box.world.startDate ? withStart : settings;
}

function* worldFxRates(box: Sandbox): Generator<FxRate> {
  for (const [date, rate] of Object.entries(box.world.fxEurUsd)) yield { date, from_currency: 'EUR', to_currency: 'USD', rate };
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { warehouse, log } = options;
  options.onStage?.('sandbox');
  const box = await startSandbox({
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.scale !== undefined ? { scale: options.scale } : {}),
    ...(options.faults !== undefined ? { faults: options.faults } : {}),
  });
  try {
    const now = dayAfter(box.world.endDate);
    const skipped: DemoSummary['skipped'] = [];
    const connections: Connection[] = [];
    for (const connector of registeredConnectors) {
      if (options.only && !options.only.includes(connector.name)) continue;
      const settings = demoSettings(connector, box);
      if (!settings) {
        skipped.push({ connector: connector.name, reason: 'the sandbox serves no emulator for it' });
        continue;
      }
      connections.push(buildConnection(connector.name, connector, settings, 'env'));
    }

    options.onStage?.('sync');
    const syncs: SyncResult[] = [];
    for (const connection of connections) {
      for (const stream of connection.connector.streams) {
        const started = performance.now();
        options.onStream?.({ kind: 'start', connection: connection.id, stream: stream.name });
        const result = await runSync({
          warehouse,
          connection,
          stream,
          mode: 'incremental',
          log,
          now: () => now,
          onPage: (progress) => options.onStream?.({ kind: 'page', connection: connection.id, stream: stream.name, progress }),
        });
        options.onStream?.({ kind: 'done', result, ms: performance.now() - started });
        syncs.push(result);
      }
    }

    options.onStage?.('fx');
    await loadFxRates(warehouse, worldFxRates(box), { source: `sandbox:seed=${box.world.seed}`, withInverse: true });

    options.onStage?.('transform');
    const transform = await runTransform({ warehouse, log, goals: { file: DEMO_GOALS }, full: true });

    options.onStage?.('summary');
    const summary = await readSummary(warehouse);
    let report: DemoSummary['report'] = null;
    if (options.reportPath) {
      options.onStage?.('report');
      const written = await writeReport({ warehouse, out: options.reportPath });
      report = { path: written.path, bytes: written.bytes, charts: written.charts.length };
    }
    return {
      world: { seed: box.world.seed, scale: box.world.scale, from: box.world.startDate, to: box.world.endDate },
      ...summary,
      skipped,
      syncs,
      transform,
      report,
    };
  } finally {
    await box.stop();
  }
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Reads the summary figures back from the marts (never from the sync results). */
export async function readSummary(warehouse: Warehouse): Promise<Omit<DemoSummary, 'world' | 'skipped' | 'syncs' | 'transform' | 'report'>> {
  const knex = warehouse.knex;
  const tables: DemoSummary['tables'] = [];
  const listed = (await knex.raw(`
    SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
    WHERE table_schema IN ('raw', 'core', 'marts') AND table_type = 'BASE TABLE'
    ORDER BY CASE table_schema WHEN 'raw' THEN 1 WHEN 'core' THEN 2 ELSE 3 END, table_name`)).rows as Array<{ name: string }>;
  for (const { name } of listed) {
    const row = (await knex.raw(`SELECT count(*) AS n FROM ${name}`)).rows[0] as { n: unknown };
    tables.push({ table: name, rows: num(row.n) });
  }

  const currencyRow = (await knex.raw(`SELECT reporting_currency FROM marts.kpi_channel_monthly LIMIT 1`)).rows[0] as { reporting_currency?: string } | undefined;
  const channels = ((await knex.raw(
    `SELECT channel, sum(spend) AS spend, sum(pipeline) AS pipeline, sum(revenue) AS revenue, sum(customers) AS customers
     FROM marts.kpi_channel_monthly WHERE model = ? GROUP BY channel ORDER BY sum(revenue) DESC, channel`,
    [SUMMARY_MODEL],
  )).rows as Array<Record<string, unknown>>).map((r) => {
    const spend = num(r.spend);
    const customers = num(r.customers);
    return {
      channel: String(r.channel),
      spend,
      pipeline: num(r.pipeline),
      revenue: num(r.revenue),
      roas: spend > 0 ? num(r.revenue) / spend : null,
      cac: customers > 0 ? spend / customers : null,
    };
  });

  const shareRows = (await knex.raw(`
    SELECT model, channel, sum(revenue_credit) AS credit FROM marts.fct_attribution
    WHERE revenue_credit IS NOT NULL GROUP BY model, channel ORDER BY model, channel`)).rows as Array<{ model: string; channel: string; credit: unknown }>;
  const byModel = new Map<string, Record<string, number>>();
  for (const r of shareRows) {
    const shares = byModel.get(r.model) ?? {};
    shares[r.channel] = num(r.credit);
    byModel.set(r.model, shares);
  }
  const creditShare = [...byModel].map(([model, credits]) => {
    const total = Object.values(credits).reduce((a, b) => a + b, 0);
    return { model, shares: Object.fromEntries(Object.entries(credits).map(([c, v]) => [c, total > 0 ? v / total : 0])) };
  });

  const goals = ((await knex.raw(`
    SELECT goal_id, metric, channel, target, actual_to_date, pace_pct, forecast, on_track FROM marts.goal_pacing ORDER BY goal_id`)).rows as Array<Record<string, unknown>>).map((g) => ({
    goal_id: String(g.goal_id),
    metric: String(g.metric),
    channel: g.channel === null ? null : String(g.channel),
    target: num(g.target),
    actual_to_date: numOrNull(g.actual_to_date),
    pace_pct: numOrNull(g.pace_pct),
    forecast: numOrNull(g.forecast),
    on_track: g.on_track === null || g.on_track === undefined ? null : Boolean(g.on_track),
  }));

  return { currency: currencyRow?.reporting_currency ?? 'USD', tables, channels, summaryModel: SUMMARY_MODEL, creditShare, goals };
}

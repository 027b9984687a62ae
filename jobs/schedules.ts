import type { Queue } from 'bullmq';
import cronParser from 'cron-parser';
import { z } from 'zod';
import { ConfigError } from '../connectors/core/errors/index.ts';
import type { MpmConfig } from '../pipeline/config/connections.ts';
import { readScheduleEntries } from '../pipeline/config/schedules.ts';
import type { JobQueues } from './queues.ts';
import type { CycleJobData } from './types.ts';

/** '30s', '15m', '6h', '1d' or a number of milliseconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)\s*(ms|s|m|h|d)$/.exec(value.trim());
  if (!m) throw new Error(`"${value}" is not a duration such as 30s, 15m, 6h or 1d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

const duration = z.union([z.string(), z.number().int().positive()]).transform((v, ctx) => {
  try {
    const ms = parseDuration(v);
    if (ms < 1000) ctx.addIssue({ code: 'custom', message: 'must be at least 1s' });
    return ms;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    return z.NEVER;
  }
});

/**
 * A schedule in the config file:
 * - `{ "every": "1h" }` (a duration: 30s, 15m, 6h, 1d, or milliseconds);
 * - `{ "cron": "0 * * * *", "tz": "Europe/Berlin" }` (tz default: UTC);
 * - `false` or `"off"`: no schedule for this connection / stream.
 */
export type ScheduleSpec = { every: number } | { cron: string; tz: string };

/**
 * Defaults per connector: CRM hourly (records change all day, and deals drive attribution), ads
 * every 6 h (the ads connectors re-read their lookback days on each run, since the vendors restate
 * recent days), GA4 and csv daily (GA4's data for a day settles over ~72 h; csv files change rarely).
 */
export const DEFAULT_SCHEDULES: Record<string, ScheduleSpec> = {
  salesforce: { every: 3_600_000 },
  hubspot: { every: 3_600_000 },
  google_ads: { every: 6 * 3_600_000 },
  meta_ads: { every: 6 * 3_600_000 },
  ga4: { every: 86_400_000 },
  csv: { every: 86_400_000 },
};
/** Connectors not listed above (third-party or test connectors): daily. */
export const FALLBACK_SCHEDULE: ScheduleSpec = { every: 86_400_000 };

export interface PlannedSchedule {
  /** The BullMQ job scheduler id: `sync-<connection>.<stream>`. */
  id: string;
  connection: string;
  connector: string;
  stream: string;
  spec: ScheduleSpec;
  /** Where the spec came from: a config key, or 'default (<connector>)'. */
  source: string;
}

export function schedulerId(connection: string, stream: string): string {
  return `sync-${connection}.${stream}`;
}

const everySchema = z.strictObject({ every: duration });
/** What cron-parser (the parser BullMQ schedules with, same version) finds wrong in `cron`, or undefined. */
function cronProblem(cron: string): string | undefined {
  try {
    cronParser.parseExpression(cron);
    return undefined;
  } catch (err) {
    return `${JSON.stringify(cron)} is not a valid cron expression: ${err instanceof Error ? err.message : String(err)}`;
  }
}

const cronSchema = z.strictObject({
  cron: z.string().trim().superRefine((v, ctx) => {
    const fields = v.split(/\s+/).length;
    const message = fields < 5 || fields > 6 ? 'must be a cron expression with 5 or 6 fields' : cronProblem(v);
    if (message) ctx.addIssue({ code: 'custom', message });
  }),
  tz: z.string().default('UTC').refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as Europe/Berlin'),
});

function parseSpec(value: unknown, where: string): ScheduleSpec | undefined {
  if (value === false || value === 'off') return undefined;
  // Pick the variant by its key, so the error names the actual problem rather than "invalid input".
  const schema = value && typeof value === 'object' && 'cron' in value ? cronSchema : everySchema;
  const r = schema.safeParse(value);
  if (!r.success) throw new ConfigError(`${where}: ${r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ')} (expected { "every": "1h" }, { "cron": "0 * * * *", "tz": "Europe/Berlin" } or false)`);
  const v = r.data;
  return 'every' in v ? { every: v.every } : { cron: v.cron, tz: v.tz };
}

/** What the config asks for: one schedule per connection stream unless turned off. Unknown targets are errors. */
export function plannedSchedules(config: MpmConfig): PlannedSchedule[] {
  const { byTarget } = readScheduleEntries(config);
  for (const [target, { where }] of byTarget) {
    const [connectionId, streamName] = target.split('.');
    const connection = config.connections.find((c) => c.id === connectionId);
    if (!connection) throw new ConfigError(`${where}: no connection "${connectionId}"`);
    if (streamName !== undefined && !connection.connector.streams.some((s) => s.name === streamName)) {
      throw new ConfigError(`${where}: connection ${connectionId} has no stream "${streamName}"`);
    }
  }
  const out: PlannedSchedule[] = [];
  for (const connection of config.connections) {
    const connectionEntry = byTarget.get(connection.id);
    for (const stream of connection.connector.streams) {
      const streamEntry = byTarget.get(`${connection.id}.${stream.name}`);
      const chosen = streamEntry ?? connectionEntry;
      const spec = chosen ? parseSpec(chosen.value, chosen.where) : (DEFAULT_SCHEDULES[connection.connector.name] ?? FALLBACK_SCHEDULE);
      if (!spec) continue;
      out.push({
        id: schedulerId(connection.id, stream.name),
        connection: connection.id,
        connector: connection.connector.name,
        stream: stream.name,
        spec,
        source: chosen ? chosen.where : `default (${connection.connector.name})`,
      });
    }
  }
  return out;
}

export function describeSpec(spec: ScheduleSpec): string {
  if ('cron' in spec) return `cron "${spec.cron}" (${spec.tz})`;
  const ms = spec.every;
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `every ${ms / size}${unit}`;
  }
  return `every ${ms}ms`;
}

export interface ReconcileResult {
  upserted: PlannedSchedule[];
  removed: string[];
}

/**
 * Makes Redis match the config: upsertJobScheduler per planned stream (idempotent: the same id
 * replaces, never doubles) and removes our schedulers whose stream is gone or turned off.
 */
export async function reconcileSchedules(queues: JobQueues, config: MpmConfig): Promise<ReconcileResult> {
  const planned = plannedSchedules(config);
  const queue: Queue<CycleJobData> = queues.schedule();
  for (const p of planned) {
    const repeat = 'cron' in p.spec ? { pattern: p.spec.cron, tz: p.spec.tz } : { every: p.spec.every };
    await queue.upsertJobScheduler(p.id, repeat, {
      name: 'cycle',
      data: { connection: p.connection, stream: p.stream },
      opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    });
  }
  const wanted = new Set(planned.map((p) => p.id));
  const removed: string[] = [];
  for (const existing of await queue.getJobSchedulers(0, -1, true)) {
    if (existing.key.startsWith('sync-') && !wanted.has(existing.key)) {
      await queue.removeJobScheduler(existing.key);
      removed.push(existing.key);
    }
  }
  return { upserted: planned, removed };
}

export interface ScheduleState {
  id: string;
  spec: string;
  next: Date | null;
  inConfig: boolean;
  inRedis: boolean;
}

/** Config and Redis side by side, for `mpm schedule list`. */
export async function listSchedules(queues: JobQueues, config: MpmConfig): Promise<ScheduleState[]> {
  const planned = new Map(plannedSchedules(config).map((p) => [p.id, p]));
  const states = new Map<string, ScheduleState>();
  for (const p of planned.values()) states.set(p.id, { id: p.id, spec: `${describeSpec(p.spec)} [${p.source}]`, next: null, inConfig: true, inRedis: false });
  for (const s of await queues.schedule().getJobSchedulers(0, -1, true)) {
    const spec = s.pattern ? `cron "${s.pattern}" (${s.tz ?? 'UTC'})` : s.every ? describeSpec({ every: Number(s.every) }) : '?';
    const state = states.get(s.key) ?? { id: s.key, spec, next: null, inConfig: false, inRedis: true };
    state.inRedis = true;
    state.next = s.next ? new Date(s.next) : null;
    if (!state.inConfig) state.spec = spec;
    states.set(s.key, state);
  }
  return [...states.values()].sort((a, b) => a.id.localeCompare(b.id));
}

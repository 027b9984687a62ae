import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import os from 'node:os';
import path from 'node:path';
import { destination } from 'pino';
import { z } from 'zod';
import { defineConnector, defineStream, rawTableName, type ConnectorDefinition } from '../connectors/core/connector.ts';
import { HttpClient } from '../connectors/core/http.ts';
import { googleAdsConnector } from '../connectors/google_ads/index.ts';
import { salesforceConnector } from '../connectors/salesforce/index.ts';
import { buildConnection, type Connection, type MpmConfig } from '../pipeline/config/connections.ts';
import type { AnyStream } from '../pipeline/loader.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { tableHash } from '../test/helpers/warehouse.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { ensureRawTable } from '../warehouse/migrate.ts';
import { createLogger } from '../pipeline/log.ts';
import { defaultJobsSettings, type JobsSettings } from './settings.ts';

/** Helpers shared by the job system's test files (not a test itself). */

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/**
 * The job tests' logger: mpm's own (its serializers and redaction), at debug, into a file of this
 * process, so a test can check what the workers logged (every failure, never a secret).
 */
export const TEST_LOG_FILE = path.join(os.tmpdir(), `mpm-jobs-test-${process.pid}.log`);
export const testLog = createLogger('debug', destination({ dest: TEST_LOG_FILE, sync: true }));

/** Settings with a fresh queue prefix (so test files never see each other's jobs) and short timings. */
export function testSettings(overrides: Partial<JobsSettings> = {}): JobsSettings {
  return defaultJobsSettings(REDIS_URL, {
    prefix: `mpmt${randomBytes(4).toString('hex')}`,
    lockDurationMs: 4000,
    stalledIntervalMs: 2000,
    streamLockTtlMs: 3000,
    backoffMs: 100,
    shutdownTimeoutMs: 20_000,
    ...overrides,
  });
}

/** Deletes every Redis key under a test prefix. */
export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Google Ads settings pointing at a sandbox: one searchStream request per customer and day (chunkDays 1), quota waits never in place. */
export function googleAdsSettings(env: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = googleAdsConnector.fromEnv(env);
  if (!base) throw new Error('the sandbox did not configure Google Ads');
  return { ...base, chunkDays: 1, maxRetryWaitMs: 0, maxRetries: 5, ...extra };
}

export function googleAdsConnection(sb: Pick<Sandbox, 'env'>, extra: Record<string, unknown> = {}): Connection {
  return buildConnection('google_ads', googleAdsConnector as Parameters<typeof buildConnection>[1], googleAdsSettings(sb.env, extra), 'file');
}

export function salesforceConnection(sb: Pick<Sandbox, 'env'>): Connection {
  const settings = salesforceConnector.fromEnv(sb.env);
  if (!settings) throw new Error('the sandbox did not configure Salesforce');
  return buildConnection('salesforce', salesforceConnector as Parameters<typeof buildConnection>[1], settings, 'file');
}

export function configOf(connections: Connection[], sections: Record<string, unknown> = {}): MpmConfig {
  return { file: undefined, connections, sections };
}

export function streamOf(connection: Connection, name: string): AnyStream {
  const stream = connection.connector.streams.find((s) => s.name === name);
  if (!stream) throw new Error(`${connection.id} has no stream ${name}`);
  return stream;
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Hashes of the given tables (contents without run ids and load times). */
export async function hashes(warehouse: Warehouse, tables: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tables) out[t] = await tableHash(warehouse, t);
  return out;
}

/** Every raw and core table of the warehouse. */
export async function rawAndCoreTables(warehouse: Warehouse): Promise<string[]> {
  const rows = (await warehouse.knex('information_schema.tables').whereIn('table_schema', ['raw', 'core']).where({ table_type: 'BASE TABLE' }).orderBy(['table_schema', 'table_name']).select('table_schema', 'table_name')) as Array<{ table_schema: string; table_name: string }>;
  return rows.map((r) => `${r.table_schema}.${r.table_name}`);
}

/**
 * A small connector for the rate-limit test: pages HubSpot deals (CRM v3 list, `paging.next.after`)
 * from the sandbox through the shared HttpClient, whose 429 handling follows the vendor's
 * Retry-After header (which the sandbox's faults send). Retry-After waits are never taken in place
 * (maxRetryAfterMs 0), so every 429 goes through the worker's rate limiter. Not a stub: the real
 * HTTP client, loader, runner and job system all run.
 */
const probeConfig = z.strictObject({ baseUrl: z.string(), accessToken: z.string(), pageSize: z.number().int().positive().default(10) });
type ProbeConfig = z.infer<typeof probeConfig>;
const dealRecord = z.looseObject({ id: z.string(), properties: z.record(z.string(), z.unknown()) });
const dealsPage = z.looseObject({ results: z.array(z.unknown()), paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional() });

const probeDeals = defineStream<ProbeConfig>()({
  name: 'deals',
  description: 'HubSpot deals, paged by the list endpoint (rate-limit test connector)',
  primaryKey: ['id'],
  cursorField: undefined,
  pageSize: 10,
  recordSchema: dealRecord,
  checkpointSchema: z.object({ after: z.string().nullable() }),
  targets: [],
  normalize: () => ({}),
  async *read(ctx, checkpoint) {
    const http = new HttpClient({ api: 'HubSpot', baseUrl: ctx.config.baseUrl, maxRetryAfterMs: 0, backoffBaseMs: 10, backoffMaxMs: 50, headers: { authorization: `Bearer ${ctx.config.accessToken}` }, signal: ctx.signal });
    let after = checkpoint?.after ?? null;
    for (;;) {
      const res = await http.request({ url: 'crm/v3/objects/deals', query: { limit: ctx.config.pageSize, after: after ?? undefined } });
      const page = dealsPage.parse(res.data);
      after = page.paging?.next?.after ?? null;
      yield { records: page.results, checkpoint: { after } };
      if (!after) return;
    }
  },
});

export const probeConnector = defineConnector<ProbeConfig>({
  name: 'jobs_probe',
  description: 'HubSpot deals through HttpClient (job system tests)',
  configSchema: probeConfig,
  env: [],
  fromEnv: () => undefined,
  streams: [probeDeals],
}) as ConnectorDefinition<unknown>;

export async function probeConnection(warehouse: Warehouse, sb: Pick<Sandbox, 'env'>, pageSize = 2): Promise<Connection> {
  await ensureRawTable(warehouse.knex, rawTableName('jobs_probe', 'deals'), 'rate-limit test connector');
  const baseUrl = sb.env.HUBSPOT_BASE_URL;
  const accessToken = sb.env.HUBSPOT_ACCESS_TOKEN;
  if (!baseUrl || !accessToken) throw new Error('the sandbox did not configure HubSpot');
  return buildConnection('jobs_probe', probeConnector, { baseUrl: `${baseUrl.replace(/\/+$/, '')}/`, accessToken, pageSize }, 'file');
}

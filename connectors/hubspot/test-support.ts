import { pino } from 'pino';
import { rawTableName, type SyncMode } from '../core/connector.ts';
import { buildConnection, type Connection } from '../../pipeline/config/connections.ts';
import { runSync, type SyncResult } from '../../pipeline/sync.ts';
import { ensureRawTable } from '../../warehouse/migrate.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { tableHash } from '../../test/helpers/warehouse.ts';
import { hubspotConnector } from './index.ts';

/** Helpers shared by the HubSpot test files (not a test itself). */

export const silentLog = pino({ level: 'silent' });

export const HUBSPOT_STREAMS = hubspotConnector.streams.map((s) => s.name);
export const HUBSPOT_RAW_TABLES = HUBSPOT_STREAMS.map((s) => rawTableName('hubspot', s));
export const HUBSPOT_CORE_TABLES = [
  'core.fct_opportunity',
  'core.fct_opportunity_stage_history',
  'core.bridge_opportunity_person',
  'core.dim_account',
  'core.dim_person',
  'core.fct_touchpoint',
];

/** Raw tables are created for registered connectors; tests create them so they do not depend on the registry. */
export async function ensureHubSpotRawTables(warehouse: Warehouse): Promise<void> {
  for (const stream of hubspotConnector.streams) await ensureRawTable(warehouse.knex, rawTableName('hubspot', stream.name), stream.description);
}

export function hsConnection(settings: Record<string, unknown>, id = 'hubspot'): Connection {
  return buildConnection(id, hubspotConnector as Parameters<typeof buildConnection>[1], settings, 'file');
}

export function hsStream(name: string) {
  const stream = hubspotConnector.streams.find((s) => s.name === name);
  if (!stream) throw new Error(`no stream ${name}`);
  return stream;
}

export async function syncHubSpot(
  warehouse: Warehouse,
  connection: Connection,
  name: string,
  opts: { mode?: SyncMode; now?: () => Date; window?: { from: string; to: string } } = {},
): Promise<SyncResult> {
  return runSync({
    warehouse,
    connection,
    stream: hsStream(name),
    mode: opts.mode ?? 'incremental',
    window: opts.window,
    log: silentLog,
    ...(opts.now ? { now: opts.now } : {}),
  });
}

export async function hsCheckpoint(warehouse: Warehouse, stream: string, connection = 'hubspot'): Promise<unknown> {
  const row = (await warehouse.knex('meta.sync_state').where({ connection, stream, scope: 'incremental' }).first('cursor')) as { cursor: unknown } | undefined;
  return row?.cursor;
}

export async function hashTables(warehouse: Warehouse, tables: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tables) out[t] = await tableHash(warehouse, t);
  return out;
}

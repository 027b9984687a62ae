import { pino } from 'pino';
import { rawTableName } from '../core/connector.ts';
import { buildConnection, type Connection } from '../../pipeline/config/connections.ts';
import { runSync, type SyncResult } from '../../pipeline/sync.ts';
import type { SyncMode } from '../core/connector.ts';
import { ensureRawTable } from '../../warehouse/migrate.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { salesforceConnector } from './index.ts';

/** Helpers shared by the Salesforce test files (not a test itself). */

export const silentLog = pino({ level: 'silent' });

/** Raw tables exist only for registered connectors; until the lead registers this one, tests create them. */
export async function ensureSalesforceRawTables(warehouse: Warehouse): Promise<void> {
  for (const stream of salesforceConnector.streams) {
    await ensureRawTable(warehouse.knex, rawTableName('salesforce', stream.name), stream.description);
  }
}

export function sfConnection(settings: Record<string, unknown>, id = 'salesforce'): Connection {
  return buildConnection(id, salesforceConnector as Parameters<typeof buildConnection>[1], settings, 'file');
}

export function streamNamed(name: string) {
  const stream = salesforceConnector.streams.find((s) => s.name === name);
  if (!stream) throw new Error(`no stream ${name}`);
  return stream;
}

export async function syncStream(
  warehouse: Warehouse,
  connection: Connection,
  name: string,
  opts: { mode?: SyncMode; now?: () => Date; window?: { from: string; to: string } } = {},
): Promise<SyncResult> {
  return runSync({
    warehouse,
    connection,
    stream: streamNamed(name),
    mode: opts.mode ?? 'incremental',
    window: opts.window,
    log: silentLog,
    ...(opts.now ? { now: opts.now } : {}),
  });
}

export async function storedCheckpoint(warehouse: Warehouse, stream: string, connection = 'salesforce'): Promise<unknown> {
  const row = (await warehouse.knex('meta.sync_state').where({ connection, stream, scope: 'incremental' }).first('cursor')) as { cursor: unknown } | undefined;
  return row?.cursor;
}

import { pino } from 'pino';
import { rawTableName, type ConnectorDefinition, type SyncMode } from '../../connectors/core/connector.ts';
import { buildConnection, type Connection } from '../../pipeline/config/connections.ts';
import { runSync, type SyncResult } from '../../pipeline/sync.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { ensureRawTable } from '../../warehouse/migrate.ts';

export const silentLog = pino({ level: 'silent' });

export interface SyncOpts {
  mode?: SyncMode;
  now?: () => Date;
  window?: { from: string; to: string };
}

/** What connector test files share: connections, streams by name, syncs, raw tables, checkpoints. */
export function connectorKit<Cfg>(connector: ConnectorDefinition<Cfg>) {
  const stream = (name: string) => {
    const found = connector.streams.find((s) => s.name === name);
    if (!found) throw new Error(`${connector.name}: no stream ${name}`);
    return found;
  };
  return {
    /** Raw tables exist for registered connectors after `migrate`; tests create them so they do not depend on the registry. */
    async ensureRawTables(warehouse: Warehouse): Promise<void> {
      for (const s of connector.streams) await ensureRawTable(warehouse.knex, rawTableName(connector.name, s.name), s.description);
    },
    connection(settings: Record<string, unknown>, id: string = connector.name): Connection {
      return buildConnection(id, connector as Parameters<typeof buildConnection>[1], settings, 'file');
    },
    stream,
    sync(warehouse: Warehouse, connection: Connection, name: string, opts: SyncOpts = {}): Promise<SyncResult> {
      return runSync({
        warehouse,
        connection,
        stream: stream(name),
        mode: opts.mode ?? 'incremental',
        window: opts.window,
        log: silentLog,
        ...(opts.now ? { now: opts.now } : {}),
      });
    },
    async checkpoint(warehouse: Warehouse, streamName: string, connection: string = connector.name): Promise<unknown> {
      const row = (await warehouse.knex('meta.sync_state').where({ connection, stream: streamName, scope: 'incremental' }).first('cursor')) as { cursor: unknown } | undefined;
      return row?.cursor;
    },
  };
}

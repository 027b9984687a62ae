import { rawTableName } from '../connectors/core/connector.ts';
import type { Warehouse } from '../warehouse/db.ts';
import type { Connection } from './config/connections.ts';
import { preparePage, storePrepared, type AnyStream } from './loader.ts';

export interface RetryResult {
  connection: string;
  stream: string;
  retried: number;
  resolved: number;
  stillFailing: number;
}

/**
 * Re-validates and re-normalizes the open quarantine entries of one stream from the payloads kept
 * in raw (no re-fetch): records that pass now are loaded into core and resolved; the others keep
 * their entry with the current reason. Works in batches, each in one transaction.
 */
export async function retryQuarantine(warehouse: Warehouse, connection: Connection, stream: AnyStream, batchSize = 1000): Promise<RetryResult> {
  const knex = warehouse.knex;
  const table = rawTableName(connection.connector.name, stream.name);
  let lastId = 0;
  // Entries written while retrying (a record failing again under a new key) wait for the next retry.
  const maxRow = (await knex('meta.quarantine').max({ id: 'id' }).first()) as { id: number | null } | undefined;
  const maxId = Number(maxRow?.id ?? 0);
  let retried = 0;
  let resolved = 0;
  for (;;) {
    const entries = (await knex('meta.quarantine')
      .where({ connection: connection.id, stream: stream.name })
      .whereNull('resolved_at')
      .where('id', '>', lastId)
      .where('id', '<=', maxId)
      .orderBy('id')
      .limit(batchSize)
      .select('id', 'record_key', 'payload')) as Array<{ id: number; record_key: string; payload: unknown }>;
    if (entries.length === 0) break;
    lastId = entries.at(-1)!.id;
    const keys = entries.map((e) => e.record_key);
    const rawRows = (await knex(table).where({ connection_id: connection.id }).whereIn('record_id', keys).select('record_id', 'payload')) as Array<{ record_id: string; payload: unknown }>;
    const byKey = new Map(rawRows.map((r) => [r.record_id, r.payload]));
    // The raw row is the record as last received; the quarantine copy is the fallback.
    const records = entries.map((e) => (byKey.has(e.record_key) ? byKey.get(e.record_key) : e.payload));
    const prepared = preparePage(stream, records, { connectionId: connection.id, config: connection.config });
    await knex.transaction((trx) =>
      storePrepared(trx, { kind: warehouse.kind, connectionId: connection.id, connector: connection.connector.name, stream, runId: null, hasOpenQuarantine: true }, prepared),
    );
    retried += entries.length;
    resolved += prepared.validKeys.length;
  }
  return { connection: connection.id, stream: stream.name, retried, resolved, stillFailing: retried - resolved };
}

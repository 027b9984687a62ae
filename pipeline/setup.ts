import type { Knex } from 'knex';
import { rawTableName } from '../connectors/core/connector.ts';
import { connectors } from '../connectors/registry.ts';
import { ensureRawTable, migrate } from '../warehouse/migrate.ts';
import { ensureSweepIndex } from './window-sweep.ts';

/** Migrations plus one raw table per registered stream. Every command that needs the schema calls it. */
export async function prepareWarehouse(knex: Knex): Promise<{ applied: string[] }> {
  const applied = await migrate(knex);
  for (const connector of connectors) {
    for (const stream of connector.streams) {
      await ensureRawTable(knex, rawTableName(connector.name, stream.name), `${connector.name} ${stream.name}: ${stream.description}`);
      await ensureSweepIndex(knex, connector.name, stream);
    }
  }
  return { applied };
}

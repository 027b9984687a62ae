import type { Knex } from 'knex';
import * as m0001 from './migrations/0001_schemas_and_meta.ts';
import * as m0002 from './migrations/0002_core_tables.ts';
import * as m0003 from './migrations/0003_jobs.ts';
import * as m0004 from './migrations/0004_marts.ts';
import * as m0005 from './migrations/0005_kpi_marts.ts';
import * as m0006 from './migrations/0006_goals.ts';
import * as m0007 from './migrations/0007_transform_state.ts';
import * as m0008 from './migrations/0008_attribution_view.ts';
import * as m0009 from './migrations/0009_touchpoint_email.ts';
import * as m0010 from './migrations/0010_raw_keys_bytewise.ts';
import * as m0011 from './migrations/0011_synced_at_btree.ts';
import { sqlLiteral } from './sql.ts';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * Migrations are listed here in order (not discovered from the file system) so they work the same
 * under tsx, compiled output and bundlers. Append new ones; never edit an applied one.
 */
const migrations: ReadonlyArray<[name: string, migration: Migration]> = [
  ['0001_schemas_and_meta', m0001],
  ['0002_core_tables', m0002],
  ['0003_jobs', m0003],
  ['0004_marts', m0004],
  ['0005_kpi_marts', m0005],
  ['0006_goals', m0006],
  ['0007_transform_state', m0007],
  ['0008_attribution_view', m0008],
  ['0009_touchpoint_email', m0009],
  ['0010_raw_keys_bytewise', m0010],
  ['0011_synced_at_btree', m0011],
];

/** Names of every migration, in order. */
export function migrationNames(): string[] {
  return migrations.map(([name]) => name);
}

class ListedMigrations implements Knex.MigrationSource<[string, Migration]> {
  async getMigrations() {
    return [...migrations];
  }
  getMigrationName([name]: [string, Migration]) {
    return name;
  }
  async getMigration([, migration]: [string, Migration]) {
    return migration;
  }
}

const migratorConfig = { migrationSource: new ListedMigrations(), schemaName: 'meta', tableName: 'knex_migrations' } as const;

/** Applies pending migrations. Safe to call from every command and from several processes at once. */
export async function migrate(knex: Knex): Promise<string[]> {
  await knex.raw('CREATE SCHEMA IF NOT EXISTS meta');
  const [, applied] = (await knex.migrate.latest(migratorConfig)) as [number, string[]];
  return applied;
}

/** Applies pending migrations up to and including `last` (upgrade tests start from an older schema). */
export async function migrateThrough(knex: Knex, last: string): Promise<void> {
  if (!migrationNames().includes(last)) throw new Error(`no migration named ${last}`);
  await knex.raw('CREATE SCHEMA IF NOT EXISTS meta');
  for (const name of (await migrationStatus(knex)).pending) {
    await knex.migrate.up({ ...migratorConfig, name });
    if (name === last) break;
  }
}

/** Names of applied and pending migrations. */
export async function migrationStatus(knex: Knex): Promise<{ applied: string[]; pending: string[] }> {
  await knex.raw('CREATE SCHEMA IF NOT EXISTS meta');
  const [completed, pending] = (await knex.migrate.list(migratorConfig)) as [Array<{ name: string }>, Array<[string, Migration]>];
  return { applied: completed.map((c) => c.name), pending: pending.map(([name]) => name) };
}

/**
 * raw.<connector>__<stream>: one table per stream, created when its connector is registered, with
 * the same shape for every stream. Idempotent, so it runs with every migrate.
 */
export async function ensureRawTable(knex: Knex, table: string, description: string): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${table} (
      connection_id  text COLLATE "C" NOT NULL,
      record_id      text COLLATE "C" NOT NULL,
      payload        jsonb       NOT NULL,
      _deleted       boolean     NOT NULL DEFAULT false,
      _run_id        bigint,
      _synced_at     timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (connection_id, record_id)
    )`);
  const comment = `Grain: one row per vendor record (${description}). Key: (connection_id, record_id), compared byte by byte (COLLATE "C"). payload is the record exactly as the vendor sent it; _deleted marks records the vendor deleted or archived.`;
  await knex.raw(`COMMENT ON TABLE ${table} IS ${sqlLiteral(comment)}`);
}

import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { openWarehouse, type Warehouse, type WarehouseKind } from '../../warehouse/db.ts';
import { prepareWarehouse } from '../../pipeline/setup.ts';

/** The Postgres the tests use: TEST_DATABASE_URL, else the local default CI provides. */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const WAREHOUSE_KINDS: readonly WarehouseKind[] = ['postgres', 'pglite'];

/**
 * A fresh, migrated warehouse of the given kind: on Postgres its own database (created here,
 * dropped by `drop()`), on PGlite an in-memory instance. Each test file gets its own, so files run in parallel.
 */
export async function createTestWarehouse(kind: WarehouseKind, options: { migrate?: boolean } = {}): Promise<Warehouse & { drop(): Promise<void>; url?: string }> {
  if (kind === 'pglite') {
    const warehouse = await openWarehouse({ dataDir: 'memory://' });
    if (options.migrate !== false) await prepareWarehouse(warehouse.knex);
    return Object.assign(warehouse, { drop: () => warehouse.close() });
  }
  const name = `mpm_t_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: ADMIN_URL, pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`CREATE DATABASE ${name}`);
  } finally {
    await admin.destroy();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const warehouse = await openWarehouse({ databaseUrl: url.toString() });
  if (options.migrate !== false) await prepareWarehouse(warehouse.knex);
  return Object.assign(warehouse, {
    url: url.toString(),
    drop: async () => {
      await warehouse.close();
      const a = knexFactory({ client: 'pg', connection: ADMIN_URL, pool: { min: 0, max: 1 } });
      try {
        await a.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.destroy();
      }
    },
  });
}

/**
 * A hash of a table's full content, order-independent, for "same final state" comparisons.
 * Columns that record when or by which run a row was written are left out; `where` (SQL) keeps some rows only.
 */
export async function tableHash(warehouse: Warehouse, table: string, exclude: readonly string[] = ['_synced_at', '_run_id'], where = 'true'): Promise<string> {
  const [schema, name] = table.split('.');
  const cols = (await warehouse.knex('information_schema.columns').where({ table_schema: schema, table_name: name }).orderBy('ordinal_position').pluck('column_name')) as string[];
  const kept = cols.filter((c) => !exclude.includes(c));
  if (kept.length === 0) throw new Error(`table ${table} not found`);
  const row = (await warehouse.knex.raw(
    `SELECT count(*)::int AS n, coalesce(md5(string_agg(h, '' ORDER BY h)), '') AS hash
     FROM (SELECT md5(row(${kept.map((c) => `"${c}"`).join(', ')})::text) AS h FROM ${table} WHERE ${where}) t`,
  )).rows[0] as { n: number; hash: string };
  return `${row.n}:${row.hash}`;
}

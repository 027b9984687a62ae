import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreTables, type SqlType } from '../warehouse/core-tables.ts';
import { migrate, migrateThrough, migrationNames, migrationStatus } from '../warehouse/migrate.ts';
import { prepareWarehouse } from '../pipeline/setup.ts';
import { createTestWarehouse, WAREHOUSE_KINDS } from './helpers/warehouse.ts';

const MIGRATIONS = migrationNames();
type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;

const udtOf: Record<SqlType, string> = { text: 'text', numeric: 'numeric', bigint: 'int8', date: 'date', timestamptz: 'timestamptz', boolean: 'bool', jsonb: 'jsonb' };

describe.each(WAREHOUSE_KINDS)('warehouse on %s', (kind) => {
  let warehouse: TestWarehouse;
  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind, { migrate: false });
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('migrates from empty, and again without changes (forward-only, idempotent)', async () => {
    const first = await prepareWarehouse(warehouse.knex);
    expect(first.applied).toEqual(MIGRATIONS);
    expect(await migrate(warehouse.knex)).toEqual([]);
    expect(await migrationStatus(warehouse.knex)).toEqual({ applied: MIGRATIONS, pending: [] });
    const schemas = await warehouse.knex('information_schema.schemata').whereIn('schema_name', ['raw', 'staging', 'core', 'marts', 'meta']).pluck('schema_name');
    expect(schemas.sort()).toEqual(['core', 'marts', 'meta', 'raw', 'staging']);
    expect(await warehouse.knex.schema.withSchema('raw').hasTable('csv__spend')).toBe(true);
  });

  it('upgrades a warehouse whose transform kept fractribution credits by path key (the shape before migration 0008)', async () => {
    const old = await createTestWarehouse(kind, { migrate: false });
    try {
      await migrateThrough(old.knex, '0007_transform_state');
      await old.knex.raw('CREATE UNLOGGED TABLE staging.int_fractribution_paths (path_key text NOT NULL, credits float8[] NOT NULL)');
      await old.knex.raw(`INSERT INTO staging.int_fractribution_paths VALUES ('Email', '{1}')`);
      await migrate(old.knex);
      const cols = await old.knex('information_schema.columns').where({ table_schema: 'staging', table_name: 'int_fractribution_paths' }).pluck('column_name');
      expect(cols).toContain('path_id');
      expect(Number((await old.knex.raw(`SELECT count(*) AS n FROM marts.fct_attribution`)).rows[0].n)).toBe(0);
    } finally {
      await old.drop();
    }
  });

  it('keeps raw keys compared byte by byte (COLLATE "C"), also in raw tables made before migration 0010', async () => {
    const collations = async (knex: TestWarehouse['knex'], table: string) =>
      (await knex.raw(
        `SELECT a.attname, co.collname FROM pg_attribute a JOIN pg_collation co ON co.oid = a.attcollation
         WHERE a.attrelid = ?::regclass AND a.attname IN ('connection_id', 'record_id') ORDER BY a.attname`,
        [table],
      )).rows;
    const bytewise = [{ attname: 'connection_id', collname: 'C' }, { attname: 'record_id', collname: 'C' }];
    expect(await collations(warehouse.knex, 'raw.csv__spend')).toEqual(bytewise);
    const old = await createTestWarehouse(kind, { migrate: false });
    try {
      await migrateThrough(old.knex, '0009_touchpoint_email');
      await old.knex.raw(`CREATE TABLE raw.old__stream (connection_id text NOT NULL, record_id text NOT NULL, payload jsonb NOT NULL, _deleted boolean NOT NULL DEFAULT false,
        _run_id bigint, _synced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (connection_id, record_id))`);
      await old.knex.raw(`INSERT INTO raw.old__stream (connection_id, record_id, payload) VALUES ('c', 'B', '{}'), ('c', 'a', '{}')`);
      expect((await collations(old.knex, 'raw.old__stream')).map((r: { collname: string }) => r.collname)).not.toEqual(['C', 'C']);
      await migrate(old.knex);
      expect(await collations(old.knex, 'raw.old__stream')).toEqual(bytewise);
      // The rows are kept (listed in byte order), and so is the primary key.
      expect(await old.knex('raw.old__stream').orderBy('record_id').pluck('record_id')).toEqual(['B', 'a']);
      await expect(old.knex.raw(`INSERT INTO raw.old__stream (connection_id, record_id, payload) VALUES ('c', 'a', '{}')`)).rejects.toThrow(/duplicate key|unique/);
    } finally {
      await old.drop();
    }
  });

  it('looks changed CRM rows up by a btree on _synced_at, also in a warehouse migrated before 0011 (its BRIN indexes replaced)', async () => {
    const syncedAtIndexes = async (knex: TestWarehouse['knex']) =>
      Object.fromEntries(((await knex.raw(
        `SELECT c.relname AS tbl, i.relname AS idx, am.amname AS method
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid JOIN pg_am am ON am.oid = i.relam
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
         WHERE c.relnamespace = 'core'::regnamespace AND a.attname = '_synced_at' AND x.indnatts = 1
         ORDER BY 1, 2`,
      )).rows as Array<{ tbl: string; idx: string; method: string }>).map((r) => [r.tbl, `${r.idx} ${r.method}`]));
    const expected = {
      bridge_opportunity_person: 'bridge_opportunity_person_synced_at btree',
      dim_campaign: 'dim_campaign_synced_at_brin brin',
      dim_person: 'dim_person_synced_at btree',
      fct_ad_spend_daily: 'fct_ad_spend_daily_synced_at_brin brin',
      fct_opportunity: 'fct_opportunity_synced_at btree',
      fct_opportunity_stage_history: 'fct_opportunity_stage_history_synced_at btree',
      fct_touchpoint: 'fct_touchpoint_synced_at btree',
      fct_web_traffic_daily: 'fct_web_traffic_daily_synced_at_brin brin',
      fx_rate_daily: 'fx_rate_daily_synced_at_brin brin',
    };
    expect(await syncedAtIndexes(warehouse.knex)).toEqual(expected);
    const old = await createTestWarehouse(kind, { migrate: false });
    try {
      await migrateThrough(old.knex, '0010_raw_keys_bytewise');
      await old.knex.raw(`INSERT INTO core.fct_touchpoint (connection_id, touchpoint_id, source_system, occurred_at, touch_type) VALUES ('c', 't1', 'x', now(), 'visit')`);
      expect(Object.values(await syncedAtIndexes(old.knex)).every((v) => v.endsWith(' brin'))).toBe(true);
      await migrate(old.knex);
      expect(await syncedAtIndexes(old.knex)).toEqual(expected);
      expect(await migrate(old.knex)).toEqual([]);
      // The index swap keeps the rows.
      expect(await old.knex('core.fct_touchpoint').where('_synced_at', '>=', old.knex.raw(`now() - interval '1 hour'`)).pluck('touchpoint_id')).toEqual(['t1']);
    } finally {
      await old.drop();
    }
  });

  it('has core tables whose columns match the row contract, each with its grain and key in a comment', async () => {
    for (const def of Object.values(coreTables)) {
      const [schema, table] = def.name.split('.');
      const cols = (await warehouse.knex('information_schema.columns').where({ table_schema: schema, table_name: table }).select('column_name', 'udt_name')) as Array<{ column_name: string; udt_name: string }>;
      const actual = Object.fromEntries(cols.map((c) => [c.column_name, c.udt_name]));
      for (const [name, column] of Object.entries(def.columns) as Array<[string, { sql: SqlType }]>) expect(actual[name], `${def.name}.${name}`).toBe(udtOf[column.sql]);
      for (const loaderColumn of ['connection_id', 'source_system', '_run_id', '_synced_at']) expect(actual[loaderColumn], `${def.name}.${loaderColumn}`).toBeDefined();
      expect(Object.keys(actual).length).toBe(Object.keys(def.columns).length + 4);
      const pk = (await warehouse.knex.raw(
        `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = ?::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
        [def.name],
      )).rows.map((r: { attname: string }) => r.attname);
      expect(pk, `${def.name} primary key`).toEqual([...def.key]);
      const comment = (await warehouse.knex.raw('SELECT obj_description(?::regclass) AS c', [def.name])).rows[0].c as string;
      expect(comment).toMatch(/^Grain: one row per .*Key: \(/);
    }
  });

  it('returns the same JS values for int8, numeric, date, timestamptz and jsonb', async () => {
    const row = (await warehouse.knex.raw(
      `SELECT 9007199254740991::int8 AS big, 12.340::numeric AS money, DATE '2026-03-29' AS day,
              TIMESTAMPTZ '2026-03-29 01:30:00+02' AS at, '{"a":[1,"x"]}'::jsonb AS doc, count(*) AS n FROM (VALUES (1),(2)) v(x)`,
    )).rows[0];
    expect(row).toEqual({ big: 9007199254740991, money: '12.340', day: '2026-03-29', at: new Date('2026-03-28T23:30:00Z'), doc: { a: [1, 'x'] }, n: 2 });
    await expect(warehouse.knex.raw('SELECT 9007199254740993::int8 AS too_big')).rejects.toThrow(/safe integer/);
  });

  it('runs work inside a transaction on the transaction object (one connection on PGlite)', async () => {
    await warehouse.knex.transaction(async (trx) => {
      await trx.raw('CREATE TEMP TABLE t_probe (x int)');
      await trx('t_probe').insert({ x: 1 });
      expect((await trx('t_probe').count({ n: '*' }).first())!.n).toBe(1);
    });
  });
});

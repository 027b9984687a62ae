import type { Knex } from 'knex';

/**
 * The keys of the raw tables, (connection_id, record_id), compare byte by byte (COLLATE "C"):
 * they are vendor ids, never sorted for people, and every page the loader writes checks its keys
 * against the primary key index, where a locale-aware comparison (strcoll) cost a sixth of the raw
 * write even under C.UTF-8. New raw tables are created so (ensureRawTable); this converts the
 * ones made before. The column type stays text: no table rewrite, only the indexes are rebuilt.
 */
export async function up(knex: Knex): Promise<void> {
  const tables = (await knex.raw(
    `SELECT DISTINCT c.relname FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname IN ('connection_id', 'record_id') AND NOT a.attisdropped
     JOIN pg_collation co ON co.oid = a.attcollation
     WHERE n.nspname = 'raw' AND c.relkind = 'r' AND co.collname <> 'C'
     ORDER BY c.relname`,
  )) as { rows: Array<{ relname: string }> };
  for (const { relname } of tables.rows) {
    await knex.raw(`ALTER TABLE raw."${relname}" ALTER COLUMN connection_id TYPE text COLLATE "C", ALTER COLUMN record_id TYPE text COLLATE "C"`);
  }
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}

import type { Knex } from 'knex';

/**
 * What the incremental transform needs to find the core rows changed since its last run:
 * - meta.transform_state: the watermark (rows with _synced_at >= it are new to the transform) and
 *   the hash of the transform config the marts were built with (another config means a full run);
 * - meta.transform_deletions: rows hard-deleted from core tables, captured by statement-level
 *   triggers (the loader soft-deletes with is_deleted, but a person or a script may DELETE), so an
 *   incremental run still recomputes what those rows fed; a TRUNCATE leaves a marker that forces
 *   the next run to be full;
 * - BRIN indexes on _synced_at: a few pages each, so "changed since the watermark" does not scan
 *   a million-row table, at almost no cost to the loader.
 */
const CORE_TABLES = [
  'core.dim_campaign', 'core.dim_person', 'core.fct_touchpoint', 'core.fct_opportunity', 'core.fct_opportunity_stage_history',
  'core.bridge_opportunity_person', 'core.fct_ad_spend_daily', 'core.fct_web_traffic_daily', 'core.fx_rate_daily',
] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS meta.transform_state (
      id            text        PRIMARY KEY DEFAULT 'default',
      watermark     timestamptz NOT NULL,
      config_hash   text        NOT NULL,
      last_mode     text        NOT NULL CHECK (last_mode IN ('full', 'incremental')),
      finished_at   timestamptz NOT NULL DEFAULT now()
    )`);
  await knex.raw(`COMMENT ON TABLE meta.transform_state IS
    'Grain: one row per transform state (id default). watermark: core rows with _synced_at (or deletions with deleted_at) at or after it are not yet in the marts. config_hash: hash of the transform config the marts were built with; a different config forces a full run.'`);
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS meta.transform_deletions (
      table_name  text        NOT NULL,
      old_row     jsonb,
      deleted_at  timestamptz NOT NULL DEFAULT now()
    )`);
  await knex.raw(`COMMENT ON TABLE meta.transform_deletions IS
    'Grain: one row per core row hard-deleted (old_row: the row as it was) or per TRUNCATE of a core table (old_row NULL: the next transform is full). Filled by triggers; emptied by the transform once processed.'`);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION meta.transform_capture_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      INSERT INTO meta.transform_deletions (table_name, old_row)
      SELECT TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, to_jsonb(o) FROM old_rows o;
      RETURN NULL;
    END $fn$`);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION meta.transform_capture_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      INSERT INTO meta.transform_deletions (table_name, old_row) VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, NULL);
      RETURN NULL;
    END $fn$`);
  for (const table of CORE_TABLES) {
    const name = table.split('.')[1]!;
    await knex.raw(`DROP TRIGGER IF EXISTS transform_capture_delete ON ${table}`);
    await knex.raw(`CREATE TRIGGER transform_capture_delete AFTER DELETE ON ${table} REFERENCING OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION meta.transform_capture_delete()`);
    await knex.raw(`DROP TRIGGER IF EXISTS transform_capture_truncate ON ${table}`);
    await knex.raw(`CREATE TRIGGER transform_capture_truncate AFTER TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION meta.transform_capture_truncate()`);
    await knex.raw(`CREATE INDEX IF NOT EXISTS ${name}_synced_at_brin ON ${table} USING brin (_synced_at)`);
  }
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}

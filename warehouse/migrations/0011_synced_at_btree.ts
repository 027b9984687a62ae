import type { Knex } from 'knex';

/**
 * The incremental transform finds the core rows changed since its watermark by _synced_at. The
 * BRIN indexes of 0007 only help while changed rows sit at the end of a table: a CRM re-sync
 * updates rows all over it (an updated row keeps its page when there is room), so every BRIN range
 * soon spans the newest timestamps and the lookup read the whole table (0.4-0.6 s for a million
 * touchpoints). The CRM tables, where that happens and which grow large, get a btree instead:
 * every row of a loader page shares its _synced_at (the transaction start), so inserts go to the
 * rightmost leaf and deduplicate, a small cost to the loader. The spend, traffic, campaign and FX
 * tables keep their BRIN indexes.
 */
export const SYNCED_AT_BTREE_TABLES = [
  'core.dim_person', 'core.fct_touchpoint', 'core.fct_opportunity', 'core.fct_opportunity_stage_history', 'core.bridge_opportunity_person',
] as const;

export async function up(knex: Knex): Promise<void> {
  for (const table of SYNCED_AT_BTREE_TABLES) {
    const name = table.split('.')[1]!;
    await knex.raw(`CREATE INDEX IF NOT EXISTS ${name}_synced_at ON ${table} (_synced_at)`);
    await knex.raw(`DROP INDEX IF EXISTS core.${name}_synced_at_brin`);
  }
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}

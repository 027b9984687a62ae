import type { Knex } from 'knex';
import { sqlLiteral } from '../sql.ts';
import { martTables } from './0004_marts.ts';
import { ATTRIBUTION_STORAGE_DDL, ATTRIBUTION_TOUCHES_INDEX, attributionViewSql } from '../../pipeline/transform/attribution-mart.ts';

/**
 * marts.fct_attribution becomes a view (same name, columns, grain and comments) over one row per
 * opportunity x touchpoint (staging.int_attribution_touches) and the data-driven models' shares
 * (staging.int_attribution_shares): see pipeline/transform/attribution-mart.ts. The old table's
 * rows are dropped; the transform version changed with it, so the next transform is a full one
 * and fills the storage.
 */
const VIEW_NOTE = ' A view (no key constraint: the key is unique by construction): each model is its own branch, so filter on model; a filter on connection_id and opportunity_id reads that opportunity only.'
  + ' Never NULL: every column but campaign, ad_campaign_id, pipeline_credit, revenue_credit, opportunity_created_at and close_date.';

export async function up(knex: Knex): Promise<void> {
  // Transforms before this migration kept fractribution's credits in an unlogged intermediate table
  // of the same name keyed by path_key; the view reads them by path_id. Dropped (the transform
  // version changed too, so the next run is full and refills it).
  const oldFractribution = (await knex.raw(
    `SELECT 1 FROM information_schema.tables t WHERE t.table_schema = 'staging' AND t.table_name = 'int_fractribution_paths'
       AND NOT EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = 'staging' AND c.table_name = 'int_fractribution_paths' AND c.column_name = 'path_id')`,
  )).rows.length > 0;
  if (oldFractribution) await knex.raw('DROP TABLE staging.int_fractribution_paths');
  for (const sql of ATTRIBUTION_STORAGE_DDL) await knex.raw(sql);
  await knex.raw(ATTRIBUTION_TOUCHES_INDEX);
  const kind = (await knex.raw(`SELECT relkind FROM pg_class WHERE oid = to_regclass('marts.fct_attribution')`)).rows[0] as { relkind: string } | undefined;
  if (kind?.relkind === 'r') await knex.raw('DROP TABLE marts.fct_attribution');
  await knex.raw(attributionViewSql());
  const doc = martTables.find((t) => t.name === 'marts.fct_attribution')!;
  await knex.raw(`COMMENT ON VIEW marts.fct_attribution IS ${sqlLiteral(doc.doc + VIEW_NOTE)}`);
  for (const c of doc.columns) await knex.raw(`COMMENT ON COLUMN marts.fct_attribution."${c.name}" IS ${sqlLiteral(c.doc)}`);
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}

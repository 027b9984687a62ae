import type { Knex } from 'knex';
import { sqlLiteral } from '../sql.ts';

/**
 * A table declared with its COMMENTs (grain, meaning, currency, how it is computed), as every marts
 * table is: the data dictionary (`mpm docs`) is generated from them, and a test fails on a missing one.
 */
export interface ColumnDoc {
  name: string;
  type: string;
  doc: string;
}

export interface TableDoc {
  name: string;
  doc: string;
  key: readonly string[];
  columns: readonly ColumnDoc[];
}


/** CREATE TABLE IF NOT EXISTS with its primary key, then the table and column comments. */
export async function createDocumentedTable(knex: Knex, table: TableDoc): Promise<void> {
  const columns = table.columns.map((c) => `"${c.name}" ${c.type}`).join(',\n      ');
  await knex.raw(`CREATE TABLE IF NOT EXISTS ${table.name} (\n      ${columns},\n      PRIMARY KEY (${table.key.map((k) => `"${k}"`).join(', ')})\n    )`);
  await knex.raw(`COMMENT ON TABLE ${table.name} IS ${sqlLiteral(table.doc)}`);
  for (const c of table.columns) await knex.raw(`COMMENT ON COLUMN ${table.name}."${c.name}" IS ${sqlLiteral(c.doc)}`);
}

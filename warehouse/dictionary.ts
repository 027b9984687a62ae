import fs from 'node:fs';
import path from 'node:path';
import type { Warehouse } from './db.ts';

/**
 * The data dictionary of the marts, read from the catalog (pg_class / pg_attribute with
 * obj_description / col_description), never from our own TypeScript: what BI users see in the
 * warehouse is what the dictionary says. Works the same on Postgres and PGlite.
 */

export interface DictionaryColumn {
  name: string;
  /** SQL type as format_type() prints it, e.g. 'numeric', 'timestamp with time zone'. */
  type: string;
  nullable: boolean;
  /** Position in the primary key (1-based), null when not part of it. */
  keyPosition: number | null;
  comment: string | null;
}

export interface DictionaryTable {
  schema: string;
  name: string;
  /** 'table', 'view', 'materialized view' or 'partitioned table'. */
  kind: string;
  comment: string | null;
  /** The 'Grain: ...' sentence of the table comment, when it has one. */
  grain: string | null;
  columns: DictionaryColumn[];
}

/** Schemas the dictionary documents: the marts BI reads (and the BI role is granted). */
export const DICTIONARY_SCHEMAS = ['marts'] as const;

const KINDS: Record<string, string> = { r: 'table', v: 'view', m: 'materialized view', p: 'partitioned table' };

/** Reads tables and columns of `schemas` with their comments from the catalog, ordered by name. */
export async function readDictionary(warehouse: Warehouse, schemas: readonly string[] = DICTIONARY_SCHEMAS): Promise<DictionaryTable[]> {
  const rows = (await warehouse.knex.raw(
    `SELECT n.nspname AS schema, c.relname AS table_name, c.relkind AS kind,
            obj_description(c.oid, 'pg_class') AS table_comment,
            a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
            array_position(pk.conkey, a.attnum) AS key_position,
            col_description(c.oid, a.attnum) AS column_comment
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
     WHERE n.nspname = ANY(?) AND c.relkind IN ('r', 'v', 'm', 'p') AND NOT c.relispartition
     ORDER BY n.nspname, c.relname, a.attnum`,
    [[...schemas]],
  )).rows as Array<{
    schema: string; table_name: string; kind: string; table_comment: string | null; column_name: string;
    type: string; nullable: boolean; key_position: number | null; column_comment: string | null;
  }>;
  const tables = new Map<string, DictionaryTable>();
  for (const r of rows) {
    const id = `${r.schema}.${r.table_name}`;
    let table = tables.get(id);
    if (!table) {
      table = { schema: r.schema, name: r.table_name, kind: KINDS[r.kind] ?? r.kind, comment: blankToNull(r.table_comment), grain: grainOf(r.table_comment), columns: [] };
      tables.set(id, table);
    }
    table.columns.push({ name: r.column_name, type: r.type, nullable: r.nullable, keyPosition: r.key_position, comment: blankToNull(r.column_comment) });
  }
  return [...tables.values()];
}

function blankToNull(text: string | null): string | null {
  return text === null || text.trim() === '' ? null : text;
}

/** The first sentence starting with 'Grain:' (sentences end with '. ' or the end of the text). */
function grainOf(comment: string | null): string | null {
  const match = comment?.match(/Grain:\s*(.+?\.)(?:\s|$)/);
  return match ? match[1]! : null;
}

/** Every table or column of the documented schemas without a comment, as 'marts.table' / 'marts.table.column'. */
export function missingComments(tables: readonly DictionaryTable[]): string[] {
  const missing: string[] = [];
  for (const t of tables) {
    if (!t.comment) missing.push(`${t.schema}.${t.name}`);
    for (const c of t.columns) if (!c.comment) missing.push(`${t.schema}.${t.name}.${c.name}`);
  }
  return missing;
}

/** Markdown table cells: one line, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

const fileName = (t: DictionaryTable) => `${t.schema}.${t.name}.md`;

/** One Markdown page for one table: comment, grain, key, then its columns. */
export function tableMarkdown(t: DictionaryTable): string {
  const key = t.columns.filter((c) => c.keyPosition !== null).sort((a, b) => a.keyPosition! - b.keyPosition!).map((c) => c.name);
  const lines = [
    `# ${t.schema}.${t.name}`,
    '',
    t.comment ?? '_No comment in the warehouse._',
    '',
    `- Kind: ${t.kind}`,
    `- Grain: ${t.grain ?? 'not stated'}`,
    `- Primary key: ${key.length ? key.map((k) => `\`${k}\``).join(', ') : 'none'}`,
    '',
    '| Column | Type | Null | Description |',
    '| --- | --- | --- | --- |',
    ...t.columns.map((c) => `| \`${c.name}\`${c.keyPosition !== null ? ' (key)' : ''} | ${cell(c.type)} | ${c.nullable ? 'yes' : 'no'} | ${cell(c.comment ?? '_no comment_')} |`),
    '',
  ];
  return lines.join('\n');
}

/** The index page: every table with its grain, linking to its page. */
export function indexMarkdown(tables: readonly DictionaryTable[]): string {
  return [
    '# Data dictionary',
    '',
    'Generated by `mpm docs` from the comments in the warehouse catalog (do not edit by hand: change the',
    'COMMENT in a migration and run `mpm docs` again). Amounts are in the reporting currency unless a',
    'column says otherwise.',
    '',
    '| Table | Grain |',
    '| --- | --- |',
    ...tables.map((t) => `| [${t.schema}.${t.name}](${fileName(t)}) | ${cell(t.grain ?? 'not stated')} |`),
    '',
  ].join('\n');
}

export interface WriteDictionaryResult {
  dir: string;
  files: string[];
  tables: number;
  /** Tables / columns without a comment (the pages say so too). */
  missing: string[];
}

/**
 * Writes README.md (index) and one page per table into `out`; pages of tables that no longer exist
 * are removed so the folder mirrors the warehouse. Output is deterministic (no timestamps), so the
 * committed copy only changes when the catalog does.
 */
export async function writeDictionary(warehouse: Warehouse, out: string): Promise<WriteDictionaryResult> {
  const tables = await readDictionary(warehouse);
  const dir = path.resolve(out);
  fs.mkdirSync(dir, { recursive: true });
  const pages = new Map<string, string>([['README.md', indexMarkdown(tables)], ...tables.map((t) => [fileName(t), tableMarkdown(t)] as [string, string])]);
  const schemaPage = new RegExp(`^(${DICTIONARY_SCHEMAS.join('|')})\\..+\\.md$`);
  for (const existing of fs.readdirSync(dir)) if (schemaPage.test(existing) && !pages.has(existing)) fs.rmSync(path.join(dir, existing));
  for (const [name, text] of pages) fs.writeFileSync(path.join(dir, name), text);
  return { dir, files: [...pages.keys()].map((name) => path.join(dir, name)), tables: tables.length, missing: missingComments(tables) };
}

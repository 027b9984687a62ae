import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestWarehouse, WAREHOUSE_KINDS } from '../test/helpers/warehouse.ts';
import { MART_TABLES } from '../pipeline/transform/index.ts';
import { missingComments, readDictionary, writeDictionary } from './dictionary.ts';

const committed = path.resolve(import.meta.dirname, '../docs/data-dictionary');

describe.each(WAREHOUSE_KINDS)('data dictionary on %s', (kind) => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('has a COMMENT on every marts table and column of the migrated warehouse', async () => {
    const tables = await readDictionary(warehouse);
    const names = tables.map((t) => `${t.schema}.${t.name}`);
    for (const mart of MART_TABLES) expect(names).toContain(mart);
    expect(missingComments(tables)).toEqual([]);
    for (const t of tables) expect(t.grain, `${t.name} states its grain`).toMatch(/one row per/);
  });

  it('reports a marts column without a comment', async () => {
    await warehouse.knex.raw('CREATE TABLE marts.zz_uncommented (id text PRIMARY KEY, amount numeric)');
    await warehouse.knex.raw(`COMMENT ON COLUMN marts.zz_uncommented.id IS 'Id.'`);
    try {
      const missing = missingComments(await readDictionary(warehouse));
      expect(missing).toEqual(['marts.zz_uncommented', 'marts.zz_uncommented.amount']);
    } finally {
      await warehouse.knex.raw('DROP TABLE marts.zz_uncommented');
    }
  });

  it('writes an index and one page per table with every column, its type and comment', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-docs-'));
    fs.writeFileSync(path.join(dir, 'marts.dropped_table.md'), 'stale');
    const result = await writeDictionary(warehouse, dir);
    expect(result.missing).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'marts.dropped_table.md'))).toBe(false);
    const index = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
    const tables = await readDictionary(warehouse);
    for (const t of tables) {
      expect(index).toContain(`[marts.${t.name}](marts.${t.name}.md)`);
      const page = fs.readFileSync(path.join(dir, `marts.${t.name}.md`), 'utf8');
      expect(page).toContain(`# marts.${t.name}`);
      for (const c of t.columns) expect(page).toContain(`| \`${c.name}\`${c.keyPosition !== null ? ' (key)' : ''} | ${c.type} | ${c.nullable ? 'yes' : 'no'} | ${c.comment!.replace(/\|/g, '\\|')} |`);
    }
    const spend = fs.readFileSync(path.join(dir, 'marts.fct_ad_spend_daily.md'), 'utf8');
    expect(spend).toContain('- Primary key: `date`, `connection_id`, `campaign_id`');
    expect(spend).toContain('| `spend` | numeric | no | Cost in the account currency.');
    const attribution = fs.readFileSync(path.join(dir, 'marts.fct_attribution.md'), 'utf8');
    expect(attribution).toContain('- Kind: view');
    expect(attribution).toContain('| `credit` | numeric | yes | Share of the opportunity credited');

    // The committed copy (linked from the README) is what `mpm docs` writes today.
    for (const file of fs.readdirSync(dir)) {
      expect(fs.existsSync(path.join(committed, file)), `docs/data-dictionary/${file} is committed (run mpm docs)`).toBe(true);
      expect(fs.readFileSync(path.join(committed, file), 'utf8'), `docs/data-dictionary/${file} is up to date (run mpm docs)`).toBe(fs.readFileSync(path.join(dir, file), 'utf8'));
    }
    expect(fs.readdirSync(committed).sort()).toEqual(fs.readdirSync(dir).sort());
  });
});

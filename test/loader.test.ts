import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { runSync } from '../pipeline/sync.ts';
import { createTestWarehouse, tableHash, WAREHOUSE_KINDS } from './helpers/warehouse.ts';
import { fixtureConfig, fixtureConnection, fixtureRecord } from './helpers/fixture-connector.ts';

const log = pino({ level: 'silent' });
type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;

async function sync(warehouse: TestWarehouse, settings: Parameters<typeof fixtureConnection>[1], mode: 'full' | 'incremental' = 'incremental') {
  const connection = await fixtureConnection(warehouse, settings);
  return runSync({ warehouse, connection, stream: connection.connector.streams[0]!, mode, log });
}

async function reset(warehouse: TestWarehouse) {
  await warehouse.knex.raw('TRUNCATE raw.fixture__spend, core.fct_ad_spend_daily, meta.sync_state, meta.quarantine, meta.sync_runs CASCADE');
}

describe.each(WAREHOUSE_KINDS)('loader on %s', (kind) => {
  let warehouse: TestWarehouse;
  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
    await fixtureConnection(warehouse, { pages: 1, pageSize: 1 }); // creates raw.fixture__spend
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('loads every record into raw and core, and a second run changes nothing', async () => {
    await reset(warehouse);
    const first = await sync(warehouse, { pages: 4, pageSize: 250 });
    expect(first).toMatchObject({ status: 'success', pages: 4, counts: { read: 1000, inserted: 1000, updated: 0, unchanged: 0, quarantined: 0 } });
    const before = await tableHash(warehouse, 'core.fct_ad_spend_daily', []);
    const rawBefore = await tableHash(warehouse, 'raw.fixture__spend', []);

    const again = await sync(warehouse, { pages: 4, pageSize: 250 }, 'full');
    expect(again.counts).toEqual({ read: 1000, inserted: 0, updated: 0, unchanged: 1000, quarantined: 0, deleted: 0 });
    // Unchanged rows are not rewritten: even _synced_at and _run_id stay as they were.
    expect(await tableHash(warehouse, 'core.fct_ad_spend_daily', [])).toBe(before);
    expect(await tableHash(warehouse, 'raw.fixture__spend', [])).toBe(rawBefore);

    const run = await warehouse.knex('meta.sync_runs').where({ id: again.runId }).first();
    expect(run).toMatchObject({ status: 'success', mode: 'full', rows_read: 1000, rows_inserted: 0, rows_updated: 0, rows_unchanged: 1000 });
  });

  it('overwrites restated values instead of adding rows', async () => {
    await reset(warehouse);
    await sync(warehouse, { pages: 2, pageSize: 100 });
    const restated = await sync(warehouse, { pages: 2, pageSize: 100, spendBump: 1 }, 'full');
    expect(restated.counts).toMatchObject({ inserted: 0, updated: 200 });
    const { n, total } = (await warehouse.knex('core.fct_ad_spend_daily').count({ n: '*' }).sum({ total: 'spend' }).first()) as { n: number; total: string };
    expect(Number(n)).toBe(200);
    const expected = Array.from({ length: 200 }, (_, i) => Math.round(((i % 1000) * 1.37 + 1) * 100)).reduce((a, b) => a + b, 0) / 100;
    expect(Number(total)).toBeCloseTo(expected, 6);
  });

  it('is atomic per page: a failure after the raw upsert of page 3 leaves data and checkpoint at page 2', async () => {
    await reset(warehouse);
    const settings = { pages: 5, pageSize: 100 };
    // A real database fault, raised by a trigger on the core table when page 3's first row arrives
    // (record 200 = campaign c0, day 2025-07-20), i.e. after raw rows of page 3 were written in the
    // same transaction. On Postgres it first waits half a second, so that page 4's transaction
    // (which starts once page 3's raw rows are written) writes its raw rows meanwhile; a sequence,
    // which no rollback undoes, counts those writes, and they must be gone once page 3 has failed.
    const page4First = String(fixtureRecord(300, fixtureConfig.parse(settings)).id);
    await warehouse.knex.raw('CREATE SEQUENCE IF NOT EXISTS public.page4_raw_writes');
    await warehouse.knex.raw(`CREATE OR REPLACE FUNCTION pg_temp_fail_page3() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.date = DATE '2025-07-20' THEN ${kind === 'postgres' ? 'PERFORM pg_sleep(0.5);' : ''} RAISE EXCEPTION 'injected failure on page 3'; END IF; RETURN NEW; END $$`);
    await warehouse.knex.raw(`CREATE OR REPLACE FUNCTION pg_temp_count_page4() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM nextval('public.page4_raw_writes'); RETURN NEW; END $$`);
    await warehouse.knex.raw('CREATE TRIGGER fail_page3 BEFORE INSERT ON core.fct_ad_spend_daily FOR EACH ROW EXECUTE FUNCTION pg_temp_fail_page3()');
    await warehouse.knex.raw(`CREATE TRIGGER count_page4 BEFORE INSERT ON raw.fixture__spend FOR EACH ROW WHEN (NEW.record_id = '${page4First}') EXECUTE FUNCTION pg_temp_count_page4()`);
    try {
      const failed = await sync(warehouse, settings);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatch(/injected failure on page 3/);
      expect(failed.pages).toBe(2);
    } finally {
      await warehouse.knex.raw('DROP TRIGGER fail_page3 ON core.fct_ad_spend_daily');
      await warehouse.knex.raw('DROP TRIGGER count_page4 ON raw.fixture__spend');
    }
    // Postgres overlapped page 4 with page 3 (its raw row was written once); PGlite, one connection, never started it.
    const { is_called: page4Written } = (await warehouse.knex.raw('SELECT is_called FROM public.page4_raw_writes')).rows[0];
    await warehouse.knex.raw('DROP SEQUENCE public.page4_raw_writes');
    expect(page4Written).toBe(kind === 'postgres');
    expect(Number((await warehouse.knex('raw.fixture__spend').count({ n: '*' }).first())!.n)).toBe(200);
    expect(Number((await warehouse.knex('core.fct_ad_spend_daily').count({ n: '*' }).first())!.n)).toBe(200);
    const state = await warehouse.knex('meta.sync_state').where({ connection: 'fixture', stream: 'spend' }).first();
    expect(state.cursor).toEqual({ page: 2 });
    const run = await warehouse.knex('meta.sync_runs').orderBy('id', 'desc').first();
    expect(run).toMatchObject({ status: 'failed', rows_read: 200, pages: 2 });

    const resumed = await sync(warehouse, settings);
    expect(resumed).toMatchObject({ status: 'success', pages: 3, counts: { read: 300, inserted: 300 } });
    const afterResume = [await tableHash(warehouse, 'core.fct_ad_spend_daily'), await tableHash(warehouse, 'raw.fixture__spend')];

    await reset(warehouse);
    await sync(warehouse, settings);
    expect([await tableHash(warehouse, 'core.fct_ad_spend_daily'), await tableHash(warehouse, 'raw.fixture__spend')]).toEqual(afterResume);
  });

  it('quarantines invalid records with their reason and loads the rest of the page', async () => {
    await reset(warehouse);
    const result = await sync(warehouse, { pages: 2, pageSize: 100, invalidEvery: 10 });
    expect(result.status).toBe('success');
    expect(result.counts).toMatchObject({ read: 200, quarantined: 20 });
    const quarantined = await warehouse.knex('meta.quarantine').where({ connection: 'fixture', stream: 'spend' }).select();
    expect(quarantined).toHaveLength(20);
    for (const q of quarantined) {
      expect(q.error_path).toBe('spend');
      expect(q.error_message).toMatch(/spend: .*number/i);
      expect(q.payload.spend).toBe('not-a-number');
      expect(q.resolved_at).toBeNull();
    }
    expect(Number((await warehouse.knex('core.fct_ad_spend_daily').count({ n: '*' }).first())!.n)).toBe(180);
    // Nothing the vendor sent is dropped: invalid records are in raw too.
    expect(Number((await warehouse.knex('raw.fixture__spend').count({ n: '*' }).first())!.n)).toBe(200);

    // The vendor fixes the records: the next full sync loads them and resolves their entries.
    const fixed = await sync(warehouse, { pages: 2, pageSize: 100 }, 'full');
    expect(fixed.counts).toMatchObject({ quarantined: 0, updated: 20 });
    expect(Number((await warehouse.knex('meta.quarantine').whereNull('resolved_at').count({ n: '*' }).first())!.n)).toBe(0);
    expect(Number((await warehouse.knex('core.fct_ad_spend_daily').count({ n: '*' }).first())!.n)).toBe(200);
  });

  it('flags vendor deletes in raw and core', async () => {
    await reset(warehouse);
    await sync(warehouse, { pages: 1, pageSize: 100 });
    const result = await sync(warehouse, { pages: 1, pageSize: 100, deletedEvery: 4 }, 'full');
    expect(result.counts).toMatchObject({ updated: 25, deleted: 25 });
    expect(Number((await warehouse.knex('raw.fixture__spend').where({ _deleted: true }).count({ n: '*' }).first())!.n)).toBe(25);
    expect(Number((await warehouse.knex('core.fct_ad_spend_daily').where({ is_deleted: true }).count({ n: '*' }).first())!.n)).toBe(25);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { defineStream } from '../connectors/core/connector.ts';
import { upsertCore } from './loader.ts';
import { runSync } from './sync.ts';
import { createTestWarehouse, tableHash, WAREHOUSE_KINDS } from '../test/helpers/warehouse.ts';
import { fixtureConnection, testConnection } from '../test/helpers/fixture-connector.ts';

/**
 * The bulk write paths of the loader: on Postgres a page is COPYed straight into its target when
 * none of its rows exist there, else staged and merged; these tests hold both paths (and the
 * switch between them inside a run or inside one page) to the same counts and the same final state
 * as a clean load, on Postgres and on PGlite.
 */
const log = pino({ level: 'silent' });
type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;
const TABLES = ['raw.fixture__spend', 'core.fct_ad_spend_daily'];
const reset = (w: TestWarehouse) => w.knex.raw(`TRUNCATE ${TABLES.join(', ')}, meta.sync_state, meta.quarantine, meta.sync_runs CASCADE`);
const state = (w: TestWarehouse) => Promise.all(TABLES.map((t) => tableHash(w, t)));

/** A full sync of the fixture stream (every page is read whatever was stored before). */
async function sync(warehouse: TestWarehouse, settings: Parameters<typeof fixtureConnection>[1]) {
  const connection = await fixtureConnection(warehouse, settings);
  return runSync({ warehouse, connection, stream: connection.connector.streams[0]!, mode: 'full', log });
}

/** Values COPY text must escape (tab, newline, carriage return, backslash, the \N of NULL) and non-ASCII. */
const awkward = ['tab\there', 'line\nbreak', 'cr\rlf', 'back\\slash', '\\N', 'naïve – 東京 ✓', ''];

const awkwardStream = defineStream<Record<string, never>>()({
  name: 'awkward',
  description: 'records whose text needs escaping',
  primaryKey: ['id'],
  cursorField: 'id',
  pageSize: 100,
  recordSchema: z.looseObject({ id: z.string(), name: z.string() }),
  checkpointSchema: z.object({ done: z.boolean() }),
  targets: ['core.fct_ad_spend_daily'],
  async *read() {
    yield { records: awkward.map((name, i) => ({ id: `k${i}\t${name}`, name, nested: { name, list: [name, null] } })), checkpoint: { done: true } };
  },
  normalize: (r) => ({
    'core.fct_ad_spend_daily': [
      { campaign_id: r.id, campaign_name: r.name, date: '2025-01-01', currency: 'USD', spend: 1, impressions: 0, clicks: 0, conversions: 0, conversion_value: 0 },
    ],
  }),
});

type SpendRecord = { id: string; campaign: string; spend: unknown };

/** A test-only stream serving the pages `pages()` returns (tests set them): one core spend row per record, keyed by campaign. */
function pagedSpendStream(name: string, description: string, pages: () => SpendRecord[][]) {
  return defineStream<Record<string, never>>()({
    name,
    description,
    primaryKey: ['id'],
    cursorField: 'id',
    pageSize: 100,
    recordSchema: z.looseObject({ id: z.string(), campaign: z.string(), spend: z.number() }),
    checkpointSchema: z.object({ page: z.number() }),
    targets: ['core.fct_ad_spend_daily'],
    async *read() {
      for (const [i, records] of pages().entries()) yield { records, checkpoint: { page: i + 1 } };
    },
    normalize: (r) => ({
      'core.fct_ad_spend_daily': [{ campaign_id: r.campaign, date: '2025-01-01', currency: 'USD', spend: r.spend, impressions: 0, clicks: 0, conversions: 0, conversion_value: 0 }],
    }),
  });
}

/** Records of the one page the `repeats` stream serves. */
let repeatRecords: SpendRecord[] = [];
const repeatsStream = pagedSpendStream('repeats', 'records whose keys repeat within one page', () => [repeatRecords]);

/** Pages of the `crosspage` stream. */
let crossPages: SpendRecord[][] = [];
const crossPageStream = pagedSpendStream('crosspage', 'records whose keys repeat on the next page', () => crossPages);

describe.each(WAREHOUSE_KINDS)('loader bulk paths on %s', (kind) => {
  let warehouse: TestWarehouse;
  let clean: string[];
  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
    await fixtureConnection(warehouse, { pages: 1, pageSize: 1 }); // creates raw.fixture__spend
    await reset(warehouse);
    await sync(warehouse, { pages: 4, pageSize: 100 });
    clean = await state(warehouse);
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('counts a page whose first half is new and second half stored, and ends as a clean load', async () => {
    await reset(warehouse);
    await sync(warehouse, { pages: 1, pageSize: 100 });
    // Records 0..49 disappear again: the next page starts with new rows and meets stored ones midway.
    const ids = Array.from({ length: 50 }, (_, i) => `c0|${new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString().slice(0, 10)}`);
    await warehouse.knex('raw.fixture__spend').whereIn('record_id', ids).delete();
    await warehouse.knex('core.fct_ad_spend_daily').whereIn('date', ids.map((id) => id.slice(3))).delete();
    for (const table of ['raw.fixture__spend', 'core.fct_ad_spend_daily']) {
      expect(Number((await warehouse.knex(table).count({ n: '*' }).first())!.n), table).toBe(50);
    }

    const result = await sync(warehouse, { pages: 4, pageSize: 100 });
    expect(result.counts).toEqual({ read: 400, inserted: 350, updated: 0, unchanged: 50, quarantined: 0, deleted: 0 });
    expect(await state(warehouse)).toEqual(clean);
  });

  it('switches between stored and new pages within one run with exact counts', async () => {
    await reset(warehouse);
    await sync(warehouse, { pages: 2, pageSize: 100 });
    // Pages 1-2 are stored, 3-4 new; then a restatement of everything.
    const grown = await sync(warehouse, { pages: 4, pageSize: 100 });
    expect(grown.counts).toEqual({ read: 400, inserted: 200, updated: 0, unchanged: 200, quarantined: 0, deleted: 0 });
    expect(await state(warehouse)).toEqual(clean);
    const restated = await sync(warehouse, { pages: 4, pageSize: 100, spendBump: 2, deletedEvery: 50 });
    expect(restated.counts).toEqual({ read: 400, inserted: 0, updated: 400, unchanged: 0, quarantined: 0, deleted: 8 });
    const run = await warehouse.knex('meta.sync_runs').where({ id: restated.runId }).first();
    expect(run).toMatchObject({ rows_inserted: 0, rows_updated: 400, rows_deleted: 8, pages: 4 });
  });

  it('leaves stored rows untouched when a sync reads them again unchanged (not even locked)', async () => {
    await reset(warehouse);
    await sync(warehouse, { pages: 2, pageSize: 100 });
    const stored = await state(warehouse);
    const again = await sync(warehouse, { pages: 2, pageSize: 100 });
    expect(again.counts).toEqual({ read: 200, inserted: 0, updated: 0, unchanged: 200, quarantined: 0, deleted: 0 });
    // A row ON CONFLICT ... DO UPDATE ... WHERE false meets is locked: its xmax set, its page written again.
    for (const table of TABLES) {
      expect(Number((await warehouse.knex.raw(`SELECT count(*) AS n FROM ${table} WHERE xmax <> 0`)).rows[0].n), table).toBe(0);
    }
    expect(await state(warehouse)).toEqual(stored);
  });

  it('counts vendor deletes of new rows', async () => {
    await reset(warehouse);
    const result = await sync(warehouse, { pages: 2, pageSize: 100, deletedEvery: 10 });
    expect(result.counts).toEqual({ read: 200, inserted: 200, updated: 0, unchanged: 0, quarantined: 0, deleted: 20 });
    expect(Number((await warehouse.knex('core.fct_ad_spend_daily').where({ is_deleted: true }).count({ n: '*' }).first())!.n)).toBe(20);
  });

  it('keeps the last version of a key repeated within a page, in raw, core and quarantine, new or stored', async () => {
    const connection = await testConnection(warehouse, { name: 'repeats', description: 'test-only connector repeating keys within a page', streams: [repeatsStream] });
    const stream = connection.connector.streams[0]!;
    const run = () => runSync({ warehouse, connection, stream, mode: 'full', log });
    const raw = async () =>
      ((await warehouse.knex('raw.repeats__repeats').orderBy('record_id').select('record_id', 'payload')) as Array<{ record_id: string; payload: { spend: unknown } }>).map((r) => [r.record_id, r.payload.spend]);
    const core = async () =>
      (await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'repeats' }).orderBy('campaign_id').select('campaign_id', 'spend')).map((r: { campaign_id: string; spend: unknown }) => [r.campaign_id, Number(r.spend)]);
    const quarantined = () => warehouse.knex('meta.quarantine').where({ connection: 'repeats' }).whereNull('resolved_at').orderBy('record_key').select('record_key', 'error_path');

    // r1 twice (the last version wins); r2 twice, its last version invalid (raw keeps it, quarantine
    // holds it, core keeps the row of the valid one); r3 and r4 distinct records of one core row.
    repeatRecords = [
      { id: 'r1', campaign: 'a', spend: 1 },
      { id: 'r2', campaign: 'b', spend: 2 },
      { id: 'r3', campaign: 'c', spend: 3 },
      { id: 'r1', campaign: 'a', spend: 10 },
      { id: 'r2', campaign: 'b', spend: 'twenty' },
      { id: 'r4', campaign: 'c', spend: 4 },
    ];
    expect((await run()).counts).toEqual({ read: 4, inserted: 4, updated: 0, unchanged: 0, quarantined: 1, deleted: 0 });
    expect(await raw()).toEqual([['r1', 10], ['r2', 'twenty'], ['r3', 3], ['r4', 4]]);
    expect(await core()).toEqual([['a', 10], ['b', 2], ['c', 4]]);
    expect(await quarantined()).toEqual([{ record_key: 'r2', error_path: 'spend' }]);

    // The same page again, now stored: nothing changes and the counts see four records.
    expect((await run()).counts).toEqual({ read: 4, inserted: 0, updated: 0, unchanged: 4, quarantined: 1, deleted: 0 });
    expect(await core()).toEqual([['a', 10], ['b', 2], ['c', 4]]);

    // r2 fixed by its last version.
    repeatRecords = [
      { id: 'r2', campaign: 'b', spend: 'twenty' },
      { id: 'r2', campaign: 'b', spend: 20 },
    ];
    expect((await run()).counts).toEqual({ read: 1, inserted: 0, updated: 1, unchanged: 0, quarantined: 0, deleted: 0 });
    expect(await quarantined()).toEqual([]);

    // Only core keys repeat: new (d), stored with a first row that changes it (c), stored with a
    // first row that leaves it as it is (a).
    repeatRecords = [
      { id: 'r5', campaign: 'd', spend: 5 },
      { id: 'r6', campaign: 'd', spend: 6 },
      { id: 'r3', campaign: 'c', spend: 3 },
      { id: 'r4', campaign: 'c', spend: 44 },
      { id: 'r1', campaign: 'a', spend: 10 },
      { id: 'r7', campaign: 'a', spend: 7 },
    ];
    expect((await run()).counts).toEqual({ read: 6, inserted: 3, updated: 1, unchanged: 2, quarantined: 0, deleted: 0 });
    expect(await raw()).toEqual([['r1', 10], ['r2', 20], ['r3', 3], ['r4', 44], ['r5', 5], ['r6', 6], ['r7', 7]]);
    expect(await core()).toEqual([['a', 7], ['b', 20], ['c', 44], ['d', 6]]);
    expect(await quarantined()).toEqual([]);

    // Only a repeat whose first row leaves the stored one as it is: the merge passes, the last row wins.
    repeatRecords = [
      { id: 'r7', campaign: 'a', spend: 7 },
      { id: 'r1', campaign: 'a', spend: 1 },
    ];
    expect((await run()).counts).toEqual({ read: 2, inserted: 0, updated: 1, unchanged: 1, quarantined: 0, deleted: 0 });
    expect(await core()).toEqual([['a', 1], ['b', 20], ['c', 44], ['d', 6]]);
  });

  it('stores a key that the next page repeats, while that page is written alongside, as its last version', async () => {
    const connection = await testConnection(warehouse, { name: 'crosspage', description: 'test-only connector repeating keys across pages', streams: [crossPageStream] });
    const stream = connection.connector.streams[0]!;
    // On Postgres page 1's core write waits half a second (a trigger), long enough for page 2's
    // transaction to write its raw rows meanwhile: its r1 must wait for page 1's uncommitted r1,
    // then take the merge path. The trigger notes (in a sequence, which no rollback undoes)
    // whether a write of this database was waiting on another transaction at that moment.
    if (kind === 'postgres') {
      await warehouse.knex.raw('CREATE SEQUENCE public.crosspage_waits');
      await warehouse.knex.raw(`CREATE OR REPLACE FUNCTION public.crosspage_slow_page1() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        PERFORM pg_sleep(0.5);
        IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'transactionid') THEN PERFORM nextval('public.crosspage_waits'); END IF;
        RETURN NEW; END $$`);
      await warehouse.knex.raw(`CREATE TRIGGER slow_page1 BEFORE INSERT ON core.fct_ad_spend_daily FOR EACH ROW WHEN (NEW.connection_id = 'crosspage' AND NEW.campaign_id = 'b') EXECUTE FUNCTION public.crosspage_slow_page1()`);
    }
    crossPages = [
      [{ id: 'r1', campaign: 'a', spend: 1 }, { id: 'r2', campaign: 'b', spend: 2 }],
      [{ id: 'r1', campaign: 'a', spend: 10 }, { id: 'r3', campaign: 'c', spend: 3 }],
      [{ id: 'r3', campaign: 'c', spend: 30 }, { id: 'r4', campaign: 'd', spend: 4 }],
    ];
    try {
      const result = await runSync({ warehouse, connection, stream, mode: 'full', log });
      expect(result).toMatchObject({ status: 'success', pages: 3, counts: { read: 6, inserted: 4, updated: 2, unchanged: 0, quarantined: 0, deleted: 0 } });
    } finally {
      if (kind === 'postgres') {
        await warehouse.knex.raw('DROP TRIGGER slow_page1 ON core.fct_ad_spend_daily');
        await warehouse.knex.raw('DROP FUNCTION public.crosspage_slow_page1()');
      }
    }
    if (kind === 'postgres') {
      const { is_called: waited } = (await warehouse.knex.raw('SELECT is_called FROM public.crosspage_waits')).rows[0];
      await warehouse.knex.raw('DROP SEQUENCE public.crosspage_waits');
      expect(waited).toBe(true);
    }
    const raw = (await warehouse.knex('raw.crosspage__crosspage').orderBy('record_id').select('record_id', 'payload')) as Array<{ record_id: string; payload: { spend: number } }>;
    expect(raw.map((r) => [r.record_id, r.payload.spend])).toEqual([['r1', 10], ['r2', 2], ['r3', 30], ['r4', 4]]);
    const core = await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'crosspage' }).orderBy('campaign_id').select('campaign_id', 'spend');
    expect(core.map((r: { campaign_id: string; spend: unknown }) => [r.campaign_id, Number(r.spend)])).toEqual([['a', 10], ['b', 2], ['c', 30], ['d', 4]]);
    expect((await warehouse.knex('meta.sync_state').where({ connection: 'crosspage' }).first()).cursor).toEqual({ page: 3 });
  });

  it('merges only its own rows when a transaction merges into one table twice (a page, then its window sweep)', async () => {
    await reset(warehouse);
    const meta = { connectionId: 'twice', sourceSystem: 'fixture', runId: null };
    const row = (campaign: string, spend: number) => ({ campaign_id: campaign, date: '2025-01-01', currency: 'USD', spend, impressions: 0, clicks: 0, conversions: 0, conversion_value: 0, is_deleted: false });
    await warehouse.knex.transaction(async (trx) => {
      expect(await upsertCore(trx, warehouse.kind, 'core.fct_ad_spend_daily', meta, [row('a', 1)])).toEqual({ changed: 1 });
      // Changed in between by the same transaction (as a sweep's flags change rows after the page's merge).
      await trx('core.fct_ad_spend_daily').where({ connection_id: 'twice', campaign_id: 'a' }).update({ spend: 5 });
      expect(await upsertCore(trx, warehouse.kind, 'core.fct_ad_spend_daily', meta, [row('b', 2)])).toEqual({ changed: 1 });
    });
    const stored = await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'twice' }).orderBy('campaign_id').select('campaign_id', 'spend');
    expect(stored).toEqual([{ campaign_id: 'a', spend: '5' }, { campaign_id: 'b', spend: '2' }]);
  });

  it('stores text that needs COPY escaping exactly as received, in raw and core', async () => {
    const connection = await testConnection(warehouse, { name: 'awkward', description: 'test-only connector with hard-to-escape text', streams: [awkwardStream] });
    const stream = connection.connector.streams[0]!;
    const result = await runSync({ warehouse, connection, stream, mode: 'full', log });
    expect(result).toMatchObject({ status: 'success', counts: { inserted: awkward.length, quarantined: 0 } });
    const raw = (await warehouse.knex('raw.awkward__awkward').orderBy('record_id').select('record_id', 'payload')) as Array<{ record_id: string; payload: { name: string; nested: unknown } }>;
    expect(raw.map((r) => r.payload.name).sort()).toEqual([...awkward].sort());
    for (const r of raw) {
      expect(r.record_id.endsWith(`\t${r.payload.name}`)).toBe(true);
      expect(r.payload.nested).toEqual({ name: r.payload.name, list: [r.payload.name, null] });
    }
    const core = (await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'awkward' }).select('campaign_id', 'campaign_name')) as Array<{ campaign_id: string; campaign_name: string }>;
    expect(core.map((r) => r.campaign_name).sort()).toEqual([...awkward].sort());
    for (const r of core) expect(r.campaign_id).toBe(`k${awkward.indexOf(r.campaign_name)}\t${r.campaign_name}`);
    // Again: nothing changes (the merge compares what the COPY stored).
    const again = await runSync({ warehouse, connection, stream, mode: 'full', log });
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0, unchanged: awkward.length });
  });
});

/** Deals owning their contact links: each sync serves the deals with the links they have now. */
let dealLinks: Record<string, string[]> = {};
const dealsStream = defineStream<Record<string, never>>()({
  name: 'deals',
  description: 'deals with their contact links',
  primaryKey: ['id'],
  cursorField: undefined,
  pageSize: 100,
  recordSchema: z.looseObject({ id: z.string(), contacts: z.array(z.string()) }),
  checkpointSchema: z.object({ done: z.boolean() }),
  targets: ['core.fct_opportunity', 'core.bridge_opportunity_person'],
  ownedRows: [{ table: 'core.bridge_opportunity_person', from: 'core.fct_opportunity', parent: ['opportunity_id'] }],
  async *read() {
    yield { records: Object.entries(dealLinks).map(([id, contacts]) => ({ id, contacts })), checkpoint: { done: true } };
  },
  normalize: (r) => ({
    'core.fct_opportunity': [{ opportunity_id: r.id, name: r.id, currency: 'USD', amount: 1 }],
    'core.bridge_opportunity_person': r.contacts.map((c) => ({ opportunity_id: r.id, person_id: c })),
  }),
});
describe.each(WAREHOUSE_KINDS)('owned rows on %s', (kind) => {
  let warehouse: TestWarehouse;
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('flags the child rows a record no longer emits, and only those of the page\'s records', async () => {
    warehouse = await createTestWarehouse(kind);
    const connection = await testConnection(warehouse, { name: 'deals', description: 'test-only connector whose records own child rows', streams: [dealsStream] });
    const run = () => runSync({ warehouse, connection, stream: dealsStream as never, mode: 'full', log });
    const links = async () =>
      (await warehouse.knex('core.bridge_opportunity_person').orderBy(['opportunity_id', 'person_id']).select('opportunity_id', 'person_id', 'is_deleted')).map(
        (r: { opportunity_id: string; person_id: string; is_deleted: boolean }) => `${r.opportunity_id}/${r.person_id}${r.is_deleted ? ' deleted' : ''}`,
      );
    dealLinks = { d1: ['a', 'b'], d2: ['c'], d3: ['e'] };
    expect((await run()).status).toBe('success');
    expect(await links()).toEqual(['d1/a', 'd1/b', 'd2/c', 'd3/e']);
    // d1 loses b, d2 loses every link, d3 is not in this read: its link stays.
    dealLinks = { d1: ['a'], d2: [] };
    expect((await run()).status).toBe('success');
    expect(await links()).toEqual(['d1/a', 'd1/b deleted', 'd2/c deleted', 'd3/e']);
    // b comes back: live again. Re-reading without changes rewrites nothing.
    dealLinks = { d1: ['a', 'b'], d2: [] };
    await run();
    expect(await links()).toEqual(['d1/a', 'd1/b', 'd2/c deleted', 'd3/e']);
    const before = await tableHash(warehouse, 'core.bridge_opportunity_person', []);
    await run();
    expect(await tableHash(warehouse, 'core.bridge_opportunity_person', [])).toBe(before);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { z } from 'zod';
import { defineStream, rawTableName, type Page, type WindowSweep } from '../connectors/core/connector.ts';
import type { Connection } from './config/connections.ts';
import { testConnection } from '../test/helpers/fixture-connector.ts';
import { runSync } from './sync.ts';
import { createTestWarehouse, WAREHOUSE_KINDS } from '../test/helpers/warehouse.ts';

/**
 * The generic window sweep (pipeline/window-sweep.ts) with a test-only stream: the "vendor" is a
 * list of pages, each with an optional sweep, that the test edits between runs.
 */
const log = pino({ level: 'silent' });

type Rec = { acct: string; id: string; when: { day: string }; amount: string };
let vendorPages: Array<{ records: unknown[]; sweep?: WindowSweep }> = [];

const sweepStream = defineStream<Record<string, never>>()({
  name: 'daily',
  description: 'test-only daily rows per account',
  primaryKey: ['acct', 'id', 'when.day'],
  cursorField: 'when.day',
  pageSize: 10,
  recordSchema: z.looseObject({ acct: z.string(), id: z.string(), when: z.object({ day: z.string() }), amount: z.string().regex(/^\d+$/) }),
  checkpointSchema: z.object({ page: z.number() }),
  targets: ['core.fct_ad_spend_daily'],
  windowSweep: { dayPath: 'when.day', scopePath: 'acct' },
  async *read(): AsyncIterable<Page<{ page: number }>> {
    for (const [i, p] of vendorPages.entries()) yield { records: p.records, checkpoint: { page: i }, ...(p.sweep ? { sweep: p.sweep } : {}) };
  },
  normalize: (r: Rec) => ({
    'core.fct_ad_spend_daily': [{ campaign_id: `${r.acct}-${r.id}`, account_id: r.acct, date: r.when.day, currency: 'USD', spend: r.amount, impressions: 0, clicks: 0, conversions: '0', conversion_value: '0' }],
  }),
});

const sweepConnector = {
  name: 'sweeptest',
  description: 'test-only connector for window sweeps',
  streams: [sweepStream, { ...sweepStream, name: 'undeclared', windowSweep: undefined }],
};

const rec = (acct: string, id: string, day: string, amount = '5'): Rec => ({ acct, id, when: { day }, amount });

describe.each(WAREHOUSE_KINDS)('window sweep on %s', (kind) => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  let connection: Connection;
  const sync = (name = 'daily') => runSync({ warehouse, connection, stream: connection.connector.streams.find((s) => s.name === name)!, mode: 'incremental', log });
  const raw = async () =>
    Object.fromEntries(((await warehouse.knex(rawTableName('sweeptest', 'daily')).select('record_id', '_deleted')) as Array<{ record_id: string; _deleted: boolean }>).map((r) => [r.record_id, r._deleted]));

  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
    connection = await testConnection(warehouse, sweepConnector, 'sweeps');
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('flags what a finished range no longer has (a nested day path; a quarantined record too), leaving other scopes and days alone', async () => {
    vendorPages = [
      { records: [rec('A', '1', '2026-01-01'), rec('A', '2', '2026-01-01'), rec('A', '3', '2026-01-02', 'bad')] },
      { records: [rec('A', '4', '2026-01-02'), rec('A', '5', '2026-01-03'), rec('B', '1', '2026-01-02')], sweep: { scope: 'A', from: '2026-01-01', to: '2026-01-03' } },
    ];
    expect(await sync()).toMatchObject({ status: 'success', counts: { read: 6, quarantined: 1, deleted: 0 } });
    expect(await warehouse.knex('meta.quarantine').where({ connection: 'sweeps' }).whereNull('resolved_at').pluck('record_key')).toEqual(['A|3|2026-01-02']);

    // A re-read of 01-02..01-03 for A over two pages: A|3 (quarantined) and A|4 are gone; A|1 (01-01,
    // not re-read), A|5 (read on the first page) and B|1 (another scope) stay.
    vendorPages = [
      { records: [rec('A', '5', '2026-01-03', '6')] },
      { records: [], sweep: { scope: 'A', from: '2026-01-02', to: '2026-01-03' } },
    ];
    const second = await sync();
    expect(second).toMatchObject({ status: 'success', counts: { read: 1, deleted: 2 } });
    expect(await raw()).toEqual({ 'A|1|2026-01-01': false, 'A|2|2026-01-01': false, 'A|3|2026-01-02': true, 'A|4|2026-01-02': true, 'A|5|2026-01-03': false, 'B|1|2026-01-02': false });
    const core = await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'sweeps' }).orderBy('campaign_id').select('campaign_id', 'spend', 'is_deleted');
    expect(core).toEqual([
      { campaign_id: 'A-1', spend: '5', is_deleted: false },
      { campaign_id: 'A-2', spend: '5', is_deleted: false },
      { campaign_id: 'A-4', spend: '5', is_deleted: true },
      { campaign_id: 'A-5', spend: '6', is_deleted: false },
      { campaign_id: 'B-1', spend: '5', is_deleted: false },
    ]);
    // The vanished bad record's quarantine entry is resolved: there is nothing left to fix.
    const open = await warehouse.knex('meta.quarantine').where({ connection: 'sweeps' }).whereNull('resolved_at').pluck('record_key');
    expect(open).toEqual([]);
    const run = await warehouse.knex('meta.sync_runs').where({ id: second.runId }).first('rows_deleted');
    expect(run.rows_deleted).toBe(2);

    // A record that comes back is live again; a second sweep of the same days flags nothing new.
    vendorPages = [{ records: [rec('A', '4', '2026-01-02', '7'), rec('A', '5', '2026-01-03', '6')], sweep: { scope: 'A', from: '2026-01-02', to: '2026-01-03' } }];
    expect(await sync()).toMatchObject({ status: 'success', counts: { deleted: 0 } });
    expect((await raw())['A|4|2026-01-02']).toBe(false);
    expect(await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'sweeps', campaign_id: 'A-4' }).first('spend', 'is_deleted')).toEqual({ spend: '7', is_deleted: false });
  });

  it('fails a run whose stream sends a sweep it does not declare, storing nothing of that page', async () => {
    vendorPages = [{ records: [rec('A', '9', '2026-02-01')], sweep: { scope: 'A', from: '2026-02-01', to: '2026-02-01' } }];
    const result = await sync('undeclared');
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/stream undeclared sent a window sweep but declares no windowSweep/);
    expect(await warehouse.knex(rawTableName('sweeptest', 'undeclared')).count({ n: '*' }).first()).toMatchObject({ n: 0 });
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorDefinition } from '../core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { retryQuarantine } from '../../pipeline/quarantine.ts';
import { runSync } from '../../pipeline/sync.ts';
import { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import { csvConnector } from './index.ts';

const log = pino({ level: 'silent' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-csv-'));

function writeCsv(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, ['date,channel,campaign,spend,currency,impressions,clicks', ...lines].join('\n') + '\n');
  return file;
}

describe('csv connector', () => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  beforeAll(async () => {
    warehouse = await createTestWarehouse('postgres');
  });
  afterAll(async () => {
    await warehouse?.drop();
  });
  const connect = (id: string, settings: Record<string, unknown>) => buildConnection(id, csvConnector as ConnectorDefinition<unknown>, settings, 'file');
  const syncOnce = (id: string, settings: Record<string, unknown>, extra: Partial<Parameters<typeof runSync>[0]> = {}) => {
    const connection = connect(id, settings);
    return runSync({ warehouse, connection, stream: connection.connector.streams[0]!, mode: 'incremental', log, ...extra });
  };

  it('validates every row and quarantines bad ones with the field and reason', async () => {
    const file = writeCsv('mixed.csv', [
      '2026-01-05,Events,Expo,1200.50,USD,,',
      '2026-02-30,Events,Expo,10,USD,,',
      '2026-01-06,Print,,10,USD,,',
      '2026-01-07,Print,Mag,1.234,EUR,12x,1',
      '2026-01-08,Print,Mag,-5,EUR,1,1',
      '2026-01-09,Print,Mag,5,,1,1',
    ]);
    const result = await syncOnce('mixed', { path: file });
    expect(result.counts).toMatchObject({ read: 6, quarantined: 5 });
    const reasons = await warehouse.knex('meta.quarantine').where({ connection: 'mixed' }).orderBy('record_key').select('record_key', 'error_path', 'error_message');
    expect(reasons.map((r) => `${r.error_path}: ${r.error_message}`)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^date: date: must be a date YYYY-MM-DD/),
        expect.stringMatching(/^impressions: impressions: must be a non-negative whole number, got "12x"/),
        expect.stringMatching(/^spend: spend: must be a non-negative decimal/),
        expect.stringMatching(/^\(normalize\): currency: is empty and the connection has no defaultCurrency/),
        expect.stringMatching(/^campaign: .*missing primary key|^campaign,date|date,campaign: missing primary key/),
      ]),
    );
    const spend = await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'mixed' }).select('campaign_id', 'date', 'spend', 'currency', 'channel_hint', 'impressions');
    expect(spend).toEqual([{ campaign_id: 'Expo', date: '2026-01-05', spend: '1200.50', currency: 'USD', channel_hint: 'Events', impressions: 0 }]);

    // A config fix (a default currency) resolves the currency row without re-reading the file.
    const fixed = await retryQuarantine(warehouse, connect('mixed', { path: file, defaultCurrency: 'EUR' }), csvConnector.streams[0]! as never);
    expect(fixed).toMatchObject({ retried: 5, resolved: 1, stillFailing: 4 });
    expect(await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'mixed', date: '2026-01-09' }).first('currency')).toEqual({ currency: 'EUR' });
  });

  it('skips an unchanged file and re-reads a changed one', async () => {
    const file = writeCsv('weekly.csv', ['2026-03-02,Print,Mag,100.00,USD,10,1']);
    expect((await syncOnce('weekly', { path: file })).counts.read).toBe(1);
    expect((await syncOnce('weekly', { path: file })).counts.read).toBe(0);
    writeCsv('weekly.csv', ['2026-03-02,Print,Mag,120.00,USD,10,1', '2026-03-09,Print,Mag,90.00,USD,10,1']);
    expect((await syncOnce('weekly', { path: file })).counts).toMatchObject({ read: 2, inserted: 1, updated: 1 });
  });

  it('resumes after a crash from the last stored page', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => `2026-04-${String(1 + (i % 28)).padStart(2, '0')},Print,Mag${Math.floor(i / 28)}-${i},${i}.00,USD,1,1`);
    const file = writeCsv('big.csv', rows);
    // A database fault on the row of line 13 (page 3 with pages of 5): pages 1-2 stay stored.
    await warehouse.knex.raw(`CREATE OR REPLACE FUNCTION fail_on_mag12() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.campaign_id = 'Mag0-12' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$`);
    await warehouse.knex.raw('CREATE TRIGGER fail_mag12 BEFORE INSERT ON core.fct_ad_spend_daily FOR EACH ROW EXECUTE FUNCTION fail_on_mag12()');
    const failed = await syncOnce('big', { path: file, pageSize: 5 });
    await warehouse.knex.raw('DROP TRIGGER fail_mag12 ON core.fct_ad_spend_daily');
    expect(failed).toMatchObject({ status: 'failed', pages: 2 });
    expect((await warehouse.knex('meta.sync_state').where({ connection: 'big' }).first()).cursor).toMatchObject({ rowsDone: 10, complete: false });
    const resumed = await syncOnce('big', { path: file, pageSize: 5 });
    expect(resumed).toMatchObject({ status: 'success', counts: { read: 15, inserted: 15 } });
    expect(Number((await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'big' }).count({ n: '*' }).first())!.n)).toBe(25);
  });

  it('reads only the requested window under its own checkpoint', async () => {
    const file = writeCsv('window.csv', ['2026-05-01,Print,Mag,1.00,USD,1,1', '2026-05-15,Print,Mag,2.00,USD,1,1', '2026-06-01,Print,Mag,3.00,USD,1,1']);
    const r = await syncOnce('window', { path: file }, { mode: 'backfill', window: { from: '2026-05-10', to: '2026-05-31' } });
    expect(r.counts.read).toBe(1);
    expect(await warehouse.knex('meta.sync_state').where({ connection: 'window' }).pluck('scope')).toEqual(['window:2026-05-10..2026-05-31']);
  });

  it('names the missing file', async () => {
    const r = await syncOnce('missing', { path: path.join(dir, 'nope.csv') });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/connection missing: path: file .*nope\.csv does not exist/);
  });
});

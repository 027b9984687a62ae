import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawTableName, type ConnectorDefinition } from '../core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { retryQuarantine } from '../../pipeline/quarantine.ts';
import { runSync } from '../../pipeline/sync.ts';
import { runTransform } from '../../pipeline/transform/index.ts';
import { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import { googleAdsConnector } from '../google_ads/index.ts';
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

  it('names a header without the required columns once, instead of quarantining every row', async () => {
    const file = path.join(dir, 'header.csv');
    fs.writeFileSync(file, 'Day,Channel,Campaign,Cost,Currency\n2026-07-01,Print,Mag,10.00,USD\n');
    const r = await syncOnce('header', { path: file });
    expect(r).toMatchObject({ status: 'failed', pages: 0 });
    expect(r.error).toMatch(/connection header: .*header\.csv: the header row has no date, spend columns; expected date, channel, campaign, spend\[, currency, impressions, clicks\] \(found: day, channel, campaign, cost, currency\)/);
    fs.writeFileSync(file, 'date,channel,campaign,spend,spend\n2026-07-01,Print,Mag,10.00,11.00\n');
    expect((await syncOnce('header', { path: file })).error).toMatch(/the header row has column spend twice/);
    expect(Number((await warehouse.knex('meta.quarantine').where({ connection: 'header' }).count({ n: '*' }).first())!.n)).toBe(0);
  });

  it('skips rows of bare delimiters that spreadsheet exports append', async () => {
    const file = writeCsv('excel.csv', ['2026-07-01,Print,Mag,10.00,USD,1,1', ',,,,,,', ',,,,,,']);
    const r = await syncOnce('excel', { path: file });
    expect(r).toMatchObject({ status: 'success', counts: { read: 1, quarantined: 0 } });
  });

  it('refuses a second row for the same date and campaign, naming both lines, rather than keep only one', async () => {
    const file = writeCsv('dupes.csv', ['2026-07-01,Print,Mag,10.00,USD,1,1', '2026-07-02,Print,Mag,10.00,USD,1,1', '2026-07-01,Events, Mag ,25.00,USD,1,1']);
    const r = await syncOnce('dupes', { path: file });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/dupes\.csv line 4: date 2026-07-01 and campaign "Mag" already appear on line 2; the file needs one row per date and campaign/);
  });

  it('writes the same core shape as the ad connectors, and the spend mart picks offline rows up by channel', async () => {
    const file = writeCsv('offline.csv', ['2026-08-03,Events,Expo Booth,5000.00,USD,,', '2026-08-03,Print,Industry Magazine,1900.39,usd,61572,246']);
    expect((await syncOnce('offline', { path: file, accountId: 'offline-emea' })).status).toBe('success');

    // Same columns as a Google Ads row, column for column.
    const ads = googleAdsConnector.streams.find((s) => s.name === 'campaign_daily')!;
    const adRecord = {
      customer: { id: '1234567890', currencyCode: 'USD', timeZone: 'America/New_York' },
      campaign: { id: '111', name: 'Brand', status: 'ENABLED', advertisingChannelType: 'SEARCH' },
      segments: { date: '2026-08-03' },
      metrics: { costMicros: '1000000', impressions: '10', clicks: '1', conversions: 1, conversionsValue: 2 },
    };
    const adConfig = googleAdsConnector.configSchema.parse({ customerIds: '1234567890', developerToken: 'd', clientId: 'c', clientSecret: 's', refreshToken: 'r' });
    const adRows = ads.normalize(ads.recordSchema.parse(adRecord), { connectionId: 'x', config: adConfig });
    const adCampaigns = googleAdsConnector.streams.find((s) => s.name === 'campaigns')!;
    const adCampaignRows = adCampaigns.normalize(adCampaigns.recordSchema.parse(adRecord), { connectionId: 'x', config: adConfig });
    const stream = csvConnector.streams[0]!;
    const csvRows = stream.normalize(stream.recordSchema.parse({ date: '2026-08-03', channel: 'Print', campaign: 'Mag', spend: '1.00', currency: 'USD' }), {
      connectionId: 'x',
      config: csvConnector.configSchema.parse({ path: 'unused.csv' }),
    });
    const keys = (rows: Record<string, unknown>[] | undefined) => Object.keys(rows?.[0] ?? {}).sort();
    expect(keys(csvRows['core.fct_ad_spend_daily'])).toEqual(keys(adRows['core.fct_ad_spend_daily']));
    expect(keys(csvRows['core.dim_campaign'])).toEqual(keys(adCampaignRows['core.dim_campaign']));

    const spend = await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'offline' }).orderBy('campaign_id').select('campaign_id', 'account_id', 'campaign_name', 'channel_hint', 'currency', 'spend', 'impressions', 'clicks', 'conversions', 'source_system');
    expect(spend).toEqual([
      { campaign_id: 'Expo Booth', account_id: 'offline-emea', campaign_name: 'Expo Booth', channel_hint: 'Events', currency: 'USD', spend: '5000.00', impressions: 0, clicks: 0, conversions: '0', source_system: 'csv' },
      { campaign_id: 'Industry Magazine', account_id: 'offline-emea', campaign_name: 'Industry Magazine', channel_hint: 'Print', currency: 'USD', spend: '1900.39', impressions: 61572, clicks: 246, conversions: '0', source_system: 'csv' },
    ]);

    // The CSV channel column is the hint the channel rules read: Events by default, Print by a rule.
    await runTransform({ warehouse, log, config: { channelRules: [{ channel: 'Offline Media', hint: ['print', 'sponsorship', 'direct mail'] }] }, full: true });
    const mart = await warehouse.knex('marts.fct_ad_spend_daily').where({ connection_id: 'offline' }).orderBy('campaign_id').select('campaign_id', 'channel', 'spend', 'source_system');
    expect(mart).toEqual([
      { campaign_id: 'Expo Booth', channel: 'Events', spend: '5000.00', source_system: 'csv' },
      { campaign_id: 'Industry Magazine', channel: 'Offline Media', spend: '1900.39', source_system: 'csv' },
    ]);
  });

  it('marks rows that left a changed file deleted, so a corrected campaign name does not count twice', async () => {
    const file = writeCsv('edits.csv', ['2026-09-01,Print,Mag,100.00,USD,1,1', '2026-09-02,Print,Mag,200.00,USD,1,1', '2026-09-01,Events,Expo,50.00,USD,,']);
    expect((await syncOnce('edits', { path: file })).counts).toMatchObject({ read: 3, deleted: 0 });
    const live = async () =>
      (await warehouse.knex('core.fct_ad_spend_daily').where({ connection_id: 'edits', is_deleted: false }).orderBy(['date', 'campaign_id']).select('date', 'campaign_id', 'spend')).map(
        (r: { date: string; campaign_id: string; spend: string }) => `${r.date} ${r.campaign_id} ${r.spend}`,
      );

    // The 09-02 row is re-labelled and Expo is cancelled.
    writeCsv('edits.csv', ['2026-09-01,Print,Mag,100.00,USD,1,1', '2026-09-02,Print,Magazine,200.00,USD,1,1']);
    const edited = await syncOnce('edits', { path: file });
    expect(edited.counts).toMatchObject({ deleted: 2 });
    expect(await live()).toEqual(['2026-09-01 Mag 100.00', '2026-09-02 Magazine 200.00']);
    expect(await warehouse.knex(rawTableName('csv', 'spend')).where({ connection_id: 'edits', _deleted: true }).orderBy('record_id').pluck('record_id')).toEqual(['2026-09-01|Expo', '2026-09-02|Mag']);
    // The campaign itself is not deleted: other days may still carry it.
    expect(await warehouse.knex('core.dim_campaign').where({ connection_id: 'edits', campaign_id: 'Mag' }).first('is_deleted')).toEqual({ is_deleted: false });

    // Expo comes back and Magazine goes; the read fails after its first page (pages of 1) and
    // resumes: what the file held before must survive the crash in the checkpoint.
    writeCsv('edits.csv', ['2026-09-01,Print,Mag,100.00,USD,1,1', '2026-09-01,Events,Expo,55.00,USD,,']);
    await warehouse.knex.raw(`CREATE OR REPLACE FUNCTION fail_on_expo() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.campaign_id = 'Expo' AND NEW.connection_id = 'edits' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$`);
    await warehouse.knex.raw('CREATE TRIGGER fail_expo BEFORE INSERT OR UPDATE ON core.fct_ad_spend_daily FOR EACH ROW EXECUTE FUNCTION fail_on_expo()');
    const crashed = await syncOnce('edits', { path: file, pageSize: 1 });
    await warehouse.knex.raw('DROP TRIGGER fail_expo ON core.fct_ad_spend_daily');
    expect(crashed).toMatchObject({ status: 'failed', pages: 1 });
    const resumed = await syncOnce('edits', { path: file, pageSize: 1 });
    expect(resumed).toMatchObject({ status: 'success', counts: { read: 2, deleted: 1 } });
    expect(await live()).toEqual(['2026-09-01 Expo 55.00', '2026-09-01 Mag 100.00']);
  });

  it('names the missing file', async () => {
    const r = await syncOnce('missing', { path: path.join(dir, 'nope.csv') });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/connection missing: path: file .*nope\.csv does not exist/);
  });
});

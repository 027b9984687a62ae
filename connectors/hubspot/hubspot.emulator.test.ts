import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWorld } from '../../sandbox/world/index.ts';
import { startEmulatorServer, type EmulatorServer } from '../../sandbox/emulators/server.ts';
import { createHubSpotEmulator, type HubSpotEmulator } from '../../sandbox/emulators/hubspot/index.ts';
import { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import {
  ensureHubSpotRawTables,
  hashTables,
  hsCheckpoint,
  hsConnection,
  HUBSPOT_CORE_TABLES,
  HUBSPOT_RAW_TABLES,
  HUBSPOT_STREAMS,
  syncHubSpot,
} from './test-support.ts';

/**
 * Against the HubSpot emulator (CRM v3 list/search/batch read, associations v4, pipelines,
 * properties, legacy email events, forms, OAuth refresh, rate limits) over the 'tiny' world, into
 * real Postgres.
 */

type TestWarehouse = Warehouse & { drop(): Promise<void> };

// The emulator's clock runs with real time (its rate-limit windows need that) plus jumps the test makes.
let offset = 0;
const now = () => new Date(Date.now() + offset);
let emu: HubSpotEmulator;
let server: EmulatorServer;
let env: Record<string, string>;
const warehouses: TestWarehouse[] = [];

async function newWarehouse(): Promise<TestWarehouse> {
  const w = await createTestWarehouse('postgres');
  await ensureHubSpotRawTables(w);
  warehouses.push(w);
  return w;
}

function settings(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { baseUrl: env.HUBSPOT_BASE_URL, accessToken: env.HUBSPOT_ACCESS_TOKEN, searchRequestsPerSecond: 1000, ...extra };
}

async function syncAll(warehouse: Warehouse, settingsValue: Record<string, unknown>, mode: 'incremental' | 'full') {
  const conn = hsConnection(settingsValue);
  const results = [];
  for (const name of HUBSPOT_STREAMS) results.push(await syncHubSpot(warehouse, conn, name, { mode, now }));
  return results;
}

beforeAll(async () => {
  const world = generateWorld({ seed: 7, scale: 'tiny', endDate: '2026-10-31' });
  // Limits above the test's request count (the budget test below uses HubSpot's own).
  emu = createHubSpotEmulator(world, { now: () => Date.now() + offset, rateLimits: { perTenSeconds: 10_000, searchPerSecond: 10_000 } });
  server = await startEmulatorServer({ routes: emu.routes });
  env = emu.env(server.origin);
});

afterAll(async () => {
  for (const w of warehouses) await w.drop();
  await server?.close();
});

async function liveBridge(w: Warehouse): Promise<unknown[]> {
  return w
    .knex('core.bridge_opportunity_person as b')
    .join('core.fct_opportunity as o', function () {
      this.on('o.opportunity_id', '=', 'b.opportunity_id').andOn('o.connection_id', '=', 'b.connection_id');
    })
    .where('o.is_deleted', false)
    .where('b.is_deleted', false)
    .orderBy(['b.opportunity_id', 'b.person_id'])
    .select('b.opportunity_id', 'b.person_id', 'b.role');
}

describe('hubspot connector against the emulator', () => {
  it('full sync, then incremental syncs after changes, equals a fresh full sync (raw and core)', async () => {
    const a = await newWarehouse();
    const shortLived = emu.store.insert('contacts', { email: 'brief@gone.example', firstname: 'Brief', lastname: 'Visit', lifecyclestage: 'lead' });
    const first = await syncAll(a, settings(), 'incremental');
    for (const r of first) expect(r.status, `${r.stream}: ${r.error ?? ''}`).toBe('success');
    const byStream = Object.fromEntries(first.map((r) => [r.stream, r]));
    expect(byStream.contacts?.counts.read).toBe(emu.store.list('contacts', false).length);
    expect(byStream.contacts?.pages).toBeGreaterThan(1); // 100 per list page
    expect(byStream.email_events?.counts.read).toBeGreaterThan(0);
    expect(byStream.form_submissions?.counts.read).toBe([...emu.store.submissions.values()].reduce((n, s) => n + s.length, 0));
    expect((await hsCheckpoint(a, 'deals')) as { phase: string }).toMatchObject({ phase: 'done' });

    // The world changes: edits, archived records, a stage change, new associated records, bad data.
    offset += 3_600_000;
    let seed = 5;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const s = emu.store;
    s.modifyRandom(12, rand);
    const deal = s.list('deals', false).find((d) => d.properties.dealstage !== 'closedwon' && d.properties.dealstage !== 'closedlost');
    expect(deal).toBeDefined();
    const dealId = deal?.id as string;
    s.update('deals', dealId, { dealstage: 'contractsent', amount: '4321.5' });
    const company = s.list('companies', false)[0]?.id as string;
    const contact = s.insert('contacts', { email: 'newcomer@late.example', firstname: 'New', lastname: 'Comer', lifecyclestage: 'lead', utm_source: 'linkedin', utm_medium: 'paid_social', hs_analytics_source: 'PAID_SOCIAL' });
    const newDeal = s.insert('deals', { dealname: 'Late deal', pipeline: 'default', dealstage: 'appointmentscheduled', amount: '990', deal_currency_code: 'EUR' });
    s.associate('deals', newDeal, 'contacts', contact);
    s.associate('deals', newDeal, 'companies', company);
    // A contact without deals, emails or forms (email events and form submissions name their
    // contact as of the read, and search cannot find an archived contact's address).
    const archivedContact = shortLived;
    s.delete('contacts', archivedContact);
    const lonelyDeal = s.list('deals', false).find((d) => d.id !== dealId && d.id !== newDeal)?.id as string;
    s.delete('deals', lonelyDeal);
    // A contact taken off a live deal (and the deal edited, so the incremental search sees it).
    const shared = s.list('deals', false).find((d) => d.id !== dealId && d.id !== newDeal && s.associations('deals', d.id, 'contacts').length > 0);
    expect(shared).toBeDefined();
    const sharedId = shared?.id as string;
    const removedContact = s.associations('deals', sharedId, 'contacts')[0] as string;
    s.dissociate('deals', sharedId, 'contacts', removedContact);
    s.update('deals', sharedId, { description: 'contact moved to another deal' });

    offset += 3_600_000;
    const second = await syncAll(a, settings(), 'incremental');
    for (const r of second) expect(r.status, `${r.stream}: ${r.error ?? ''}`).toBe('success');
    const readFirst = first.reduce((n, r) => n + r.counts.read, 0);
    const readSecond = second.reduce((n, r) => n + r.counts.read, 0);
    expect(readSecond).toBeGreaterThan(0);
    expect(readSecond).toBeLessThan(readFirst / 2);
    // Nothing changed since: a third run reads only the lookback and the recycle bin.
    offset += 3_600_000;
    const third = await syncAll(a, settings(), 'incremental');
    for (const r of third) expect(r.status).toBe('success');

    const b = await newWarehouse();
    const fresh = await syncAll(b, settings(), 'full');
    for (const r of fresh) expect(r.status, `${r.stream}: ${r.error ?? ''}`).toBe('success');
    const bridge = 'core.bridge_opportunity_person';
    const tables = [...HUBSPOT_RAW_TABLES, ...HUBSPOT_CORE_TABLES.filter((t) => t !== bridge)];
    expect(await hashTables(a, tables)).toEqual(await hashTables(b, tables));
    // The recycle bin returns an archived deal without associations, so a fresh sync has no bridge
    // rows for it while the incremental warehouse keeps its last ones (marts drop deleted deals):
    // the bridge is compared over live deals.
    expect(await liveBridge(a)).toEqual(await liveBridge(b));
    expect(await liveBridge(a)).toContainEqual({ opportunity_id: newDeal, person_id: contact, role: null });
    expect(await a.knex('core.bridge_opportunity_person').where({ opportunity_id: sharedId, person_id: removedContact }).first('is_deleted')).toEqual({ is_deleted: true });

    const opp = await a.knex('core.fct_opportunity').where({ opportunity_id: dealId }).first('stage', 'amount', 'currency');
    expect(opp?.stage).toBe('contractsent');
    expect(Number(opp?.amount)).toBe(4321.5);
    const history = await a.knex('core.fct_opportunity_stage_history').where({ opportunity_id: dealId }).orderBy('entered_at').pluck('stage');
    expect(history.at(-1)).toBe('contractsent');
    expect(history.length).toBeGreaterThan(1);
    const late = await a.knex('core.fct_opportunity').where({ opportunity_id: newDeal }).first('account_id', 'currency', 'amount');
    expect(late).toMatchObject({ account_id: company, currency: 'EUR' });
    expect(await a.knex('core.bridge_opportunity_person').where({ opportunity_id: newDeal }).pluck('person_id')).toEqual([contact]);
    expect(await a.knex('core.dim_person').where({ person_id: contact }).first('utm_source', 'original_source')).toEqual({ utm_source: 'linkedin', original_source: 'PAID_SOCIAL' });
    expect((await a.knex('core.dim_person').where({ person_id: archivedContact }).first('is_deleted'))?.is_deleted).toBe(true);
    expect((await a.knex('core.fct_opportunity').where({ opportunity_id: lonelyDeal }).first('is_deleted'))?.is_deleted).toBe(true);
    const raw = await a.knex('raw.hubspot__contacts').where({ record_id: archivedContact }).first('_deleted');
    expect(raw?._deleted).toBe(true);
    const touchTypes = await a.knex('core.fct_touchpoint').distinct('touch_type').pluck('touch_type');
    expect(touchTypes.sort()).toEqual(['email_click', 'email_send', 'form_fill', 'original_source']);
    // Amounts keep their currency: every deal with an amount has one.
    const missing = await a.knex('core.fct_opportunity').whereNotNull('amount').whereNull('currency').count('* as n');
    expect(Number((missing[0] as { n: string }).n)).toBe(0);
  });

  it('marks a purged contact and deal deleted on a --full run (deletes by absence); an incremental run cannot see them', async () => {
    const w = await newWarehouse();
    const conn = hsConnection(settings({ fullResyncEveryDays: 0 }), 'hs_purge');
    offset += 60_000;
    for (const name of ['contacts', 'deals']) expect((await syncHubSpot(w, conn, name, { now })).status).toBe('success');
    const contact = emu.store.insert('contacts', { email: 'gdpr@forget.example', firstname: 'Forget', lastname: 'Me', hs_analytics_source: 'DIRECT_TRAFFIC' });
    const deal = emu.store.insert('deals', { dealname: 'Gone deal', pipeline: 'default', dealstage: 'appointmentscheduled', amount: '10', deal_currency_code: 'EUR' });
    emu.store.associate('deals', deal, 'contacts', contact);
    offset += 60_000;
    for (const name of ['contacts', 'deals']) expect((await syncHubSpot(w, conn, name, { now })).status).toBe('success');
    expect(await w.knex('core.dim_person').where({ connection_id: conn.id, person_id: contact }).first('is_deleted', 'email')).toEqual({ is_deleted: false, email: 'gdpr@forget.example' });

    emu.store.purge('contacts', contact);
    emu.store.purge('deals', deal);
    offset += 60_000;
    for (const name of ['contacts', 'deals']) expect((await syncHubSpot(w, conn, name, { now })).status).toBe('success');
    expect((await w.knex('raw.hubspot__contacts').where({ connection_id: conn.id, record_id: contact }).first('_deleted'))?._deleted).toBe(false);

    offset += 60_000;
    for (const name of ['contacts', 'deals']) {
      const r = await syncHubSpot(w, conn, name, { now, mode: 'full' });
      expect(r.status, r.error).toBe('success');
      expect(r.warnings.join(' ')).toMatch(/1 record\(s\) stored earlier are neither live nor in the recycle bin/);
    }
    expect((await w.knex('raw.hubspot__contacts').where({ connection_id: conn.id, record_id: contact }).first('_deleted'))?._deleted).toBe(true);
    expect((await w.knex('raw.hubspot__deals').where({ connection_id: conn.id, record_id: deal }).first('_deleted'))?._deleted).toBe(true);
    expect(await w.knex('core.dim_person').where({ connection_id: conn.id, person_id: contact }).first('is_deleted', 'email')).toEqual({ is_deleted: true, email: null });
    expect(await w.knex('core.fct_touchpoint').where({ connection_id: conn.id, person_id: contact }).pluck('is_deleted')).toEqual([true]);
    expect((await w.knex('core.fct_opportunity').where({ connection_id: conn.id, opportunity_id: deal }).first('is_deleted'))?.is_deleted).toBe(true);
    expect(await w.knex('core.bridge_opportunity_person').where({ connection_id: conn.id, opportunity_id: deal }).pluck('is_deleted')).toEqual([true]);
    // Every other stored record is still live.
    const deletedContacts = await w.knex('raw.hubspot__contacts').where({ connection_id: conn.id, _deleted: true }).pluck('record_id');
    expect(deletedContacts.sort()).toEqual([contact, ...emu.store.list('contacts', true).map((o) => o.id)].sort());
  });

  it('quarantines a malformed record with its property path, keeps it in raw, and loads the rest', async () => {
    const w = await newWarehouse();
    offset += 60_000;
    const broken = emu.store.list('companies', false)[3]?.id as string;
    emu.store.malform('companies', broken);
    const r = await syncHubSpot(w, hsConnection(settings()), 'companies', { now });
    expect(r.status, r.error).toBe('success');
    expect(r.counts.quarantined).toBe(1);
    expect(r.counts.read).toBe(emu.store.list('companies', false).length + emu.store.list('companies', true).length);
    const q = await w.knex('meta.quarantine').where({ connection: 'hubspot', stream: 'companies', record_key: broken }).first('error_path', 'error_message');
    expect(q?.error_path).toBe('properties.numberofemployees');
    expect(q?.error_message).toMatch(/about fifty/);
    const raw = (await w.knex('raw.hubspot__companies').where({ record_id: broken }).first('payload')) as { payload: { properties: Record<string, unknown> } };
    expect(raw.payload.properties.numberofemployees).toBe('about fifty');
    expect(await w.knex('core.dim_account').where({ account_id: broken }).first()).toBeUndefined();
  });

  it('paces search to the per-second budget: back-to-back contact lookups get no 429', async () => {
    // HubSpot's own limits here: 5 searches per second, 100 requests per 10 seconds.
    const strict = createHubSpotEmulator(generateWorld({ seed: 7, scale: 'tiny', endDate: '2026-10-31' }));
    const srv = await startEmulatorServer({ routes: strict.routes });
    try {
      const w = await newWarehouse();
      const e = strict.env(srv.origin);
      const conn = hsConnection({ baseUrl: e.HUBSPOT_BASE_URL, accessToken: e.HUBSPOT_ACCESS_TOKEN, searchRequestsPerSecond: 4 });
      // One contacts search per form (7 forms in the tiny world) to resolve submitters.
      const r = await syncHubSpot(w, conn, 'form_submissions');
      expect(r.status, r.error).toBe('success');
      expect(srv.stats().routes['hubspot.search']?.requests).toBeGreaterThan(5);
      expect(strict.state.limiter.rejectedCount).toBe(0);
    } finally {
      await srv.close();
    }
  });

  it('refreshes an expired OAuth access token and rejects a misspelled extra property', async () => {
    const w = await newWarehouse();
    const oauth = settings({ accessToken: undefined, clientId: env.HUBSPOT_CLIENT_ID, clientSecret: env.HUBSPOT_CLIENT_SECRET, refreshToken: env.HUBSPOT_REFRESH_TOKEN });
    delete oauth.accessToken;
    const r1 = await syncHubSpot(w, hsConnection(oauth), 'companies', { now });
    expect(r1.status, r1.error).toBe('success');
    const bad = await syncHubSpot(w, hsConnection(settings({ extraProperties: { deals: ['hs_campaing'] } })), 'deals', { now });
    expect(bad.status).toBe('failed');
    expect(bad.error).toMatch(/extraProperties\.deals: property "hs_campaing" does not exist on deals/);
    expect(bad.pages).toBe(0);
    const good = await syncHubSpot(w, hsConnection(settings({ extraProperties: { deals: ['hs_campaign'] } })), 'deals', { now, mode: 'full' });
    expect(good.status, good.error).toBe('success');
  });
});

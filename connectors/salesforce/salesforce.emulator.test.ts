import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWorld } from '../../sandbox/world/index.ts';
import { startEmulatorServer, type EmulatorServer } from '../../sandbox/emulators/server.ts';
import { createSalesforceEmulator, type SalesforceEmulator } from '../../sandbox/emulators/salesforce/index.ts';
import { createTestWarehouse, tableHash } from '../../test/helpers/warehouse.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { salesforceConnector } from './index.ts';
import { ensureSalesforceRawTables, sfConnection, storedCheckpoint, syncStream } from './test-support.ts';

/**
 * Against the Salesforce emulator (REST query/queryAll/queryMore, describe, limits, OAuth with
 * refresh-token rotation, Bulk API 2.0), driven through jsforce, into real Postgres.
 */

type TestWarehouse = Warehouse & { drop(): Promise<void> };

const STREAMS = salesforceConnector.streams.map((s) => s.name);
const CORE_TABLES = [
  'core.fct_opportunity',
  'core.fct_opportunity_stage_history',
  'core.bridge_opportunity_person',
  'core.dim_account',
  'core.dim_person',
  'core.fct_touchpoint',
  'core.dim_campaign',
];

let clock = Date.parse('2026-11-05T00:00:00Z');
const now = () => new Date(clock);
let emu: SalesforceEmulator;
let server: EmulatorServer;
let env: Record<string, string>;
const warehouses: TestWarehouse[] = [];

async function newWarehouse(): Promise<TestWarehouse> {
  const w = await createTestWarehouse('postgres');
  await ensureSalesforceRawTables(w);
  warehouses.push(w);
  return w;
}

function settings(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    instanceUrl: env.SALESFORCE_INSTANCE_URL,
    loginUrl: env.SALESFORCE_LOGIN_URL,
    accessToken: env.SALESFORCE_ACCESS_TOKEN,
    refreshToken: env.SALESFORCE_REFRESH_TOKEN,
    clientId: env.SALESFORCE_CLIENT_ID,
    clientSecret: env.SALESFORCE_CLIENT_SECRET,
    apiVersion: env.SALESFORCE_API_VERSION,
    pageSize: 200,
    bulkPollIntervalMs: 0,
    retryBaseMs: 0,
    objects: { lead: { utmFields: { source: 'UTM_Source__c', medium: 'UTM_Medium__c', campaign: 'UTM_Campaign__c' } }, campaign: { extraFields: ['Platform__c'] } },
    ...extra,
  };
}

async function syncAll(warehouse: Warehouse, conn: ReturnType<typeof sfConnection>, mode: 'incremental' | 'full') {
  const results = [];
  for (const name of STREAMS) results.push(await syncStream(warehouse, conn, name, { mode, now }));
  return results;
}

async function hashes(warehouse: Warehouse, tables: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tables) out[t] = await tableHash(warehouse, t);
  return out;
}

const RAW_TABLES = STREAMS.map((s) => `raw.salesforce__${s}`);

beforeAll(async () => {
  const world = generateWorld({ seed: 11, scale: 'tiny', endDate: '2026-10-31' });
  emu = createSalesforceEmulator(world, { rotateRefreshTokens: true, now: () => clock });
  server = await startEmulatorServer({ routes: emu.routes });
  env = emu.env(server.origin);
});

afterAll(async () => {
  for (const w of warehouses) await w.drop();
  await server?.close();
});

describe('salesforce connector against the emulator', () => {
  it('full sync, then incremental syncs after changes, equals a fresh full sync (raw and core)', async () => {
    const a = await newWarehouse();
    const conn = sfConnection(settings());
    const first = await syncAll(a, conn, 'incremental');
    for (const r of first) expect(r.status, `${r.stream}: ${r.error ?? ''}`).toBe('success');
    // 473 campaign members: three REST pages of 200 through nextRecordsUrl.
    expect(first.find((r) => r.stream === 'campaign_member')?.pages).toBe(3);
    expect(first.find((r) => r.stream === 'campaign_member')?.counts.read).toBe(473);

    // The world changes: edits, deletes, a stage change (new OpportunityHistory), new records.
    clock += 3_600_000;
    let seed = 5;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    emu.store.modifyRandom(25, rand);
    emu.store.deleteRandom(8, rand);
    const opp = emu.store.all('Opportunity').find((o) => o.IsDeleted !== true && o.IsClosed !== true);
    expect(opp).toBeDefined();
    emu.store.update(String(opp?.Id), { StageName: 'Negotiation/Review', Amount: 4321.5 });
    emu.store.insert('Lead', { LastName: 'Newcomer', Company: 'Late Corp', Status: 'Open - Not Contacted', IsConverted: false, CurrencyIsoCode: 'EUR', UTM_Source__c: 'linkedin' });
    clock += 3_600_000;
    const second = await syncAll(a, conn, 'incremental');
    for (const r of second) expect(r.status, `${r.stream}: ${r.error ?? ''}`).toBe('success');
    // Incremental: far fewer records read than the first time.
    const readFirst = first.reduce((n, r) => n + r.counts.read, 0);
    const readSecond = second.reduce((n, r) => n + r.counts.read, 0);
    expect(readSecond).toBeLessThan(readFirst / 5);
    expect(readSecond).toBeGreaterThan(0);

    const b = await newWarehouse();
    const fresh = await syncAll(b, sfConnection(settings()), 'full');
    for (const r of fresh) expect(r.status).toBe('success');

    expect(await hashes(a, [...RAW_TABLES, ...CORE_TABLES])).toEqual(await hashes(b, [...RAW_TABLES, ...CORE_TABLES]));
    const deleted = (await a.knex('core.fct_opportunity').where({ is_deleted: true }).count('* as n')) as Array<{ n: string }>;
    const deletedLeads = (await a.knex('core.dim_person').where({ is_deleted: true, person_type: 'lead' }).count('* as n')) as Array<{ n: string }>;
    expect(Number(deleted[0]?.n) + Number(deletedLeads[0]?.n)).toBeGreaterThan(0);
    const newcomer = await a.knex('core.dim_person').where({ last_name: 'Newcomer' }).first('utm_source', 'person_type');
    expect(newcomer).toEqual({ utm_source: 'linkedin', person_type: 'lead' });
    const history = await a.knex('core.fct_opportunity_stage_history').where({ opportunity_id: String(opp?.Id), stage: 'Negotiation/Review' }).first('amount', 'currency');
    expect(Number(history?.amount)).toBe(4321.5);
  });

  it('reads large first syncs through Bulk API 2.0, page by page, to the same core rows as REST', async () => {
    const rest = await newWarehouse();
    await syncAll(rest, sfConnection(settings()), 'full');
    const bulk = await newWarehouse();
    const pagesByStream: Record<string, number> = {};
    const results = [];
    for (const name of STREAMS) {
      const r = await syncStream(bulk, sfConnection(settings({ bulkThreshold: 1, bulkPageSize: 100 })), name, { mode: 'full', now });
      pagesByStream[name] = r.pages;
      results.push(r);
    }
    for (const r of results) expect(r.status, `${r.stream}: ${r.error ?? ''}`).toBe('success');
    expect(pagesByStream.campaign_member).toBe(5); // 473 records, 100 per results set
    // Bulk CSV rows are stored in the REST query's JSON shape: `attributes`, `+0000` datetimes,
    // typed numbers/booleans, nulls; raw is the same whichever API read it.
    const payloadOf = async (w: Warehouse, id: unknown) =>
      ((await w.knex('raw.salesforce__opportunity').where({ record_id: String(id) }).first('payload')) as { payload: Record<string, unknown> }).payload;
    const opp = emu.store.all('Opportunity').find((o) => o.IsDeleted !== true && typeof o.Amount === 'number' && o.CampaignId === null);
    expect(opp).toBeDefined();
    const fromBulk = await payloadOf(bulk, opp?.Id);
    expect(fromBulk).toEqual(await payloadOf(rest, opp?.Id));
    expect(fromBulk).toMatchObject({
      attributes: { type: 'Opportunity', url: `/services/data/v${env.SALESFORCE_API_VERSION}/sobjects/Opportunity/${String(opp?.Id)}` },
      SystemModstamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$/),
      CloseDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      Amount: opp?.Amount,
      IsClosed: opp?.IsClosed,
      CampaignId: null,
    });
    expect(await hashes(bulk, [...RAW_TABLES, ...CORE_TABLES])).toEqual(await hashes(rest, [...RAW_TABLES, ...CORE_TABLES]));
    // After the bulk read, the next run is an incremental REST read from the stored cursor.
    const ckpt = (await storedCheckpoint(bulk, 'lead')) as { cursor: { ts: string } | null; bulk: unknown; lastFullSyncAt: string | null };
    expect(ckpt.bulk).toBeNull();
    expect(ckpt.cursor).not.toBeNull();
    expect(ckpt.lastFullSyncAt).toBe(now().toISOString());
    // REST reads after the Bulk first sync find every unchanged record unchanged in raw.
    for (const name of STREAMS) {
      const incremental = await syncStream(bulk, sfConnection(settings()), name, { now });
      expect(incremental.status, `${name}: ${incremental.error ?? ''}`).toBe('success');
      expect(incremental.counts, name).toMatchObject({ inserted: 0, updated: 0, quarantined: 0 });
      const reread = await syncStream(bulk, sfConnection(settings()), name, { mode: 'full', now });
      expect(reread.status, `${name}: ${reread.error ?? ''}`).toBe('success');
      expect(reread.counts.read, name).toBeGreaterThan(0);
      expect(reread.counts, name).toMatchObject({ inserted: 0, updated: 0, quarantined: 0, unchanged: reread.counts.read });
    }
  });

  it('refreshes an expired session with the rotated refresh token, twice in a row', async () => {
    const w = await newWarehouse();
    const conn = sfConnection(settings());
    emu.state.expireAccessToken(env.SALESFORCE_ACCESS_TOKEN as string);
    const r1 = await syncStream(w, conn, 'account', { now });
    expect(r1.status, r1.error).toBe('success');
    // The emulator rotated the refresh token: the configured one is revoked now.
    expect(emu.state.refreshTokens.has(env.SALESFORCE_REFRESH_TOKEN as string)).toBe(false);
    for (const t of [...emu.state.accessTokens]) emu.state.expireAccessToken(t);
    const r2 = await syncStream(w, conn, 'campaign', { now });
    expect(r2.status, r2.error).toBe('success');
  });

  it('rejects a misspelled extra field before reading, naming the object and the field', async () => {
    const w = await newWarehouse();
    const r = await syncStream(w, sfConnection(settings({ objects: { lead: { extraFields: ['UTM_Sourse__c'] } } })), 'lead', { now });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/objects\.lead\.extraFields: Lead has no field UTM_Sourse__c/);
    expect(r.pages).toBe(0);
  });

  it('stops with status partial before the configured share of the daily API limit', async () => {
    const w = await newWarehouse();
    const limited = createSalesforceEmulator(generateWorld({ seed: 11, scale: 'tiny', endDate: '2026-10-31' }), { dailyApiLimit: 10, now: () => clock });
    const srv = await startEmulatorServer({ routes: limited.routes });
    try {
      const e = limited.env(srv.origin);
      const conn = sfConnection({ instanceUrl: e.SALESFORCE_INSTANCE_URL, accessToken: e.SALESFORCE_ACCESS_TOKEN, pageSize: 200, apiUsageShare: 0.5 });
      const r = await syncStream(w, conn, 'campaign_member', { now });
      expect(r.status).toBe('partial');
      expect(r.error).toMatch(/daily API requests/);
      expect(r.pages).toBe(2); // limits, describe, count, page 1, page 2: 5 of 10 calls = the 50 % share
      // The checkpoint is the last stored page: its cursor is the newest lead stored.
      const ckpt = (await storedCheckpoint(w, 'campaign_member')) as { cursor: { ts: string; id: string } };
      const newest = (await w.knex('raw.salesforce__campaign_member').select(w.knex.raw("payload->>'Id' as id"), w.knex.raw("payload->>'SystemModstamp' as ts")))
        .map((x: { id: string; ts: string }) => ({ id: x.id, ts: new Date(x.ts.replace(/\+0000$/, 'Z')).toISOString() }))
        .sort((p: { ts: string; id: string }, q: { ts: string; id: string }) => (p.ts === q.ts ? (p.id < q.id ? -1 : 1) : p.ts < q.ts ? -1 : 1))
        .at(-1);
      expect(ckpt.cursor).toEqual(newest);
      expect(limited.state.apiUsage).toBe(5);
    } finally {
      await srv.close();
    }
  });
  it('loads the emulator org’s values into core: lead conversions, campaigns, campaign members, contact roles', async () => {
    // An org of its own: the tests above rotated the shared one's refresh token.
    const org = createSalesforceEmulator(generateWorld({ seed: 11, scale: 'tiny', endDate: '2026-10-31' }), { now: () => clock });
    const srv = await startEmulatorServer({ routes: org.routes });
    const w = await newWarehouse();
    try {
      const e = org.env(srv.origin);
      const conn = sfConnection({ ...settings(), instanceUrl: e.SALESFORCE_INSTANCE_URL, loginUrl: e.SALESFORCE_LOGIN_URL, accessToken: e.SALESFORCE_ACCESS_TOKEN, refreshToken: e.SALESFORCE_REFRESH_TOKEN }, 'sf_emu_mapping');
      for (const name of ['lead', 'campaign', 'campaign_member', 'opportunity_contact_role']) {
        const r = await syncStream(w, conn, name, { now });
        expect(r.status, `${name}: ${r.error ?? ''}`).toBe('success');
      }
    } finally {
      await srv.close();
    }
    const live = (object: Parameters<typeof org.store.all>[0]) => org.store.all(object).filter((r) => r.IsDeleted !== true);
    const instant = (v: unknown) => new Date(String(v).replace(/([+-]\d{2})(\d{2})$/, '$1:$2')).toISOString();
    const dayStart = (v: unknown) => (v ? `${String(v)}T00:00:00.000Z` : null);
    const iso = (col: string) => w.knex.raw(`to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${col}`);
    const byId = <T extends Record<string, unknown>>(rows: T[], key: string) => new Map(rows.map((r) => [String(r[key]), r]));

    const leads = live('Lead');
    expect(leads.some((l) => l.IsConverted === true)).toBe(true);
    const persons = byId(
      await w.knex('core.dim_person').where({ connection_id: 'sf_emu_mapping', person_type: 'lead' }).select('person_id', 'is_converted', iso('converted_at'), 'converted_contact_id', 'converted_account_id', 'converted_opportunity_id'),
      'person_id',
    );
    for (const l of leads) {
      expect(persons.get(String(l.Id)), String(l.Id)).toEqual({
        person_id: l.Id,
        is_converted: l.IsConverted,
        converted_at: dayStart(l.ConvertedDate),
        converted_contact_id: l.ConvertedContactId ?? null,
        converted_account_id: l.ConvertedAccountId ?? null,
        converted_opportunity_id: l.ConvertedOpportunityId ?? null,
      });
    }

    const campaigns = byId(
      await w.knex('core.dim_campaign').where({ connection_id: 'sf_emu_mapping' }).select('campaign_id', 'campaign_type', 'status', w.knex.raw('start_date::text AS start_date'), w.knex.raw('end_date::text AS end_date'), w.knex.raw('budgeted_cost::float8 AS budgeted_cost'), w.knex.raw('actual_cost::float8 AS actual_cost')),
      'campaign_id',
    );
    expect(live('Campaign').some((c) => typeof c.BudgetedCost === 'number')).toBe(true);
    for (const c of live('Campaign')) {
      expect(campaigns.get(String(c.Id)), String(c.Id)).toEqual({
        campaign_id: c.Id,
        campaign_type: c.Type ?? null,
        status: c.Status ?? null,
        start_date: c.StartDate ?? null,
        end_date: c.EndDate ?? null,
        budgeted_cost: c.BudgetedCost ?? null,
        actual_cost: c.ActualCost ?? null,
      });
    }

    const members = live('CampaignMember');
    expect(members.some((m) => m.HasResponded === true) && members.some((m) => m.HasResponded !== true)).toBe(true);
    const touches = byId(
      await w.knex('core.fct_touchpoint').where({ connection_id: 'sf_emu_mapping' }).select('touchpoint_id', 'person_id', 'campaign_id', 'status', 'responded', iso('occurred_at')),
      'touchpoint_id',
    );
    for (const m of members) {
      expect(touches.get(String(m.Id)), String(m.Id)).toEqual({
        touchpoint_id: m.Id,
        person_id: m.ContactId ?? m.LeadId,
        campaign_id: m.CampaignId,
        status: m.Status ?? null,
        responded: m.HasResponded ?? null,
        occurred_at: dayStart(m.FirstRespondedDate) ?? instant(m.CreatedDate),
      });
    }

    // Sorted here, not in SQL: ids are case-sensitive and the database collation may not be.
    const byPair = (a: Record<string, unknown>, b: Record<string, unknown>) => {
      const [x, y] = [`${String(a.opportunity_id)}:${String(a.person_id)}`, `${String(b.opportunity_id)}:${String(b.person_id)}`];
      return x < y ? -1 : x > y ? 1 : 0;
    };
    const roles = (await w.knex('core.bridge_opportunity_person').where({ connection_id: 'sf_emu_mapping', is_deleted: false }).select('opportunity_id', 'person_id', 'role', 'is_primary')).sort(byPair);
    const expected = live('OpportunityContactRole')
      .map((r) => ({ opportunity_id: r.OpportunityId, person_id: r.ContactId, role: r.Role ?? null, is_primary: r.IsPrimary === true }))
      .sort(byPair);
    expect(expected.some((r) => r.is_primary)).toBe(true);
    expect(roles).toEqual(expected);
  });
});

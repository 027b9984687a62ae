import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@hubspot/api-client';
import { FaultInjector } from '../faults.ts';
import { startEmulatorServer } from '../server.ts';
import type { EmulatorServer } from '../server.ts';
import { createHubSpotEmulator } from './index.ts';
import type { HubSpotEmulator } from './index.ts';

/** CRM v3 list response, example from developers.hubspot.com/docs/api/crm/contacts ("Retrieve
 * contacts"), one result kept. */
const DOC_LIST_EXAMPLE = {
  results: [
    {
      id: '512',
      properties: { createdate: '2019-10-30T03:30:17.883Z', email: 'bcooper@biglytics.net', firstname: 'Bryan', hs_object_id: '512', lastmodifieddate: '2019-12-07T16:50:06.678Z', lastname: 'Cooper' },
      createdAt: '2019-10-30T03:30:17.883Z',
      updatedAt: '2019-12-07T16:50:06.678Z',
      archived: false,
    },
  ],
  paging: { next: { after: '513', link: 'https://api.hubapi.com/crm/v3/objects/contacts?after=513' } },
};

/** CRM search response shape, developers.hubspot.com/docs/api/crm/search. */
const DOC_SEARCH_EXAMPLE = {
  total: 2,
  results: [{ id: '512', properties: { hs_object_id: '512' }, createdAt: '2019-10-30T03:30:17.883Z', updatedAt: '2019-12-07T16:50:06.678Z', archived: false }],
  paging: { next: { after: '1' } },
};

/** Legacy email events, developers.hubspot.com/docs/api-reference/legacy/email-analytics-v1/
 * events/get-email-public-v1-events: the fields every event type but UNBOUNCE carries. */
const DOC_EMAIL_EVENT_REQUIRED = ['appId', 'appName', 'created', 'emailCampaignId', 'id', 'portalId', 'recipient', 'type'];

/** Forms v1 submissions, developers.hubspot.com/docs/api-reference/legacy/marketing/forms/v1/
 * get-form-integrations-v1-submissions-forms-form_guid. */
const DOC_SUBMISSION_EXAMPLE = { conversionId: '<string>', submittedAt: 123, values: [{ name: '<string>', value: '<string>' }], pageUrl: '<string>' };

let clock = Date.parse('2025-03-01T00:00:00Z');
let server: EmulatorServer;
let emu: HubSpotEmulator;
let client: Client;
const contactIds: string[] = [];
const dealIds: string[] = [];

beforeAll(async () => {
  emu = createHubSpotEmulator(null, { now: () => clock, rateLimits: { perTenSeconds: 10_000, searchPerSecond: 10_000 } });
  const s = emu.store;
  const company = s.insert('companies', { name: 'Acme', domain: 'acme.example' });
  for (let i = 0; i < 250; i++) {
    clock += 60_000;
    contactIds.push(s.insert('contacts', { email: `p${i}@acme.example`, firstname: `P${i}`, lastname: 'Doe', lifecyclestage: 'lead' }));
  }
  for (let i = 0; i < 5; i++) {
    clock += 60_000;
    const id = s.insert('deals', { dealname: `Deal ${i}`, dealstage: 'appointmentscheduled', pipeline: 'default', amount: '1000' });
    dealIds.push(id);
    s.associate('deals', id, 'companies', company);
    s.associate('deals', id, 'contacts', contactIds[i] as string);
  }
  clock += 60_000;
  s.update('deals', dealIds[0] as string, { dealstage: 'qualifiedtobuy' });
  clock += 60_000;
  s.update('deals', dealIds[0] as string, { dealstage: 'closedwon' });
  s.emailEvents.push(
    { id: 'e1', type: 'SENT', created: 1000, recipient: 'p1@acme.example', emailCampaignId: 42 },
    { id: 'e2', type: 'CLICK', created: 3000, recipient: 'p1@acme.example', emailCampaignId: 42, url: 'https://www.example.com/?utm_source=hubspot' },
    { id: 'e3', type: 'OPEN', created: 2000, recipient: 'p1@acme.example', emailCampaignId: 42 },
  );
  s.forms.push({ id: '0b9a4f2c-1111-4222-8333-444455556666', name: 'Demo', createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z' });
  s.submissions.set(
    '0b9a4f2c-1111-4222-8333-444455556666',
    Array.from({ length: 7 }, (_, i) => ({ conversionId: `c${i}`, submittedAt: 1000 + i, values: [{ name: 'email', value: `p${i}@acme.example` }], pageUrl: `https://www.example.com/demo?utm_source=google&utm_medium=cpc&utm_campaign=c${i}` })),
  );
  server = await startEmulatorServer({ routes: emu.routes });
  const env = emu.env(server.origin);
  client = new Client({ accessToken: env['HUBSPOT_ACCESS_TOKEN'], basePath: env['HUBSPOT_BASE_URL'] });
});

afterAll(async () => {
  await server.close();
});

describe('HubSpot emulator via @hubspot/api-client', () => {
  it('lists contacts with the documented shape and pages with after', async () => {
    const res = await fetch(`${server.origin}/crm/v3/objects/contacts?limit=100`, { headers: { authorization: `Bearer ${emu.state.initialAccessToken}` } });
    const body = (await res.json()) as typeof DOC_LIST_EXAMPLE;
    expect(Object.keys(body).sort()).toEqual(Object.keys(DOC_LIST_EXAMPLE).sort());
    expect(Object.keys(body.results[0] ?? {}).sort()).toEqual(Object.keys(DOC_LIST_EXAMPLE.results[0] ?? {}).sort());
    expect(Object.keys(body.results[0]?.properties ?? {}).sort()).toEqual(Object.keys(DOC_LIST_EXAMPLE.results[0]?.properties ?? {}).sort());
    expect(res.headers.get('x-hubspot-ratelimit-max')).toBe('10000');

    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await client.crm.contacts.basicApi.getPage(100, after, ['email', 'lifecyclestage']);
      for (const r of page.results) {
        seen.push(r.id);
        expect(typeof r.properties['email']).toBe('string');
      }
      after = page.paging?.next?.after;
    } while (after);
    expect(seen).toEqual(contactIds);
  });

  it('reads a deal with stage history and associations, and batch-reads', async () => {
    const deal = await client.crm.deals.basicApi.getById(dealIds[0] as string, ['dealstage', 'amount'], ['dealstage'], ['contacts', 'companies']);
    expect(deal.properties['dealstage']).toBe('closedwon');
    expect(deal.propertiesWithHistory?.['dealstage']?.map((h) => h.value)).toEqual(['closedwon', 'qualifiedtobuy', 'appointmentscheduled']);
    expect(deal.associations?.['contacts']?.results.map((a) => a.id)).toEqual([contactIds[0]]);
    expect(deal.associations?.['contacts']?.results[0]?.type).toBe('deal_to_contact');
    const batch = await client.crm.deals.batchApi.read({ inputs: dealIds.slice(0, 3).map((id) => ({ id })), properties: ['dealname'], propertiesWithHistory: [] });
    expect(batch.results.map((r) => r.id).sort()).toEqual(dealIds.slice(0, 3).sort());
    expect(batch.results[0]?.properties['dealname']).toMatch(/^Deal /);
  });

  it('searches by hs_lastmodifieddate window with sorts and after, without associations', async () => {
    const since = String(Date.parse('2025-03-01T01:00:00Z'));
    const first = await client.crm.contacts.searchApi.doSearch({
      filterGroups: [{ filters: [{ propertyName: 'lastmodifieddate', operator: 'GTE' as never, value: since }] }],
      sorts: ['lastmodifieddate'],
      properties: ['email', 'lastmodifieddate'],
      limit: 200,
      after: '0',
    });
    // contact i was created at 00:00 + (i+1) minutes; >= 01:00 means i >= 59.
    expect(first.total).toBe(250 - 59);
    expect(first.results).toHaveLength(191);
    expect(first.results[0]?.id).toBe(contactIds[59]);
    expect(first.results[0] && 'associations' in first.results[0]).toBe(false);
    expect(first.paging).toBeUndefined();
    const raw = await fetch(`${server.origin}/crm/v3/objects/contacts/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.state.initialAccessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ filterGroups: [{ filters: [{ propertyName: 'hs_object_id', operator: 'BETWEEN', value: contactIds[0], highValue: contactIds[9] }] }], properties: ['hs_object_id'], limit: 5 }),
    });
    const body = (await raw.json()) as typeof DOC_SEARCH_EXAMPLE;
    expect(Object.keys(body).sort()).toEqual(Object.keys(DOC_SEARCH_EXAMPLE).sort());
    expect(body.total).toBe(10);
    // Search never returns associations, even for objects that have some (deals 0..4 do).
    const dealSearch = await fetch(`${server.origin}/crm/v3/objects/deals/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.state.initialAccessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ limit: 5 }),
    });
    const deals = (await dealSearch.json()) as { results: Record<string, unknown>[] };
    expect(deals.results).toHaveLength(5);
    for (const r of deals.results) expect(Object.keys(r).sort()).toEqual(['archived', 'createdAt', 'id', 'properties', 'updatedAt']);
    expect(body.paging.next.after).toBe('5');
  });

  it('refuses to page a search past 10,000 results with a 400', async () => {
    await expect(
      client.crm.contacts.searchApi.doSearch({ filterGroups: [], sorts: [], properties: [], limit: 100, after: '10000' }),
    ).rejects.toMatchObject({ code: 400 });
    const ok = await client.crm.contacts.searchApi.doSearch({ filterGroups: [], sorts: [], properties: [], limit: 100, after: '9900' });
    expect(ok.results).toHaveLength(0);
  });

  it('reads associations through the v4 batch endpoint', async () => {
    const res = await client.crm.associations.v4.batchApi.getPage('deals', 'contacts', { inputs: dealIds.map((id) => ({ id })) });
    expect(res.results).toHaveLength(5);
    const first = res.results.find((r) => r._from.id === dealIds[1]);
    expect(String(first?.to[0]?.toObjectId)).toBe(contactIds[1]);
    expect(first?.to[0]?.associationTypes[0]).toMatchObject({ category: 'HUBSPOT_DEFINED', typeId: 3 });
  });

  it('serves the deal pipeline and property definitions', async () => {
    const pipelines = await client.crm.pipelines.pipelinesApi.getAll('deals');
    expect(pipelines.results[0]?.id).toBe('default');
    expect(pipelines.results[0]?.stages.map((s) => s.id)).toContain('closedwon');
    const props = await client.crm.properties.coreApi.getAll('deals');
    expect(props.results.find((p) => p.name === 'closedate')?.type).toBe('datetime');
  });

  it('puts archived objects in the recycle bin', async () => {
    emu.store.delete('contacts', contactIds[3] as string);
    const archived = await client.crm.contacts.basicApi.getPage(100, undefined, undefined, undefined, undefined, true);
    expect(archived.results.map((r) => r.id)).toEqual([contactIds[3]]);
    expect(archived.results[0]?.archived).toBe(true);
    const live = await client.crm.contacts.basicApi.getPage(100);
    expect(live.results.map((r) => r.id)).not.toContain(contactIds[3]);
  });

  it('purges an object for good: neither live nor in the recycle bin, and off its associations', async () => {
    const purged = contactIds[4] as string;
    expect(emu.store.associations('contacts', purged, 'deals').length).toBeGreaterThan(0);
    emu.store.purge('contacts', purged);
    const live = await client.crm.contacts.basicApi.getPage(100);
    const archived = await client.crm.contacts.basicApi.getPage(100, undefined, undefined, undefined, undefined, true);
    expect([...live.results, ...archived.results].map((r) => r.id)).not.toContain(purged);
    expect(dealIds.flatMap((d) => emu.store.associations('deals', d, 'contacts'))).not.toContain(purged);
    expect(() => emu.store.purge('contacts', purged)).toThrow(/not found|unknown|no /i);
  });

  it('pages email events by offset and form submissions by after', async () => {
    const page1 = await (await client.apiRequest({ method: 'GET', path: '/email/public/v1/events', qs: { limit: 2 } })).json() as { events: { type: string; created: number; url?: string }[]; hasMore: boolean; offset: string };
    expect(Object.keys(page1).sort()).toEqual(['events', 'hasMore', 'offset']);
    for (const e of page1.events) expect(Object.keys(e)).toEqual(expect.arrayContaining(DOC_EMAIL_EVENT_REQUIRED));
    expect(page1.events.map((e) => e.type)).toEqual(['CLICK', 'OPEN']);
    expect(page1.events[0]?.url).toContain('utm_source=hubspot');
    expect(page1.hasMore).toBe(true);
    const page2 = await (await client.apiRequest({ method: 'GET', path: '/email/public/v1/events', qs: { limit: 2, offset: page1.offset } })).json() as { events: { type: string }[]; hasMore: boolean };
    expect(page2.events.map((e) => e.type)).toEqual(['SENT']);
    expect(page2.hasMore).toBe(false);

    const forms = await (await client.apiRequest({ method: 'GET', path: '/marketing/v3/forms' })).json() as { results: { id: string }[] };
    const guid = forms.results[0]?.id as string;
    const all: { conversionId: string; pageUrl: string }[] = [];
    let after: string | undefined;
    do {
      const res = await (await client.apiRequest({ method: 'GET', path: `/form-integrations/v1/submissions/forms/${guid}`, qs: { limit: 3, ...(after ? { after } : {}) } })).json() as { results: { conversionId: string; pageUrl: string }[]; paging?: { next: { after: string } } };
      expect(Object.keys(res.results[0] ?? {}).sort()).toEqual(Object.keys(DOC_SUBMISSION_EXAMPLE).sort());
      all.push(...res.results);
      after = res.paging?.next.after;
    } while (after);
    expect(all.map((s) => s.conversionId)).toEqual(['c6', 'c5', 'c4', 'c3', 'c2', 'c1', 'c0']);
    expect(all[0]?.pageUrl).toContain('utm_campaign=c6');
  });
});

describe('HubSpot data changes during a paged search', () => {
  it('re-evaluates each search page, so a mid-read modification makes an offset pager skip a record', async () => {
    let now = Date.parse('2025-01-01T00:00:00Z');
    const hs = createHubSpotEmulator(null, { now: () => now });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      now += 1000;
      ids.push(hs.store.insert('deals', { dealname: `D${i}` }));
    }
    const srv = await startEmulatorServer({ routes: hs.routes });
    try {
      now += 1000;
      // After page 1 (D0, D1), the already-served D1 is modified and moves to the end of the sort
      // order, so everything behind it shifts one place towards the served range.
      hs.store.afterPage(1, () => hs.store.update('deals', ids[1] as string, { dealname: 'D1 changed' }), 'search');
      const c = new Client({ accessToken: hs.state.initialAccessToken, basePath: srv.origin });
      const seen: string[] = [];
      let after: string | undefined = '0';
      while (after !== undefined) {
        const page = await c.crm.deals.searchApi.doSearch({ filterGroups: [], sorts: ['hs_lastmodifieddate'], properties: ['dealname'], limit: 2, after });
        seen.push(...page.results.map((r) => r.properties['dealname'] ?? ''));
        after = page.paging?.next?.after;
      }
      // D2 slid into the already-served offset range and is never seen.
      expect(seen).toEqual(['D0', 'D1', 'D3', 'D4', 'D5', 'D1 changed']);
    } finally {
      await srv.close();
    }
  });
});

describe('HubSpot rate limits', () => {
  it('answers 429 with HubSpot headers past the 10-second and the search budgets', async () => {
    let now = 1_000_000;
    const rl = createHubSpotEmulator(null, { now: () => now, rateLimits: { perTenSeconds: 3, searchPerSecond: 1 } });
    const srv = await startEmulatorServer({ routes: rl.routes });
    try {
      const get = () => fetch(`${srv.origin}/crm/v3/objects/deals`, { headers: { authorization: `Bearer ${rl.state.initialAccessToken}` } });
      const search = () => fetch(`${srv.origin}/crm/v3/objects/deals/search`, { method: 'POST', headers: { authorization: `Bearer ${rl.state.initialAccessToken}`, 'content-type': 'application/json' }, body: '{}' });
      expect((await get()).headers.get('x-hubspot-ratelimit-remaining')).toBe('2');
      expect((await search()).status).toBe(200);
      expect((await search()).status).toBe(429); // second search within the same second
      const third = await get();
      expect(third.status).toBe(200);
      expect(third.headers.get('x-hubspot-ratelimit-remaining')).toBe('0');
      const limited = await get();
      expect(limited.status).toBe(429);
      expect(limited.headers.get('x-hubspot-ratelimit-max')).toBe('3');
      expect(limited.headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('10000');
      expect(limited.headers.get('x-hubspot-ratelimit-daily')).toBe('250000');
      expect(await limited.json()).toMatchObject({ status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' });
      now += 10_000;
      expect((await get()).status).toBe(200);
    } finally {
      await srv.close();
    }
  });
});

describe('HubSpot token expiry', () => {
  it('answers EXPIRED_AUTHENTICATION for an expired token and accepts the refreshed one', async () => {
    const hs = createHubSpotEmulator(null);
    hs.store.insert('companies', { name: 'Acme' });
    const srv = await startEmulatorServer({ routes: hs.routes, faults: new FaultInjector('hubspot.list:expired_token@first=1') });
    try {
      const env = hs.env(srv.origin);
      const c = new Client({ accessToken: env['HUBSPOT_ACCESS_TOKEN'], basePath: srv.origin });
      await expect(c.crm.companies.basicApi.getPage(10)).rejects.toMatchObject({ code: 401, body: { category: 'EXPIRED_AUTHENTICATION' } });
      const token = await c.oauth.tokensApi.create('refresh_token', undefined, undefined, env['HUBSPOT_CLIENT_ID'], env['HUBSPOT_CLIENT_SECRET'], env['HUBSPOT_REFRESH_TOKEN']);
      expect(token.accessToken).not.toBe(env['HUBSPOT_ACCESS_TOKEN']);
      c.setAccessToken(token.accessToken);
      const page = await c.crm.companies.basicApi.getPage(10);
      expect(page.results).toHaveLength(1);
      await expect(c.oauth.tokensApi.create('refresh_token', undefined, undefined, env['HUBSPOT_CLIENT_ID'], env['HUBSPOT_CLIENT_SECRET'], 'bogus')).rejects.toMatchObject({ code: 400 });
    } finally {
      await srv.close();
    }
  });
});

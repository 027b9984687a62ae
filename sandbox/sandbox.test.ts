import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox } from './index.ts';
import type { Sandbox } from './index.ts';

let sb: Sandbox;

beforeAll(async () => {
  sb = await startSandbox({ seed: 42, scale: 'tiny', faults: 'seed=9;salesforce:delete=2;hubspot:malform=1' });
});

afterAll(async () => {
  await sb.stop();
});

describe('startSandbox', () => {
  it('exposes env for both CRMs with tokens the emulators accept', async () => {
    for (const name of ['SALESFORCE_INSTANCE_URL', 'SALESFORCE_LOGIN_URL', 'SALESFORCE_ACCESS_TOKEN', 'SALESFORCE_REFRESH_TOKEN', 'SALESFORCE_CLIENT_ID', 'SALESFORCE_CLIENT_SECRET', 'SALESFORCE_API_VERSION', 'HUBSPOT_BASE_URL', 'HUBSPOT_ACCESS_TOKEN']) {
      expect(sb.env[name], name).toBeTruthy();
    }
    expect(sb.env['SALESFORCE_INSTANCE_URL']).toBe(sb.url);
    const sf = await fetch(`${sb.url}/services/data/v${sb.env['SALESFORCE_API_VERSION']}/limits`, { headers: { authorization: `Bearer ${sb.env['SALESFORCE_ACCESS_TOKEN']}` } });
    expect(sf.status).toBe(200);
    const hs = await fetch(`${sb.env['HUBSPOT_BASE_URL']}/crm/v3/objects/deals?limit=1`, { headers: { authorization: `Bearer ${sb.env['HUBSPOT_ACCESS_TOKEN']}` } });
    expect(hs.status).toBe(200);
  });

  it('projects every Salesforce person to a Lead and converted ones to Contacts, Accounts and roles', () => {
    const sf = sb.stores.salesforce;
    const people = [...sb.world.people()].filter((p) => p.crm === 'salesforce');
    const leads = new Map(sf.all('Lead').map((l) => [l['Id'], l]));
    expect(leads.size).toBe(people.length);
    const touched = new Set(sb.dataFaultsApplied.flatMap((d) => d.ids));
    for (const p of people) {
      if (touched.has(p.crmId)) continue;
      const lead = leads.get(p.crmId);
      expect(lead?.['Email']).toBe(p.email);
      expect(lead?.['UTM_Source__c']).toBe(p.touchpoints[0]?.utm_source);
      if (p.sfContactId && p.convertedAt) {
        expect(lead?.['IsConverted']).toBe(true);
        expect(lead?.['ConvertedContactId']).toBe(p.sfContactId);
        expect(sf.get(p.sfContactId)?.['AccountId']).toBe(lead?.['ConvertedAccountId']);
        expect(sf.get(String(lead?.['ConvertedAccountId']))).toBeDefined();
      } else {
        expect(lead?.['IsConverted']).toBe(false);
      }
    }
    const opps = [...sb.world.opportunities()].filter((o) => o.crm === 'salesforce');
    expect(sf.all('Opportunity')).toHaveLength(opps.length);
    expect(sf.all('OpportunityHistory')).toHaveLength(opps.reduce((n, o) => n + o.stageHistory.length, 0));
    for (const r of sf.all('OpportunityContactRole')) expect(String(r['ContactId'])).toMatch(/^003/);
  });

  it('has one CampaignMember per person x campaign, covering every touch', () => {
    const sf = sb.stores.salesforce;
    const members = sf.all('CampaignMember');
    const keys = members.map((m) => `${String(m['LeadId'])}|${String(m['CampaignId'])}`);
    expect(new Set(keys).size).toBe(keys.length);
    const campaigns = new Map(sf.all('Campaign').map((c) => [c['Id'], c]));
    for (const m of members) {
      expect(String(m['Id'])).toMatch(/^00v[0-9A-Za-z]{15}$/);
      expect(campaigns.has(m['CampaignId'] ?? null)).toBe(true);
    }
    // Every campaign-less touch of a Salesforce person lands in a catch-all web campaign whose
    // UTM fields carry its source/medium/campaign.
    const webKeys = new Set(
      [...campaigns.values()].filter((c) => String(c['Name']).startsWith('Website - ')).map((c) => `${String(c['UTM_Source__c'])}|${String(c['UTM_Medium__c'])}|${String(c['UTM_Campaign__c'])}`),
    );
    for (const p of sb.world.people()) {
      if (p.crm !== 'salesforce') continue;
      for (const t of p.touchpoints) if (t.campaignIndex === undefined) expect(webKeys.has(`${t.utm_source}|${t.utm_medium}|${t.utm_campaign}`)).toBe(true);
    }
  });

  it('projects HubSpot contacts, deals with stage history and associations, email events and forms', () => {
    const hs = sb.stores.hubspot;
    const people = [...sb.world.people()].filter((p) => p.crm === 'hubspot');
    expect(hs.list('contacts', false)).toHaveLength(people.length);
    const deals = [...sb.world.opportunities()].filter((o) => o.crm === 'hubspot');
    const malformed = new Set(sb.dataFaultsApplied.flatMap((d) => d.ids));
    for (const o of deals) {
      if (malformed.has(o.crmId)) continue;
      const d = hs.get('deals', o.crmId);
      expect(d?.properties['dealstage']).toBe(o.stage);
      expect(d?.history['dealstage']?.map((h) => h.value)).toEqual(o.stageHistory.map((s) => s.stage));
      expect(d?.properties['pipeline']).toBe('default');
      expect(hs.associations('deals', o.crmId, 'contacts').length).toBeGreaterThan(0);
    }
    for (const c of hs.list('contacts', false)) {
      for (const v of Object.values(c.properties)) expect(v === null || typeof v === 'string').toBe(true);
    }
    const sends = [...sb.world.emailSends()];
    expect(hs.emailEvents.filter((e) => e.type === 'SENT')).toHaveLength(sends.length);
    const fills = people.flatMap((p) => p.touchpoints.filter((t) => t.kind === 'form_fill'));
    const submissions = [...hs.submissions.values()].flat();
    expect(submissions).toHaveLength(fills.length);
    expect(submissions.some((s) => s.pageUrl.includes('utm_source='))).toBe(true);
  });

  it('applies data faults from the spec deterministically', async () => {
    expect(sb.dataFaultsApplied.map((d) => [d.rule.fault, d.ids.length])).toEqual([
      ['delete', 2],
      ['malform', 1],
    ]);
    for (const id of sb.dataFaultsApplied[0]?.ids ?? []) expect(sb.stores.salesforce.get(id)?.['IsDeleted']).toBe(true);
    const again = await startSandbox({ seed: 42, scale: 'tiny', faults: 'seed=9;salesforce:delete=2;hubspot:malform=1' });
    try {
      expect(again.dataFaultsApplied).toEqual(sb.dataFaultsApplied);
    } finally {
      await again.stop();
    }
  });
});

/**
 * Projects the synthetic world onto a Salesforce org:
 *  - every Salesforce person is a Lead (first-touch UTMs in UTM_*__c); converted people are also
 *    Contacts of an Account, with the Lead's conversion fields pointing at them and at the
 *    opportunity the person is primary on;
 *  - every world campaign gets a mirroring Salesforce Campaign (Salesforce-native campaigns keep
 *    their world id); campaign-less web traffic goes to catch-all 'Website - ...' campaigns;
 *  - one CampaignMember per person x campaign (FirstRespondedDate = first touch);
 *  - Opportunities with OpportunityHistory (one row per stage change) and OpportunityContactRoles.
 */
import type { Campaign, Channel, Person, Touchpoint, World } from '../../world/types.ts';
import { makeSfId } from './ids.ts';
import { sfDateTime } from './schema.ts';
import type { SalesforceStore, SfRecord } from './store.ts';

/** Stage -> default Probability, as in a default Salesforce sales process. */
const STAGE_PROBABILITY: Record<string, number> = {
  Prospecting: 10,
  Qualification: 20,
  Proposal: 60,
  Negotiation: 80,
  'Closed Won': 100,
  'Closed Lost': 0,
};

const CAMPAIGN_TYPE: Record<Channel, string> = {
  'Paid Search': 'Advertisement',
  'Paid Social': 'Advertisement',
  Display: 'Banner Ads',
  Email: 'Email',
  Events: 'Conference',
  'Organic Search': 'Other',
  Referral: 'Other',
  Direct: 'Other',
};

function dateOf(iso: string): string {
  return iso.slice(0, 10);
}

function stamps(createdIso: string, modifiedIso?: string): SfRecord {
  const created = sfDateTime(createdIso);
  const modified = sfDateTime(modifiedIso ?? createdIso);
  return { CreatedDate: created, LastModifiedDate: modified, SystemModstamp: modified };
}

function campaignStatus(c: Campaign): string {
  if (c.sfStatus) return c.sfStatus;
  if (c.status === 'ENABLED') return 'In Progress';
  if (c.status === 'PAUSED') return 'Aborted';
  return 'Completed';
}

/** Loads the world into the store. Deterministic: ids of mirror objects derive from world order. */
export function projectWorldToSalesforce(world: World, store: SalesforceStore): void {
  const worldEnd = `${world.endDate}T23:59:59.000Z`;

  // Campaigns mirroring every world campaign.
  const sfCampaignOf = new Map<number, string>();
  const sfCampaignOfWorldId = new Map<string, string>();
  const actualCost = new Map<number, number>();
  for (const day of world.adDaily()) {
    actualCost.set(day.campaignIndex, (actualCost.get(day.campaignIndex) ?? 0) + day.spendMicros);
  }
  for (const c of world.campaigns) {
    const id = c.platform === 'salesforce' ? c.id : makeSfId('701', 1 + c.index);
    sfCampaignOf.set(c.index, id);
    sfCampaignOfWorldId.set(c.id, id);
    const spend = actualCost.get(c.index);
    const created = `${c.startDate}T00:00:00.000Z`;
    store.load('Campaign', {
      Id: id,
      Name: c.name,
      Type: c.sfType ?? CAMPAIGN_TYPE[c.channel],
      Status: campaignStatus(c),
      StartDate: c.startDate,
      EndDate: c.endDate,
      BudgetedCost: c.budgetedCostCents !== undefined ? c.budgetedCostCents / 100 : null,
      ActualCost: c.actualCostCents !== undefined ? c.actualCostCents / 100 : spend !== undefined ? Math.round(spend / 10_000) / 100 : null,
      IsActive: c.status === 'ENABLED',
      CurrencyIsoCode: c.currency,
      UTM_Source__c: c.utmSource,
      UTM_Medium__c: c.utmMedium,
      UTM_Campaign__c: c.utmCampaign,
      Platform__c: c.platform,
      Platform_Campaign_Id__c: c.id,
      ...stamps(created),
    });
  }

  // Catch-all web campaigns, one per (source, medium, campaign) of campaign-less touches.
  const webCampaigns = new Map<string, string>();
  let webCounter = 0;
  const webCampaignFor = (t: Touchpoint): string => {
    const key = `${t.utm_source}|${t.utm_medium}|${t.utm_campaign}`;
    let id = webCampaigns.get(key);
    if (!id) {
      id = makeSfId('701', 900_000 + ++webCounter);
      webCampaigns.set(key, id);
      store.load('Campaign', {
        Id: id,
        Name: `Website - ${t.channel} - ${t.utm_source}`,
        Type: 'Other',
        Status: 'In Progress',
        StartDate: world.startDate,
        EndDate: null,
        BudgetedCost: null,
        ActualCost: null,
        IsActive: true,
        CurrencyIsoCode: 'USD',
        UTM_Source__c: t.utm_source,
        UTM_Medium__c: t.utm_medium,
        UTM_Campaign__c: t.utm_campaign,
        Platform__c: 'web',
        Platform_Campaign_Id__c: null,
        ...stamps(`${world.startDate}T00:00:00.000Z`),
      });
    }
    return id;
  };

  // People: Leads, Contacts; remember who converted to build Accounts.
  const people = new Map<string, Person>();
  const convertedAccounts = new Map<number, string>();
  const primaryOppOf = new Map<string, string>();
  for (const o of world.opportunities()) {
    if (o.crm === 'salesforce') primaryOppOf.set(o.primaryPersonId, o.crmId);
  }
  const accountCrmId = new Map<number, string>();
  const accountsByIndex = new Map<number, { name: string; currency: string }>();
  for (const a of world.accounts()) {
    if (a.crm !== 'salesforce') continue;
    accountCrmId.set(a.index, a.crmId);
    accountsByIndex.set(a.index, { name: a.name, currency: a.currency });
  }
  let memberCounter = 0;
  for (const p of world.people()) {
    if (p.crm !== 'salesforce') continue;
    people.set(p.id, p);
    const account = accountsByIndex.get(p.accountIndex);
    const first = p.touchpoints[0];
    const converted = p.sfContactId !== undefined && p.convertedAt !== undefined;
    const accountId = accountCrmId.get(p.accountIndex) ?? null;
    if (converted && p.convertedAt) {
      const prev = convertedAccounts.get(p.accountIndex);
      if (!prev || p.convertedAt < prev) convertedAccounts.set(p.accountIndex, p.convertedAt);
    }
    const status = converted ? 'Closed - Converted' : p.lifecycle.sqlAt ? 'Qualified' : p.lifecycle.mqlAt ? 'Working - Contacted' : 'Open - Not Contacted';
    const lastChange = [p.lifecycle.leadAt, p.lifecycle.mqlAt, p.lifecycle.sqlAt, p.convertedAt].filter((x): x is string => x !== undefined && x <= worldEnd).sort().at(-1);
    store.load('Lead', {
      Id: p.crmId,
      FirstName: p.firstName,
      LastName: p.lastName,
      Company: account?.name ?? 'Unknown',
      Email: p.email,
      Title: p.title,
      Status: status,
      LeadSource: p.leadSource,
      IsConverted: converted,
      ConvertedDate: converted && p.convertedAt ? dateOf(p.convertedAt) : null,
      ConvertedContactId: converted ? (p.sfContactId ?? null) : null,
      ConvertedAccountId: converted ? accountId : null,
      ConvertedOpportunityId: converted ? (primaryOppOf.get(p.id) ?? null) : null,
      CurrencyIsoCode: account?.currency ?? 'USD',
      UTM_Source__c: first?.utm_source ?? null,
      UTM_Medium__c: first?.utm_medium ?? null,
      UTM_Campaign__c: first?.utm_campaign ?? null,
      ...stamps(p.lifecycle.leadAt, lastChange),
    });
    if (converted && p.sfContactId && p.convertedAt) {
      store.load('Contact', {
        Id: p.sfContactId,
        AccountId: accountId,
        FirstName: p.firstName,
        LastName: p.lastName,
        Email: p.email,
        Title: p.title,
        LeadSource: p.leadSource,
        CurrencyIsoCode: account?.currency ?? 'USD',
        ...stamps(p.convertedAt),
      });
    }

    // Campaign members: one per person x campaign.
    const byCampaign = new Map<string, Touchpoint[]>();
    for (const t of p.touchpoints) {
      const cid = t.campaignIndex !== undefined ? sfCampaignOf.get(t.campaignIndex) : webCampaignFor(t);
      if (!cid) continue;
      const list = byCampaign.get(cid) ?? [];
      list.push(t);
      byCampaign.set(cid, list);
    }
    for (const [cid, touches] of byCampaign) {
      const firstTouch = touches[0] as Touchpoint;
      const lastTouch = touches[touches.length - 1] as Touchpoint;
      // Salesforce cannot hold a member before the lead exists; the first response date keeps
      // the true first-touch date.
      const created = firstTouch.at > p.lifecycle.leadAt ? firstTouch.at : p.lifecycle.leadAt;
      const modified = lastTouch.at > created ? lastTouch.at : created;
      store.load('CampaignMember', {
        Id: makeSfId('00v', ++memberCounter),
        CampaignId: cid,
        LeadId: p.crmId,
        ContactId: converted && p.convertedAt && p.convertedAt <= modified ? (p.sfContactId ?? null) : null,
        Status: 'Responded',
        HasResponded: true,
        FirstRespondedDate: firstTouch.date,
        CurrencyIsoCode: account?.currency ?? 'USD',
        ...stamps(created, modified),
      });
    }
  }

  // Event/webinar members from the world (registration/attendance statuses) override or add.
  const memberIndex = new Map<string, SfRecord>();
  for (const m of store.all('CampaignMember')) memberIndex.set(`${String(m['CampaignId'])}|${String(m['LeadId'])}`, m);
  for (const cm of world.campaignMembers()) {
    const p = people.get(cm.personId);
    if (!p) continue;
    const campaignId = sfCampaignOf.get(cm.campaignIndex) ?? cm.campaignId;
    const existing = memberIndex.get(`${campaignId}|${p.crmId}`);
    const fields: SfRecord = {
      Status: cm.status,
      HasResponded: cm.hasResponded,
      FirstRespondedDate: cm.firstRespondedDate ?? null,
    };
    if (existing) {
      Object.assign(existing, fields);
    } else {
      const created = cm.createdAt > p.lifecycle.leadAt ? cm.createdAt : p.lifecycle.leadAt;
      store.load('CampaignMember', {
        Id: makeSfId('00v', ++memberCounter),
        CampaignId: campaignId,
        LeadId: p.crmId,
        ContactId: p.convertedAt && p.convertedAt <= created ? (p.sfContactId ?? null) : null,
        CurrencyIsoCode: accountsByIndex.get(p.accountIndex)?.currency ?? 'USD',
        ...fields,
        ...stamps(created),
      });
    }
  }

  // Accounts: created at the first conversion among their people.
  for (const a of world.accounts()) {
    const convertedAt = convertedAccounts.get(a.index);
    if (a.crm !== 'salesforce' || !convertedAt) continue;
    store.load('Account', {
      Id: a.crmId,
      Name: a.name,
      Website: `https://${a.domain}`,
      Industry: a.industry,
      BillingCountry: a.country,
      NumberOfEmployees: a.employees,
      Type: 'Prospect',
      CurrencyIsoCode: a.currency,
      Segment__c: a.segment,
      ...stamps(convertedAt),
    });
  }

  // Opportunities, history, contact roles.
  let historyCounter = 0;
  let roleCounter = 0;
  for (const o of world.opportunities()) {
    if (o.crm !== 'salesforce') continue;
    const amount = o.amountCents / 100;
    const lastChange = o.stageHistory[o.stageHistory.length - 1]?.at ?? o.createdAt;
    store.load('Opportunity', {
      Id: o.crmId,
      Name: o.name,
      AccountId: accountCrmId.get(o.accountIndex) ?? null,
      StageName: o.stage,
      Amount: amount,
      CurrencyIsoCode: o.currency,
      CloseDate: o.closeDate,
      IsClosed: o.isClosed,
      IsWon: o.isWon,
      Probability: STAGE_PROBABILITY[o.stage] ?? null,
      LeadSource: o.leadSource,
      CampaignId: o.campaignId !== undefined ? (sfCampaignOfWorldId.get(o.campaignId) ?? null) : null,
      Type: 'New Business',
      ...stamps(o.createdAt, lastChange),
    });
    for (const change of o.stageHistory) {
      const created = sfDateTime(change.at);
      store.load('OpportunityHistory', {
        Id: makeSfId('008', ++historyCounter),
        OpportunityId: o.crmId,
        StageName: change.stage,
        Amount: amount,
        CloseDate: o.closeDate,
        Probability: STAGE_PROBABILITY[change.stage] ?? null,
        CurrencyIsoCode: o.currency,
        CreatedDate: created,
        SystemModstamp: created,
      });
    }
    for (const role of o.contactRoles) {
      const p = people.get(role.personId);
      if (!p?.sfContactId) continue;
      store.load('OpportunityContactRole', {
        Id: makeSfId('00K', ++roleCounter),
        OpportunityId: o.crmId,
        ContactId: p.sfContactId,
        Role: role.role,
        IsPrimary: role.isPrimary,
        ...stamps(o.createdAt),
      });
    }
  }
}

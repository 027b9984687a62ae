/**
 * Projects the synthetic world onto a HubSpot portal: HubSpot people become contacts (lifecycle
 * dates, original/latest traffic source, first-touch UTMs), HubSpot accounts become companies,
 * HubSpot opportunities become deals in the 'default' pipeline (with dealstage history and
 * associations to their contacts and company), marketing email sends become email events and
 * HubSpot people's form fills become form submissions whose pageUrl carries the UTM query string.
 */
import type { Channel, Person, Touchpoint, World } from '../../world/types.ts';
import { fnv1a } from '../prng.ts';
import type { HsObject, HsObjectType, HubSpotStore } from './store.ts';

/** HubSpot's original-source enumeration per channel. */
const SOURCE: Record<Channel, string> = {
  'Paid Search': 'PAID_SEARCH',
  'Paid Social': 'PAID_SOCIAL',
  Display: 'OTHER_CAMPAIGNS',
  Email: 'EMAIL_MARKETING',
  Events: 'OFFLINE',
  'Organic Search': 'ORGANIC_SEARCH',
  Referral: 'REFERRALS',
  Direct: 'DIRECT_TRAFFIC',
};

/** Drill-down 1 / 2 of a source, the way HubSpot fills them for each source type. */
function drillDown(t: Touchpoint): [string | null, string | null] {
  switch (t.channel) {
    case 'Paid Search':
      return [t.utm_campaign, t.utm_term ?? null];
    case 'Paid Social':
      return [t.utm_source.charAt(0).toUpperCase() + t.utm_source.slice(1), t.utm_campaign];
    case 'Email':
      return [t.utm_campaign, t.emailId ?? null];
    case 'Events':
      return ['INTEGRATION', t.utm_campaign];
    case 'Display':
      return [t.utm_campaign, t.utm_source];
    case 'Organic Search':
      return [t.utm_source, null];
    case 'Referral':
      return [t.utm_source, t.landingPage ?? null];
    case 'Direct':
      return [t.landingPage ?? null, null];
  }
}

function guid(key: string): string {
  const h = (s: string) => fnv1a(s).toString(16).padStart(8, '0');
  const a = h(`${key}a`);
  const b = h(`${key}b`);
  const c = h(`${key}c`);
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-8${c.slice(1, 4)}-${c}${a.slice(0, 4)}`;
}

interface Builder {
  obj: HsObject;
  set(name: string, value: string | null | undefined, at: string, sourceType?: string): void;
}

function builder(id: string, createdAt: string): Builder {
  const obj: HsObject = { id, properties: {}, history: {}, createdAt, updatedAt: createdAt, archived: false };
  return {
    obj,
    set(name, value, at, sourceType = 'CRM_UI') {
      if (value === undefined) return;
      obj.properties[name] = value;
      if (value !== null) {
        const list = obj.history[name] ?? [];
        list.push({ value, timestamp: at, sourceType });
        obj.history[name] = list;
      }
      if (at > obj.updatedAt) obj.updatedAt = at;
    },
  };
}

function finish(b: Builder, store: HubSpotStore, type: HsObjectType): void {
  const at = b.obj.updatedAt;
  b.set('hs_object_id', b.obj.id, b.obj.createdAt, 'CALCULATED');
  b.set('createdate', b.obj.createdAt, b.obj.createdAt, 'CALCULATED');
  b.set('hs_lastmodifieddate', at, at, 'CALCULATED');
  b.set('lastmodifieddate', at, at, 'CALCULATED');
  store.load(type, b.obj);
}

export function projectWorldToHubSpot(world: World, store: HubSpotStore): void {
  const worldEnd = `${world.endDate}T23:59:59.999Z`;
  const companyOf = new Map<number, string>();
  const companies = new Map<number, Builder>();
  for (const a of world.accounts()) {
    if (a.crm !== 'hubspot') continue;
    companyOf.set(a.index, a.crmId);
    const b = builder(a.crmId, a.createdAt);
    b.set('name', a.name, a.createdAt);
    b.set('domain', a.domain, a.createdAt);
    b.set('industry', a.industry, a.createdAt);
    b.set('country', a.country, a.createdAt);
    b.set('numberofemployees', String(a.employees), a.createdAt);
    b.set('segment', a.segment, a.createdAt);
    b.set('lifecyclestage', 'lead', a.createdAt, 'CALCULATED');
    companies.set(a.index, b);
  }

  const contactOf = new Map<string, string>();
  const formFills: { person: Person; touch: Touchpoint }[] = [];
  const STAGE_ORDER = ['lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer'];
  for (const p of world.people()) {
    if (p.crm !== 'hubspot') continue;
    contactOf.set(p.id, p.crmId);
    const created = p.lifecycle.leadAt;
    const b = builder(p.crmId, created);
    b.set('email', p.email, created, 'FORM');
    b.set('firstname', p.firstName, created, 'FORM');
    b.set('lastname', p.lastName, created, 'FORM');
    b.set('jobtitle', p.title, created, 'FORM');
    const company = companies.get(p.accountIndex);
    b.set('company', company?.obj.properties['name'] ?? null, created, 'FORM');
    b.set('associatedcompanyid', companyOf.get(p.accountIndex) ?? null, created, 'CALCULATED');
    const stages: [string, string | undefined][] = [
      ['lead', p.lifecycle.leadAt],
      ['marketingqualifiedlead', p.lifecycle.mqlAt],
      ['salesqualifiedlead', p.lifecycle.sqlAt],
      ['opportunity', p.lifecycle.opportunityAt],
      ['customer', p.lifecycle.customerAt],
    ];
    for (const [stage, at] of stages) {
      if (!at || at > worldEnd) continue;
      b.set('lifecyclestage', stage, at, 'CRM_UI');
      b.set(`hs_lifecyclestage_${stage}_date`, at, at, 'CALCULATED');
    }
    const first = p.touchpoints[0];
    const last = p.touchpoints.filter((t) => t.session).at(-1) ?? p.touchpoints.at(-1);
    if (first) {
      const [d1, d2] = drillDown(first);
      b.set('hs_analytics_source', SOURCE[first.channel], created, 'ANALYTICS');
      b.set('hs_analytics_source_data_1', d1, created, 'ANALYTICS');
      b.set('hs_analytics_source_data_2', d2, created, 'ANALYTICS');
      b.set('hs_analytics_first_timestamp', first.at, created, 'ANALYTICS');
      b.set('utm_source', first.utm_source, created, 'FORM');
      b.set('utm_medium', first.utm_medium, created, 'FORM');
      b.set('utm_campaign', first.utm_campaign, created, 'FORM');
    }
    if (last) {
      const at = last.at > created ? last.at : created;
      const [d1, d2] = drillDown(last);
      b.set('hs_latest_source', SOURCE[last.channel], at, 'ANALYTICS');
      b.set('hs_latest_source_data_1', d1, at, 'ANALYTICS');
      b.set('hs_latest_source_data_2', d2, at, 'ANALYTICS');
      b.set('hs_latest_source_timestamp', last.at, at, 'ANALYTICS');
    }
    for (const t of p.touchpoints) if (t.kind === 'form_fill') formFills.push({ person: p, touch: t });
    // Companies take the most advanced lifecycle stage of their contacts.
    if (company) {
      const stage = b.obj.properties['lifecyclestage'] ?? 'lead';
      const current = company.obj.properties['lifecyclestage'] ?? 'lead';
      if (STAGE_ORDER.indexOf(stage) > STAGE_ORDER.indexOf(current)) {
        company.set('lifecyclestage', stage, b.obj.history['lifecyclestage']?.at(-1)?.timestamp ?? created, 'CALCULATED');
      }
    }
    finish(b, store, 'contacts');
    const companyId = companyOf.get(p.accountIndex);
    if (companyId) store.associate('contacts', p.crmId, 'companies', companyId);
  }
  for (const b of companies.values()) finish(b, store, 'companies');

  for (const o of world.opportunities()) {
    if (o.crm !== 'hubspot') continue;
    const b = builder(o.crmId, o.createdAt);
    b.set('dealname', o.name, o.createdAt);
    b.set('pipeline', 'default', o.createdAt);
    b.set('amount', String(o.amountCents / 100), o.createdAt);
    b.set('deal_currency_code', o.currency, o.createdAt);
    b.set('closedate', `${o.closeDate.slice(0, 10)}T00:00:00.000Z`, o.createdAt);
    for (const change of o.stageHistory) b.set('dealstage', change.stage, change.at, 'CRM_UI');
    const lastAt = o.stageHistory.at(-1)?.at ?? o.createdAt;
    b.set('hs_is_closed', String(o.isClosed), lastAt, 'CALCULATED');
    b.set('hs_is_closed_won', String(o.isWon), lastAt, 'CALCULATED');
    finish(b, store, 'deals');
    const companyId = companyOf.get(o.accountIndex);
    if (companyId) store.associate('deals', o.crmId, 'companies', companyId);
    for (const role of o.contactRoles) {
      const contactId = contactOf.get(role.personId);
      if (contactId) store.associate('deals', o.crmId, 'contacts', contactId);
    }
  }

  // Email events: SENT, DELIVERED (a few seconds later), OPEN, CLICK.
  const subjects = new Map(world.marketingEmails.map((m) => [m.id, m.subject]));
  const clickUrl = new Map<string, string>();
  for (const t of world.touchpoints()) {
    if (t.kind === 'email_click' && t.emailId && t.landingPage) clickUrl.set(`${t.personId}|${t.emailId}`, t.landingPage);
  }
  let n = 0;
  for (const s of world.emailSends()) {
    const emailCampaignId = Number(s.emailId);
    const sent = Date.parse(s.sentAt);
    const push = (type: 'SENT' | 'DELIVERED' | 'OPEN' | 'CLICK', created: number, extra: { url?: string; subject?: string } = {}) => {
      store.emailEvents.push({ id: guid(`ev-${++n}`), type, created, recipient: s.recipient, emailCampaignId, ...extra });
    };
    const subject = subjects.get(s.emailId);
    push('SENT', sent, subject ? { subject } : {});
    push('DELIVERED', sent + 2_000 + (fnv1a(`${s.personId}|${s.emailId}`) % 8_000));
    if (s.openedAt) push('OPEN', Date.parse(s.openedAt));
    if (s.clickedAt) {
      const url = clickUrl.get(`${s.personId}|${s.emailId}`);
      push('CLICK', Date.parse(s.clickedAt), url ? { url } : {});
    }
  }

  // Forms: one per landing page path that has form fills; submissions carry the full URL.
  const formOfPath = new Map<string, string>();
  for (const { person, touch } of formFills) {
    const url = touch.landingPage ?? `${world.ga4Property.siteOrigin}/contact`;
    const path = new URL(url).pathname;
    let formId = formOfPath.get(path);
    if (!formId) {
      formId = guid(`form-${path}`);
      formOfPath.set(path, formId);
      store.forms.push({ id: formId, name: `Form - ${path}`, createdAt: `${world.startDate}T00:00:00.000Z`, updatedAt: `${world.startDate}T00:00:00.000Z` });
      store.submissions.set(formId, []);
    }
    const company = companyOf.get(person.accountIndex);
    store.submissions.get(formId)?.push({
      conversionId: guid(`conv-${touch.id}`),
      submittedAt: Date.parse(touch.at),
      values: [
        { name: 'email', value: person.email },
        { name: 'firstname', value: person.firstName },
        { name: 'lastname', value: person.lastName },
        ...(company ? [{ name: 'company', value: String(companies.get(person.accountIndex)?.obj.properties['name'] ?? '') }] : []),
      ],
      pageUrl: url,
    });
  }
}

import { z } from 'zod';
import type { NormalizeContext } from '../core/connector.ts';
import type { CoreRowInput, CoreRows } from '../../warehouse/core-tables.ts';
import type { HubSpotConfig } from './config.ts';
import { dayOf, hsBool, hsInstant, hsNumber, hsText, pageOf, parseInstant, utmOf } from './values.ts';

/**
 * Record schemas and normalization of the CRM objects. A record is the object exactly as the list
 * or batch-read endpoint returns it (`{ id, properties, propertiesWithHistory?, createdAt,
 * updatedAt, archived, archivedAt? }`, CRM v3 "Understanding the CRM"); deals also carry
 * `_associations`, the v4 batch-read associations of the deal (added by this connector: search and
 * batch read return none). Unknown fields and properties pass (schema drift stays in raw).
 */

/** Default properties read per object (HubSpot internal names); config.extraProperties adds more. */
export const DEFAULT_PROPERTIES = {
  deals: [
    'dealname', 'dealstage', 'pipeline', 'amount', 'deal_currency_code', 'closedate', 'createdate', 'hs_lastmodifieddate',
    'hs_is_closed', 'hs_is_closed_won', 'hs_deal_stage_probability', 'dealtype', 'hs_analytics_source', 'hs_object_id',
  ],
  contacts: [
    'email', 'firstname', 'lastname', 'jobtitle', 'company', 'associatedcompanyid', 'lifecyclestage', 'hs_lead_status',
    'hs_lifecyclestage_lead_date', 'hs_lifecyclestage_marketingqualifiedlead_date', 'hs_lifecyclestage_salesqualifiedlead_date',
    'hs_lifecyclestage_opportunity_date', 'hs_lifecyclestage_customer_date',
    'hs_analytics_source', 'hs_analytics_source_data_1', 'hs_analytics_source_data_2', 'hs_analytics_first_timestamp',
    'hs_analytics_first_url', 'hs_analytics_first_referrer',
    'utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'createdate', 'lastmodifieddate', 'hs_object_id',
  ],
  companies: ['name', 'domain', 'industry', 'country', 'numberofemployees', 'createdate', 'hs_lastmodifieddate', 'hs_object_id'],
} as const;

/** The modification-date property search filters and sorts on (contacts have their own name for it). */
export const CURSOR_PROPERTY = { deals: 'hs_lastmodifieddate', contacts: 'lastmodifieddate', companies: 'hs_lastmodifieddate' } as const;

const idText = z.string().regex(/^\d+$/, 'expected a numeric HubSpot id');

const envelope = {
  id: idText,
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
  archived: z.boolean().optional(),
  archivedAt: z.string().optional(),
};

const historyEntry = z.looseObject({ value: z.string(), timestamp: z.string(), sourceType: z.string().optional() });

/** A v4 association target (`to[]` of /crm/v4/associations/{from}/{to}/batch/read). */
const associationTarget = z.looseObject({
  toObjectId: z.union([z.string(), z.number()]).transform(String),
  associationTypes: z.array(z.looseObject({ category: z.string().optional(), typeId: z.number().optional(), label: z.string().nullish() })).default([]),
});
export type AssociationTarget = z.input<typeof associationTarget>;

export const dealRecord = z.looseObject({
  ...envelope,
  properties: z.looseObject({
    dealname: hsText,
    dealstage: hsText,
    pipeline: hsText,
    amount: hsNumber,
    deal_currency_code: hsText,
    closedate: hsInstant,
    createdate: hsInstant,
    hs_lastmodifieddate: hsInstant,
    hs_is_closed: hsBool,
    hs_is_closed_won: hsBool,
    hs_deal_stage_probability: hsNumber,
    dealtype: hsText,
    hs_analytics_source: hsText,
  }),
  propertiesWithHistory: z.looseObject({ dealstage: z.array(historyEntry).optional() }).optional(),
  _associations: z.object({ contacts: z.array(associationTarget), companies: z.array(associationTarget) }).optional(),
});
export type DealRecord = z.output<typeof dealRecord>;

export const contactRecord = z.looseObject({
  ...envelope,
  properties: z.looseObject({
    email: hsText,
    firstname: hsText,
    lastname: hsText,
    jobtitle: hsText,
    company: hsText,
    associatedcompanyid: hsNumber,
    lifecyclestage: hsText,
    hs_lead_status: hsText,
    hs_lifecyclestage_lead_date: hsInstant,
    hs_lifecyclestage_marketingqualifiedlead_date: hsInstant,
    hs_lifecyclestage_salesqualifiedlead_date: hsInstant,
    hs_lifecyclestage_opportunity_date: hsInstant,
    hs_lifecyclestage_customer_date: hsInstant,
    hs_analytics_source: hsText,
    hs_analytics_source_data_1: hsText,
    hs_analytics_source_data_2: hsText,
    hs_analytics_first_timestamp: hsInstant,
    hs_analytics_first_url: hsText,
    hs_analytics_first_referrer: hsText,
    utm_source: hsText,
    utm_medium: hsText,
    utm_campaign: hsText,
    utm_content: hsText,
    utm_term: hsText,
    createdate: hsInstant,
    lastmodifieddate: hsInstant,
  }),
});
export type ContactRecord = z.output<typeof contactRecord>;

export const companyRecord = z.looseObject({
  ...envelope,
  properties: z.looseObject({
    name: hsText,
    domain: hsText,
    industry: hsText,
    country: hsText,
    numberofemployees: hsNumber,
    createdate: hsInstant,
    hs_lastmodifieddate: hsInstant,
  }),
});
export type CompanyRecord = z.output<typeof companyRecord>;

/** Record-level instant (createdAt / updatedAt / archivedAt are ISO in CRM v3). */
function instant(value: string | undefined): string | null {
  return value === undefined ? null : (parseInstant(value) ?? null);
}

/** The primary target of an association list (label 'Primary'), else the lowest id. */
function primaryTarget(targets: ReadonlyArray<z.output<typeof associationTarget>>): string | null {
  const primary = targets.find((t) => t.associationTypes.some((a) => a.label === 'Primary'));
  return primary?.toObjectId ?? [...targets].sort((a, b) => compareIds(a.toObjectId, b.toObjectId))[0]?.toObjectId ?? null;
}

export function compareIds(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

const CLOSED_WON = 'closedwon';
const CLOSED_LOST = 'closedlost';

export function normalizeDeal(r: DealRecord, ctx: NormalizeContext<HubSpotConfig>): CoreRows {
  const p = r.properties;
  const stage = p.dealstage;
  // hs_is_closed / hs_is_closed_won are calculated from the pipeline's stage metadata; the default
  // pipeline's closedwon / closedlost ids are the fallback for portals that do not return them.
  const isWon = p.hs_is_closed_won ?? stage === CLOSED_WON;
  const isClosed = p.hs_is_closed ?? (isWon || stage === CLOSED_LOST);
  const currency = p.deal_currency_code ?? ctx.config.defaultCurrency ?? null;
  const history = [...(r.propertiesWithHistory?.dealstage ?? [])]
    .map((h) => ({ stage: h.value, at: parseInstant(h.timestamp) }))
    .filter((h): h is { stage: string; at: string } => h.at !== undefined && h.stage !== '')
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const enteredCurrent = [...history].reverse().find((h) => h.stage === stage)?.at ?? null;
  // HubSpot keeps stage probability as 0..1; core (like Salesforce's Probability) holds percent.
  const probability = p.hs_deal_stage_probability === null ? null : String(Math.round(Number(p.hs_deal_stage_probability) * 1e8) / 1e6);

  const opportunity: CoreRowInput<'core.fct_opportunity'> = {
    opportunity_id: r.id,
    account_id: r._associations ? primaryTarget(r._associations.companies) : null,
    name: p.dealname,
    pipeline: p.pipeline,
    stage,
    opportunity_type: p.dealtype,
    lead_source: p.hs_analytics_source,
    primary_campaign_id: null,
    amount: p.amount,
    currency,
    probability,
    is_closed: isClosed,
    is_won: isClosed && isWon,
    created_at: p.createdate ?? instant(r.createdAt),
    close_date: dayOf(p.closedate),
    closed_at: isClosed ? (enteredCurrent ?? p.closedate) : null,
    updated_at: p.hs_lastmodifieddate ?? instant(r.updatedAt),
  };
  // History entries have no id of their own: (deal, timestamp, stage) identifies one, so a re-read
  // upserts the same rows instead of appending.
  const stageHistory: Array<CoreRowInput<'core.fct_opportunity_stage_history'>> = history.map((h) => ({
    history_id: `${r.id}:${Date.parse(h.at)}:${h.stage}`,
    opportunity_id: r.id,
    stage: h.stage,
    entered_at: h.at,
  }));
  const bridge: Array<CoreRowInput<'core.bridge_opportunity_person'>> = (r._associations?.contacts ?? []).map((t) => {
    const labels = t.associationTypes.map((a) => a.label).filter((l): l is string => typeof l === 'string' && l !== '');
    return { opportunity_id: r.id, person_id: t.toObjectId, role: labels.length ? labels.join(', ') : null, is_primary: labels.includes('Primary') };
  });
  return { 'core.fct_opportunity': [opportunity], 'core.fct_opportunity_stage_history': stageHistory, 'core.bridge_opportunity_person': bridge };
}

export function normalizeContact(r: ContactRecord): CoreRows {
  const p = r.properties;
  // utm_* contact properties when the portal keeps them, else the first-visit URL's query string.
  const firstUrl = utmOf(p.hs_analytics_first_url);
  const utm = {
    utm_source: p.utm_source ?? firstUrl.utm_source,
    utm_medium: p.utm_medium ?? firstUrl.utm_medium,
    utm_campaign: p.utm_campaign ?? firstUrl.utm_campaign,
    utm_content: p.utm_content ?? firstUrl.utm_content,
    utm_term: p.utm_term ?? firstUrl.utm_term,
  };
  const createdAt = p.createdate ?? instant(r.createdAt);
  const person: CoreRowInput<'core.dim_person'> = {
    person_id: r.id,
    person_type: 'contact',
    email: p.email,
    first_name: p.firstname,
    last_name: p.lastname,
    title: p.jobtitle,
    company: p.company,
    account_id: p.associatedcompanyid,
    lead_source: null,
    lead_status: p.hs_lead_status,
    lifecycle_stage: p.lifecyclestage,
    original_source: p.hs_analytics_source,
    original_source_detail_1: p.hs_analytics_source_data_1,
    original_source_detail_2: p.hs_analytics_source_data_2,
    ...utm,
    created_at: createdAt,
    lead_at: p.hs_lifecyclestage_lead_date,
    mql_at: p.hs_lifecyclestage_marketingqualifiedlead_date,
    sql_at: p.hs_lifecyclestage_salesqualifiedlead_date,
    opportunity_at: p.hs_lifecyclestage_opportunity_date,
    customer_at: p.hs_lifecyclestage_customer_date,
    updated_at: p.lastmodifieddate ?? instant(r.updatedAt),
  };
  const rows: CoreRows = { 'core.dim_person': [person] };
  if (r._deletedByAbsence === true && typeof r._deletedAt === 'string') {
    // HubSpot no longer has the contact (crm.ts tombstone): its original-source touch, if it had
    // one, is flagged deleted with it. The vendor values are gone; the row keeps when that was found.
    rows['core.fct_touchpoint'] = [{ touchpoint_id: `contact:${r.id}:original_source`, person_id: r.id, occurred_at: r._deletedAt, touch_type: 'original_source' }];
    return rows;
  }
  // The original source HubSpot keeps on the contact is its first touch.
  const hasSource = p.hs_analytics_source !== null || Object.values(utm).some((v) => v !== null);
  const occurredAt = p.hs_analytics_first_timestamp ?? createdAt;
  if (hasSource && occurredAt !== null) {
    rows['core.fct_touchpoint'] = [
      {
        touchpoint_id: `contact:${r.id}:original_source`,
        person_id: r.id,
        occurred_at: occurredAt,
        touch_type: 'original_source',
        ...utm,
        landing_page: pageOf(p.hs_analytics_first_url),
        referrer: p.hs_analytics_first_referrer,
        status: p.hs_analytics_source,
      },
    ];
  }
  return rows;
}

export function normalizeCompany(r: CompanyRecord): CoreRows {
  const p = r.properties;
  return {
    'core.dim_account': [
      {
        account_id: r.id,
        name: p.name,
        domain: p.domain,
        industry: p.industry,
        country: p.country,
        created_at: p.createdate ?? instant(r.createdAt),
        updated_at: p.hs_lastmodifieddate ?? instant(r.updatedAt),
      },
    ],
  };
}

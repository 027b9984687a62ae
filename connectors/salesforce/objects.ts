import { z } from 'zod';
import type { NormalizeContext } from '../core/connector.ts';
import type { CoreRows } from '../../warehouse/core-tables.ts';
import type { SalesforceConfig, SalesforceStreamName } from './config.ts';

/**
 * The sObjects mpm syncs: which standard fields are selected, the vendor record shape (field
 * names and types from the Salesforce "Object Reference" for each object) and the core rows
 * each record becomes.
 */

/** Milliseconds of a Salesforce datetime ('2024-01-31T10:00:00.000+0000' in REST, '...Z' in Bulk CSV); NaN when unparseable. */
export function sfTime(value: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$/.test(value)) return Number.NaN;
  return Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
}

export function sfIso(value: string): string {
  return new Date(sfTime(value)).toISOString();
}

const sfId = z.string().regex(/^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$/, 'must be a 15- or 18-character Salesforce id');
const sfDateTime = z.string().refine((v) => Number.isFinite(sfTime(v)), 'must be a datetime such as 2024-01-31T10:00:00.000+0000');
const sfDate = z.string().refine((v) => /^\d{4}-\d{2}-\d{2}$/.test(v) && Number.isFinite(Date.parse(`${v}T00:00:00Z`)), 'must be a date YYYY-MM-DD');
const num = z.number({ error: 'must be a number' }).nullish();
const text = z.string().nullish();
const flag = z.boolean({ error: 'must be true or false' });

/** System fields every synced object has (OpportunityHistory has no LastModifiedDate). */
const system = {
  Id: sfId,
  IsDeleted: flag,
  CreatedDate: sfDateTime,
  SystemModstamp: sfDateTime,
  LastModifiedDate: sfDateTime.nullish(),
  /** Multi-currency orgs only. */
  CurrencyIsoCode: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code').nullish(),
};

export const opportunityRecord = z.looseObject({
  ...system,
  Name: z.string().min(1),
  StageName: z.string().min(1, 'is empty'),
  CloseDate: sfDate,
  IsClosed: flag,
  IsWon: flag,
  AccountId: sfId.nullish(),
  Amount: num,
  Probability: num,
  Type: text,
  LeadSource: text,
  CampaignId: sfId.nullish(),
});

export const opportunityHistoryRecord = z.looseObject({
  ...system,
  OpportunityId: sfId,
  StageName: z.string().min(1, 'is empty'),
  Amount: num,
  CloseDate: sfDate.nullish(),
  Probability: num,
});

export const opportunityContactRoleRecord = z.looseObject({
  ...system,
  OpportunityId: sfId,
  ContactId: sfId,
  Role: text,
  IsPrimary: flag.nullish(),
});

export const accountRecord = z.looseObject({
  ...system,
  Name: z.string().min(1, 'is empty'),
  Website: text,
  Industry: text,
  BillingCountry: text,
  Type: text,
  NumberOfEmployees: num,
});

export const contactRecord = z.looseObject({
  ...system,
  LastName: z.string().min(1, 'is empty'),
  FirstName: text,
  AccountId: sfId.nullish(),
  Email: text,
  Title: text,
  LeadSource: text,
});

export const leadRecord = z.looseObject({
  ...system,
  LastName: z.string().min(1, 'is empty'),
  Company: z.string().min(1, 'is empty'),
  Status: z.string().min(1, 'is empty'),
  IsConverted: flag,
  FirstName: text,
  Email: text,
  Title: text,
  LeadSource: text,
  ConvertedDate: sfDate.nullish(),
  ConvertedContactId: sfId.nullish(),
  ConvertedAccountId: sfId.nullish(),
  ConvertedOpportunityId: sfId.nullish(),
});

export const campaignRecord = z.looseObject({
  ...system,
  Name: z.string().min(1, 'is empty'),
  Type: text,
  Status: text,
  StartDate: sfDate.nullish(),
  EndDate: sfDate.nullish(),
  BudgetedCost: num,
  ActualCost: num,
  IsActive: flag.nullish(),
  ParentId: sfId.nullish(),
});

export const campaignMemberRecord = z.looseObject({
  ...system,
  CampaignId: sfId,
  LeadId: sfId.nullish(),
  ContactId: sfId.nullish(),
  Status: text,
  HasResponded: flag.nullish(),
  FirstRespondedDate: sfDate.nullish(),
});

type BaseRecord = { SystemModstamp: string; LastModifiedDate?: string | null | undefined };

/** Org default currency found when a sync started (single-currency orgs without defaultCurrency), by connection id. */
const orgCurrencies = new Map<string, string>();
export function rememberOrgCurrency(connectionId: string, currency: string): void {
  orgCurrencies.set(connectionId, currency);
}

function currencyOf(record: { CurrencyIsoCode?: string | null | undefined }, ctx: NormalizeContext<SalesforceConfig>): string | null {
  return record.CurrencyIsoCode ?? ctx.config.defaultCurrency ?? orgCurrencies.get(ctx.connectionId) ?? null;
}

function isoOrNull(v: string | null | undefined): string | null {
  return v ? sfIso(v) : null;
}

/** A date field as the instant its day starts (UTC): Salesforce stores dates without a time. */
function dayStart(v: string | null | undefined): string | null {
  return v ? `${v}T00:00:00.000Z` : null;
}

function stringField(record: Record<string, unknown>, field: string | undefined): string | null {
  if (!field) return null;
  const v = record[field];
  if (v === null || v === undefined || v === '') return null;
  if (typeof v !== 'string') throw new Error(`${field}: expected text, got ${JSON.stringify(v)}`);
  return v;
}

/** The core utm_* columns from the fields the object's config names (objects.<stream>.utmFields). */
function utm(record: Record<string, unknown>, stream: SalesforceStreamName, ctx: NormalizeContext<SalesforceConfig>) {
  const f = ctx.config.objects[stream]?.utmFields ?? {};
  return {
    utm_source: stringField(record, f.source),
    utm_medium: stringField(record, f.medium),
    utm_campaign: stringField(record, f.campaign),
    utm_content: stringField(record, f.content),
    utm_term: stringField(record, f.term),
  };
}

function updatedAt(r: BaseRecord): string {
  return sfIso(r.LastModifiedDate ?? r.SystemModstamp);
}

/** 'https://www.acme.com/about' -> 'acme.com'. */
export function domainOf(website: string | null | undefined): string | null {
  if (!website) return null;
  const host = website.trim().replace(/^[a-z]+:\/\//i, '').split(/[/?#:]/)[0]?.toLowerCase() ?? '';
  const domain = host.replace(/^www\./, '');
  return domain === '' ? null : domain;
}

export interface ObjectSpec {
  stream: SalesforceStreamName;
  object: string;
  description: string;
  /** Standard fields that must be visible to the integration user. */
  required: readonly string[];
  /** Standard fields selected when the org has them (CurrencyIsoCode only in multi-currency orgs...). */
  optional: readonly string[];
  /** Amounts on this object need a currency. */
  hasAmounts: boolean;
}

const SYSTEM_REQUIRED = ['Id', 'IsDeleted', 'CreatedDate', 'SystemModstamp'] as const;
const SYSTEM_OPTIONAL = ['LastModifiedDate', 'CurrencyIsoCode'] as const;

export const OBJECT_SPECS: Record<SalesforceStreamName, ObjectSpec> = {
  opportunity: {
    stream: 'opportunity',
    object: 'Opportunity',
    description: 'Salesforce Opportunity: one row per opportunity',
    required: [...SYSTEM_REQUIRED, 'Name', 'StageName', 'CloseDate', 'IsClosed', 'IsWon'],
    optional: [...SYSTEM_OPTIONAL, 'AccountId', 'Amount', 'Probability', 'Type', 'LeadSource', 'CampaignId'],
    hasAmounts: true,
  },
  opportunity_history: {
    stream: 'opportunity_history',
    object: 'OpportunityHistory',
    description: 'Salesforce OpportunityHistory: one row per stage/amount change',
    required: [...SYSTEM_REQUIRED, 'OpportunityId', 'StageName'],
    optional: [...SYSTEM_OPTIONAL, 'Amount', 'CloseDate', 'Probability'],
    hasAmounts: true,
  },
  opportunity_contact_role: {
    stream: 'opportunity_contact_role',
    object: 'OpportunityContactRole',
    description: 'Salesforce OpportunityContactRole: one row per contact role on an opportunity',
    required: [...SYSTEM_REQUIRED, 'OpportunityId', 'ContactId'],
    optional: [...SYSTEM_OPTIONAL, 'Role', 'IsPrimary'],
    hasAmounts: false,
  },
  account: {
    stream: 'account',
    object: 'Account',
    description: 'Salesforce Account: one row per account',
    required: [...SYSTEM_REQUIRED, 'Name'],
    optional: [...SYSTEM_OPTIONAL, 'Website', 'Industry', 'BillingCountry', 'Type', 'NumberOfEmployees'],
    hasAmounts: false,
  },
  contact: {
    stream: 'contact',
    object: 'Contact',
    description: 'Salesforce Contact: one row per contact',
    required: [...SYSTEM_REQUIRED, 'LastName'],
    optional: [...SYSTEM_OPTIONAL, 'FirstName', 'AccountId', 'Email', 'Title', 'LeadSource'],
    hasAmounts: false,
  },
  lead: {
    stream: 'lead',
    object: 'Lead',
    description: 'Salesforce Lead: one row per lead, with conversion fields',
    required: [...SYSTEM_REQUIRED, 'LastName', 'Company', 'Status', 'IsConverted'],
    optional: [...SYSTEM_OPTIONAL, 'FirstName', 'Email', 'Title', 'LeadSource', 'ConvertedDate', 'ConvertedContactId', 'ConvertedAccountId', 'ConvertedOpportunityId'],
    hasAmounts: false,
  },
  campaign: {
    stream: 'campaign',
    object: 'Campaign',
    description: 'Salesforce Campaign: one row per campaign',
    required: [...SYSTEM_REQUIRED, 'Name'],
    optional: [...SYSTEM_OPTIONAL, 'Type', 'Status', 'StartDate', 'EndDate', 'BudgetedCost', 'ActualCost', 'IsActive', 'ParentId'],
    hasAmounts: true,
  },
  campaign_member: {
    stream: 'campaign_member',
    object: 'CampaignMember',
    description: 'Salesforce CampaignMember: one row per lead/contact membership of a campaign',
    required: [...SYSTEM_REQUIRED, 'CampaignId'],
    optional: [...SYSTEM_OPTIONAL, 'LeadId', 'ContactId', 'Status', 'HasResponded', 'FirstRespondedDate'],
    hasAmounts: false,
  },
};

type Ctx = NormalizeContext<SalesforceConfig>;

export function normalizeOpportunity(r: z.infer<typeof opportunityRecord>, ctx: Ctx): CoreRows {
  return {
    'core.fct_opportunity': [
      {
        opportunity_id: r.Id,
        account_id: r.AccountId ?? null,
        name: r.Name,
        stage: r.StageName,
        opportunity_type: r.Type ?? null,
        lead_source: r.LeadSource ?? null,
        primary_campaign_id: r.CampaignId ?? null,
        amount: r.Amount ?? null,
        currency: currencyOf(r, ctx),
        probability: r.Probability ?? null,
        is_closed: r.IsClosed,
        is_won: r.IsWon,
        created_at: sfIso(r.CreatedDate),
        close_date: r.CloseDate,
        updated_at: updatedAt(r),
      },
    ],
  };
}

export function normalizeOpportunityHistory(r: z.infer<typeof opportunityHistoryRecord>, ctx: Ctx): CoreRows {
  return {
    // Keyed on the history row's own Id: a retried page upserts the same rows, never appends.
    'core.fct_opportunity_stage_history': [
      {
        history_id: r.Id,
        opportunity_id: r.OpportunityId,
        stage: r.StageName,
        entered_at: sfIso(r.CreatedDate),
        amount: r.Amount ?? null,
        currency: currencyOf(r, ctx),
        probability: r.Probability ?? null,
        close_date: r.CloseDate ?? null,
      },
    ],
  };
}

export function normalizeOpportunityContactRole(r: z.infer<typeof opportunityContactRoleRecord>): CoreRows {
  return {
    'core.bridge_opportunity_person': [{ opportunity_id: r.OpportunityId, person_id: r.ContactId, role: r.Role ?? null, is_primary: r.IsPrimary ?? false }],
  };
}

export function normalizeAccount(r: z.infer<typeof accountRecord>): CoreRows {
  return {
    'core.dim_account': [
      {
        account_id: r.Id,
        name: r.Name,
        domain: domainOf(r.Website),
        industry: r.Industry ?? null,
        country: r.BillingCountry ?? null,
        created_at: sfIso(r.CreatedDate),
        updated_at: updatedAt(r),
      },
    ],
  };
}

/** What a Contact and a Lead both bring to core.dim_person. */
function personColumns(
  r: BaseRecord & { Id: string; Email?: string | null; FirstName?: string | null; LastName: string; Title?: string | null; LeadSource?: string | null; CreatedDate: string },
  utmColumns: ReturnType<typeof utm>,
) {
  return {
    person_id: r.Id,
    email: r.Email ? r.Email.toLowerCase() : null,
    first_name: r.FirstName ?? null,
    last_name: r.LastName,
    title: r.Title ?? null,
    lead_source: r.LeadSource ?? null,
    ...utmColumns,
    created_at: sfIso(r.CreatedDate),
    updated_at: updatedAt(r),
  };
}

export function normalizeContact(r: z.infer<typeof contactRecord>, ctx: Ctx): CoreRows {
  return {
    'core.dim_person': [
      {
        ...personColumns(r, utm(r, 'contact', ctx)),
        person_type: 'contact',
        account_id: r.AccountId ?? null,
      },
    ],
  };
}

export function normalizeLead(r: z.infer<typeof leadRecord>, ctx: Ctx): CoreRows {
  return {
    'core.dim_person': [
      {
        ...personColumns(r, utm(r, 'lead', ctx)),
        person_type: 'lead',
        company: r.Company,
        lead_status: r.Status,
        lead_at: sfIso(r.CreatedDate),
        is_converted: r.IsConverted,
        // Conversion links let identity follow a converted lead to its contact, account and opportunity.
        converted_at: dayStart(r.ConvertedDate),
        converted_contact_id: r.ConvertedContactId ?? null,
        converted_account_id: r.ConvertedAccountId ?? null,
        converted_opportunity_id: r.ConvertedOpportunityId ?? null,
      },
    ],
  };
}

export function normalizeCampaign(r: z.infer<typeof campaignRecord>, ctx: Ctx): CoreRows {
  const u = utm(r, 'campaign', ctx);
  return {
    'core.dim_campaign': [
      {
        campaign_id: r.Id,
        name: r.Name,
        status: r.Status ?? null,
        campaign_type: r.Type ?? null,
        channel_hint: r.Type ?? null,
        parent_campaign_id: r.ParentId ?? null,
        currency: currencyOf(r, ctx),
        start_date: r.StartDate ?? null,
        end_date: r.EndDate ?? null,
        budgeted_cost: r.BudgetedCost ?? null,
        actual_cost: r.ActualCost ?? null,
        utm_source: u.utm_source,
        utm_medium: u.utm_medium,
        utm_campaign: u.utm_campaign,
        created_at: sfIso(r.CreatedDate),
        updated_at: updatedAt(r),
      },
    ],
  };
}

export function normalizeCampaignMember(r: z.infer<typeof campaignMemberRecord>, ctx: Ctx): CoreRows {
  const u = utm(r, 'campaign_member', ctx);
  const person = r.ContactId ?? r.LeadId;
  if (!person) throw new Error('LeadId, ContactId: both are empty; a campaign member needs a lead or a contact');
  return {
    'core.fct_touchpoint': [
      {
        touchpoint_id: r.Id,
        // The contact when there is one (a converted lead's membership follows it), else the lead.
        person_id: person,
        occurred_at: dayStart(r.FirstRespondedDate) ?? sfIso(r.CreatedDate),
        touch_type: 'campaign_member',
        campaign_id: r.CampaignId,
        ...u,
        status: r.Status ?? null,
        responded: r.HasResponded ?? null,
      },
    ],
  };
}

/**
 * The sObjects the emulator serves and their fields, as `describe` reports them.
 * Field names and types follow the Salesforce "Object Reference" (Lead, Campaign,
 * CampaignMember, Opportunity, OpportunityHistory, OpportunityContactRole, Account, Contact);
 * the org is multi-currency, so money objects carry CurrencyIsoCode.
 */

export type SfFieldType =
  | 'id'
  | 'reference'
  | 'string'
  | 'picklist'
  | 'email'
  | 'url'
  | 'textarea'
  | 'boolean'
  | 'date'
  | 'datetime'
  | 'currency'
  | 'double'
  | 'percent'
  | 'int';

export interface SfField {
  name: string;
  type: SfFieldType;
  label: string;
  custom: boolean;
  nillable: boolean;
  referenceTo?: string[];
}

export type SfObjectName =
  | 'Account'
  | 'Contact'
  | 'Lead'
  | 'Campaign'
  | 'CampaignMember'
  | 'Opportunity'
  | 'OpportunityHistory'
  | 'OpportunityContactRole';

export interface SfObjectDef {
  name: SfObjectName;
  label: string;
  labelPlural: string;
  keyPrefix: string;
  fields: SfField[];
  /** Whether LastModifiedDate exists (OpportunityHistory is insert-only). */
  hasLastModified: boolean;
}

function label(name: string): string {
  return name
    .replace(/__c$/, '')
    .replace(/_/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/ Id$/, ' ID');
}

function f(name: string, type: SfFieldType, opts: { nillable?: boolean; referenceTo?: string[] } = {}): SfField {
  const field: SfField = { name, type, label: label(name), custom: name.endsWith('__c'), nillable: opts.nillable ?? true };
  if (opts.referenceTo) field.referenceTo = opts.referenceTo;
  return field;
}

const SYSTEM = (hasLastModified: boolean): SfField[] => [
  f('Id', 'id', { nillable: false }),
  f('IsDeleted', 'boolean', { nillable: false }),
  f('CreatedDate', 'datetime', { nillable: false }),
  ...(hasLastModified ? [f('LastModifiedDate', 'datetime', { nillable: false })] : []),
  f('SystemModstamp', 'datetime', { nillable: false }),
];

const UTM = [f('UTM_Source__c', 'string'), f('UTM_Medium__c', 'string'), f('UTM_Campaign__c', 'string')];

export const SF_OBJECTS: Record<SfObjectName, SfObjectDef> = {
  Account: {
    name: 'Account',
    label: 'Account',
    labelPlural: 'Accounts',
    keyPrefix: '001',
    hasLastModified: true,
    fields: [
      ...SYSTEM(true),
      f('Name', 'string', { nillable: false }),
      f('Website', 'url'),
      f('Industry', 'picklist'),
      f('BillingCountry', 'string'),
      f('NumberOfEmployees', 'int'),
      f('Type', 'picklist'),
      f('CurrencyIsoCode', 'picklist', { nillable: false }),
      f('Segment__c', 'picklist'),
    ],
  },
  Contact: {
    name: 'Contact',
    label: 'Contact',
    labelPlural: 'Contacts',
    keyPrefix: '003',
    hasLastModified: true,
    fields: [
      ...SYSTEM(true),
      f('AccountId', 'reference', { referenceTo: ['Account'] }),
      f('FirstName', 'string'),
      f('LastName', 'string', { nillable: false }),
      f('Email', 'email'),
      f('Title', 'string'),
      f('LeadSource', 'picklist'),
      f('CurrencyIsoCode', 'picklist', { nillable: false }),
    ],
  },
  Lead: {
    name: 'Lead',
    label: 'Lead',
    labelPlural: 'Leads',
    keyPrefix: '00Q',
    hasLastModified: true,
    fields: [
      ...SYSTEM(true),
      f('FirstName', 'string'),
      f('LastName', 'string', { nillable: false }),
      f('Company', 'string', { nillable: false }),
      f('Email', 'email'),
      f('Title', 'string'),
      f('Status', 'picklist', { nillable: false }),
      f('LeadSource', 'picklist'),
      f('IsConverted', 'boolean', { nillable: false }),
      f('ConvertedDate', 'date'),
      f('ConvertedContactId', 'reference', { referenceTo: ['Contact'] }),
      f('ConvertedAccountId', 'reference', { referenceTo: ['Account'] }),
      f('ConvertedOpportunityId', 'reference', { referenceTo: ['Opportunity'] }),
      f('CurrencyIsoCode', 'picklist', { nillable: false }),
      ...UTM,
    ],
  },
  Campaign: {
    name: 'Campaign',
    label: 'Campaign',
    labelPlural: 'Campaigns',
    keyPrefix: '701',
    hasLastModified: true,
    fields: [
      ...SYSTEM(true),
      f('Name', 'string', { nillable: false }),
      f('Type', 'picklist'),
      f('Status', 'picklist'),
      f('StartDate', 'date'),
      f('EndDate', 'date'),
      f('BudgetedCost', 'currency'),
      f('ActualCost', 'currency'),
      f('IsActive', 'boolean', { nillable: false }),
      f('CurrencyIsoCode', 'picklist', { nillable: false }),
      ...UTM,
      f('Platform__c', 'picklist'),
      f('Platform_Campaign_Id__c', 'string'),
    ],
  },
  CampaignMember: {
    name: 'CampaignMember',
    label: 'Campaign Member',
    labelPlural: 'Campaign Members',
    keyPrefix: '00v',
    hasLastModified: true,
    fields: [
      ...SYSTEM(true),
      f('CampaignId', 'reference', { nillable: false, referenceTo: ['Campaign'] }),
      f('LeadId', 'reference', { referenceTo: ['Lead'] }),
      f('ContactId', 'reference', { referenceTo: ['Contact'] }),
      f('Status', 'picklist'),
      f('HasResponded', 'boolean', { nillable: false }),
      f('FirstRespondedDate', 'date'),
      f('CurrencyIsoCode', 'picklist', { nillable: false }),
    ],
  },
  Opportunity: {
    name: 'Opportunity',
    label: 'Opportunity',
    labelPlural: 'Opportunities',
    keyPrefix: '006',
    hasLastModified: true,
    fields: [
      ...SYSTEM(true),
      f('Name', 'string', { nillable: false }),
      f('AccountId', 'reference', { referenceTo: ['Account'] }),
      f('StageName', 'picklist', { nillable: false }),
      f('Amount', 'currency'),
      f('CurrencyIsoCode', 'picklist', { nillable: false }),
      f('CloseDate', 'date', { nillable: false }),
      f('IsClosed', 'boolean', { nillable: false }),
      f('IsWon', 'boolean', { nillable: false }),
      f('Probability', 'percent'),
      f('LeadSource', 'picklist'),
      f('CampaignId', 'reference', { referenceTo: ['Campaign'] }),
      f('Type', 'picklist'),
    ],
  },
  OpportunityHistory: {
    name: 'OpportunityHistory',
    label: 'Opportunity History',
    labelPlural: 'Opportunity History',
    keyPrefix: '008',
    hasLastModified: false,
    fields: [
      ...SYSTEM(false),
      f('OpportunityId', 'reference', { nillable: false, referenceTo: ['Opportunity'] }),
      f('StageName', 'picklist', { nillable: false }),
      f('Amount', 'currency'),
      f('CloseDate', 'date'),
      f('Probability', 'percent'),
      f('CurrencyIsoCode', 'picklist', { nillable: false }),
    ],
  },
  OpportunityContactRole: {
    name: 'OpportunityContactRole',
    label: 'Opportunity Contact Role',
    labelPlural: 'Opportunity Contact Role',
    keyPrefix: '00K',
    hasLastModified: true,
    fields: [
      ...SYSTEM(true),
      f('OpportunityId', 'reference', { nillable: false, referenceTo: ['Opportunity'] }),
      f('ContactId', 'reference', { nillable: false, referenceTo: ['Contact'] }),
      f('Role', 'picklist'),
      f('IsPrimary', 'boolean', { nillable: false }),
    ],
  },
};

export const SF_OBJECT_NAMES = Object.keys(SF_OBJECTS) as SfObjectName[];

/** Case-insensitive object lookup, as SOQL and the REST paths allow. */
export function findObject(name: string): SfObjectDef | undefined {
  const lower = name.toLowerCase();
  return SF_OBJECT_NAMES.map((n) => SF_OBJECTS[n]).find((o) => o.name.toLowerCase() === lower);
}

/** Case-insensitive field lookup. */
export function findField(obj: SfObjectDef, name: string): SfField | undefined {
  const lower = name.toLowerCase();
  return obj.fields.find((fd) => fd.name.toLowerCase() === lower);
}

/** Salesforce's REST datetime format: `2024-01-31T10:00:00.000+0000`. */
export function sfDateTime(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return d.toISOString().replace('Z', '+0000');
}

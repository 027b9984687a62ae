import type { z } from 'zod';
import { defineConnector, defineStream, type StreamDefinition } from '../core/connector.ts';
import type { CoreRows, CoreTableName } from '../../warehouse/core-tables.ts';
import type { NormalizeContext } from '../core/connector.ts';
import { SALESFORCE_ENV, salesforceConfigSchema, salesforceSettingsFromEnv, type SalesforceConfig, type SalesforceStreamName } from './config.ts';
import {
  OBJECT_SPECS,
  accountRecord,
  campaignMemberRecord,
  campaignRecord,
  contactRecord,
  leadRecord,
  normalizeAccount,
  normalizeCampaign,
  normalizeCampaignMember,
  normalizeContact,
  normalizeLead,
  normalizeOpportunity,
  normalizeOpportunityContactRole,
  normalizeOpportunityHistory,
  opportunityContactRoleRecord,
  opportunityHistoryRecord,
  opportunityRecord,
} from './objects.ts';
import { checkpointSchema, readObject, type SalesforceCheckpoint } from './read.ts';

export { salesforceConfigSchema, type SalesforceConfig } from './config.ts';
export { checkpointSchema as salesforceCheckpointSchema, type SalesforceCheckpoint } from './read.ts';
export { resetSalesforceSessions } from './client.ts';

function objectStream<Rec extends { IsDeleted: boolean }>(
  name: SalesforceStreamName,
  recordSchema: z.ZodType<Rec>,
  targets: readonly CoreTableName[],
  normalize: (record: Rec, ctx: NormalizeContext<SalesforceConfig>) => CoreRows,
): StreamDefinition<SalesforceConfig, Rec, SalesforceCheckpoint> {
  const spec = OBJECT_SPECS[name];
  return defineStream<SalesforceConfig>()({
    name,
    description: spec.description,
    primaryKey: ['Id'],
    cursorField: 'SystemModstamp',
    pageSize: 2000,
    recordSchema,
    checkpointSchema,
    targets,
    // queryAll returns deleted (recycle bin) rows with IsDeleted = true.
    isDeleted: (record) => record.IsDeleted === true,
    normalize,
    read: (ctx, checkpoint) => readObject(spec, ctx, checkpoint),
  });
}

export const salesforceStreams = {
  account: objectStream('account', accountRecord, ['core.dim_account'], (r) => normalizeAccount(r)),
  contact: objectStream('contact', contactRecord, ['core.dim_person'], normalizeContact),
  lead: objectStream('lead', leadRecord, ['core.dim_person'], normalizeLead),
  campaign: objectStream('campaign', campaignRecord, ['core.dim_campaign'], normalizeCampaign),
  campaign_member: objectStream('campaign_member', campaignMemberRecord, ['core.fct_touchpoint'], normalizeCampaignMember),
  opportunity: objectStream('opportunity', opportunityRecord, ['core.fct_opportunity'], normalizeOpportunity),
  opportunity_history: objectStream('opportunity_history', opportunityHistoryRecord, ['core.fct_opportunity_stage_history'], normalizeOpportunityHistory),
  opportunity_contact_role: objectStream('opportunity_contact_role', opportunityContactRoleRecord, ['core.bridge_opportunity_person'], (r) => normalizeOpportunityContactRole(r)),
};

export const salesforceConnector = defineConnector<SalesforceConfig>({
  name: 'salesforce',
  description: 'Salesforce CRM: opportunities (with stage history and contact roles), accounts, contacts, leads, campaigns and campaign members',
  configSchema: salesforceConfigSchema,
  env: SALESFORCE_ENV,
  fromEnv: salesforceSettingsFromEnv,
  streams: Object.values(salesforceStreams) as ReadonlyArray<StreamDefinition<SalesforceConfig, unknown, unknown>>,
});

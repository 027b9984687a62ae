import { z } from 'zod';
import { defineConnector, defineStream, type Page, type StreamContext, type StreamDefinition } from '../core/connector.ts';
import { SchemaError } from '../core/errors/index.ts';
import { HubSpotApi } from './api.ts';
import { batchReadObjects, readAssociations } from './associations.ts';
import { HUBSPOT_ENV, hubspotConfigSchema, hubspotFromEnv, type CrmObject, type HubSpotConfig } from './config.ts';
import { crmCheckpointSchema, idOf, readCrm, tombstone, validateExtraProperties, type CrmCheckpoint, type CrmReadSpec } from './crm.ts';
import {
  emailEventRecord,
  formSubmissionRecord,
  normalizeEmailEvent,
  normalizeFormSubmission,
  readEmailEvents,
  readFormSubmissions,
  windowCheckpointSchema,
} from './marketing.ts';
import { companyRecord, contactRecord, CURSOR_PROPERTY, DEFAULT_PROPERTIES, dealRecord, normalizeCompany, normalizeContact, normalizeDeal } from './objects.ts';

export { hubspotConfigSchema, type HubSpotConfig } from './config.ts';
export { crmCheckpointSchema, type CrmCheckpoint } from './crm.ts';

function openApi(ctx: StreamContext<HubSpotConfig>): HubSpotApi {
  return new HubSpotApi({ connectionId: ctx.connectionId, config: ctx.config, log: ctx.log, signal: ctx.signal });
}

/** Default properties plus the configured extras, after checking the extras exist in the portal. */
async function propertiesFor(api: HubSpotApi, ctx: StreamContext<HubSpotConfig>, object: CrmObject): Promise<string[]> {
  const extra = ctx.config.extraProperties[object];
  await validateExtraProperties(api, object, extra);
  return [...new Set<string>([...DEFAULT_PROPERTIES[object], ...extra])];
}

const DEAL_HISTORY = ['dealstage'];

async function* readDeals(ctx: StreamContext<HubSpotConfig>, checkpoint: CrmCheckpoint | undefined) {
  const api = openApi(ctx);
  const properties = await propertiesFor(api, ctx, 'deals');
  const spec: CrmReadSpec = {
    object: 'deals',
    cursorProperty: CURSOR_PROPERTY.deals,
    properties,
    propertiesWithHistory: DEAL_HISTORY,
    // HubSpot serves fewer records per list page when propertiesWithHistory is asked for; 50 is
    // the page size other sync tools use with history (limit is an upper bound: paging follows `after`).
    listLimit: 50,
    // One batch read (<= 100 inputs) per search page.
    searchLimit: 100,
    includeArchived: true,
    async expand(results, phase) {
      const ids = results.map(idOf).filter((id): id is string => id !== undefined);
      // Search results carry no property history: batch-read the page with it.
      const objects: unknown[] = phase === 'search' ? [...(await batchReadObjects(api, 'deals', ids, properties, DEAL_HISTORY)), ...results.filter((r) => idOf(r) === undefined)] : results;
      if (phase === 'archived' || ids.length === 0) return objects;
      const contacts = await readAssociations(api, 'deals', 'contacts', ids);
      const companies = await readAssociations(api, 'deals', 'companies', ids);
      return objects.map((o) => {
        const id = idOf(o);
        if (id === undefined || o === null || typeof o !== 'object') return o;
        return { ...o, _associations: { contacts: contacts.get(id) ?? [], companies: companies.get(id) ?? [] } };
      });
    },
  };
  yield* readCrm(ctx, api, spec, checkpoint);
}

async function* readPlain(object: 'contacts' | 'companies', ctx: StreamContext<HubSpotConfig>, checkpoint: CrmCheckpoint | undefined) {
  const api = openApi(ctx);
  const properties = await propertiesFor(api, ctx, object);
  yield* readCrm(
    ctx,
    api,
    { object, cursorProperty: CURSOR_PROPERTY[object], properties, listLimit: 100, searchLimit: 200, includeArchived: true, expand: async (results) => results },
    checkpoint,
  );
}

const isArchived = <R extends { archived?: boolean | undefined }>(r: R): boolean => r.archived === true;
const stream = defineStream<HubSpotConfig>();

const pipelineRecord = z.looseObject({
  id: z.string().min(1),
  label: z.string().nullish(),
  archived: z.boolean().optional(),
  stages: z.array(z.looseObject({ id: z.string(), label: z.string().nullish(), metadata: z.looseObject({}).optional() })).default([]),
});
const pipelinesResponse = z.looseObject({ results: z.array(z.unknown()) });
const pipelinesCheckpoint = z.object({
  readAt: z.string(),
  /** The ids of the live (listed, not archived) pipelines the last read stored; absent from the next complete list: deleted. */
  known: z.array(z.string()).optional(),
});
type PipelinesCheckpoint = z.infer<typeof pipelinesCheckpoint>;

/**
 * One read of the pipelines list, which is complete (no paging): its records, plus a tombstone
 * (crm.ts) for every pipeline stored live before and absent now, since a deleted pipeline is not
 * always returned archived. A list it cannot check whole (a result without an id, or no pipeline
 * at all, which a portal never has) marks nothing and keeps the ids it knew.
 */
function pipelinesWithAbsent(ctx: StreamContext<HubSpotConfig>, results: readonly unknown[], before: PipelinesCheckpoint | undefined): Page<PipelinesCheckpoint> {
  const readAt = ctx.now().toISOString();
  const listed = results.map(idOf);
  const live = results.flatMap((r, i) => {
    const id = listed[i];
    return id !== undefined && (r as { archived?: unknown }).archived !== true ? [id] : [];
  });
  const known = before?.known ?? [];
  if (listed.includes(undefined) || results.length === 0) {
    ctx.warn(`hubspot deal_pipelines: ${results.length === 0 ? 'the portal listed no pipeline' : 'a listed pipeline has no id'}; no pipeline is marked deleted by absence this run`);
    return { records: results, checkpoint: { readAt, known: [...new Set([...known, ...live])] } };
  }
  const seen = new Set(listed);
  const absent = known.filter((id) => !seen.has(id));
  if (absent.length > 0) ctx.warn(`hubspot deal_pipelines: ${absent.length} pipeline(s) stored earlier are no longer listed; marked deleted`, { ids: absent.slice(0, 20) });
  return { records: [...results, ...absent.map((id) => tombstone(id, readAt))], checkpoint: { readAt, known: live } };
}

export const hubspotStreams = {
  deals: stream({
    name: 'deals',
    description: 'Deals with pipeline, stage, amount and currency, dealstage history (propertiesWithHistory) and their contact and company associations',
    primaryKey: ['id'],
    cursorField: CURSOR_PROPERTY.deals,
    pageSize: 100,
    recordSchema: dealRecord,
    checkpointSchema: crmCheckpointSchema,
    targets: ['core.fct_opportunity', 'core.fct_opportunity_stage_history', 'core.bridge_opportunity_person'],
    // A deal's contact associations are its own: one taken off the deal (or every one of an
    // archived deal) is flagged deleted, not kept live.
    ownedRows: [{ table: 'core.bridge_opportunity_person', from: 'core.fct_opportunity', parent: ['opportunity_id'] }],
    isDeleted: isArchived,
    normalize: normalizeDeal,
    read: readDeals,
  }),
  deal_pipelines: stream({
    name: 'deal_pipelines',
    description: 'Deal pipelines and their stages (labels, order, probability, closed flags); read whole every sync',
    primaryKey: ['id'],
    cursorField: undefined,
    pageSize: 100,
    recordSchema: pipelineRecord,
    checkpointSchema: pipelinesCheckpoint,
    targets: [],
    isDeleted: isArchived,
    normalize: () => ({}),
    async *read(ctx, checkpoint) {
      const api = openApi(ctx);
      // GET /crm/v3/pipelines/deals (https://developers.hubspot.com/docs/api/crm/pipelines): all
      // pipelines at once (no paging), with stages[]. A stage taken out of a pipeline leaves its
      // stored stages[] when the pipeline is stored again.
      const res = await api.json({ path: '/crm/v3/pipelines/deals' });
      const parsed = pipelinesResponse.safeParse(res.data);
      if (!parsed.success) throw new SchemaError('hubspot: /crm/v3/pipelines/deals: response has no results[]', 'results');
      // A --full run does not get the stored checkpoint; it compares with it all the same.
      const before = checkpoint ?? pipelinesCheckpoint.safeParse(ctx.previousCheckpoint).data;
      yield pipelinesWithAbsent(ctx, parsed.data.results, before);
    },
  }),
  contacts: stream({
    name: 'contacts',
    description: 'Contacts with lifecycle stage dates, original source (hs_analytics_*) and UTM properties; the original source also as a touchpoint',
    primaryKey: ['id'],
    cursorField: CURSOR_PROPERTY.contacts,
    pageSize: 200,
    recordSchema: contactRecord,
    checkpointSchema: crmCheckpointSchema,
    targets: ['core.dim_person', 'core.fct_touchpoint'],
    isDeleted: isArchived,
    normalize: (r) => normalizeContact(r),
    read: (ctx, checkpoint) => readPlain('contacts', ctx, checkpoint),
  }),
  companies: stream({
    name: 'companies',
    description: 'Companies (name, domain, industry, country)',
    primaryKey: ['id'],
    cursorField: CURSOR_PROPERTY.companies,
    pageSize: 200,
    recordSchema: companyRecord,
    checkpointSchema: crmCheckpointSchema,
    targets: ['core.dim_account'],
    isDeleted: isArchived,
    normalize: (r) => normalizeCompany(r),
    read: (ctx, checkpoint) => readPlain('companies', ctx, checkpoint),
  }),
  email_events: stream({
    name: 'email_events',
    description: 'Marketing email events (emailEventTypes, default sends, opens, clicks); clicks become touchpoints',
    primaryKey: ['id'],
    cursorField: 'created',
    pageSize: 1000,
    recordSchema: emailEventRecord,
    checkpointSchema: windowCheckpointSchema,
    targets: ['core.fct_touchpoint'],
    normalize: (r) => normalizeEmailEvent(r),
    read: async function* (ctx, checkpoint) {
      yield* readEmailEvents(ctx, openApi(ctx), checkpoint);
    },
  }),
  form_submissions: stream({
    name: 'form_submissions',
    description: 'Form submissions of every form, with the page URL (UTM parameters); each a form-fill touchpoint',
    primaryKey: ['conversionId'],
    cursorField: 'submittedAt',
    pageSize: 50,
    recordSchema: formSubmissionRecord,
    checkpointSchema: windowCheckpointSchema,
    targets: ['core.fct_touchpoint'],
    normalize: (r) => normalizeFormSubmission(r),
    read: async function* (ctx, checkpoint) {
      yield* readFormSubmissions(ctx, openApi(ctx), checkpoint);
    },
  }),
};

export const hubspotConnector = defineConnector<HubSpotConfig>({
  name: 'hubspot',
  description: 'HubSpot CRM and marketing: deals (stage history, associations), pipelines, contacts, companies, email events, form submissions',
  configSchema: hubspotConfigSchema,
  env: HUBSPOT_ENV,
  fromEnv: hubspotFromEnv,
  streams: Object.values(hubspotStreams) as ReadonlyArray<StreamDefinition<HubSpotConfig, unknown, unknown>>,
});

import { z } from 'zod';
import { SchemaError } from '../core/errors/index.ts';
import type { HubSpotApi } from './api.ts';
import type { CrmObject } from './config.ts';
import { compareIds, type AssociationTarget } from './objects.ts';

/**
 * Batch reads for a page of changed records. Search returns neither associations nor property
 * history, so each page costs one batch read plus one association batch per target type, never
 * one call per record.
 */

/** v4 "Batch read associations": at most 1,000 ids per request (HubSpot changelog, Feb 2025). */
const ASSOCIATION_BATCH = 1000;
/** CRM v3 batch read: at most 100 inputs. */
const OBJECT_BATCH = 100;

const associationResponse = z.looseObject({
  results: z.array(
    z.looseObject({
      from: z.looseObject({ id: z.union([z.string(), z.number()]).transform(String) }),
      to: z.array(z.looseObject({ toObjectId: z.union([z.string(), z.number()]), associationTypes: z.array(z.looseObject({})).optional() })),
      paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
    }),
  ),
});

/**
 * POST /crm/v4/associations/{from}/{to}/batch/read
 * (https://developers.hubspot.com/docs/api-reference/legacy/crm/associations/associate-records/batch/get-associations).
 * Ids without associations come back as errors of a 207 (NO_ASSOCIATIONS_FOUND): they get [].
 * More than one page of targets for an id continues with `{ id, after }`.
 */
export async function readAssociations(api: HubSpotApi, from: CrmObject, to: CrmObject, ids: readonly string[]): Promise<Map<string, AssociationTarget[]>> {
  const out = new Map<string, AssociationTarget[]>(ids.map((id) => [id, []]));
  let inputs: Array<{ id: string; after?: string }> = ids.map((id) => ({ id }));
  const path = `/crm/v4/associations/${from}/${to}/batch/read`;
  while (inputs.length > 0) {
    const next: Array<{ id: string; after: string }> = [];
    for (let i = 0; i < inputs.length; i += ASSOCIATION_BATCH) {
      const res = await api.json({ method: 'POST', path, body: { inputs: inputs.slice(i, i + ASSOCIATION_BATCH) } });
      const parsed = associationResponse.safeParse(res.data);
      if (!parsed.success) throw new SchemaError(`hubspot: ${path}: unexpected response (${parsed.error.issues[0]?.message ?? 'invalid'})`, 'results');
      for (const result of parsed.data.results) {
        const list = out.get(result.from.id);
        if (!list) continue;
        for (const t of result.to) list.push(t as AssociationTarget);
        if (result.paging?.next?.after) next.push({ id: result.from.id, after: result.paging.next.after });
      }
    }
    inputs = next;
  }
  for (const list of out.values()) list.sort((a, b) => compareIds(String(a.toObjectId), String(b.toObjectId)));
  return out;
}

const batchReadResponse = z.looseObject({ results: z.array(z.looseObject({ id: z.string() })) });

/**
 * POST /crm/v3/objects/{object}/batch/read with properties and propertiesWithHistory
 * (https://developers.hubspot.com/docs/api/crm/understanding-the-crm, "Retrieve records").
 * Records archived since the search are missing (207 errors): the recycle-bin pass reads them.
 * Results are returned in the order of `ids`.
 */
export async function batchReadObjects(
  api: HubSpotApi,
  object: CrmObject,
  ids: readonly string[],
  properties: readonly string[],
  propertiesWithHistory: readonly string[],
): Promise<Array<Record<string, unknown> & { id: string }>> {
  const byId = new Map<string, Record<string, unknown> & { id: string }>();
  const path = `/crm/v3/objects/${object}/batch/read`;
  for (let i = 0; i < ids.length; i += OBJECT_BATCH) {
    const body = { inputs: ids.slice(i, i + OBJECT_BATCH).map((id) => ({ id })), properties: [...properties], propertiesWithHistory: [...propertiesWithHistory] };
    const res = await api.json({ method: 'POST', path, qs: { archived: false }, body });
    const parsed = batchReadResponse.safeParse(res.data);
    if (!parsed.success) throw new SchemaError(`hubspot: ${path}: response has no results[] (${parsed.error.issues[0]?.message ?? 'invalid'})`, 'results');
    for (const r of parsed.data.results) byId.set(r.id, r);
  }
  return ids.map((id) => byId.get(id)).filter((r): r is Record<string, unknown> & { id: string } => r !== undefined);
}

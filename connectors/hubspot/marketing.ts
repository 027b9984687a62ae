import { z } from 'zod';
import type { Page, StreamContext } from '../core/connector.ts';
import { SchemaError } from '../core/errors/index.ts';
import type { CoreRows } from '../../warehouse/core-tables.ts';
import type { HubSpotApi } from './api.ts';
import type { HubSpotConfig } from './config.ts';
import { keepScheduledCursor } from './crm.ts';
import { pageOf, utmOf } from './values.ts';

/**
 * Marketing streams: email events (sends, opens, clicks) from the legacy Email Events API and form
 * submissions from the Forms API. Neither carries a CRM contact id, only an email address, so each
 * page resolves its addresses with one contacts search (`email IN [...]`) and the record gets
 * `_contactId` (added by this connector; null when no contact has that address yet).
 */

// ---- contact lookup ----------------------------------------------------------------------------

/** Addresses per IN filter: 100 keeps each lookup one page of results (search pages hold up to 200). */
const EMAILS_PER_SEARCH = 100;

const searchResponse = z.looseObject({ results: z.array(z.looseObject({ id: z.string(), properties: z.record(z.string(), z.unknown()).optional() })) });

/** Lower-cased email -> contact id, by search (one request per 100 distinct addresses). */
export async function contactIdsByEmail(api: HubSpotApi, emails: Iterable<string>): Promise<Map<string, string>> {
  const wanted = [...new Set([...emails].map((e) => e.trim().toLowerCase()).filter((e) => e !== ''))].sort();
  const out = new Map<string, string>();
  for (let i = 0; i < wanted.length; i += EMAILS_PER_SEARCH) {
    const chunk = wanted.slice(i, i + EMAILS_PER_SEARCH);
    const body = {
      filterGroups: [{ filters: [{ propertyName: 'email', operator: 'IN', values: chunk }] }],
      sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }],
      properties: ['email'],
      limit: 200,
    };
    const res = await api.json({ method: 'POST', path: '/crm/v3/objects/contacts/search', body, search: true });
    const parsed = searchResponse.safeParse(res.data);
    if (!parsed.success) throw new SchemaError('hubspot: /crm/v3/objects/contacts/search: response has no results[]', 'results');
    for (const r of parsed.data.results) {
      const email = r.properties?.email;
      // Ascending ids: the oldest contact wins when an address appears twice.
      if (typeof email === 'string' && !out.has(email.toLowerCase())) out.set(email.toLowerCase(), r.id);
    }
  }
  return out;
}

// ---- email events ------------------------------------------------------------------------------

/**
 * GET /email/public/v1/events (legacy Email Events API,
 * https://developers.hubspot.com/docs/api-reference/legacy/email-analytics-v1/events/get-email-public-v1-events):
 * startTimestamp / endTimestamp (epoch ms), eventType, limit (<= 1000), offset; response
 * `{ events[], hasMore, offset }`. Events are immutable, so a run reads a closed window
 * [since - lookback, start of run] per event type; re-read events upsert unchanged.
 */
export const emailEventRecord = z.looseObject({
  id: z.string().min(1),
  type: z.string(),
  created: z.number().int(),
  recipient: z.string().nullish(),
  emailCampaignId: z.number().int().nullish(),
  appId: z.number().int().optional(),
  portalId: z.number().int().optional(),
  url: z.string().nullish(),
  _contactId: z.string().nullable().optional(),
});
export type EmailEventRecord = z.output<typeof emailEventRecord>;

export const windowCheckpointSchema = z.object({
  /** Completed up to here (epoch ms): the next run reads from it, minus the lookback. */
  since: z.number().int().optional(),
  /** A run in progress: its window, the part (event type / form) being read and the paging token. */
  run: z
    .object({ from: z.number().int(), to: z.number().int(), part: z.number().int().nonnegative(), offset: z.string().optional(), parts: z.array(z.string()).optional() })
    .optional(),
});
export type WindowCheckpoint = z.infer<typeof windowCheckpointSchema>;

const DAY_MS = 86_400_000;

/** The window of a new run: a backfill's days, else since (minus the lookback) up to now. */
function runWindow(ctx: StreamContext<HubSpotConfig>, checkpoint: WindowCheckpoint | undefined): { from: number; to: number } {
  if (ctx.window) return { from: Date.parse(`${ctx.window.from}T00:00:00Z`), to: Date.parse(`${ctx.window.to}T00:00:00Z`) + DAY_MS - 1 };
  const since = ctx.mode === 'full' ? undefined : checkpoint?.since;
  return { from: since === undefined ? 0 : Math.max(0, since - ctx.config.lookbackMs), to: ctx.now().getTime() };
}

const eventsResponse = z.looseObject({ events: z.array(z.unknown()), hasMore: z.boolean(), offset: z.string().optional() });

export function readEmailEvents(ctx: StreamContext<HubSpotConfig>, api: HubSpotApi, checkpoint: WindowCheckpoint | undefined): AsyncIterable<Page<WindowCheckpoint>> {
  return keepScheduledCursor<WindowCheckpoint>(ctx, checkpoint, {}, (c) => readEmailEventPages(ctx, api, c));
}

async function* readEmailEventPages(ctx: StreamContext<HubSpotConfig>, api: HubSpotApi, checkpoint: WindowCheckpoint | undefined): AsyncIterable<Page<WindowCheckpoint>> {
  const lookup = new ContactLookup(api);
  const resume = ctx.mode !== 'full' ? checkpoint?.run : undefined;
  const { from, to } = resume ?? runWindow(ctx, checkpoint);
  const types = ctx.config.emailEventTypes;
  const base: WindowCheckpoint = checkpoint?.since !== undefined && !ctx.window ? { since: checkpoint.since } : {};
  let part = resume?.part ?? 0;
  let offset = resume?.offset;
  for (; part < types.length; part++) {
    for (;;) {
      if (ctx.signal.aborted) return;
      const qs = { startTimestamp: from, endTimestamp: to, eventType: types[part], limit: 1000, offset };
      const res = await api.json({ path: '/email/public/v1/events', qs });
      const parsed = eventsResponse.safeParse(res.data);
      if (!parsed.success) throw new SchemaError(`hubspot: /email/public/v1/events: unexpected response (${parsed.error.issues[0]?.message ?? 'invalid'})`, 'events');
      const { events, hasMore } = parsed.data;
      const records = await withContactIds(lookup, events, (e) => (typeof e.recipient === 'string' ? e.recipient : undefined));
      offset = hasMore ? parsed.data.offset : undefined;
      if (hasMore && offset === undefined) throw new SchemaError('hubspot: /email/public/v1/events: hasMore without an offset', 'offset');
      const last = !hasMore && part === types.length - 1;
      const state: WindowCheckpoint = last ? { since: to } : { ...base, run: { from, to, part: hasMore ? part : part + 1, ...(offset ? { offset } : {}) } };
      yield { records, checkpoint: state };
      if (!hasMore) break;
    }
  }
}

/**
 * Contact ids by lower-cased address, remembered for the rest of a run (the same recipients come
 * back on every page: sends, opens and clicks of many emails), misses included. Bounded: the
 * oldest entries go first.
 */
export class ContactLookup {
  private readonly known = new Map<string, string | null>();

  constructor(
    private readonly api: HubSpotApi,
    private readonly maxEntries = 200_000,
  ) {}

  async resolve(emails: readonly string[]): Promise<Map<string, string | null>> {
    const wanted = [...new Set(emails.map((e) => e.trim().toLowerCase()).filter((e) => e !== ''))];
    const missing = wanted.filter((e) => !this.known.has(e));
    if (missing.length > 0) {
      const found = await contactIdsByEmail(this.api, missing);
      for (const e of missing) this.known.set(e, found.get(e) ?? null);
      for (const key of this.known.keys()) {
        if (this.known.size <= this.maxEntries) break;
        this.known.delete(key);
      }
    }
    return new Map(wanted.map((e) => [e, this.known.get(e) ?? null]));
  }
}

/** Adds `_contactId` to each object record, resolving the page's addresses in one lookup. */
async function withContactIds(lookup: ContactLookup, items: readonly unknown[], emailOf: (item: Record<string, unknown>) => string | undefined): Promise<unknown[]> {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const emails = items.filter(isObject).map(emailOf).filter((e): e is string => e !== undefined);
  const ids = await lookup.resolve(emails);
  return items.map((item) => {
    if (!isObject(item)) return item;
    const email = emailOf(item);
    return { ...item, _contactId: email === undefined ? null : (ids.get(email.trim().toLowerCase()) ?? null) };
  });
}

/**
 * Who a marketing touch belongs to: the contact resolved when read, and the lower-cased address,
 * so that a touch whose contact did not exist yet is linked by the transform once it does
 * (staging.int_touchpoints). Neither: no touch.
 */
function personOf(contactId: string | null | undefined, email: string | null | undefined): { person_id: string | null; email: string | null } | undefined {
  const address = typeof email === 'string' && email.trim() !== '' ? email.trim().toLowerCase() : null;
  if (!contactId && !address) return undefined;
  return { person_id: contactId ?? null, email: address };
}

/**
 * Email clicks become touchpoints; sends become `email_send` rows (production counts such as the
 * emails_sent goal; the transform never credits them, a send is not an engagement); opens and
 * other events stay in raw.
 */
export function normalizeEmailEvent(r: EmailEventRecord): CoreRows {
  const who = personOf(r._contactId, r.recipient);
  if (!who || (r.type !== 'SENT' && r.type !== 'CLICK')) return {};
  const touch = {
    touchpoint_id: `email_event:${r.id}`,
    ...who,
    occurred_at: new Date(r.created).toISOString(),
    campaign_id: r.emailCampaignId === null || r.emailCampaignId === undefined ? null : String(r.emailCampaignId),
  };
  if (r.type === 'SENT') return { 'core.fct_touchpoint': [{ ...touch, touch_type: 'email_send', utm_medium: 'email' }] };
  const utm = utmOf(r.url);
  return {
    'core.fct_touchpoint': [{ ...touch, touch_type: 'email_click', ...utm, utm_medium: utm.utm_medium ?? 'email', landing_page: pageOf(r.url) }],
  };
}

// ---- form submissions --------------------------------------------------------------------------

/**
 * Forms: GET /marketing/v3/forms (`after` paging) lists the forms; GET
 * /form-integrations/v1/submissions/forms/{form_guid} (limit <= 50, `after` paging, newest first;
 * https://developers.hubspot.com/docs/api-reference/legacy/marketing/forms/v1/get-form-integrations-v1-submissions-forms-form_guid)
 * the submissions. Newest first: an incremental run stops a form at the first submission older
 * than its window. The record gets `_formId` (the response does not repeat it) and `_contactId`.
 */
export const formSubmissionRecord = z.looseObject({
  conversionId: z.string().min(1),
  submittedAt: z.number().int(),
  pageUrl: z.string().nullish(),
  values: z.array(z.looseObject({ name: z.string(), value: z.string().nullish() })).default([]),
  _formId: z.string(),
  _contactId: z.string().nullable().optional(),
});
export type FormSubmissionRecord = z.output<typeof formSubmissionRecord>;

const formsResponse = z.looseObject({
  results: z.array(z.looseObject({ id: z.string() })),
  paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
});
const submissionsResponse = z.looseObject({
  results: z.array(z.unknown()),
  paging: z.looseObject({ next: z.looseObject({ after: z.string() }).optional() }).optional(),
});

async function listForms(api: HubSpotApi): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  do {
    const res = await api.json({ path: '/marketing/v3/forms', qs: { limit: 100, after } });
    const parsed = formsResponse.safeParse(res.data);
    if (!parsed.success) throw new SchemaError('hubspot: /marketing/v3/forms: response has no results[]', 'results');
    ids.push(...parsed.data.results.map((f) => f.id));
    after = parsed.data.paging?.next?.after;
  } while (after);
  return ids;
}

function emailValue(item: Record<string, unknown>): string | undefined {
  const values = item.values;
  if (!Array.isArray(values)) return undefined;
  const hit = values.find((v): v is { name: string; value: string } => v !== null && typeof v === 'object' && (v as { name?: unknown }).name === 'email' && typeof (v as { value?: unknown }).value === 'string');
  return hit?.value;
}

export function readFormSubmissions(ctx: StreamContext<HubSpotConfig>, api: HubSpotApi, checkpoint: WindowCheckpoint | undefined): AsyncIterable<Page<WindowCheckpoint>> {
  return keepScheduledCursor<WindowCheckpoint>(ctx, checkpoint, {}, (c) => readFormSubmissionPages(ctx, api, c));
}

async function* readFormSubmissionPages(ctx: StreamContext<HubSpotConfig>, api: HubSpotApi, checkpoint: WindowCheckpoint | undefined): AsyncIterable<Page<WindowCheckpoint>> {
  const lookup = new ContactLookup(api);
  const resume = ctx.mode !== 'full' && checkpoint?.run?.parts ? checkpoint.run : undefined;
  const { from, to } = resume ?? runWindow(ctx, checkpoint);
  const forms = resume?.parts ?? (await listForms(api));
  const base: WindowCheckpoint = checkpoint?.since !== undefined && !ctx.window ? { since: checkpoint.since } : {};
  let part = resume?.part ?? 0;
  let after = resume?.offset;
  if (forms.length === 0) {
    yield { records: [], checkpoint: { since: to } };
    return;
  }
  for (; part < forms.length; part++) {
    const formId = forms[part] as string;
    for (;;) {
      if (ctx.signal.aborted) return;
      const res = await api.json({ path: `/form-integrations/v1/submissions/forms/${formId}`, qs: { limit: 50, after } });
      const parsed = submissionsResponse.safeParse(res.data);
      if (!parsed.success) throw new SchemaError(`hubspot: form ${formId} submissions: response has no results[]`, 'results');
      const inWindow = parsed.data.results.filter((s) => {
        const at = (s as { submittedAt?: unknown } | null)?.submittedAt;
        return typeof at !== 'number' || (at >= from && at <= to);
      });
      // Newest first: once a page reaches back past the window start, older pages are not needed.
      const reachedStart = parsed.data.results.some((s) => {
        const at = (s as { submittedAt?: unknown } | null)?.submittedAt;
        return typeof at === 'number' && at < from;
      });
      const tagged = inWindow.map((s) => (s !== null && typeof s === 'object' ? { ...s, _formId: formId } : s));
      const records = await withContactIds(lookup, tagged, emailValue);
      const next = reachedStart ? undefined : parsed.data.paging?.next?.after;
      after = next;
      const last = next === undefined && part === forms.length - 1;
      const state: WindowCheckpoint = last ? { since: to } : { ...base, run: { from, to, part: next ? part : part + 1, parts: forms, ...(next ? { offset: next } : {}) } };
      yield { records, checkpoint: state };
      if (next === undefined) break;
    }
  }
}

export function normalizeFormSubmission(r: FormSubmissionRecord): CoreRows {
  const who = personOf(r._contactId, emailValue(r));
  if (!who) return {};
  return {
    'core.fct_touchpoint': [
      {
        touchpoint_id: `form_submission:${r.conversionId}`,
        ...who,
        occurred_at: new Date(r.submittedAt).toISOString(),
        touch_type: 'form_fill',
        ...utmOf(r.pageUrl),
        landing_page: pageOf(r.pageUrl),
      },
    ],
  };
}

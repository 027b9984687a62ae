/**
 * Generation of one account (the unit every people/opportunity stream iterates): the company,
 * its people with their journeys, their opportunities, campaign memberships and email sends.
 *
 * Time inside a unit is "world seconds": seconds since 00:00 GA4-local on the world's first
 * date (day * 86,400 + second of day). Identified touches happen in business hours
 * 08:00-17:59 local, so the GA4-local date is also the date in every ad account's time zone.
 */
import { Rng } from './rng.ts';
import {
  FIRST_NAMES,
  INDUSTRIES,
  LAST_NAMES,
  REFERRERS,
  TITLES,
  companyName,
  hubspotId,
  sfId,
  type CampaignModel,
  type Region,
} from './catalog.ts';
import type {
  Account,
  Campaign,
  CampaignMember,
  Channel,
  ContactRole,
  CrmName,
  Currency,
  EmailSend,
  MarketingEmail,
  Opportunity,
  Person,
  Segment,
  StageChange,
  TouchKind,
  Touchpoint,
} from './types.ts';

export const DAY_S = 86_400;
const BUSINESS_START_S = 8 * 3600;
const BUSINESS_END_S = 18 * 3600; // exclusive

/** Parameters of the opportunity model (see README, "Ground truth"). */
export interface ModelParams {
  baseline: number;
  lift: Record<Channel, number>;
  touchCap: number;
  winRate: Record<Segment, number>;
}

/** Everything a unit needs from the world; built once per world. */
export interface UnitContext {
  seed: number;
  days: number;
  dates: readonly string[];
  /** Epoch ms of each date's GA4-local midnight. */
  dayStartMs: readonly number[];
  siteOrigin: string;
  campaigns: readonly Campaign[];
  models: readonly CampaignModel[];
  /** Paid campaign indexes per channel. */
  paidByChannel: ReadonlyMap<Channel, readonly number[]>;
  /** Event/webinar campaign indexes. */
  sfEvents: readonly number[];
  /** Marketing emails ordered by send time, with their send day and world second. */
  emails: readonly MarketingEmail[];
  emailSendSec: readonly number[];
  /** Email campaign indexes. */
  emailCampaigns: readonly number[];
  fxEurUsd: Readonly<Record<string, number>>;
  model: ModelParams;
}

export interface AccountUnit {
  account: Account;
  people: Person[];
  opportunities: Opportunity[];
  members: CampaignMember[];
  emailSends: EmailSend[];
}

const utcDateCache = new Map<number, string>();

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Epoch ms -> ISO string with '.000Z' (whole seconds), without allocating a Date per call. */
function isoOfMs(ms: number): string {
  const utcDay = Math.floor(ms / 86_400_000);
  let date = utcDateCache.get(utcDay);
  if (date === undefined) {
    date = new Date(utcDay * 86_400_000).toISOString().slice(0, 10);
    utcDateCache.set(utcDay, date);
  }
  const sec = Math.floor((ms - utcDay * 86_400_000) / 1000);
  return `${date}T${pad2(Math.floor(sec / 3600))}:${pad2(Math.floor(sec / 60) % 60)}:${pad2(sec % 60)}.000Z`;
}

/** World seconds -> ISO UTC timestamp. */
export function isoOf(ctx: UnitContext, t: number): string {
  const day = Math.floor(t / DAY_S);
  const base = ctx.dayStartMs[day];
  if (base !== undefined) return isoOfMs(base + (t - day * DAY_S) * 1000);
  // Beyond the world (expected close dates): extrapolate from the last day's offset.
  const last = ctx.dayStartMs.length - 1;
  return isoOfMs((ctx.dayStartMs[last] as number) + (t - last * DAY_S) * 1000);
}

function businessSecond(rng: Rng): number {
  return rng.int(BUSINESS_START_S, BUSINESS_END_S - 1);
}

const COUNTRIES: readonly { country: string; currency: Currency; weight: number }[] = [
  { country: 'United States', currency: 'USD', weight: 0.62 },
  { country: 'Germany', currency: 'EUR', weight: 0.12 },
  { country: 'France', currency: 'EUR', weight: 0.08 },
  { country: 'Netherlands', currency: 'EUR', weight: 0.07 },
  { country: 'Ireland', currency: 'EUR', weight: 0.05 },
  { country: 'Spain', currency: 'EUR', weight: 0.06 },
];
const SEGMENTS: readonly Segment[] = ['SMB', 'Mid-Market', 'Enterprise'];

const ACQUISITION: readonly [Channel, number][] = [
  ['Paid Search', 0.28], ['Paid Social', 0.18], ['Display', 0.05], ['Organic Search', 0.25], ['Referral', 0.09], ['Direct', 0.15],
];
const CONVERSION: readonly [Channel, number][] = [
  ['Paid Search', 0.3], ['Paid Social', 0.2], ['Display', 0.03], ['Organic Search', 0.22], ['Referral', 0.1], ['Direct', 0.15],
];
const REVISIT: readonly [Channel, number][] = [
  ['Paid Social', 0.22], ['Paid Search', 0.15], ['Display', 0.05], ['Organic Search', 0.2], ['Direct', 0.28], ['Referral', 0.1],
];
const ORGANIC_PATHS = ['/blog/what-is-multi-touch-attribution', '/blog/b2b-marketing-kpis', '/product', '/pricing', '/guides/attribution', '/'];
const DIRECT_PATHS = ['/', '/pricing', '/login', '/product'];

const SF_STAGES = ['Prospecting', 'Qualification', 'Proposal', 'Negotiation'];
const HS_STAGES = ['appointmentscheduled', 'qualifiedtobuy', 'presentationscheduled', 'decisionmakerboughtin', 'contractsent'];

/** A touch before it gets its id and strings. */
interface Draft {
  t: number;
  kind: TouchKind;
  channel: Channel;
  campaignIndex?: number;
  emailId?: string;
  /** Referral site or organic engine, for campaign-less traffic. */
  source?: string;
}

function pickWeighted<T>(rng: Rng, table: readonly [T, number][]): T {
  const i = rng.weightedIndex(table.map(([, w]) => w));
  return (table[i] as [T, number])[0];
}

/** A paid campaign of `channel` active on `day`, preferring the person's region. */
function pickPaidCampaign(ctx: UnitContext, rng: Rng, channel: Channel, day: number, region: Region): number | undefined {
  const all = ctx.paidByChannel.get(channel) ?? [];
  const active = all.filter((c) => {
    const m = ctx.models[c] as CampaignModel;
    return m.startDay <= day && day <= m.endDay;
  });
  const local = active.filter((c) => (ctx.models[c] as CampaignModel).region === region);
  const pool = local.length > 0 ? local : active;
  if (pool.length === 0) return undefined;
  return pool[rng.weightedIndex(pool.map((c) => (ctx.models[c] as CampaignModel).weight))];
}

/** A web touch (visit / ad click / form fill) on `day` via `channel`. */
function webTouch(ctx: UnitContext, rng: Rng, channel: Channel, day: number, region: Region, formFill: boolean): Draft {
  const t = day * DAY_S + businessSecond(rng);
  if (channel === 'Paid Search' || channel === 'Paid Social' || channel === 'Display') {
    const c = pickPaidCampaign(ctx, rng, channel, day, region);
    if (c !== undefined) return { t, kind: formFill ? 'form_fill' : 'ad_click', channel, campaignIndex: c };
    // No campaign of that channel is running: the person finds the site organically instead.
    channel = 'Organic Search';
  }
  const kind: TouchKind = formFill ? 'form_fill' : 'visit';
  if (channel === 'Organic Search') return { t, kind, channel, source: rng.chance(0.85) ? 'google' : 'bing' };
  if (channel === 'Referral') return { t, kind, channel, source: rng.pick(REFERRERS) };
  return { t, kind, channel: 'Direct' };
}

function landing(origin: string, path: string, params: [string, string | undefined][]): string {
  const q = new URLSearchParams();
  for (const [k, v] of params) if (v !== undefined) q.append(k, v);
  const qs = q.toString();
  return qs ? `${origin}${path}?${qs}` : `${origin}${path}`;
}

/**
 * Turns a draft into the public touchpoint. Every touchpoint object is built with the same
 * keys in the same order (absent optional fields are `undefined`, which JSON omits) so that V8
 * keeps one object shape: this is the generator's hottest function.
 */
function materialize(ctx: UnitContext, rng: Rng, d: Draft, personId: string, n: number, preDecision: boolean): Touchpoint {
  const at = isoOf(ctx, d.t);
  const date = ctx.dates[Math.floor(d.t / DAY_S)] as string;
  const session = d.kind === 'visit' || d.kind === 'ad_click' || d.kind === 'form_fill' || d.kind === 'email_click';
  let utm_source: string;
  let utm_medium: string;
  let utm_campaign: string;
  let utm_content: string | undefined;
  let utm_term: string | undefined;
  let campaignId: string | undefined;
  let landingPage: string | undefined;
  if (d.campaignIndex !== undefined) {
    const c = ctx.campaigns[d.campaignIndex] as Campaign;
    const m = ctx.models[d.campaignIndex] as CampaignModel;
    utm_source = c.utmSource;
    utm_medium = c.utmMedium;
    utm_campaign = c.utmCampaign;
    campaignId = c.id;
    utm_content = d.emailId ?? (m.contents.length > 0 ? rng.pick(m.contents) : undefined);
    utm_term = m.terms.length > 0 ? rng.pick(m.terms) : undefined;
    if (session) {
      landingPage = landing(ctx.siteOrigin, m.landingPath, [
        ['utm_source', utm_source],
        ['utm_medium', utm_medium],
        ['utm_campaign', utm_campaign],
        ['utm_content', utm_content],
        ['utm_term', utm_term],
        ['utm_id', campaignId],
      ]);
    }
  } else if (d.channel === 'Organic Search') {
    utm_source = d.source ?? 'google';
    utm_medium = 'organic';
    utm_campaign = '(organic)';
    landingPage = ctx.siteOrigin + rng.pick(ORGANIC_PATHS);
  } else if (d.channel === 'Referral') {
    utm_source = d.source ?? 'g2.com';
    utm_medium = 'referral';
    utm_campaign = '(referral)';
    landingPage = ctx.siteOrigin + rng.pick(ORGANIC_PATHS);
  } else {
    utm_source = '(direct)';
    utm_medium = '(none)';
    utm_campaign = '(direct)';
    landingPage = ctx.siteOrigin + rng.pick(DIRECT_PATHS);
  }
  return {
    id: `T${personId.slice(1)}-${n}`,
    personId,
    kind: d.kind,
    at,
    date,
    channel: d.channel,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_content,
    utm_term,
    campaignId,
    utm_id: campaignId,
    campaignIndex: d.campaignIndex,
    landingPage,
    emailId: d.emailId,
    session,
    preDecision,
  };
}

/** P(opportunity) under the noisy-OR model for the given per-channel touch counts. */
export function opportunityProbability(model: Pick<ModelParams, 'baseline' | 'touchCap'> & { lift: Partial<Record<Channel, number>> }, counts: Partial<Record<Channel, number>>, without?: Channel): number {
  let miss = 1 - model.baseline;
  for (const [ch, n] of Object.entries(counts) as [Channel, number][]) {
    if (ch === without || n <= 0) continue;
    miss *= Math.pow(1 - (model.lift[ch] ?? 0), Math.min(n, model.touchCap));
  }
  return 1 - miss;
}

interface PersonDraft {
  person: Person;
  members: CampaignMember[];
  emailSends: EmailSend[];
  leadT: number;
  /** Set when the model drew an opportunity. */
  opp?: Opportunity;
}

function amountUnits(rng: Rng, segment: Segment): number {
  const [lo, hi] = segment === 'SMB' ? [8_000, 25_000] : segment === 'Mid-Market' ? [25_000, 90_000] : [90_000, 300_000];
  // Log-uniform between the bounds, rounded to hundreds.
  return Math.round(Math.exp(rng.range(Math.log(lo), Math.log(hi))) / 100) * 100;
}

function generatePerson(ctx: UnitContext, account: Account, region: Region, p: number, arrival: number): PersonDraft | undefined {
  const rng = Rng.for(ctx.seed, 'person', p);
  const lastDay = ctx.days - 1;
  const endT = ctx.days * DAY_S - 1;
  const personId = `P${p}`;
  const drafts: Draft[] = [];

  // Anonymous visits before the first form fill.
  let day = arrival + Math.floor(rng.exp(12));
  const pre = rng.poisson(1.7);
  for (let i = 0; i < pre && day <= lastDay; i++) {
    drafts.push(webTouch(ctx, rng, pickWeighted(rng, ACQUISITION), day, region, false));
    day += 1 + Math.floor(rng.exp(5));
  }
  const leadDay = day;
  if (leadDay > lastDay) return undefined; // Not a lead (yet) within the world: not in any CRM.

  const isSf = account.crm === 'salesforce';
  const registered = new Map<number, number>(); // campaign index -> registration world second
  const events = ctx.sfEvents.filter((c) => {
    const m = ctx.models[c] as CampaignModel;
    const c0 = ctx.campaigns[c] as Campaign;
    return c0.sfType === 'Webinar' || m.region === region;
  });

  // Lead creation: the first form fill; for Salesforce people sometimes an event registration.
  let leadDraft: Draft | undefined;
  if (isSf) {
    const open = events.filter((c) => {
      const m = ctx.models[c] as CampaignModel;
      return m.startDay <= leadDay && leadDay < m.eventDay;
    });
    if (open.length > 0 && rng.chance(0.3)) {
      const c = rng.pick(open);
      leadDraft = { t: leadDay * DAY_S + businessSecond(rng), kind: 'form_fill', channel: 'Events', campaignIndex: c };
      registered.set(c, leadDraft.t);
    }
  }
  leadDraft ??= webTouch(ctx, rng, pickWeighted(rng, CONVERSION), leadDay, region, true);
  // Pre-lead visits happen strictly before the form fill even when drawn on the same day.
  for (const d of drafts) if (d.t >= leadDraft.t) d.t = leadDraft.t - 1;
  drafts.push(leadDraft);
  const leadT = leadDraft.t;

  // Short (test) worlds compress journeys and sales cycles so they still close deals.
  const timeScale = Math.min(1, ctx.days / 365);
  const nurtureLen = Math.max(5, Math.round((15 + rng.exp(35)) * timeScale));
  const decisionDay = leadDay + nurtureLen;
  const decisionT = decisionDay * DAY_S + BUSINESS_END_S + rng.int(0, 3599);
  const nurtureLastDay = Math.min(decisionDay, lastDay);

  // Marketing emails (HubSpot sends to every lead, whichever CRM holds them).
  const emailSends: EmailSend[] = [];
  const subscribed = new Set<number>();
  // Each person is on about two email programmes, however many the world runs.
  const subscribeP = Math.min(0.6, 1.8 / Math.max(1, ctx.emailCampaigns.length));
  for (const c of ctx.emailCampaigns) if (rng.chance(subscribeP)) subscribed.add(c);
  for (let i = 0; i < ctx.emails.length; i++) {
    const sendT = ctx.emailSendSec[i] as number;
    if (sendT <= leadT) continue;
    if (sendT > nurtureLastDay * DAY_S + DAY_S - 1) break;
    const email = ctx.emails[i] as MarketingEmail;
    if (!subscribed.has(email.campaignIndex)) continue;
    const send: EmailSend = {
      emailId: email.id,
      campaignIndex: email.campaignIndex,
      campaignId: email.campaignId,
      personId,
      recipient: '',
      sentAt: email.sendAt,
    };
    if (rng.chance(0.22)) {
      const openDay = Math.floor(sendT / DAY_S) + Math.floor(rng.exp(0.6));
      if (openDay <= lastDay) {
        // Same-day opens come after the send (opens are not sessions, so evenings are fine).
        const sod = openDay === Math.floor(sendT / DAY_S) ? rng.int(sendT - openDay * DAY_S + 60, BUSINESS_END_S + 3600) : businessSecond(rng);
        const openT = openDay * DAY_S + sod;
        drafts.push({ t: openT, kind: 'email_open', channel: 'Email', campaignIndex: email.campaignIndex, emailId: email.id });
        send.openedAt = isoOf(ctx, openT);
        if (rng.chance(0.25)) {
          const clickT = Math.min(openDay * DAY_S + DAY_S - 1, openT + rng.int(5, 900));
          drafts.push({ t: clickT, kind: 'email_click', channel: 'Email', campaignIndex: email.campaignIndex, emailId: email.id });
          send.clickedAt = isoOf(ctx, clickT);
        }
      }
    }
    emailSends.push(send);
  }

  // Events and webinars (Salesforce campaigns, so Salesforce people only).
  const members: CampaignMember[] = [];
  if (isSf) {
    for (const c of events) {
      const m = ctx.models[c] as CampaignModel;
      const campaign = ctx.campaigns[c] as Campaign;
      let regT = registered.get(c);
      if (regT === undefined) {
        const from = Math.max(leadDay + 1, m.startDay);
        const to = Math.min(nurtureLastDay, m.eventDay - 1);
        if (from <= to && rng.chance(0.12)) {
          regT = rng.int(from, to) * DAY_S + businessSecond(rng);
          drafts.push({ t: regT, kind: 'form_fill', channel: 'Events', campaignIndex: c });
        }
      }
      if (regT !== undefined) {
        const attended = m.eventDay <= lastDay && rng.chance(0.55);
        if (attended) {
          // Webinars start at 11:00 GA4-local; in-person events run 09:00-16:00 in their own
          // region (European events are six hours ahead of the New York property).
          const sod =
            campaign.sfType === 'Webinar'
              ? 11 * 3600 + rng.int(0, 1800)
              : m.region === 'EU'
                ? rng.int(3 * 3600, 10 * 3600)
                : rng.int(9 * 3600, 16 * 3600);
          drafts.push({ t: m.eventDay * DAY_S + sod, kind: campaign.sfType === 'Webinar' ? 'webinar_attended' : 'event_attended', channel: 'Events', campaignIndex: c });
        }
        members.push({
          campaignIndex: c,
          campaignId: campaign.id,
          personId,
          status: attended ? 'Attended' : 'Registered',
          hasResponded: true,
          createdAt: isoOf(ctx, regT),
          firstRespondedDate: ctx.dates[Math.floor(regT / DAY_S)] as string,
        });
      } else if (leadDay < m.startDay && m.startDay <= nurtureLastDay && rng.chance(0.25)) {
        // Invited (the invitation email went out when registration opened) but never responded.
        members.push({
          campaignIndex: c,
          campaignId: campaign.id,
          personId,
          status: 'Sent',
          hasResponded: false,
          createdAt: isoOf(ctx, m.startDay * DAY_S + 9 * 3600),
        });
      }
    }
  }

  // Return visits while the lead is being nurtured.
  const revisits = rng.poisson((2.6 * nurtureLen) / 60);
  for (let i = 0; i < revisits; i++) {
    const d = rng.int(leadDay, nurtureLastDay);
    const draft = webTouch(ctx, rng, pickWeighted(rng, REVISIT), d, region, false);
    // A return visit drawn before the form fill on the lead day is dropped rather than moved
    // out of business hours.
    if (draft.t > leadT) drafts.push(draft);
  }

  // The opportunity decision (noisy-OR over the touches before it).
  const decided = decisionT <= endT;
  const counts: Partial<Record<Channel, number>> = {};
  for (const d of drafts) if (d.t < decisionT && d.t <= endT) counts[d.channel] = (counts[d.channel] ?? 0) + 1;
  const pOpportunity = decided ? opportunityProbability(ctx.model, counts) : 0;
  const pWin = ctx.model.winRate[account.segment];
  const amountCents = amountUnits(rng, account.segment) * 100;
  const decisionDate = ctx.dates[Math.min(decisionDay, lastDay)] as string;
  const fx = account.currency === 'USD' ? 1 : (ctx.fxEurUsd[decisionDate] as number);
  const uOpp = rng.next();
  const uWin = rng.next();
  const hasOpp = decided && uOpp < pOpportunity;

  let opp: Opportunity | undefined;
  let customerT: number | undefined;
  if (hasOpp) {
    const won = uWin < pWin;
    const open = account.crm === 'salesforce' ? SF_STAGES : HS_STAGES;
    const lostAt = won ? open.length : rng.int(0, open.length - 1);
    const history: StageChange[] = [];
    let t = decisionT;
    let closed = false;
    let closeT = t;
    for (let s = 0; s <= lostAt && s < open.length; s++) {
      if (s > 0) t = (Math.floor(t / DAY_S) + 2 + Math.floor(rng.exp(9 * timeScale))) * DAY_S + businessSecond(rng);
      if (t <= endT) history.push({ stage: open[s] as string, at: isoOf(ctx, t) });
    }
    closeT = (Math.floor(t / DAY_S) + 2 + Math.floor(rng.exp(9 * timeScale))) * DAY_S + businessSecond(rng);
    const closedStage = account.crm === 'salesforce' ? (won ? 'Closed Won' : 'Closed Lost') : won ? 'closedwon' : 'closedlost';
    if (closeT <= endT) {
      history.push({ stage: closedStage, at: isoOf(ctx, closeT) });
      closed = true;
      if (won) customerT = closeT;
    }
    const last = history[history.length - 1] as StageChange;
    const closeDay = Math.floor(closeT / DAY_S);
    const o: Opportunity = {
      id: `O${p}`,
      crm: account.crm,
      crmId: account.crm === 'salesforce' ? sfId('006', p) : hubspotId('deal', p),
      accountIndex: account.index,
      accountId: account.id,
      name: `${account.name} - ${['Platform', 'Analytics Suite', 'Attribution Add-on'][rng.int(0, 2)] as string}`,
      amountCents,
      currency: account.currency,
      createdAt: isoOf(ctx, decisionT),
      closeDate: ctx.dates[closeDay] ?? (isoOf(ctx, closeDay * DAY_S + 12 * 3600).slice(0, 10)),
      stage: last.stage,
      isClosed: closed,
      isWon: closed && won,
      stageHistory: history,
      contactRoles: [{ personId, role: rng.chance(0.5) ? 'Decision Maker' : 'Economic Buyer', isPrimary: true }],
      primaryPersonId: personId,
      leadSource: '',
    };
    opp = o;
    // A few visits during the sales cycle (after the decision: not model inputs).
    const post = rng.poisson(1.2);
    const cycleEnd = Math.min(lastDay, closeDay);
    for (let i = 0; i < post; i++) {
      const d = rng.int(decisionDay + 1, Math.max(decisionDay + 1, cycleEnd));
      if (d > lastDay) continue;
      drafts.push(webTouch(ctx, rng, rng.chance(0.6) ? 'Direct' : 'Organic Search', d, region, false));
    }
  }

  // Stable sort: ties keep insertion order (an email open before its click).
  const kept = drafts.filter((d) => d.t <= endT).sort((a, b) => a.t - b.t);
  const touchpoints = kept.map((d, n) => materialize(ctx, rng, d, personId, n, d.t < decisionT));
  const first = touchpoints[0] as Touchpoint;
  const leadSource = first.channel;

  // Lifecycle: MQL and SQL between lead creation and the decision.
  const horizon = Math.min(decisionT, endT);
  const lifecycle: Person['lifecycle'] = { leadAt: isoOf(ctx, leadT) };
  let mqlT: number | undefined;
  let sqlT: number | undefined;
  if (hasOpp) {
    mqlT = leadT + Math.floor((decisionT - leadT) * rng.range(0.1, 0.5));
    sqlT = mqlT + Math.floor((decisionT - mqlT) * rng.range(0.3, 0.9));
  } else if (rng.chance(0.35)) {
    mqlT = leadT + Math.floor((horizon - leadT) * rng.range(0.2, 0.8));
    if (decided && rng.chance(0.2)) sqlT = mqlT + Math.floor((decisionT - mqlT) * rng.range(0.3, 0.9));
  }
  if (mqlT !== undefined && mqlT <= endT) lifecycle.mqlAt = isoOf(ctx, mqlT);
  if (sqlT !== undefined && sqlT <= endT) lifecycle.sqlAt = isoOf(ctx, sqlT);
  if (opp) lifecycle.opportunityAt = opp.createdAt;
  if (customerT !== undefined) lifecycle.customerAt = isoOf(ctx, customerT);
  const lifecycleStage: Person['lifecycleStage'] = lifecycle.customerAt
    ? 'customer'
    : lifecycle.opportunityAt
      ? 'opportunity'
      : lifecycle.sqlAt
        ? 'salesqualifiedlead'
        : lifecycle.mqlAt
          ? 'marketingqualifiedlead'
          : 'lead';

  const firstName = rng.pick(FIRST_NAMES);
  const lastName = rng.pick(LAST_NAMES);
  const email = `${firstName}.${lastName}.${p}@${account.domain}`.toLowerCase().replace(/ /g, '');
  for (const s of emailSends) s.recipient = email;

  const person: Person = {
    index: p,
    id: personId,
    accountIndex: account.index,
    accountId: account.id,
    crm: account.crm,
    crmId: account.crm === 'salesforce' ? sfId('00Q', p) : hubspotId('contact', p),
    firstName,
    lastName,
    email,
    title: rng.pick(TITLES),
    leadSource,
    lifecycle,
    lifecycleStage,
    touchpoints,
    opportunityIds: opp ? [opp.id] : [],
    truth: {
      channelTouches: counts,
      pOpportunity,
      pWin,
      potentialAmountCents: amountCents,
      potentialAmountUsd: (amountCents / 100) * fx,
    },
  };
  if (decided) person.truth.decisionAt = isoOf(ctx, decisionT);
  if (opp) {
    opp.leadSource = leadSource;
    if (first.campaignId !== undefined) opp.campaignId = first.campaignId;
    if (account.crm === 'salesforce') {
      person.sfContactId = sfId('003', p);
      person.convertedAt = opp.createdAt;
    }
  }
  const draft: PersonDraft = { person, members, emailSends, leadT };
  if (opp) draft.opp = opp;
  return draft;
}

/** Generates account `a` with everything hanging off it; undefined when it has no lead yet. */
export function generateAccount(ctx: UnitContext, a: number): AccountUnit | undefined {
  const rng = Rng.for(ctx.seed, 'account', a);
  const crm: CrmName = rng.chance(0.6) ? 'salesforce' : 'hubspot';
  const geo = COUNTRIES[rng.weightedIndex(COUNTRIES.map((c) => c.weight))] as (typeof COUNTRIES)[number];
  const segment = SEGMENTS[rng.weightedIndex([0.55, 0.3, 0.15])] as Segment;
  const employees = segment === 'SMB' ? rng.int(10, 199) : segment === 'Mid-Market' ? rng.int(200, 1999) : rng.int(2000, 40000);
  const nPeople = segment === 'SMB' ? rng.int(1, 2) : segment === 'Mid-Market' ? rng.int(1, 3) : rng.int(2, 5);
  const arrival = rng.int(0, ctx.days - 1);
  const { name, domain } = companyName(rng, a);
  const account: Account = {
    index: a,
    id: `A${a}`,
    crm,
    crmId: crm === 'salesforce' ? sfId('001', a) : hubspotId('company', a),
    name,
    domain,
    industry: rng.pick(INDUSTRIES),
    country: geo.country,
    currency: geo.currency,
    segment,
    employees,
    createdAt: '',
  };
  const region: Region = geo.currency === 'USD' ? 'US' : 'EU';
  const drafts: PersonDraft[] = [];
  for (let j = 0; j < nPeople; j++) {
    const d = generatePerson(ctx, account, region, a * 8 + j, arrival);
    if (d) drafts.push(d);
  }
  if (drafts.length === 0) return undefined;
  account.createdAt = isoOf(ctx, Math.min(...drafts.map((d) => d.leadT)));

  // Buying committee: colleagues already in the CRM join the opportunity as contact roles.
  const opportunities: Opportunity[] = [];
  for (const d of drafts) {
    const opp = d.opp;
    if (!opp) continue;
    const roleRng = Rng.for(ctx.seed, 'opproles', d.person.index);
    const createdMs = Date.parse(opp.createdAt);
    for (const other of drafts) {
      if (other === d || opp.contactRoles.length >= 3) continue;
      if (Date.parse(other.person.lifecycle.leadAt) > createdMs || !roleRng.chance(0.5)) continue;
      const role: ContactRole['role'] = roleRng.chance(0.5) ? 'Evaluator' : 'Influencer';
      opp.contactRoles.push({ personId: other.person.id, role, isPrimary: false });
      other.person.opportunityIds.push(opp.id);
      if (crm === 'salesforce') {
        // Adding a lead to an opportunity converts it to a contact.
        other.person.sfContactId = sfId('003', other.person.index);
        const prev = other.person.convertedAt;
        if (prev === undefined || Date.parse(prev) > createdMs) other.person.convertedAt = opp.createdAt;
      }
    }
    opportunities.push(opp);
  }
  return {
    account,
    people: drafts.map((d) => d.person),
    opportunities,
    members: drafts.flatMap((d) => d.members),
    emailSends: drafts.flatMap((d) => d.emailSends),
  };
}

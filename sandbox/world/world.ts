/**
 * generateWorld(): the seeded synthetic marketing world (see README.md).
 *
 * Metadata (campaigns, accounts, property, FX) is built eagerly and is small. People,
 * opportunities, touchpoints and the rest are streams regenerated from the seed on every call:
 * nothing per-person is kept. The only cache is a per-day "census" of identified sessions and
 * form fills (a few tens of thousands of counters even for the large world), which the ad and GA4
 * streams need so that identified touches never exceed clicks or sessions.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Rng } from './rng.ts';
import { addDays, dayNumber, tzOffsetMinutes, weekday } from './dates.ts';
import {
  buildAdAccounts,
  buildCampaigns,
  buildFx,
  buildGa4Property,
  buildMarketingEmails,
  resolveScale,
  type CampaignModel,
  type ScalePreset,
} from './catalog.ts';
import { DAY_S, generateAccount, isoOf, opportunityProbability, type AccountUnit, type ModelParams, type UnitContext } from './journey.ts';
import {
  CHANNELS,
  type Account,
  type AdAccount,
  type AdDay,
  type Campaign,
  type CampaignMember,
  type Channel,
  type ChannelTruth,
  type Currency,
  type EmailSend,
  type Ga4Property,
  type Ga4Row,
  type GroundTruth,
  type MarketingEmail,
  type Opportunity,
  type Person,
  type Touchpoint,
  type World,
  type WorldOptions,
  type WorldScale,
} from './types.ts';

export const DEFAULT_SEED = 42;
export const DEFAULT_SCALE: WorldScale = 'demo';
export const DEFAULT_END_DATE = '2026-10-31';

/** Base per-channel lifts of the noisy-OR model (multiplied by the scale's liftScale). */
const BASE_LIFT: Record<Channel, number> = {
  'Paid Search': 0.05,
  'Paid Social': 0.025,
  Display: 0.01,
  Email: 0.02,
  Events: 0.1,
  'Organic Search': 0.04,
  Referral: 0.06,
  Direct: 0.03,
};
const TOUCH_CAP = 3;
const WIN_RATE = { SMB: 0.32, 'Mid-Market': 0.27, Enterprise: 0.22 } as const;

/** Identified activity of one GA4 row key on one day. */
interface CensusCell {
  sessions: number;
  formFills: number;
}

/** GA4 session default channel group for a source/medium (GA4's documented default rules, simplified to our values). */
export function defaultChannelGroup(source: string, medium: string): string {
  if (source === '(direct)' && (medium === '(none)' || medium === '(not set)')) return 'Direct';
  if (medium === 'display' || medium === 'banner' || medium === 'cpm') return 'Display';
  if (/^(.*cp.*|ppc|retargeting|paid.*)$/.test(medium)) {
    if (/^(facebook|fb|instagram|ig|linkedin|meta)$/.test(source)) return 'Paid Social';
    if (/^(google|bing|yahoo|baidu|duckduckgo)$/.test(source)) return 'Paid Search';
    return 'Paid Other';
  }
  if (medium === 'organic') return 'Organic Search';
  if (/^(email|e-mail|e_mail|e mail)$/.test(medium)) return 'Email';
  if (medium === 'referral') return 'Referral';
  return 'Unassigned';
}

function rowKey(source: string, medium: string, campaign: string): string {
  return `${source}\t${medium}\t${campaign}`;
}

class WorldImpl implements World {
  readonly seed: number;
  readonly scale: WorldScale;
  readonly startDate: string;
  readonly endDate: string;
  readonly dates: readonly string[];
  readonly adAccounts: readonly AdAccount[];
  readonly campaigns: readonly Campaign[];
  readonly marketingEmails: readonly MarketingEmail[];
  readonly ga4Property: Ga4Property;
  readonly fxEurUsd: Readonly<Record<string, number>>;
  readonly accountCount: number;

  private readonly preset: ScalePreset;
  private readonly models: readonly CampaignModel[];
  private readonly ctx: UnitContext;
  private readonly dateIndex: ReadonlyMap<string, number>;
  private census: Map<string, CensusCell>[] | undefined;

  constructor(opts: WorldOptions) {
    this.seed = opts.seed ?? DEFAULT_SEED;
    this.scale = opts.scale ?? DEFAULT_SCALE;
    this.endDate = opts.endDate ?? DEFAULT_END_DATE;
    dayNumber(this.endDate); // validates
    this.preset = resolveScale(this.scale);
    const seed = this.seed >>> 0;
    const days = this.preset.days;
    this.startDate = addDays(this.endDate, -(days - 1));
    const dates: string[] = [];
    for (let d = 0; d < days; d++) dates.push(addDays(this.startDate, d));
    this.dates = dates;
    this.dateIndex = new Map(dates.map((d, i) => [d, i]));
    this.adAccounts = buildAdAccounts(seed);
    this.ga4Property = buildGa4Property(seed);
    const { campaigns, models } = buildCampaigns(seed, this.preset, this.startDate, this.adAccounts);
    this.campaigns = campaigns;
    this.models = models;
    this.fxEurUsd = buildFx(seed, dates);
    this.accountCount = this.preset.accounts;

    const tz = this.ga4Property.timeZone;
    const dayStartMs = dates.map((d) => Date.parse(`${d}T00:00:00Z`) - tzOffsetMinutes(tz, d) * 60_000);
    // Sends go out at 10:00 GA4-local; order by send time (journeys rely on it).
    const withSec = buildMarketingEmails(seed, campaigns, models, this.startDate).map(({ email, sendDay }) => ({
      e: email,
      t: sendDay * DAY_S + 10 * 3600,
    }));
    withSec.sort((x, y) => x.t - y.t || Number(x.e.id) - Number(y.e.id));
    const paidByChannel = new Map<Channel, number[]>();
    for (const c of campaigns) {
      if (c.platform === 'google_ads' || c.platform === 'meta_ads') {
        const list = paidByChannel.get(c.channel) ?? [];
        list.push(c.index);
        paidByChannel.set(c.channel, list);
      }
    }
    const lift = {} as Record<Channel, number>;
    for (const ch of CHANNELS) lift[ch] = Math.min(0.9, BASE_LIFT[ch] * this.preset.liftScale);
    const model: ModelParams = { baseline: this.preset.baseline, lift, touchCap: TOUCH_CAP, winRate: { ...WIN_RATE } };
    const ctxBase: Omit<UnitContext, 'emails' | 'emailSendSec'> = {
      seed,
      days,
      dates,
      dayStartMs,
      siteOrigin: this.ga4Property.siteOrigin,
      campaigns,
      models,
      paidByChannel,
      sfEvents: campaigns.filter((c) => c.platform === 'salesforce').map((c) => c.index),
      emailCampaigns: campaigns.filter((c) => c.channel === 'Email').map((c) => c.index),
      fxEurUsd: this.fxEurUsd,
      model,
    };
    const ctx: UnitContext = { ...ctxBase, emails: [], emailSendSec: withSec.map((x) => x.t) };
    this.marketingEmails = withSec.map(({ e, t }) => ({ ...e, sendAt: isoOf(ctx, t) }));
    ctx.emails = this.marketingEmails;
    this.ctx = ctx;
  }

  fxToUsd(currency: Currency, date: string): number {
    if (currency === 'USD') return 1;
    const direct = this.fxEurUsd[date];
    if (direct !== undefined) return direct;
    const clamped = date < this.startDate ? this.startDate : this.endDate;
    return this.fxEurUsd[clamped] as number;
  }

  /** Every account unit, in account order (accounts without a lead in the window are skipped). */
  *units(): Generator<AccountUnit> {
    for (let a = 0; a < this.accountCount; a++) {
      const u = generateAccount(this.ctx, a);
      if (u) yield u;
    }
  }

  *accounts(): Generator<Account> {
    for (const u of this.units()) yield u.account;
  }

  *people(): Generator<Person> {
    for (const u of this.units()) yield* u.people;
  }

  *opportunities(): Generator<Opportunity> {
    for (const u of this.units()) yield* u.opportunities;
  }

  *touchpoints(): Generator<Touchpoint> {
    for (const u of this.units()) for (const p of u.people) yield* p.touchpoints;
  }

  *campaignMembers(): Generator<CampaignMember> {
    for (const u of this.units()) yield* u.members;
  }

  *emailSends(): Generator<EmailSend> {
    for (const u of this.units()) yield* u.emailSends;
  }

  /** Per-day identified sessions and form fills by GA4 row key; one pass over all people, cached. */
  private getCensus(): Map<string, CensusCell>[] {
    if (this.census) return this.census;
    const census: Map<string, CensusCell>[] = this.dates.map(() => new Map());
    for (const t of this.touchpoints()) {
      if (!t.session) continue;
      const day = census[this.dateIndex.get(t.date) as number] as Map<string, CensusCell>;
      const key = rowKey(t.utm_source, t.utm_medium, t.utm_campaign);
      let cell = day.get(key);
      if (!cell) {
        cell = { sessions: 0, formFills: 0 };
        day.set(key, cell);
      }
      cell.sessions++;
      if (t.kind === 'form_fill') cell.formFills++;
    }
    this.census = census;
    return census;
  }

  private isActive(c: Campaign, day: number): boolean {
    const m = this.models[c.index] as CampaignModel;
    return m.startDay <= day && day <= m.endDay;
  }

  private adDay(c: Campaign, day: number): AdDay {
    const m = this.models[c.index] as CampaignModel;
    const date = this.dates[day] as string;
    const rng = Rng.for(this.seed >>> 0, 'adday', c.index * 100_000 + day);
    const budget = day >= m.changeDay && c.budgetChange ? c.budgetChange.dailyBudgetMicros : (c.dailyBudgetMicros as number);
    const wd = weekday(date);
    const weekend = wd === 0 || wd === 6;
    const season = weekend ? (c.channel === 'Paid Search' ? 0.55 : 0.8) : 1;
    const target = budget * season * rng.range(0.82, 1);
    const cpc = Math.max(m.cpcMicros * 0.3, m.cpcMicros * (1 + 0.12 * rng.normal()));
    const cell = this.getCensus()[day]?.get(rowKey(c.utmSource, c.utmMedium, c.utmCampaign));
    const identified = cell?.sessions ?? 0;
    const formFills = cell?.formFills ?? 0;
    // Identified visitors are a subset of clicks: clicks never fall below them.
    const clicks = Math.max(Math.floor(target / cpc), identified);
    const spendCents = Math.round((clicks * cpc) / 10_000);
    const impressions = Math.max(clicks, Math.round(clicks / (m.ctr * rng.range(0.85, 1.15))));
    // Platforms over-count: every CRM form fill plus view-through and duplicate conversions.
    const conversions = Math.round((formFills * rng.range(1.2, 1.6) + rng.poisson(clicks * 0.01)) * 100) / 100;
    return {
      date,
      platform: c.platform as AdDay['platform'],
      adAccountId: c.adAccountId as string,
      campaignIndex: c.index,
      campaignId: c.id,
      campaignName: c.name,
      currency: c.currency,
      dailyBudgetMicros: budget,
      spendMicros: spendCents * 10_000,
      impressions,
      clicks,
      conversions,
      conversionsValueMicros: Math.round(conversions * m.conversionValueMicros),
    };
  }

  *adDaily(): Generator<AdDay> {
    const paid = this.campaigns.filter((c) => c.platform === 'google_ads' || c.platform === 'meta_ads');
    for (let day = 0; day < this.dates.length; day++) {
      for (const c of paid) if (this.isActive(c, day)) yield this.adDay(c, day);
    }
  }

  *ga4Daily(): Generator<Ga4Row> {
    const census = this.getCensus();
    const seed = this.seed >>> 0;
    const ts = this.preset.trafficScale;
    for (let day = 0; day < this.dates.length; day++) {
      const date = this.dates[day] as string;
      const wd = weekday(date);
      const wf = wd === 0 || wd === 6 ? 0.45 : 1;
      const cells = census[day] as Map<string, CensusCell>;
      // Row key -> anonymous sessions (or, for paid campaigns, the click-derived session count).
      const rows = new Map<string, { sessions: number; paid: boolean }>();
      const anon = (key: string, mean: number) => {
        const rng = Rng.for(seed, `ga4:${key}`, day);
        rows.set(key, { sessions: rng.poisson(mean), paid: false });
      };
      for (const c of this.campaigns) {
        if (!this.isActive(c, day)) continue;
        const key = rowKey(c.utmSource, c.utmMedium, c.utmCampaign);
        if (c.platform === 'google_ads' || c.platform === 'meta_ads') {
          const clicks = this.adDay(c, day).clicks;
          const rng = Rng.for(seed, 'ga4paid', c.index * 100_000 + day);
          const identified = cells.get(key)?.sessions ?? 0;
          // Not every click lands as a session (bounces before the tag fires, blockers).
          rows.set(key, { sessions: Math.max(Math.floor(clicks * rng.range(0.8, 0.95)), identified), paid: true });
        } else if (c.channel === 'Email') {
          anon(key, 0.3 * ts);
        } else {
          anon(key, 3 * ts * wf);
        }
      }
      anon(rowKey('google', 'organic', '(organic)'), 55 * ts * wf);
      anon(rowKey('bing', 'organic', '(organic)'), 6 * ts * wf);
      for (const r of ['g2.com', 'capterra.com', 'linkedin.com', 'news.ycombinator.com', 'martech.org']) anon(rowKey(r, 'referral', '(referral)'), 4 * ts * wf);
      anon(rowKey('(direct)', '(none)', '(direct)'), 35 * ts * wf);
      for (const key of cells.keys()) if (!rows.has(key)) rows.set(key, { sessions: 0, paid: false });

      const keys = [...rows.keys()].sort();
      for (const key of keys) {
        const r = rows.get(key) as { sessions: number; paid: boolean };
        const cell = cells.get(key);
        const identified = cell?.sessions ?? 0;
        const formFills = cell?.formFills ?? 0;
        const sessions = r.paid ? r.sessions : r.sessions + identified;
        if (sessions === 0) continue;
        const rng = Rng.for(seed, `ga4m:${key}`, day);
        const engaged = Math.min(sessions, formFills + Math.round((sessions - formFills) * rng.range(0.45, 0.7)));
        const totalUsers = Math.max(1, Math.min(sessions, Math.round(sessions * rng.range(0.82, 0.95))));
        const [source, medium, campaign] = key.split('\t') as [string, string, string];
        yield {
          date,
          sessionSource: source,
          sessionMedium: medium,
          sessionCampaignName: campaign,
          sessionDefaultChannelGroup: defaultChannelGroup(source, medium),
          sessions,
          engagedSessions: engaged,
          keyEvents: formFills,
          totalUsers,
          identifiedSessions: identified,
        };
      }
    }
  }

  groundTruth(): GroundTruth {
    const model = this.ctx.model;
    const incr = new Map<Channel, number>();
    const touches = new Map<Channel, number>();
    let peopleInModel = 0;
    let expectedOpportunities = 0;
    let expectedWon = 0;
    let opportunities = 0;
    let wonOpportunities = 0;
    let wonRevenueUsd = 0;
    for (const u of this.units()) {
      for (const p of u.people) {
        const t = p.truth;
        if (t.decisionAt === undefined) continue;
        peopleInModel++;
        const value = t.pWin * t.potentialAmountUsd;
        expectedOpportunities += t.pOpportunity;
        expectedWon += t.pOpportunity * value;
        for (const [ch, n] of Object.entries(t.channelTouches) as [Channel, number][]) {
          touches.set(ch, (touches.get(ch) ?? 0) + n);
          const without = opportunityProbability(model, t.channelTouches, ch);
          incr.set(ch, (incr.get(ch) ?? 0) + (t.pOpportunity - without) * value);
        }
      }
      for (const o of u.opportunities) {
        opportunities++;
        if (o.isWon) {
          wonOpportunities++;
          wonRevenueUsd += (o.amountCents / 100) * this.fxToUsd(o.currency, o.createdAt.slice(0, 10));
        }
      }
    }
    const totalIncr = [...incr.values()].reduce((s, v) => s + v, 0);
    const channels: ChannelTruth[] = CHANNELS.map((ch) => {
      const v = incr.get(ch) ?? 0;
      return { channel: ch, touches: touches.get(ch) ?? 0, incrementalWonRevenueUsd: v, share: totalIncr > 0 ? v / totalIncr : 0 };
    });
    return {
      seed: this.seed,
      scale: this.scale,
      startDate: this.startDate,
      endDate: this.endDate,
      model: { kind: 'noisy-or', baseline: model.baseline, lift: { ...model.lift }, touchCap: model.touchCap, winRate: { ...model.winRate } },
      peopleInModel,
      expectedOpportunities,
      expectedWonRevenueUsd: expectedWon,
      channels,
      realized: { opportunities, wonOpportunities, wonRevenueUsd },
    };
  }

  writeManifest(path: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify(this.groundTruth(), null, 2)}\n`);
  }
}

/** Builds the world described by `opts` (every option has a default; see WorldOptions). */
export function generateWorld(opts: WorldOptions = {}): World {
  return new WorldImpl(opts);
}

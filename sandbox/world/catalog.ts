/**
 * Static catalogue of the world: scale presets, vendor-shaped ids, names, ad accounts,
 * campaigns, marketing emails, the GA4 property and FX. Everything here is small (at most a
 * few thousand objects) and built once per world.
 */
import { Rng } from './rng.ts';
import { addDays, weekday } from './dates.ts';
import type {
  AdAccount,
  Campaign,
  Channel,
  Currency,
  Ga4Property,
  MarketingEmail,
  WorldScale,
} from './types.ts';

export class InvalidScaleError extends Error {
  constructor(scale: unknown) {
    super(`unknown world scale: ${String(scale)} (use 'tiny', 'demo', 'large' or a positive number)`);
    this.name = 'InvalidScaleError';
  }
}

/** Knobs a scale preset sets. */
export interface ScalePreset {
  /** Length of the world in days. */
  days: number;
  /** Number of accounts (companies); ~2 people each. */
  accounts: number;
  /** Campaign counts per kind. */
  search: number;
  display: number;
  social: number;
  email: number;
  event: number;
  webinar: number;
  /** Noisy-OR baseline and multiplier of the per-channel lifts (see README). */
  baseline: number;
  liftScale: number;
  /** Multiplier of paid budgets and anonymous GA4 traffic (bigger worlds have more traffic). */
  trafficScale: number;
}

const PRESETS: Record<'tiny' | 'demo' | 'large', ScalePreset> = {
  tiny: { days: 92, accounts: 190, search: 2, display: 0, social: 1, email: 1, event: 1, webinar: 1, baseline: 0.03, liftScale: 1.6, trafficScale: 0.5 },
  demo: { days: 365, accounts: 2150, search: 4, display: 1, social: 4, email: 3, event: 2, webinar: 2, baseline: 0.015, liftScale: 0.85, trafficScale: 1 },
  // The issue asks for ~1M touchpoints AND ~100k opportunities, a much higher opportunity rate per
  // person than the demo's; the large preset raises baseline and lifts to get there.
  large: { days: 730, accounts: 80_000, search: 12, display: 2, social: 12, email: 8, event: 8, webinar: 8, baseline: 0.3, liftScale: 4.5, trafficScale: 6 },
};

export function resolveScale(scale: WorldScale): ScalePreset {
  if (typeof scale === 'number') {
    if (!Number.isFinite(scale) || scale <= 0) throw new InvalidScaleError(scale);
    const demo = PRESETS.demo;
    return { ...demo, accounts: Math.max(1, Math.round(demo.accounts * scale)), trafficScale: Math.max(0.1, Math.sqrt(scale)) };
  }
  const preset = (PRESETS as Record<string, ScalePreset | undefined>)[scale];
  if (!preset) throw new InvalidScaleError(scale);
  return preset;
}

// ---------------------------------------------------------------------------------------------
// Vendor-shaped ids

const SF_CHECK = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * The 3-character case-safe suffix that turns a 15-char Salesforce id into the 18-char form: per
 * 5-char chunk, bit i is set when char i is an upper-case letter, and the 5-bit value indexes
 * A-Z0-5 (e.g. 70130000001tcyI -> AAQ, as in the salesforce_id_formatter gem's docs).
 */
export function sfChecksum(id15: string): string {
  let out = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const ch = id15.charAt(chunk * 5 + i);
      if (ch >= 'A' && ch <= 'Z') bits |= 1 << i;
    }
    out += SF_CHECK.charAt(bits);
  }
  return out;
}

/**
 * 18-char Salesforce id: key prefix (001 Account, 003 Contact, 00Q Lead, 006 Opportunity,
 * 701 Campaign, 00v CampaignMember, 00K OpportunityContactRole) + pod/reserved chars + base62 n.
 */
export function sfId(prefix: string, n: number): string {
  let s = '';
  let v = n;
  for (let i = 0; i < 8; i++) {
    s = BASE62.charAt(v % 62) + s;
    v = Math.floor(v / 62);
  }
  const id15 = `${prefix}Hs00${s}`;
  return id15 + sfChecksum(id15);
}

/** HubSpot CRM object ids are numeric strings; the offsets keep object types apart. */
export function hubspotId(kind: 'contact' | 'company' | 'deal', n: number): string {
  const base = kind === 'contact' ? 51_000_000_001 : kind === 'company' ? 18_000_000_001 : 27_000_000_001;
  return String(base + n);
}

function digits(rng: Rng, n: number): string {
  let s = String(rng.int(1, 9));
  for (let i = 1; i < n; i++) s += String(rng.int(0, 9));
  return s;
}

/** Deterministic GUID-shaped id (HubSpot campaign ids are GUIDs). */
function guid(rng: Rng): string {
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += rng.int(0, 15).toString(16);
    return s;
  };
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'.charAt(rng.int(0, 3))}${hex(3)}-${hex(12)}`;
}

export function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

// ---------------------------------------------------------------------------------------------
// Names

export const FIRST_NAMES = [
  'James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth',
  'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Daniel', 'Karen',
  'Lukas', 'Anna', 'Jonas', 'Lea', 'Felix', 'Marie', 'Hugo', 'Chloe', 'Sean', 'Aoife', 'Pablo', 'Lucia',
  'Priya', 'Arjun', 'Mei', 'Wei', 'Fatima', 'Omar', 'Sofia', 'Mateo', 'Emma', 'Noah', 'Olivia', 'Liam',
];
export const LAST_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Wilson', 'Anderson', 'Taylor', 'Thomas', 'Moore', 'Jackson', 'Martin', 'Lee', 'Thompson', 'White',
  'Mueller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Dubois', 'Moreau', 'Murphy', 'Kelly', 'Byrne',
  'Fernandez', 'Lopez', 'Patel', 'Shah', 'Chen', 'Wang', 'Kim', 'Nguyen', 'Rossi', 'Bianchi', 'de Vries',
];
export const TITLES = [
  'VP Marketing', 'Head of Demand Generation', 'Marketing Operations Manager', 'CMO', 'Growth Lead',
  'Director of Revenue Operations', 'Marketing Analyst', 'Head of Digital', 'CFO', 'Sales Operations Manager',
];
const NAME_A = ['Nor', 'Blue', 'Sil', 'Quant', 'Iron', 'Ever', 'Bright', 'Stone', 'Vel', 'Ark', 'Lum', 'Hex', 'Crest', 'Tera', 'Nova', 'Oak', 'Pine', 'Gran', 'Zen', 'Cor'];
const NAME_B = ['field', 'path', 'ware', 'ly', 'stack', 'works', 'gate', 'bridge', 'io', 'ion', 'logic', 'point', 'scale', 'ify', 'base', 'grid'];
const NAME_C = ['Systems', 'Labs', 'GmbH', 'Inc', 'Group', 'Technologies', 'Software', 'Health', 'Logistics', 'Capital'];
export const INDUSTRIES = ['Software', 'Financial Services', 'Healthcare', 'Manufacturing', 'Retail', 'Logistics', 'Education', 'Media'];

export function companyName(rng: Rng, index: number): { name: string; domain: string } {
  const a = rng.pick(NAME_A);
  const b = rng.pick(NAME_B);
  const c = rng.pick(NAME_C);
  const base = `${a}${b}`;
  // The index suffix keeps domains unique in big worlds without a global registry.
  return { name: `${base} ${c}`, domain: `${base.toLowerCase()}${index}.example` };
}

export const REFERRERS = ['g2.com', 'capterra.com', 'linkedin.com', 'news.ycombinator.com', 'martech.org'];

// ---------------------------------------------------------------------------------------------
// Company, accounts, property

export const COMPANY = { name: 'Brightlane Analytics', siteOrigin: 'https://www.brightlane.example' } as const;

export function buildGa4Property(seed: number): Ga4Property {
  const rng = Rng.for(seed, 'ga4property', 0);
  return {
    id: `3${digits(rng, 8)}`,
    displayName: `${COMPANY.name} - Website`,
    timeZone: 'America/New_York',
    currency: 'USD',
    siteOrigin: COMPANY.siteOrigin,
  };
}

export function buildAdAccounts(seed: number): AdAccount[] {
  const rng = Rng.for(seed, 'adaccounts', 0);
  return [
    { platform: 'google_ads', id: digits(rng, 10), name: `${COMPANY.name} - US`, currency: 'USD', timeZone: 'America/New_York' },
    { platform: 'google_ads', id: digits(rng, 10), name: `${COMPANY.name} - EU`, currency: 'EUR', timeZone: 'Europe/Berlin' },
    { platform: 'meta_ads', id: digits(rng, 15), name: `${COMPANY.name} US`, currency: 'USD', timeZone: 'America/Los_Angeles' },
    { platform: 'meta_ads', id: digits(rng, 15), name: `${COMPANY.name} EU`, currency: 'EUR', timeZone: 'Europe/Dublin' },
  ];
}

export type Region = 'US' | 'EU';

export function regionOfCurrency(c: Currency): Region {
  return c === 'USD' ? 'US' : 'EU';
}

/** Extra per-campaign facts the generator needs but vendors do not expose. */
export interface CampaignModel {
  region: Region;
  /** Paid: base cost per click (account micros) and click-through rate. */
  cpcMicros: number;
  ctr: number;
  /** Paid: platform value per reported conversion (account micros). */
  conversionValueMicros: number;
  /** Relative draw weight among same-channel campaigns. */
  weight: number;
  /** Landing path on the site. */
  landingPath: string;
  /** Paid search keywords / ad variants, for utm_term and utm_content. */
  terms: readonly string[];
  contents: readonly string[];
  startDay: number;
  endDay: number;
  /** Budget change day index (paid). */
  changeDay: number;
  /** Event/webinar day index; registration opens 30 days before. */
  eventDay: number;
}

interface Theme {
  theme: string;
  path: string;
  terms?: readonly string[];
}

const SEARCH_THEMES: readonly Theme[] = [
  { theme: 'Brand', path: '/', terms: ['brightlane', 'brightlane analytics', 'brightlane pricing'] },
  { theme: 'Generic - Attribution', path: '/product/attribution', terms: ['marketing attribution software', 'multi touch attribution', 'b2b attribution tool'] },
  { theme: 'Generic - ROI Reporting', path: '/product/reporting', terms: ['marketing roi dashboard', 'campaign roi reporting'] },
  { theme: 'Competitor', path: '/compare', terms: ['bizible alternative', 'dreamdata alternative', 'hockeystack alternative'] },
  { theme: 'Generic - Pipeline Analytics', path: '/product/pipeline', terms: ['pipeline analytics', 'revenue analytics b2b'] },
  { theme: 'Demo Request', path: '/demo', terms: ['attribution demo', 'marketing analytics demo'] },
];
const SOCIAL_THEMES: readonly Theme[] = [
  { theme: 'Lead Gen - Attribution Guide', path: '/guides/attribution' },
  { theme: 'Retargeting - Demo', path: '/demo' },
  { theme: 'Lookalike - Customers', path: '/product' },
  { theme: 'Webinar Promo', path: '/webinars' },
  { theme: 'Case Study - SaaS', path: '/customers' },
  { theme: 'Benchmark Report', path: '/reports/benchmark' },
];
const DISPLAY_THEMES: readonly Theme[] = [
  { theme: 'Remarketing', path: '/demo' },
  { theme: 'Prospecting - Industry Sites', path: '/product' },
];
const EMAIL_THEMES = ['Monthly Newsletter', 'Nurture - Attribution 101', 'Product Updates', 'Nurture - Pipeline Playbook', 'Customer Stories', 'Event Invitations', 'Trial Onboarding', 'Benchmark Series'];
const EVENT_NAMES = ['SaaStr Annual', 'MarTech Summit', 'B2B Marketing Expo', 'Revenue Summit', 'DMEXCO', 'Web Summit', 'INBOUND', 'Pipeline Live'];
const WEBINAR_NAMES = ['Attribution Without Cookies', 'Building a Pipeline Dashboard', 'Budget Planning with MTA', 'CRM Hygiene for Marketers', 'Measuring Events ROI', 'From MQL to Revenue', 'GA4 for B2B', 'Incrementality 101'];

function titleSuffix(k: number, len: number): string {
  const round = Math.floor(k / len);
  return round === 0 ? '' : ` ${round + 1}`;
}

/**
 * Builds every campaign. Paid campaigns alternate US/EU accounts; events and webinars are spread
 * over the world's span; emails run for most of it.
 */
export function buildCampaigns(
  seed: number,
  preset: ScalePreset,
  startDate: string,
  adAccounts: readonly AdAccount[],
): { campaigns: Campaign[]; models: CampaignModel[] } {
  const campaigns: Campaign[] = [];
  const models: CampaignModel[] = [];
  const days = preset.days;
  const date = (d: number) => addDays(startDate, d);
  const [gUs, gEu, mUs, mEu] = adAccounts as [AdAccount, AdAccount, AdAccount, AdAccount];

  const add = (c: Omit<Campaign, 'index' | 'status'> & { status?: Campaign['status'] }, m: CampaignModel) => {
    const status: Campaign['status'] = c.status ?? (m.endDay < days - 1 ? 'ENDED' : 'ENABLED');
    campaigns.push({ ...c, index: campaigns.length, status });
    models.push(m);
  };

  const paidSpan = (rng: Rng, k: number): { startDay: number; endDay: number; changeDay: number } => {
    // The first campaigns of each kind run the whole span; later ones start or stop mid-way.
    let startDay = 0;
    let endDay = days - 1;
    if (k >= 2) {
      startDay = rng.int(0, Math.floor(days * 0.5));
      if (rng.chance(0.4)) endDay = Math.min(days - 1, startDay + rng.int(Math.floor(days * 0.25), days));
    }
    const len = endDay - startDay;
    const changeDay = startDay + Math.floor(len * rng.range(0.3, 0.7));
    return { startDay, endDay, changeDay };
  };

  const paid = (
    kind: 'search' | 'social' | 'display',
    k: number,
  ): void => {
    const rng = Rng.for(seed, `campaign:${kind}`, k);
    const us = k % 2 === 0;
    const region: Region = us ? 'US' : 'EU';
    const themes = kind === 'search' ? SEARCH_THEMES : kind === 'social' ? SOCIAL_THEMES : DISPLAY_THEMES;
    const t = themes[Math.floor(k / 2) % themes.length] as Theme;
    const suffix = titleSuffix(Math.floor(k / 2), themes.length);
    const account = kind === 'social' ? (us ? mUs : mEu) : us ? gUs : gEu;
    const label = kind === 'search' ? 'Search' : kind === 'social' ? 'Social' : 'Display';
    const name = `${label} | ${t.theme}${suffix} | ${region}`;
    const { startDay, endDay, changeDay } = paidSpan(rng, k);
    const budgetUnits = (kind === 'search' ? rng.range(120, 450) : kind === 'social' ? rng.range(80, 300) : rng.range(50, 150)) * preset.trafficScale;
    const dailyBudgetMicros = Math.round(budgetUnits) * 1_000_000;
    const newBudget = Math.round(budgetUnits * rng.range(0.6, 1.6)) * 1_000_000;
    const channel: Channel = kind === 'search' ? 'Paid Search' : kind === 'social' ? 'Paid Social' : 'Display';
    const id = kind === 'social' ? `1202${digits(rng, 14)}` : `2${digits(rng, 10)}`;
    const contents = kind === 'search' ? ['rsa_a', 'rsa_b'] : kind === 'social' ? ['carousel', 'single_image', 'video_15s'] : ['banner_300x250', 'banner_728x90'];
    add(
      {
        id,
        name,
        channel,
        platform: kind === 'social' ? 'meta_ads' : 'google_ads',
        adAccountId: account.id,
        currency: account.currency,
        startDate: date(startDay),
        endDate: date(endDay),
        utmSource: kind === 'social' ? 'facebook' : 'google',
        utmMedium: kind === 'search' ? 'cpc' : kind === 'social' ? 'paid_social' : 'display',
        utmCampaign: slug(name),
        platformType: kind === 'search' ? 'SEARCH' : kind === 'social' ? 'OUTCOME_LEADS' : 'DISPLAY',
        dailyBudgetMicros,
        budgetChange: { date: date(changeDay), dailyBudgetMicros: Math.max(10_000_000, newBudget) },
      },
      {
        region,
        // Brand keywords are cheap; generic and competitor ones are not.
        cpcMicros:
          Math.round(
            (kind === 'search' ? (t.theme === 'Brand' ? rng.range(1.2, 2.5) : rng.range(3.5, 9)) : kind === 'social' ? rng.range(1.5, 4) : rng.range(0.6, 1.5)) * 100,
          ) * 10_000,
        ctr: kind === 'search' ? rng.range(0.03, 0.08) : kind === 'social' ? rng.range(0.008, 0.015) : rng.range(0.003, 0.006),
        conversionValueMicros: Math.round(rng.range(80, 200)) * 1_000_000,
        weight: budgetUnits,
        landingPath: t.path,
        terms: t.terms ?? [],
        contents,
        startDay,
        endDay,
        changeDay,
        eventDay: -1,
      },
    );
  };

  for (let k = 0; k < preset.search; k++) paid('search', k);
  for (let k = 0; k < preset.display; k++) paid('display', k);
  for (let k = 0; k < preset.social; k++) paid('social', k);

  for (let k = 0; k < preset.email; k++) {
    const rng = Rng.for(seed, 'campaign:email', k);
    const name = `${EMAIL_THEMES[k % EMAIL_THEMES.length] as string}${titleSuffix(k, EMAIL_THEMES.length)}`;
    const startDay = k < 2 ? 0 : rng.int(0, Math.floor(days * 0.4));
    const endDay = days - 1;
    add(
      {
        // HubSpot campaign ids are GUIDs (the marketing email's `campaign` field), e.g.
        // DataDirect's MARKETINGEMAILS table lists CAMPAIGN as GUID.
        id: guid(rng),
        name,
        channel: 'Email',
        platform: 'hubspot',
        currency: 'USD',
        startDate: date(startDay),
        endDate: date(endDay),
        utmSource: 'hubspot',
        utmMedium: 'email',
        utmCampaign: slug(name),
      },
      {
        region: 'US',
        cpcMicros: 0,
        ctr: 0,
        conversionValueMicros: 0,
        weight: 1,
        landingPath: `/resources/${slug(name)}`,
        terms: [],
        contents: [],
        startDay,
        endDay,
        changeDay: -1,
        eventDay: -1,
      },
    );
  }

  const sfCampaign = (type: 'Event' | 'Webinar', k: number, count: number): void => {
    const rng = Rng.for(seed, `campaign:${type}`, k);
    const names = type === 'Event' ? EVENT_NAMES : WEBINAR_NAMES;
    // Spread the dates evenly, leaving the first weeks for registration.
    const first = Math.min(days - 1, 20);
    const span = Math.max(1, days - 1 - first);
    let eventDay = first + Math.floor(((k + rng.range(0.2, 0.8)) / count) * span);
    // B2B events and webinars do not run on weekends.
    while (weekday(date(eventDay)) === 0 || weekday(date(eventDay)) === 6) eventDay--;
    const eventDate = date(eventDay);
    const year = eventDate.slice(0, 4);
    const name = `${names[k % names.length] as string} ${year}${titleSuffix(k, names.length)}`;
    const region: Region = type === 'Webinar' ? 'US' : k % 2 === 0 ? 'US' : 'EU';
    const currency: Currency = region === 'US' ? 'USD' : 'EUR';
    const budgeted = type === 'Event' ? rng.int(15_000, 60_000) * 100 : rng.int(1_000, 5_000) * 100;
    const done = eventDay < days - 1;
    const startDay = Math.max(0, eventDay - 30);
    add(
      {
        id: sfId('701', campaigns.length),
        name,
        channel: 'Events',
        platform: 'salesforce',
        currency,
        startDate: date(startDay),
        endDate: eventDate,
        status: done ? 'ENDED' : 'ENABLED',
        utmSource: slug(name),
        utmMedium: 'event',
        utmCampaign: slug(name),
        sfType: type,
        sfStatus: done ? 'Completed' : 'In Progress',
        eventDate,
        budgetedCostCents: budgeted,
        actualCostCents: done ? Math.round((budgeted * rng.range(0.85, 1.15)) / 100) * 100 : 0,
      },
      {
        region,
        cpcMicros: 0,
        ctr: 0,
        conversionValueMicros: 0,
        weight: 1,
        landingPath: `/${type === 'Event' ? 'events' : 'webinars'}/${slug(name)}`,
        terms: [],
        contents: [],
        startDay,
        endDay: eventDay,
        changeDay: -1,
        eventDay,
      },
    );
  };
  for (let k = 0; k < preset.event; k++) sfCampaign('Event', k, preset.event);
  for (let k = 0; k < preset.webinar; k++) sfCampaign('Webinar', k, preset.webinar);

  return { campaigns, models };
}

/** A marketing email before the world turns its send day into a UTC timestamp. */
export interface PlannedEmail {
  email: Omit<MarketingEmail, 'sendAt'>;
  /** World day index of the send. */
  sendDay: number;
}

/**
 * Marketing email sends: every Email campaign sends every 14-28 days (on a Tuesday or Thursday)
 * while active. The world sends them at 10:00 GA4-local.
 */
export function buildMarketingEmails(
  seed: number,
  campaigns: readonly Campaign[],
  models: readonly CampaignModel[],
  startDate: string,
): PlannedEmail[] {
  const out: PlannedEmail[] = [];
  for (const c of campaigns) {
    if (c.channel !== 'Email') continue;
    const m = models[c.index] as CampaignModel;
    const rng = Rng.for(seed, 'emails', c.index);
    let day = m.startDay + rng.int(1, 10);
    let n = 1;
    while (day <= m.endDay) {
      const wd = weekday(addDays(startDate, day));
      // Shift to the next Tuesday or Thursday.
      const shift = wd <= 2 ? 2 - wd : wd <= 4 ? 4 - wd : 9 - wd;
      const sendDay = day + shift;
      if (sendDay > m.endDay) break;
      out.push({
        email: {
          id: String(150_000_000_000 + c.index * 10_000 + n),
          campaignIndex: c.index,
          campaignId: c.id,
          name: `${c.name} #${n}`,
          subject: `${c.name}: ${['What attribution misses', 'Your pipeline in one view', 'New benchmark data', 'Join us live', 'Three ways to cut CAC', 'How teams report ROI'][n % 6] as string}`,
        },
        sendDay,
      });
      day = sendDay + rng.int(14, 28);
      n++;
    }
  }
  return out;
}

/** Deterministic EUR->USD daily rates: a mean-reverting random walk around 1.09 (6 decimals). */
export function buildFx(seed: number, dates: readonly string[]): Record<string, number> {
  const rng = Rng.for(seed, 'fx', 0);
  const out: Record<string, number> = {};
  let logRate = Math.log(1.09) + rng.range(-0.03, 0.03);
  const mean = Math.log(1.09);
  for (const d of dates) {
    logRate += 0.05 * (mean - logRate) + 0.004 * rng.normal();
    out[d] = Math.round(Math.exp(logRate) * 1e6) / 1e6;
  }
  return out;
}


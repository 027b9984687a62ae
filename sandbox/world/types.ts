/**
 * Domain types of the sandbox's synthetic marketing world.
 *
 * Conventions (every type below follows them, so everything is JSON-serialisable as is):
 * - Timestamps are ISO 8601 UTC strings with milliseconds, e.g. `2026-03-04T14:05:00.000Z`.
 * - Dates are `YYYY-MM-DD` strings. Ad-platform and GA4 dates are local to the account's or
 *   property's time zone; every identified touch happens in GA4-local business hours
 *   (08:00-17:59), which falls on the same calendar date in all four ad-account time zones, so
 *   one "world date" works for every daily report.
 * - Money: ad-platform money is integer micros of the account currency (1 unit = 1,000,000
 *   micros; spend is always a whole number of cents, i.e. a multiple of 10,000 micros). CRM
 *   amounts are integer cents of the record's currency. Ground-truth revenue is USD as a float
 *   (it is an expectation, not a bookable amount).
 * - Vendor ids are strings shaped like the vendor's own (numeric strings, 18-char Salesforce ids).
 * - World ids (`P12`, `A3`, `O12`...) are stable across runs and tie records together across
 *   vendors; emulators may expose them (e.g. as an external id) but need not.
 */

/** GA4 default channel group names, used for every touch and campaign. */
export type Channel =
  | 'Paid Search'
  | 'Paid Social'
  | 'Display'
  | 'Email'
  | 'Events'
  | 'Organic Search'
  | 'Referral'
  | 'Direct';

export const CHANNELS: readonly Channel[] = [
  'Paid Search',
  'Paid Social',
  'Display',
  'Email',
  'Events',
  'Organic Search',
  'Referral',
  'Direct',
];

/** Which vendor system holds a campaign. Organic/referral/direct traffic has no campaign. */
export type CampaignPlatform = 'google_ads' | 'meta_ads' | 'hubspot' | 'salesforce';

export type CrmName = 'salesforce' | 'hubspot';

export type Currency = 'USD' | 'EUR';

/** Size presets; a number is a multiplier of the 'demo' population (12 months, 16 campaigns). */
export type WorldScale = 'tiny' | 'demo' | 'large' | number;

export interface WorldOptions {
  /** PRNG seed (any integer; folded to 32 bits). Default 42. */
  seed?: number;
  /** Size preset. Default 'demo'. */
  scale?: WorldScale;
  /** Last day of the world (inclusive, GA4-local date). Default '2026-10-31'. */
  endDate?: string;
}

/** An ad account: a Google Ads customer or a Meta ad account. */
export interface AdAccount {
  platform: 'google_ads' | 'meta_ads';
  /**
   * Google: 10-digit customer id without dashes (e.g. '4821937560').
   * Meta: the numeric account id; the Graph API path is `act_<id>`.
   */
  id: string;
  name: string;
  currency: Currency;
  /** IANA time zone the platform reports dates in. */
  timeZone: string;
}

export interface BudgetChange {
  /** First date the new budget applies (account-local). */
  date: string;
  dailyBudgetMicros: number;
}

/** A marketing campaign in one vendor system. */
export interface Campaign {
  /** Position in `world.campaigns`; stable for a given scale. */
  index: number;
  /**
   * The vendor's id: Google Ads campaign id (numeric, ~11 digits), Meta campaign id (numeric,
   * 18 digits), HubSpot campaign id (numeric), Salesforce Campaign id (18 chars, prefix 701).
   * Also sent as `utm_id` on every touch of the campaign.
   */
  id: string;
  name: string;
  channel: Channel;
  platform: CampaignPlatform;
  /** Ad account id for google_ads/meta_ads campaigns. */
  adAccountId?: string;
  currency: Currency;
  /** First and last active date (inclusive; account-local for ad campaigns). */
  startDate: string;
  endDate: string;
  /** Status as of the world's endDate. */
  status: 'ENABLED' | 'PAUSED' | 'ENDED';
  /** UTM values put on every touch of this campaign. */
  utmSource: string;
  utmMedium: string;
  /** utm_campaign value (a slug of the name); also GA4's sessionCampaignName. */
  utmCampaign: string;
  /** Google Ads advertising_channel_type ('SEARCH' | 'DISPLAY') or Meta objective ('OUTCOME_LEADS'). */
  platformType?: string;
  /** Paid campaigns: initial daily budget in account-currency micros. */
  dailyBudgetMicros?: number;
  /** Paid campaigns: the mid-flight budget change. */
  budgetChange?: BudgetChange;
  /** Salesforce event/webinar campaigns. */
  sfType?: 'Event' | 'Webinar';
  /** Salesforce campaign Status ('Planned' | 'In Progress' | 'Completed') as of endDate. */
  sfStatus?: string;
  /** Salesforce campaigns: day the event/webinar takes place (registration opens 30 days before). */
  eventDate?: string;
  /** Salesforce campaigns: BudgetedCost / ActualCost in cents of `currency`. */
  budgetedCostCents?: number;
  actualCostCents?: number;
}

/** One send of a HubSpot marketing email (an email belongs to an Email campaign). */
export interface MarketingEmail {
  /** HubSpot marketing email id (numeric string). */
  id: string;
  /** World campaign index of the Email campaign. */
  campaignIndex: number;
  campaignId: string;
  name: string;
  subject: string;
  /** When the email was sent to its recipients. */
  sendAt: string;
}

/** The one GA4 property of the company's website. */
export interface Ga4Property {
  /** Numeric property id, e.g. '312345678'. */
  id: string;
  displayName: string;
  timeZone: string;
  currency: 'USD';
  /** Website origin the landing pages live on, e.g. 'https://www.example.com'. */
  siteOrigin: string;
}

export type Segment = 'SMB' | 'Mid-Market' | 'Enterprise';

/** A company (Salesforce Account / HubSpot company). */
export interface Account {
  index: number;
  /** World id: `A<index>`. */
  id: string;
  crm: CrmName;
  /** Salesforce Account id (prefix 001) or HubSpot company id (numeric). */
  crmId: string;
  name: string;
  domain: string;
  industry: string;
  country: string;
  currency: Currency;
  segment: Segment;
  employees: number;
  /** Record creation: the first lead creation among the account's people. */
  createdAt: string;
}

export type TouchKind =
  | 'visit'
  | 'form_fill'
  | 'email_click'
  | 'email_open'
  | 'event_attended'
  | 'webinar_attended'
  | 'ad_click';

/** One marketing touch of one person. */
export interface Touchpoint {
  /** World id: `T<personIndex>-<n>`, n = position in the person's journey. */
  id: string;
  personId: string;
  kind: TouchKind;
  /** ISO UTC timestamp. */
  at: string;
  /** GA4-local date of `at` (also the ad-account-local date, see file header). */
  date: string;
  channel: Channel;
  utm_source: string;
  utm_medium: string;
  /** Campaign's utm_campaign; '(organic)', '(referral)' or '(direct)' for campaign-less traffic. */
  utm_campaign: string;
  /** Ad or email variant (ad group / ad set / email id). */
  utm_content?: string;
  /** Paid search keyword. */
  utm_term?: string;
  /** Vendor campaign id (paid, email, event touches); the same value is in utm_id. */
  campaignId?: string;
  utm_id?: string;
  /** World campaign index, when campaignId is set. */
  campaignIndex?: number;
  /** Full landing URL (with the UTM query string for campaign touches); absent for opens/attendance. */
  landingPage?: string;
  /** HubSpot marketing email id for email_open / email_click. */
  emailId?: string;
  /**
   * True when the touch opens a website session (visit, ad_click, form_fill, email_click): those
   * are the identified subset of GA4 sessions.
   */
  session: boolean;
  /** True when the touch happened before the person's opportunity decision (counts in the model). */
  preDecision: boolean;
}

/** Lifecycle moments of a person (ISO timestamps); absent when not reached by endDate. */
export interface Lifecycle {
  /** Lead creation: the first form fill. Always present. */
  leadAt: string;
  mqlAt?: string;
  sqlAt?: string;
  opportunityAt?: string;
  customerAt?: string;
}

/**
 * The generative model's terms for one person (see README: ground truth). Sandbox-only: no
 * emulator should serve it; it exists so tests can recompute the manifest.
 */
export interface PersonTruth {
  /** Model touches counted per channel (pre-decision touches only). */
  channelTouches: Partial<Record<Channel, number>>;
  /** When the opportunity decision is made; absent when it falls after endDate (person excluded). */
  decisionAt?: string;
  /** Probability of an opportunity given the counted touches (0 when decisionAt is absent). */
  pOpportunity: number;
  /** Probability the opportunity is won, given it exists. */
  pWin: number;
  /** Amount of the potential opportunity in its currency's cents, and in USD (float, FX of decision day). */
  potentialAmountCents: number;
  potentialAmountUsd: number;
}

/** A lead/contact in exactly one CRM. */
export interface Person {
  /** Global person index: accountIndex * 8 + position in account (so not dense). */
  index: number;
  /** World id: `P<index>`. */
  id: string;
  accountIndex: number;
  accountId: string;
  crm: CrmName;
  /**
   * Salesforce: the Lead id (prefix 00Q); HubSpot: the contact id (numeric).
   */
  crmId: string;
  /** Salesforce only: Contact id (prefix 003) once the lead is converted. */
  sfContactId?: string;
  /** Salesforce only: lead conversion time (opportunity creation or contact-role assignment). */
  convertedAt?: string;
  firstName: string;
  lastName: string;
  email: string;
  title: string;
  /** Lead source as the CRM would record it (derived from the first touch's channel). */
  leadSource: string;
  lifecycle: Lifecycle;
  /** HubSpot-style lifecycle stage as of endDate. */
  lifecycleStage: 'lead' | 'marketingqualifiedlead' | 'salesqualifiedlead' | 'opportunity' | 'customer';
  /** Time-ordered journey. */
  touchpoints: Touchpoint[];
  /** World ids of opportunities where this person is a contact role (primary or not). */
  opportunityIds: string[];
  truth: PersonTruth;
}

export interface StageChange {
  stage: string;
  at: string;
}

export interface ContactRole {
  personId: string;
  role: 'Decision Maker' | 'Economic Buyer' | 'Evaluator' | 'Influencer';
  isPrimary: boolean;
}

/** A Salesforce Opportunity or a HubSpot deal. */
export interface Opportunity {
  /** World id: `O<primary person index>`. */
  id: string;
  crm: CrmName;
  /** Salesforce Opportunity id (prefix 006) or HubSpot deal id (numeric). */
  crmId: string;
  accountIndex: number;
  accountId: string;
  name: string;
  /** Cents of `currency` (> 0). */
  amountCents: number;
  currency: Currency;
  createdAt: string;
  /** Actual close date when closed, else the expected close date (may be after endDate). */
  closeDate: string;
  /**
   * Current stage. Salesforce: Prospecting, Qualification, Proposal, Negotiation, Closed Won,
   * Closed Lost. HubSpot: the internal stage ids of the portal's `default` deal pipeline
   * (developers.hubspot.com/docs/api-reference/crm-pipelines-v3/guide): appointmentscheduled,
   * qualifiedtobuy, presentationscheduled, decisionmakerboughtin, contractsent, closedwon, closedlost.
   */
  stage: string;
  isClosed: boolean;
  isWon: boolean;
  /** Ordered by time; the first entry is at createdAt; the last is the current stage. */
  stageHistory: StageChange[];
  contactRoles: ContactRole[];
  primaryPersonId: string;
  /** Primary campaign source: the campaign of the primary person's first touch, when it had one. */
  campaignId?: string;
  leadSource: string;
}

/** One ad campaign on one account-local date. */
export interface AdDay {
  date: string;
  platform: 'google_ads' | 'meta_ads';
  adAccountId: string;
  campaignIndex: number;
  campaignId: string;
  campaignName: string;
  currency: Currency;
  /** The campaign's daily budget that day (account micros), reflecting the budget change. */
  dailyBudgetMicros: number;
  /** Whole cents expressed in micros (multiple of 10,000); Google Ads sends it as metrics.cost_micros. */
  spendMicros: number;
  impressions: number;
  clicks: number;
  /** Platform-reported conversions (2 decimals; over-counts the CRM's form fills). */
  conversions: number;
  conversionsValueMicros: number;
}

/**
 * One GA4 report row: date x sessionSource x sessionMedium x sessionCampaignName. Names are the
 * Data API's dimension/metric API names (developers.google.com/analytics/devguides/reporting/data/v1/api-schema).
 */
export interface Ga4Row {
  date: string;
  sessionSource: string;
  sessionMedium: string;
  sessionCampaignName: string;
  /**
   * GA4 default channel group ('Unassigned' for medium=event, as GA4 itself does; rules:
   * support.google.com/analytics/answer/9756891).
   */
  sessionDefaultChannelGroup: string;
  sessions: number;
  engagedSessions: number;
  /** Equals the number of identified form fills in the row (form submissions are the key event). */
  keyEvents: number;
  totalUsers: number;
  /** Identified sessions (touches with session = true) inside `sessions`; not a GA4 metric. */
  identifiedSessions: number;
}

/**
 * Salesforce CampaignMember of an event/webinar campaign. Status is a per-campaign picklist;
 * HasResponded and FirstRespondedDate (a date) follow the object reference
 * (developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_campaignmember.htm).
 */
export interface CampaignMember {
  campaignIndex: number;
  campaignId: string;
  personId: string;
  /** Lead id (00Q) or, when converted by then, the Contact id is in `sfContactId` of the person. */
  status: 'Sent' | 'Registered' | 'Attended';
  hasResponded: boolean;
  createdAt: string;
  /** Date of the first response (registration), when responded. */
  firstRespondedDate?: string;
}

/** Delivery of one marketing email to one person, with engagement. */
export interface EmailSend {
  emailId: string;
  campaignIndex: number;
  campaignId: string;
  personId: string;
  recipient: string;
  sentAt: string;
  openedAt?: string;
  clickedAt?: string;
}

export interface ChannelTruth {
  channel: Channel;
  /** Pre-decision touches of this channel (model inputs), over people in the model. */
  touches: number;
  /** Expected won revenue (USD) lost if this channel's touches were removed (closed form). */
  incrementalWonRevenueUsd: number;
  /** incremental / sum of incrementals over channels. */
  share: number;
}

/** The ground-truth manifest (JSON). */
export interface GroundTruth {
  seed: number;
  scale: WorldScale;
  startDate: string;
  endDate: string;
  model: {
    kind: 'noisy-or';
    /** P(opp) = 1 - (1 - baseline) * prod_c (1 - lift_c) ^ min(n_c, touchCap). */
    baseline: number;
    lift: Partial<Record<Channel, number>>;
    touchCap: number;
    /** Win probability given an opportunity, per segment. */
    winRate: Record<Segment, number>;
  };
  /** People whose decision falls within the world (model population). */
  peopleInModel: number;
  expectedOpportunities: number;
  expectedWonRevenueUsd: number;
  channels: ChannelTruth[];
  /** What the random draw actually produced, for comparison. */
  realized: { opportunities: number; wonOpportunities: number; wonRevenueUsd: number };
}

/** Static metadata and stream methods of a generated world. */
export interface World {
  readonly seed: number;
  readonly scale: WorldScale;
  /** First and last world date (inclusive). */
  readonly startDate: string;
  readonly endDate: string;
  /** Every world date, in order. */
  readonly dates: readonly string[];
  readonly adAccounts: readonly AdAccount[];
  readonly campaigns: readonly Campaign[];
  readonly marketingEmails: readonly MarketingEmail[];
  readonly ga4Property: Ga4Property;
  /** EUR -> USD rate per world date (6 decimals). */
  readonly fxEurUsd: Readonly<Record<string, number>>;
  /** Number of accounts (the people/opportunity streams iterate them). */
  readonly accountCount: number;

  /** USD value of one unit of `currency` on `date` (1 for USD; clamps to the world's range). */
  fxToUsd(currency: Currency, date: string): number;
  accounts(): Iterable<Account>;
  people(): Iterable<Person>;
  opportunities(): Iterable<Opportunity>;
  touchpoints(): Iterable<Touchpoint>;
  campaignMembers(): Iterable<CampaignMember>;
  emailSends(): Iterable<EmailSend>;
  /** Ordered by date, then campaign index. */
  adDaily(): Iterable<AdDay>;
  /** Ordered by date, then source/medium/campaign. */
  ga4Daily(): Iterable<Ga4Row>;
  groundTruth(): GroundTruth;
  writeManifest(path: string): void;
}

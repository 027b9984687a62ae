/**
 * The Google Ads emulator's data: customers (one manager owning the world's Google Ads accounts),
 * campaigns and daily campaign metrics, built from the world, plus the mutations tests and data
 * faults use (restatements, malformed rows, schema drift).
 */
import type { AdDay, World } from '../../world/types.ts';
import { addDays } from '../../world/dates.ts';
import type { DataFaultTarget } from '../faults.ts';
import { fnv1a, pickDistinct } from '../prng.ts';

export interface GoogleAdsCustomer {
  /** 10 digits, no dashes. */
  id: string;
  descriptiveName: string;
  currencyCode: string;
  timeZone: string;
  manager: boolean;
}

export interface GoogleAdsCampaign {
  id: string;
  customerId: string;
  name: string;
  /** CampaignStatus enum: the world's ENDED campaigns stay ENABLED (Google reports the end in serving_status). */
  status: 'ENABLED' | 'PAUSED' | 'REMOVED';
  /** AdvertisingChannelType enum, e.g. SEARCH, DISPLAY. */
  advertisingChannelType: string;
}

/** Metrics of one campaign on one account-local day. */
export interface AdMetrics {
  spendMicros: number;
  impressions: number;
  clicks: number;
  conversions: number;
  conversionsValueMicros: number;
}

export interface GoogleAdsDay extends AdMetrics {
  date: string;
  customerId: string;
  campaignId: string;
}

/** How a malformed row is broken when served. */
export type GoogleAdsMalformKind = 'non_numeric_cost' | 'missing_metrics' | 'bad_date' | 'missing_campaign_id';

export class UnknownAdRowError extends Error {
  constructor(campaignId: string, date: string) {
    super(`no ad row for campaign ${campaignId} on ${date}`);
    this.name = 'UnknownAdRowError';
  }
}

function dayKey(campaignId: string, date: string): string {
  return `${campaignId}|${date}`;
}

export interface GoogleAdsStoreOptions {
  /** Manager (MCC) customer id owning every customer. Default derived from the world seed. */
  managerCustomerId?: string;
}

export class GoogleAdsStore {
  readonly managerCustomerId: string;
  readonly customers: readonly GoogleAdsCustomer[];
  readonly campaigns: readonly GoogleAdsCampaign[];
  /** Last date with data (the world's endDate). */
  readonly endDate: string;
  private readonly days = new Map<string, GoogleAdsDay>();
  private readonly malformed = new Map<string, GoogleAdsMalformKind>();
  private readonly extra = new Map<string, unknown>();
  /** Bumped on every mutation, so tests can see that something changed. */
  version = 0;

  constructor(world: World, opts: GoogleAdsStoreOptions = {}) {
    this.endDate = world.endDate;
    this.managerCustomerId = opts.managerCustomerId ?? String(1_000_000_000 + (fnv1a(`google-ads-manager|${world.seed}`) % 8_999_999_999)).slice(0, 10);
    const accounts = world.adAccounts.filter((a) => a.platform === 'google_ads');
    this.customers = [
      { id: this.managerCustomerId, descriptiveName: `${accounts[0]?.name.split(' - ')[0] ?? 'Sandbox'} - Manager`, currencyCode: 'USD', timeZone: accounts[0]?.timeZone ?? 'America/New_York', manager: true },
      ...accounts.map((a) => ({ id: a.id, descriptiveName: a.name, currencyCode: a.currency, timeZone: a.timeZone, manager: false })),
    ];
    this.campaigns = world.campaigns
      .filter((c) => c.platform === 'google_ads' && c.adAccountId)
      .map((c) => ({
        id: c.id,
        customerId: c.adAccountId as string,
        name: c.name,
        status: c.status === 'PAUSED' ? 'PAUSED' : 'ENABLED',
        advertisingChannelType: c.platformType ?? 'SEARCH',
      }));
    for (const d of world.adDaily()) {
      if (d.platform !== 'google_ads') continue;
      this.days.set(dayKey(d.campaignId, d.date), fromWorld(d));
    }
  }

  customer(id: string): GoogleAdsCustomer | undefined {
    return this.customers.find((c) => c.id === id);
  }

  /** Daily rows of one customer, ordered by date then campaign id. */
  customerDays(customerId: string): GoogleAdsDay[] {
    const out: GoogleAdsDay[] = [];
    for (const d of this.days.values()) if (d.customerId === customerId) out.push(d);
    return out.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.campaignId.localeCompare(b.campaignId)));
  }

  /** One day's row (a copy), or undefined. */
  day(campaignId: string, date: string): GoogleAdsDay | undefined {
    const d = this.days.get(dayKey(campaignId, date));
    return d ? { ...d } : undefined;
  }

  /** Changes a day's metrics after the fact (late conversions, cost corrections). */
  restate(campaignId: string, date: string, changes: Partial<AdMetrics>): void {
    const d = this.days.get(dayKey(campaignId, date));
    if (!d) throw new UnknownAdRowError(campaignId, date);
    Object.assign(d, changes);
    this.version++;
  }

  /** Serves this day's row broken in the given way (until `repair`). */
  malform(campaignId: string, date: string, kind: GoogleAdsMalformKind = 'non_numeric_cost'): void {
    if (!this.days.has(dayKey(campaignId, date))) throw new UnknownAdRowError(campaignId, date);
    this.malformed.set(dayKey(campaignId, date), kind);
    this.version++;
  }

  repair(campaignId: string, date: string): void {
    this.malformed.delete(dayKey(campaignId, date));
    this.version++;
  }

  malformKind(campaignId: string, date: string): GoogleAdsMalformKind | undefined {
    return this.malformed.get(dayKey(campaignId, date));
  }

  /**
   * Schema drift: adds a field the client did not ask for to every result row, at a JSON path
   * such as `metrics.averageTargetRoasMicros` or `campaign.primaryStatus`.
   */
  addField(jsonPath: string, value: unknown): void {
    this.extra.set(jsonPath, value);
    this.version++;
  }

  extraFields(): ReadonlyMap<string, unknown> {
    return this.extra;
  }

  /** Adapter for the sandbox's data-fault rules (`google_ads:restate=7`, `google_ads:malform=2`). */
  faultTarget(): DataFaultTarget {
    return {
      restate: (days, rand) => {
        const from = addDays(this.endDate, -(days - 1));
        for (const d of this.days.values()) {
          if (d.date < from) continue;
          // Late conversions arrive; about one row in five also gets a small cost correction.
          const extra = Math.round(rand() * 3 * 100) / 100;
          const perConv = d.conversions > 0 ? d.conversionsValueMicros / d.conversions : 50_000_000;
          const changes: Partial<AdMetrics> = {
            conversions: Math.round((d.conversions + extra) * 100) / 100,
            conversionsValueMicros: Math.round(d.conversionsValueMicros + extra * perConv),
          };
          if (rand() < 0.2) changes.spendMicros = Math.max(0, d.spendMicros + Math.round((rand() - 0.5) * 0.04 * d.spendMicros / 10_000) * 10_000);
          this.restate(d.campaignId, d.date, changes);
        }
      },
      malformRandom: (count, rand) => {
        const kinds: GoogleAdsMalformKind[] = ['non_numeric_cost', 'missing_metrics', 'bad_date', 'missing_campaign_id'];
        const picked = pickDistinct([...this.days.keys()].sort(), count, rand);
        for (const key of picked) {
          const d = this.days.get(key) as GoogleAdsDay;
          this.malform(d.campaignId, d.date, kinds[Math.floor(rand() * kinds.length)] ?? 'non_numeric_cost');
        }
        return picked;
      },
    };
  }
}

function fromWorld(d: AdDay): GoogleAdsDay {
  return {
    date: d.date,
    customerId: d.adAccountId,
    campaignId: d.campaignId,
    spendMicros: d.spendMicros,
    impressions: d.impressions,
    clicks: d.clicks,
    conversions: d.conversions,
    conversionsValueMicros: d.conversionsValueMicros,
  };
}

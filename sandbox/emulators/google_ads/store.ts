/**
 * The Google Ads emulator's data: customers (one manager owning the world's Google Ads accounts),
 * campaigns and daily campaign metrics, built from the world, plus the mutations tests and data
 * faults use (restatements, malformed rows, schema drift).
 */
import type { AdDay, World } from '../../world/types.ts';
import type { DataFaultTarget } from '../faults.ts';
import { AdDayStore, adDayRow } from '../ad-days.ts';
import { fnv1a } from '../prng.ts';

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


export interface GoogleAdsStoreOptions {
  /** Manager (MCC) customer id owning every customer. Default derived from the world seed. */
  managerCustomerId?: string;
}

export class GoogleAdsStore extends AdDayStore<GoogleAdsDay, GoogleAdsMalformKind> {
  readonly managerCustomerId: string;
  readonly customers: readonly GoogleAdsCustomer[];
  readonly campaigns: readonly GoogleAdsCampaign[];
  /** Last date with data (the world's endDate). */
  readonly endDate: string;

  constructor(world: World, opts: GoogleAdsStoreOptions = {}) {
    super((campaignId, date) => new UnknownAdRowError(campaignId, date));
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
      this.addDay(fromWorld(d));
    }
  }

  customer(id: string): GoogleAdsCustomer | undefined {
    return this.customers.find((c) => c.id === id);
  }

  /** Daily rows of one customer, ordered by date then campaign id. */
  customerDays(customerId: string): GoogleAdsDay[] {
    return this.daysWhere((d) => d.customerId === customerId);
  }

  /** Adapter for the sandbox's data-fault rules (`google_ads:restate=7`, `google_ads:malform=2`). */
  faultTarget(): DataFaultTarget {
    return this.dayFaults(this.endDate, ['non_numeric_cost', 'missing_metrics', 'bad_date', 'missing_campaign_id'], { wholeConversions: false, valuePerConversionMicros: 50_000_000 });
  }
}

function fromWorld(d: AdDay): GoogleAdsDay {
  return { ...adDayRow(d), customerId: d.adAccountId };
}

/**
 * The Meta Ads emulator's data: ad accounts, campaigns and daily campaign metrics built from the
 * world, async report runs, and the mutations tests and data faults use (restatements, malformed
 * rows, schema drift, failing or stalling report runs).
 */
import type { AdDay, World } from '../../world/types.ts';
import type { DataFaultTarget } from '../faults.ts';
import { AdDayStore, adDayRow } from '../ad-days.ts';
import { fnv1a } from '../prng.ts';

export interface MetaAdAccount {
  /** Numeric id; the Graph path is act_<id>. */
  id: string;
  name: string;
  currency: string;
  timezoneName: string;
}

export interface MetaCampaign {
  id: string;
  accountId: string;
  name: string;
  /** Campaign `status` (Marketing API reference "Ad Campaign": ACTIVE, PAUSED, DELETED, ARCHIVED). */
  status: 'ACTIVE' | 'PAUSED' | 'DELETED' | 'ARCHIVED';
  objective: string;
  startDate: string;
  endDate: string;
  /** Minor units of the account currency (Meta sends budgets as strings of cents). */
  dailyBudget: number;
}

/** Metrics of one campaign on one account-local day. */
export interface MetaDay {
  date: string;
  accountId: string;
  campaignId: string;
  spendMicros: number;
  impressions: number;
  clicks: number;
  conversions: number;
  conversionsValueMicros: number;
}

export type MetaMetrics = Pick<MetaDay, 'spendMicros' | 'impressions' | 'clicks' | 'conversions' | 'conversionsValueMicros'>;

/** How a malformed row is broken when served. */
export type MetaMalformKind = 'non_numeric_spend' | 'missing_campaign_id' | 'bad_date' | 'actions_not_a_list';

export type ReportRunStatus = 'Job Not Started' | 'Job Started' | 'Job Running' | 'Job Completed' | 'Job Failed' | 'Job Skipped';

/** What the next report runs do instead of completing normally. */
export type ReportRunFate = 'fail' | 'stall';

export interface ReportRun {
  id: string;
  accountId: string;
  since: string;
  until: string;
  /** The insights query the run answers (fields, level, limit...), as posted. */
  params: URLSearchParams;
  status: ReportRunStatus;
  percent: number;
  polls: number;
  fate: ReportRunFate | undefined;
  createdAt: number;
  completedAt: number | undefined;
}

export class UnknownMetaRowError extends Error {
  constructor(campaignId: string, date: string) {
    super(`no Meta insights row for campaign ${campaignId} on ${date}`);
    this.name = 'UnknownMetaRowError';
  }
}


export interface MetaAdsStoreOptions {
  /**
   * Polls of GET /{report_run_id} before a run completes. Default 1 (small reports finish at once,
   * which keeps the demo quick); tests set more to see 'Job Started' / 'Job Running'.
   */
  pollsToComplete?: number;
  /**
   * Largest number of campaign-day rows one synchronous insights request may cover before Meta
   * answers "Please reduce the amount of data" (code 100, subcode 1487534). Default 5,000.
   */
  maxSyncRows?: number;
  /** Largest number of rows one async report run may cover before it ends "Job Failed". Default 50,000. */
  maxAsyncRows?: number;
}

export class MetaAdsStore extends AdDayStore<MetaDay, MetaMalformKind> {
  readonly accounts: readonly MetaAdAccount[];
  readonly campaigns: readonly MetaCampaign[];
  readonly endDate: string;
  readonly pollsToComplete: number;
  maxSyncRows: number;
  maxAsyncRows: number;
  private readonly runs = new Map<string, ReportRun>();
  /** Fates queued for the next report runs, in order. */
  private readonly fates: ReportRunFate[] = [];
  private runSeq = 0;
  private readonly seed: number;

  constructor(world: World, opts: MetaAdsStoreOptions = {}) {
    super((campaignId, date) => new UnknownMetaRowError(campaignId, date));
    this.seed = world.seed;
    this.endDate = world.endDate;
    this.pollsToComplete = opts.pollsToComplete ?? 1;
    this.maxSyncRows = opts.maxSyncRows ?? 5_000;
    this.maxAsyncRows = opts.maxAsyncRows ?? 50_000;
    this.accounts = world.adAccounts
      .filter((a) => a.platform === 'meta_ads')
      .map((a) => ({ id: a.id, name: a.name, currency: a.currency, timezoneName: a.timeZone }));
    this.campaigns = world.campaigns
      .filter((c) => c.platform === 'meta_ads' && c.adAccountId)
      .map((c) => ({
        id: c.id,
        accountId: c.adAccountId as string,
        name: c.name,
        status: c.status === 'PAUSED' ? 'PAUSED' : 'ACTIVE',
        objective: c.platformType ?? 'OUTCOME_LEADS',
        startDate: c.startDate,
        endDate: c.endDate,
        dailyBudget: Math.round((c.dailyBudgetMicros ?? 0) / 10_000),
      }));
    for (const d of world.adDaily()) {
      if (d.platform === 'meta_ads') this.addDay(fromWorld(d));
    }
  }

  account(id: string): MetaAdAccount | undefined {
    return this.accounts.find((a) => a.id === id);
  }

  campaign(id: string): MetaCampaign | undefined {
    return this.campaigns.find((c) => c.id === id);
  }

  accountCampaigns(accountId: string): MetaCampaign[] {
    return this.campaigns.filter((c) => c.accountId === accountId).sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Rows of one account in since..until (inclusive), ordered by date then campaign id. Days without
   * delivery are left out, as Insights leaves out objects with no stats.
   */
  accountDays(accountId: string, since: string, until: string): MetaDay[] {
    return this.daysWhere(
      (d) =>
        d.accountId === accountId && d.date >= since && d.date <= until &&
        !(d.spendMicros === 0 && d.impressions === 0 && d.clicks === 0 && d.conversions === 0),
    );
  }

  /** How many campaign-day cells a report over the range touches (what Meta's data-per-call limit counts). */
  cellCount(accountId: string, since: string, until: string): number {
    const days = Math.round((Date.parse(`${until}T00:00:00Z`) - Date.parse(`${since}T00:00:00Z`)) / 86_400_000) + 1;
    return Math.max(0, days) * this.accountCampaigns(accountId).length;
  }

  /** The next `count` report runs fail ("Job Failed") or stall (stay "Job Running" forever). */
  queueRunFates(fate: ReportRunFate, count = 1): void {
    for (let i = 0; i < count; i++) this.fates.push(fate);
  }

  createRun(accountId: string, since: string, until: string, params: URLSearchParams, now: number): ReportRun {
    this.runSeq++;
    const id = String(6_000_000_000_000 + ((fnv1a(`meta-run|${this.seed}|${this.runSeq}`) >>> 0) % 900_000_000) * 1000 + this.runSeq);
    let fate = this.fates.shift();
    // A run over more data than Meta will compute fails the way large real jobs do.
    if (fate === undefined && this.cellCount(accountId, since, until) > this.maxAsyncRows) fate = 'fail';
    const run: ReportRun = { id, accountId, since, until, params, status: 'Job Not Started', percent: 0, polls: 0, fate, createdAt: now, completedAt: undefined };
    this.runs.set(id, run);
    return run;
  }

  run(id: string): ReportRun | undefined {
    return this.runs.get(id);
  }

  /** All runs created so far, oldest first (tests check what was asked). */
  allRuns(): ReportRun[] {
    return [...this.runs.values()];
  }

  /** One poll: the run moves forward (or fails, or stalls at the same percentage). */
  advance(run: ReportRun, now: number): void {
    if (run.status === 'Job Completed' || run.status === 'Job Failed') return;
    run.polls++;
    if (run.fate === 'stall') {
      run.status = 'Job Running';
      run.percent = 38;
      return;
    }
    if (run.polls >= this.pollsToComplete) {
      run.status = run.fate === 'fail' ? 'Job Failed' : 'Job Completed';
      run.percent = run.fate === 'fail' ? run.percent : 100;
      run.completedAt = now;
      return;
    }
    run.status = run.polls === 1 ? 'Job Started' : 'Job Running';
    run.percent = Math.min(99, Math.round((run.polls / this.pollsToComplete) * 100));
  }

  /** Adapter for the sandbox's data-fault rules (`meta_ads:restate=7`, `meta_ads:malform=2`). */
  faultTarget(): DataFaultTarget {
    return this.dayFaults(this.endDate, ['non_numeric_spend', 'missing_campaign_id', 'bad_date', 'actions_not_a_list'], { wholeConversions: true, valuePerConversionMicros: 40_000_000 });
  }
}

function fromWorld(d: AdDay): MetaDay {
  return { ...adDayRow(d), accountId: d.adAccountId };
}

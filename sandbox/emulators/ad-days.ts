/**
 * The daily campaign rows an ad-platform emulator serves (Google Ads, Meta Ads), with the mutations
 * tests and data faults make on them: restatements, malformed rows, schema drift.
 */
import { addDays } from '../world/dates.ts';
import type { AdDay } from '../world/types.ts';
import type { DataFaultTarget } from './faults.ts';
import { pickDistinct } from './prng.ts';

/** What every ad day carries (the platform's own fields come on top). */
export interface AdDayRow {
  campaignId: string;
  date: string;
  spendMicros: number;
  impressions: number;
  clicks: number;
  conversions: number;
  conversionsValueMicros: number;
}

/** The platform-neutral part of a world ad day. */
export function adDayRow(d: AdDay): AdDayRow {
  return {
    date: d.date,
    campaignId: d.campaignId,
    spendMicros: d.spendMicros,
    impressions: d.impressions,
    clicks: d.clicks,
    conversions: d.conversions,
    conversionsValueMicros: d.conversionsValueMicros,
  };
}

export abstract class AdDayStore<Day extends AdDayRow, MalformKind extends string> {
  protected readonly days = new Map<string, Day>();
  private readonly malformed = new Map<string, MalformKind>();
  private readonly extra = new Map<string, unknown>();
  /** Bumped on every mutation, so tests can see that something changed. */
  version = 0;

  constructor(private readonly unknownRow: (campaignId: string, date: string) => Error) {}

  protected static key(campaignId: string, date: string): string {
    return `${campaignId}|${date}`;
  }

  protected addDay(d: Day): void {
    this.days.set(AdDayStore.key(d.campaignId, d.date), d);
  }

  /** The rows that pass `keep`, ordered by date then campaign id. */
  protected daysWhere(keep: (d: Day) => boolean): Day[] {
    const out: Day[] = [];
    for (const d of this.days.values()) if (keep(d)) out.push(d);
    return out.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.campaignId.localeCompare(b.campaignId)));
  }

  /** One day's row (a copy), or undefined. */
  day(campaignId: string, date: string): Day | undefined {
    const d = this.days.get(AdDayStore.key(campaignId, date));
    return d ? { ...d } : undefined;
  }

  /** Changes a day's metrics after the fact (late conversions, cost corrections). */
  restate(campaignId: string, date: string, changes: Partial<Omit<Day, 'campaignId' | 'date'>>): void {
    const d = this.days.get(AdDayStore.key(campaignId, date));
    if (!d) throw this.unknownRow(campaignId, date);
    Object.assign(d, changes);
    this.version++;
  }

  /**
   * Restates a day to nothing (spend refunded as invalid traffic, conversions withdrawn): like the
   * platforms, the emulators then no longer serve the row at all.
   */
  restateToNothing(campaignId: string, date: string): void {
    const zero: Partial<AdDayRow> = { spendMicros: 0, impressions: 0, clicks: 0, conversions: 0, conversionsValueMicros: 0 };
    this.restate(campaignId, date, zero as Partial<Omit<Day, 'campaignId' | 'date'>>);
  }

  /** Serves this day's row broken in the given way (until `repair`). */
  malform(campaignId: string, date: string, kind: MalformKind): void {
    if (!this.days.has(AdDayStore.key(campaignId, date))) throw this.unknownRow(campaignId, date);
    this.malformed.set(AdDayStore.key(campaignId, date), kind);
    this.version++;
  }

  repair(campaignId: string, date: string): void {
    this.malformed.delete(AdDayStore.key(campaignId, date));
    this.version++;
  }

  malformKind(campaignId: string, date: string): MalformKind | undefined {
    return this.malformed.get(AdDayStore.key(campaignId, date));
  }

  /** Schema drift: a field the client did not ask for, added to every row (at a JSON path or a top-level name, as the platform's shape goes). */
  addField(path: string, value: unknown): void {
    this.extra.set(path, value);
    this.version++;
  }

  extraFields(): ReadonlyMap<string, unknown> {
    return this.extra;
  }

  /**
   * The data-fault rules (`<api>:restate=N`, `<api>:malform=N`): restate the last N days (late
   * conversions; about one row in five also gets a small spend correction), or break N random rows.
   */
  protected dayFaults(endDate: string, kinds: readonly [MalformKind, ...MalformKind[]], late: { wholeConversions: boolean; valuePerConversionMicros: number }): DataFaultTarget {
    return {
      restate: (days, rand) => {
        const from = addDays(endDate, -(days - 1));
        for (const d of this.days.values()) {
          if (d.date < from) continue;
          const extra = late.wholeConversions ? Math.round(rand() * 3) : Math.round(rand() * 3 * 100) / 100;
          const perConv = d.conversions > 0 ? d.conversionsValueMicros / d.conversions : late.valuePerConversionMicros;
          const changes: Partial<AdDayRow> = {
            conversions: Math.round((d.conversions + extra) * 100) / 100,
            conversionsValueMicros: Math.round(d.conversionsValueMicros + extra * perConv),
          };
          if (rand() < 0.2) changes.spendMicros = Math.max(0, d.spendMicros + Math.round(((rand() - 0.5) * 0.04 * d.spendMicros) / 10_000) * 10_000);
          this.restate(d.campaignId, d.date, changes as Partial<Omit<Day, 'campaignId' | 'date'>>);
        }
      },
      malformRandom: (count, rand) => {
        const picked = pickDistinct([...this.days.keys()].sort(), count, rand);
        for (const k of picked) {
          const d = this.days.get(k) as Day;
          this.malform(d.campaignId, d.date, kinds[Math.floor(rand() * kinds.length)] ?? kinds[0]);
        }
        return picked;
      },
    };
  }
}

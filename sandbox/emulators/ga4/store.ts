/**
 * The GA4 emulator's data: the world's one property and its daily rows (date x sessionSource x
 * sessionMedium x sessionCampaignName), plus the mutations tests and data faults use
 * (restatements of the still-settling days, malformed rows, schema drift).
 */
import type { Ga4Property, Ga4Row, World } from '../../world/types.ts';
import { addDays } from '../../world/dates.ts';
import type { DataFaultTarget } from '../faults.ts';
import { pickDistinct } from '../prng.ts';

/** One served row: the world's GA4 row without its hidden truth fields. */
export interface Ga4DayRow {
  date: string;
  sessionSource: string;
  sessionMedium: string;
  sessionCampaignName: string;
  sessionDefaultChannelGroup: string;
  sessions: number;
  engagedSessions: number;
  keyEvents: number;
  totalUsers: number;
}

export type Ga4Metrics = Pick<Ga4DayRow, 'sessions' | 'engagedSessions' | 'keyEvents' | 'totalUsers'>;

/** How a malformed row is broken when served. */
export type Ga4MalformKind = 'non_numeric_metric' | 'bad_date' | 'missing_metric_values';

export interface Ga4RowKey {
  date: string;
  sessionSource: string;
  sessionMedium: string;
  sessionCampaignName: string;
}

export class UnknownGa4RowError extends Error {
  constructor(key: Ga4RowKey) {
    super(`no GA4 row for ${key.date} ${key.sessionSource} / ${key.sessionMedium} / ${key.sessionCampaignName}`);
    this.name = 'UnknownGa4RowError';
  }
}

export function rowKey(k: Ga4RowKey): string {
  return `${k.date}\t${k.sessionSource}\t${k.sessionMedium}\t${k.sessionCampaignName}`;
}

export class Ga4Store {
  readonly property: Ga4Property;
  /** First and last dates with data (the world's range, property-local). */
  readonly startDate: string;
  readonly endDate: string;
  private readonly rowsByKey = new Map<string, Ga4DayRow>();
  /** Second rows of a key in another channel group (see splitChannelGroup), by rowKey. */
  private readonly channelSplits = new Map<string, Ga4DayRow>();
  private readonly malformed = new Map<string, Ga4MalformKind>();
  private readonly extra = new Map<string, unknown>();
  /** Bumped on every mutation. */
  version = 0;

  constructor(world: World) {
    this.property = world.ga4Property;
    this.endDate = world.endDate;
    let first: string | undefined;
    for (const r of world.ga4Daily()) {
      first ??= r.date;
      this.rowsByKey.set(rowKey(r), fromWorld(r));
    }
    this.startDate = first ?? world.endDate;
  }

  /** Every row, ordered by key (date first), a key's rows by channel group. */
  rows(): Ga4DayRow[] {
    const order = (r: Ga4DayRow) => `${rowKey(r)}\t${r.sessionDefaultChannelGroup}`;
    return [...this.rowsByKey.values(), ...this.channelSplits.values()].map((r) => [order(r), r] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, r]) => r);
  }

  row(key: Ga4RowKey): Ga4DayRow | undefined {
    const r = this.rowsByKey.get(rowKey(key));
    return r ? { ...r } : undefined;
  }

  /** Changes a day's numbers after the fact (GA4 keeps processing for up to 72 hours). */
  restate(key: Ga4RowKey, changes: Partial<Ga4Metrics>): void {
    const r = this.rowsByKey.get(rowKey(key));
    if (!r) throw new UnknownGa4RowError(key);
    Object.assign(r, changes);
    this.version++;
  }

  /**
   * GA4 classifies part of a key's sessions into another default channel group (e.g. the same
   * google / cpc / campaign as "Cross-network"): `moved` leaves the row for a second row of the same
   * date, source, medium and campaign in `channelGroup`, so reports with sessionDefaultChannelGroup
   * serve two rows of that key.
   */
  splitChannelGroup(key: Ga4RowKey, channelGroup: string, moved: Ga4Metrics): void {
    const r = this.rowsByKey.get(rowKey(key));
    if (!r) throw new UnknownGa4RowError(key);
    if (channelGroup === r.sessionDefaultChannelGroup) throw new Error(`the row is already in channel group ${channelGroup}`);
    for (const m of ['sessions', 'engagedSessions', 'keyEvents', 'totalUsers'] as const) {
      if (moved[m] < 0 || moved[m] > r[m]) throw new Error(`cannot move ${moved[m]} ${m} of ${r[m]}`);
      r[m] -= moved[m];
    }
    this.channelSplits.set(rowKey(key), { ...r, sessionDefaultChannelGroup: channelGroup, ...moved });
    this.version++;
  }

  /** The row (and its channel split) is no longer served: GA4 reattributed its sessions as the data settled. */
  remove(key: Ga4RowKey): void {
    if (!this.rowsByKey.delete(rowKey(key))) throw new UnknownGa4RowError(key);
    this.channelSplits.delete(rowKey(key));
    this.malformed.delete(rowKey(key));
    this.version++;
  }

  /** Serves this row broken in the given way (until `repair`), in reports that identify it. */
  malform(key: Ga4RowKey, kind: Ga4MalformKind = 'non_numeric_metric'): void {
    if (!this.rowsByKey.has(rowKey(key))) throw new UnknownGa4RowError(key);
    this.malformed.set(rowKey(key), kind);
    this.version++;
  }

  repair(key: Ga4RowKey): void {
    this.malformed.delete(rowKey(key));
    this.version++;
  }

  malformKind(key: string): Ga4MalformKind | undefined {
    return this.malformed.get(key);
  }

  /** Schema drift: a field the client did not ask for, added to every served row. */
  addField(name: string, value: unknown): void {
    this.extra.set(name, value);
    this.version++;
  }

  extraFields(): ReadonlyMap<string, unknown> {
    return this.extra;
  }

  /** Adapter for the sandbox's data-fault rules (`ga4:restate=3`, `ga4:malform=2`). */
  faultTarget(): DataFaultTarget {
    return {
      restate: (days, rand) => {
        const from = addDays(this.endDate, -(days - 1));
        for (const [, r] of [...this.rowsByKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
          if (r.date < from) continue;
          // Late hits are processed: a few more sessions, users and sometimes a key event.
          const more = Math.floor(rand() * 3);
          const changes: Partial<Ga4Metrics> = { sessions: r.sessions + more, engagedSessions: r.engagedSessions + Math.min(more, 1), totalUsers: r.totalUsers + Math.min(more, 1) };
          if (rand() < 0.2) changes.keyEvents = r.keyEvents + 1;
          this.restate(r, changes);
        }
      },
      malformRandom: (count, rand) => {
        const kinds: Ga4MalformKind[] = ['non_numeric_metric', 'bad_date', 'missing_metric_values'];
        const picked = pickDistinct([...this.rowsByKey.keys()].sort(), count, rand);
        for (const key of picked) {
          const r = this.rowsByKey.get(key) as Ga4DayRow;
          this.malform(r, kinds[Math.floor(rand() * kinds.length)] ?? 'non_numeric_metric');
        }
        return picked;
      },
    };
  }
}

function fromWorld(r: Ga4Row): Ga4DayRow {
  return {
    date: r.date,
    sessionSource: r.sessionSource,
    sessionMedium: r.sessionMedium,
    sessionCampaignName: r.sessionCampaignName,
    sessionDefaultChannelGroup: r.sessionDefaultChannelGroup,
    sessions: r.sessions,
    engagedSessions: r.engagedSessions,
    keyEvents: r.keyEvents,
    totalUsers: r.totalUsers,
  };
}

/**
 * Day-range helpers for Meta's `time_range={since, until}` (inclusive days). The calendar-day
 * primitives are the ones the Google Ads connector uses (same 'YYYY-MM-DD' strings).
 */
import { addDays, chunkDays, daysBetween } from '../core/dates.ts';

export { addDays, dayInZone, dayString, isDay, maxDay, minDay } from '../core/dates.ts';

export interface DayRange {
  /** First day, inclusive. */
  since: string;
  /** Last day, inclusive. */
  until: string;
}

/** Whole days from `since` to `until` inclusive (1 for a single day). */
export function daysIn(range: DayRange): number {
  return daysBetween(range.since, range.until);
}

/** Consecutive ranges of at most `size` days covering since..until (inclusive). */
export function* chunkRange(range: DayRange, size: number): Generator<DayRange> {
  for (const { from, to } of chunkDays(range.since, range.until, size)) yield { since: from, until: to };
}

/** Two halves of a range of at least two days (the first half gets the extra day of an odd length). */
export function splitRange(range: DayRange): [DayRange, DayRange] {
  const mid = addDays(range.since, Math.ceil(daysIn(range) / 2) - 1);
  return [
    { since: range.since, until: mid },
    { since: addDays(mid, 1), until: range.until },
  ];
}

import { z } from 'zod';
import type { StreamContext } from './connector.ts';

/** Calendar-day helpers on 'YYYY-MM-DD' strings (no time zone arithmetic beyond "today in zone X"). */

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function isDay(value: string): boolean {
  if (!DAY.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(value);
}

export const dayString = z.string().refine(isDay, 'must be a date YYYY-MM-DD');

export function addDays(day: string, days: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function minDay(a: string, b: string): string {
  return a < b ? a : b;
}

export function maxDay(a: string, b: string): string {
  return a > b ? a : b;
}

/** The calendar date of `instant` in an IANA time zone (what "today" means for an account). */
export function dayInZone(instant: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(instant);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** Consecutive [from, to] windows of at most `size` days covering from..to (inclusive). */
export function* chunkDays(from: string, to: string, size: number): Generator<{ from: string; to: string }> {
  for (let start = from; start <= to; start = addDays(start, size)) {
    yield { from: start, to: minDay(addDays(start, size - 1), to) };
  }
}

/** Whole days from `from` to `to` inclusive (1 for a single day). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
}

/**
 * Which days a date-partitioned stream reads for one account / property (the ad and analytics
 * connectors share it):
 * - a window (backfill or --from/--to): exactly those days, resuming after the stored `through`
 *   of an unfinished backfill;
 * - full, or no checkpoint yet: startDate (default 365 days back) to yesterday;
 * - incremental: from the earlier of (the day after `through`) and (yesterday - lookback + 1) to
 *   yesterday, so the last lookbackDays are overwritten with their restated values.
 * "Yesterday" is in the account's time zone: today is still incomplete.
 */
export function daysToRead(
  config: { startDate?: string | undefined; lookbackDays: number },
  ctx: Pick<StreamContext<unknown>, 'mode' | 'window'>,
  today: string,
  through: string | undefined,
): { from: string; to: string } {
  const yesterday = addDays(today, -1);
  if (ctx.window) {
    const resumeFrom = ctx.mode === 'backfill' && through !== undefined && through >= ctx.window.from && through < ctx.window.to ? addDays(through, 1) : ctx.window.from;
    return { from: resumeFrom, to: ctx.window.to };
  }
  const start = config.startDate ?? addDays(yesterday, -364);
  if (ctx.mode === 'full' || through === undefined) return { from: start, to: yesterday };
  const from = minDay(addDays(through, 1), addDays(yesterday, -(config.lookbackDays - 1)));
  return { from: maxDay(from, start), to: yesterday };
}

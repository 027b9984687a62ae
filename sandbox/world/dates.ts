/** Calendar helpers on 'YYYY-MM-DD' strings and IANA time zones (no dependency on the clock). */

const DAY_MS = 86_400_000;

export class InvalidDateError extends Error {
  constructor(value: string) {
    super(`not a YYYY-MM-DD date: ${value}`);
    this.name = 'InvalidDateError';
  }
}

/** Days since 1970-01-01 of a 'YYYY-MM-DD' date. */
export function dayNumber(date: string): number {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new InvalidDateError(date);
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(ms)) throw new InvalidDateError(date);
  return Math.round(ms / DAY_MS);
}

export function dateOfDayNumber(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function addDays(date: string, days: number): string {
  return dateOfDayNumber(dayNumber(date) + days);
}

/** 0 = Sunday .. 6 = Saturday. */
export function weekday(date: string): number {
  return (dayNumber(date) + 4) % 7;
}

const offsetCache = new Map<string, number>();
const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * Offset of `timeZone` from UTC in minutes (positive east of Greenwich) at local noon of `date`.
 * Cached: a world only asks about a few hundred dates per zone.
 */
export function tzOffsetMinutes(timeZone: string, date: string): number {
  const key = `${timeZone}|${date}`;
  const hit = offsetCache.get(key);
  if (hit !== undefined) return hit;
  const utcNoon = Date.parse(`${date}T12:00:00Z`);
  let fmt = formatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(timeZone, fmt);
  }
  const parts: Record<string, string> = {};
  for (const p of fmt.formatToParts(new Date(utcNoon))) parts[p.type] = p.value;
  const asUtc = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
  );
  const offset = Math.round((asUtc - utcNoon) / 60_000);
  offsetCache.set(key, offset);
  return offset;
}

/** ISO UTC timestamp of a local wall-clock time (minutes after local midnight) on `date`. */
export function localToUtcIso(timeZone: string, date: string, minuteOfDay: number, second = 0): string {
  const ms = Date.parse(`${date}T00:00:00Z`) + (minuteOfDay - tzOffsetMinutes(timeZone, date)) * 60_000 + second * 1000;
  return new Date(ms).toISOString();
}

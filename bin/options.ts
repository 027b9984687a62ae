import { z } from 'zod';
import { ConfigError } from '../connectors/core/errors/index.ts';

export const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine((v) => isCalendarDay(v), 'is not a real calendar date');

/** True for 'YYYY-MM-DD' strings naming a real day (no 2026-02-30). */
export function isCalendarDay(v: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return false;
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(v);
}

/** Parses a command's options with zod; a failure is a usage error (exit 2) naming the option. */
export function parseOptions<T extends z.ZodType>(schema: T, options: unknown, command: string): z.output<T> {
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.length ? `--${i.path.join('.').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'options'}: ${i.message}`);
  throw new ConfigError(`${command}: ${issues.join('; ')}`);
}

import { z } from 'zod';
import { ConfigError } from '../connectors/core/errors/index.ts';
import { isDay } from '../connectors/core/dates.ts';

export const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine((v) => isDay(v), 'is not a real calendar date');

/** Parses a command's options with zod; a failure is a usage error (exit 2) naming the option. */
export function parseOptions<T extends z.ZodType>(schema: T, options: unknown, command: string): z.output<T> {
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.length ? `--${i.path.join('.').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'options'}: ${i.message}`);
  throw new ConfigError(`${command}: ${issues.join('; ')}`);
}

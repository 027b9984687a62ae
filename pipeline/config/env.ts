import { z } from 'zod';
import { ConfigError } from '../../connectors/core/errors/index.ts';

/**
 * The process environment mpm reads at start-up: one schema, parsed before any work starts.
 * Connector credentials (SALESFORCE_*, HUBSPOT_*, GOOGLE_*, META_*, GA4_*, CSV_*) are read by each
 * connector's own schema, not here.
 */
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const postgresUrl = z
  .string()
  .trim()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL')
  .refine((v) => URL.canParse(v), 'is not a valid URL');

const redisUrl = z
  .string()
  .trim()
  .refine((v) => /^rediss?:\/\//.test(v), 'must be a redis:// or rediss:// URL')
  .refine((v) => URL.canParse(v), 'is not a valid URL');

/** Empty strings count as unset, as shells and .env files commonly leave them. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

export const envSchema = z.object({
  /** Postgres connection URL. Unset: the embedded PGlite warehouse under MPM_DATA_DIR. */
  DATABASE_URL: optional(postgresUrl),
  /** Redis URL for BullMQ jobs. Unset: sync, backfill and transform run inline in the CLI. */
  REDIS_URL: optional(redisUrl),
  /** pino level for the JSON logs on stderr. Default: info. */
  LOG_LEVEL: optional(z.enum(logLevels)).transform((v) => v ?? 'info'),
  /** Where the embedded warehouse and other local state live. Default: ./.mpm */
  MPM_DATA_DIR: optional(z.string().min(1)).transform((v) => v ?? './.mpm'),
  /** Path of the connections file. Default: mpm.config.json, .yaml or .yml in the working directory. */
  MPM_CONFIG: optional(z.string().min(1)),
});

export type Env = z.infer<typeof envSchema>;

/** Parses the environment; a bad value is a ConfigError naming the variable (exit code 2). */
export function parseEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(source);
  if (result.success) return result.data;
  const messages = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid environment: ${messages.join('; ')}`);
}

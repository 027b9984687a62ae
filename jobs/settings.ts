import { z } from 'zod';
import { ConfigError } from '../connectors/core/errors/index.ts';

/**
 * Settings of the job system, from the environment (documented in jobs/README.md). REDIS_URL itself
 * is parsed by pipeline/config/env.ts; everything here has a default.
 */
const intFromEnv = (min: number, fallback: number) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : undefined), z.number().int().min(min).optional()).transform((v) => v ?? fallback);

export const jobsEnvSchema = z.object({
  /** BullMQ key prefix; several mpm installs (or test files) can share one Redis. Default 'mpm'. */
  MPM_QUEUE_PREFIX: z
    .preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined), z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').optional())
    .transform((v) => v ?? 'mpm'),
  /** How long a worker's claim on an active job lasts without renewal (ms); after a crash the job is picked up again this much later. Default 30000. */
  MPM_JOB_LOCK_MS: intFromEnv(500, 30_000),
  /** How often stalled (crashed) jobs are looked for (ms). Default: MPM_JOB_LOCK_MS. */
  MPM_STALLED_INTERVAL_MS: intFromEnv(500, 0),
  /** How many times a job may be recovered from a crashed worker before it fails. Default 5. */
  MPM_MAX_STALLED: intFromEnv(0, 5),
  /** TTL of the per-stream run lock in Redis (ms), renewed every third of it while the sync runs. Default 30000. */
  MPM_STREAM_LOCK_TTL_MS: intFromEnv(300, 30_000),
  /** How long a backfill chunk or manual sync waits for its stream's run lock before it goes back to the queue (ms). Default 30000. */
  MPM_STREAM_LOCK_WAIT_MS: intFromEnv(0, 30_000),
  /** Attempts of a sync or chunk job before it fails (429 waits do not count). Default 5. */
  MPM_JOB_ATTEMPTS: intFromEnv(1, 5),
  /** First retry delay (ms); doubles every attempt, with 50 % jitter. Default 5000. */
  MPM_JOB_BACKOFF_MS: intFromEnv(0, 5_000),
  /** How long a stopping worker waits for the current page to be stored before it exits anyway (ms). Default 60000. */
  MPM_SHUTDOWN_TIMEOUT_MS: intFromEnv(100, 60_000),
  /** Bull Board user (mpm ui). Default: none. */
  MPM_UI_USER: z.string().optional(),
  /** Bull Board password (mpm ui). Default: none. */
  MPM_UI_PASSWORD: z.string().optional(),
});

export type JobsEnv = z.infer<typeof jobsEnvSchema>;

export interface JobsSettings {
  redisUrl: string;
  prefix: string;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  streamLockTtlMs: number;
  streamLockWaitMs: number;
  attempts: number;
  backoffMs: number;
  shutdownTimeoutMs: number;
  uiUser: string | undefined;
  uiPassword: string | undefined;
}

export function parseJobsEnv(source: NodeJS.ProcessEnv = process.env): JobsEnv {
  const result = jobsEnvSchema.safeParse(source);
  if (result.success) return result.data;
  throw new ConfigError(`invalid environment: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
}

/** The settings of a process that talks to Redis; a missing REDIS_URL is a ConfigError saying so. */
export function jobsSettings(redisUrl: string | undefined, what: string, source: NodeJS.ProcessEnv = process.env): JobsSettings {
  if (!redisUrl) throw new ConfigError(`${what} needs REDIS_URL (e.g. redis://127.0.0.1:6379): without Redis, run \`mpm sync\`, \`mpm backfill\` and \`mpm transform\` inline instead`);
  const env = parseJobsEnv(source);
  return {
    redisUrl,
    prefix: env.MPM_QUEUE_PREFIX,
    lockDurationMs: env.MPM_JOB_LOCK_MS,
    stalledIntervalMs: env.MPM_STALLED_INTERVAL_MS || env.MPM_JOB_LOCK_MS,
    maxStalledCount: env.MPM_MAX_STALLED,
    streamLockTtlMs: env.MPM_STREAM_LOCK_TTL_MS,
    streamLockWaitMs: env.MPM_STREAM_LOCK_WAIT_MS,
    attempts: env.MPM_JOB_ATTEMPTS,
    backoffMs: env.MPM_JOB_BACKOFF_MS,
    shutdownTimeoutMs: env.MPM_SHUTDOWN_TIMEOUT_MS,
    uiUser: env.MPM_UI_USER,
    uiPassword: env.MPM_UI_PASSWORD,
  };
}

/** Defaults for code that builds settings itself (tests, embedding). */
export function defaultJobsSettings(redisUrl: string, overrides: Partial<JobsSettings> = {}): JobsSettings {
  return { ...jobsSettings(redisUrl, 'jobs', {}), ...overrides };
}

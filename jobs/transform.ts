import type { Logger } from 'pino';
import { runTransform, type TransformResult } from '../pipeline/transform/index.ts';
import type { Warehouse } from '../warehouse/db.ts';

export interface TransformStageOptions {
  warehouse: Warehouse;
  log: Logger;
  /** The config file's `transform` section. */
  config?: unknown;
  /** The config file's `goals` section. */
  goals?: unknown;
  /** Why it runs (a schedule tick, a backfill id), for the log. */
  reason: string;
}

/**
 * The transform stage after syncs (staging -> core-derived models -> marts), as `mpm transform`
 * runs it: incremental (only what the synced rows touched is recomputed; it falls back to a full
 * rebuild by itself on the first run or a config change), atomic.
 */
export async function runTransformStage(options: TransformStageOptions): Promise<TransformResult> {
  options.log.info({ reason: options.reason }, 'transform started');
  const result = await runTransform({ warehouse: options.warehouse, log: options.log, config: options.config, goals: options.goals });
  options.log.info({ reason: options.reason, rows: result.rows }, 'transform finished');
  return result;
}

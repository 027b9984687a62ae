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
 * runs it. Every run is a full, atomic rebuild for now, so a backfill's window only labels the log.
 */
export async function runTransformStage(options: TransformStageOptions): Promise<TransformResult> {
  options.log.info({ reason: options.reason }, 'transform started');
  const result = await runTransform({ warehouse: options.warehouse, log: options.log, config: options.config, goals: options.goals, full: true });
  options.log.info({ reason: options.reason, rows: result.rows }, 'transform finished');
  return result;
}

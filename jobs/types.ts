import type { DateWindow, SyncMode } from '../connectors/core/connector.ts';

/** Why a sync job exists: a schedule (skipped when the stream is busy), a backfill chunk, or a person. */
export type SyncTrigger = 'schedule' | 'backfill' | 'manual';

export interface SyncJobData {
  connection: string;
  stream: string;
  mode: SyncMode;
  window?: DateWindow;
  trigger: SyncTrigger;
  /** Set for backfill chunks. */
  backfillId?: string;
}

export interface SyncJobResult {
  outcome: 'ran' | 'skipped' | 'already-complete' | 'cancelled';
  runId?: number;
  status?: string;
  rowsRead?: number;
}

export interface TransformJobData {
  reason: string;
  /** The affected days; absent: everything. */
  window?: DateWindow;
  backfillId?: string;
}

export interface TransformJobResult {
  outcome: 'ran' | 'unavailable' | 'skipped';
  detail?: string;
}

/** Template of a scheduler's jobs: one sync cycle (sync, then transform) of one stream. */
export interface CycleJobData {
  connection: string;
  stream: string;
}

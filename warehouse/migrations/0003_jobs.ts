import type { Knex } from 'knex';

/**
 * Job bookkeeping that must outlive Redis and be readable from any terminal: backfills and their
 * chunks. Forward-only and idempotent (IF NOT EXISTS), like every mpm migration.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS meta.backfills (
      id                text        PRIMARY KEY,
      connection        text        NOT NULL,
      streams           jsonb       NOT NULL,
      window_from       date        NOT NULL,
      window_to         date        NOT NULL,
      chunk_days        integer     NOT NULL CHECK (chunk_days > 0),
      force             boolean     NOT NULL DEFAULT false,
      execution         text        NOT NULL CHECK (execution IN ('queued', 'inline')),
      status            text        NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
      transform_status  text,
      created_at        timestamptz NOT NULL DEFAULT now(),
      finished_at       timestamptz,
      error             text
    )`);
  await knex.raw(`COMMENT ON TABLE meta.backfills IS
    'Grain: one row per backfill request (mpm backfill). status: running, done (every chunk done or skipped), failed (a chunk failed for good), cancelled (mpm backfill cancel). transform_status: what the transform of the affected range did (success, failed, unavailable), null until it ran.'`);

  await knex.raw(`
    CREATE TABLE IF NOT EXISTS meta.backfill_chunks (
      backfill_id  text        NOT NULL REFERENCES meta.backfills (id),
      stream       text        NOT NULL,
      chunk_from   date        NOT NULL,
      chunk_to     date        NOT NULL,
      status       text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'done', 'skipped', 'failed', 'cancelled')),
      run_id       bigint,
      rows_read    bigint      NOT NULL DEFAULT 0,
      attempts     integer     NOT NULL DEFAULT 0,
      error        text,
      updated_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (backfill_id, stream, chunk_from)
    )`);
  await knex.raw(`COMMENT ON TABLE meta.backfill_chunks IS
    'Grain: one row per backfill x stream x chunk window. A chunk is a runSync in mode backfill with window chunk_from..chunk_to under its own checkpoint scope; skipped means an earlier run of exactly this window already succeeded (see jobs/README.md).'`);
}

export async function down(): Promise<void> {
  throw new Error('mpm migrations are forward-only');
}

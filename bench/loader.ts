import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { runSync } from '../pipeline/sync.ts';
import { fixtureConnection, fixtureRecord } from '../test/helpers/fixture-connector.ts';
import type { Warehouse } from '../warehouse/db.ts';

/**
 * Loader throughput vs a raw COPY, in the same run on the same database:
 * - loader: N spend records through runSync (validation, normalization, raw + core upserts,
 *   checkpoint per page, each page one transaction) into empty tables;
 * - baseline: the same N normalized rows COPYed straight into an identical empty table
 *   (core.fct_ad_spend_daily's definition with its primary key and indexes), one COPY, one
 *   transaction: the fastest way to put those rows into Postgres.
 * Both paths first run once on a few pages (warm-up: code compiled, catalogs cached), then the
 * tables are emptied and a CHECKPOINT taken, so each measured phase starts from the same state.
 */
export async function benchLoader(warehouse: Warehouse, rows: number, pageSize: number): Promise<Record<string, number>> {
  const knex = warehouse.knex;
  const pages = Math.ceil(rows / pageSize);
  await knex.raw('DROP TABLE IF EXISTS public.bench_copy_target');
  await knex.raw('CREATE TABLE public.bench_copy_target (LIKE core.fct_ad_spend_daily INCLUDING ALL)');

  const warmPages = Math.min(pages, 2);
  await loaderPhase(warehouse, warmPages, pageSize);
  await copyPhase(warehouse, warmPages, pageSize);
  await knex.raw('TRUNCATE raw.fixture__spend, core.fct_ad_spend_daily, public.bench_copy_target');
  await knex.raw('CHECKPOINT');

  const loaderMs = await loaderPhase(warehouse, pages, pageSize);
  await knex.raw('CHECKPOINT');
  const copyMs = await copyPhase(warehouse, pages, pageSize);
  await knex.raw('DROP TABLE public.bench_copy_target');

  const n = pages * pageSize;
  return { rows: n, loaderMs, copyMs, loaderRowsPerSec: n / (loaderMs / 1000), copyRowsPerSec: n / (copyMs / 1000), ratio: copyMs / loaderMs };
}

/** Syncs `pages` fixture pages in full mode; returns the elapsed milliseconds. */
async function loaderPhase(warehouse: Warehouse, pages: number, pageSize: number): Promise<number> {
  const connection = await fixtureConnection(warehouse, { pages, pageSize });
  const t0 = performance.now();
  const result = await runSync({ warehouse, connection, stream: connection.connector.streams[0]!, mode: 'full', log: pino({ level: 'silent' }) });
  const ms = performance.now() - t0;
  if (result.status !== 'success' || result.counts.inserted !== pages * pageSize) throw new Error(`loader run ${result.status}: ${result.error ?? JSON.stringify(result.counts)}`);
  return ms;
}

/** COPYs the same rows the loader writes to core into public.bench_copy_target; returns the elapsed milliseconds. */
async function copyPhase(warehouse: Warehouse, pages: number, pageSize: number): Promise<number> {
  const knex = warehouse.knex;
  const config = { pages, pageSize, invalidEvery: 0, deletedEvery: 0, spendBump: 0 };
  const columns = ['connection_id', 'campaign_id', 'date', 'source_system', 'currency', 'spend', 'impressions', 'clicks', 'conversions', 'conversion_value'];
  function* lines(): Generator<string> {
    let buffer = '';
    for (let i = 0; i < pages * pageSize; i++) {
      const r = fixtureRecord(i, config) as { campaign: string; day: string; spend: number; clicks: number };
      buffer += `fixture\t${r.campaign}\t${r.day}\tfixture\tUSD\t${r.spend}\t${r.clicks * 10}\t${r.clicks}\t0\t0\n`;
      if (buffer.length > 1 << 20) {
        yield buffer;
        buffer = '';
      }
    }
    if (buffer) yield buffer;
  }
  const t0 = performance.now();
  await knex.transaction(async (trx) => {
    const conn = (await trx.client.acquireConnection()) as pg.PoolClient;
    await pipeline(Readable.from(lines()), conn.query(copyFrom(`COPY public.bench_copy_target (${columns.join(', ')}) FROM STDIN`)));
  });
  const ms = performance.now() - t0;
  const copied = Number((await knex('public.bench_copy_target').count({ n: '*' }).first())!.n);
  if (copied !== pages * pageSize) throw new Error(`COPY baseline stored ${copied} rows`);
  return ms;
}

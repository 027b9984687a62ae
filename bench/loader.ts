import { pino } from 'pino';
import type pg from 'pg';
import { runSync } from '../pipeline/sync.ts';
import { fixtureConnection, fixtureRecord } from '../test/helpers/fixture-connector.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { copyLines, copyText } from './copy.ts';

/**
 * Loader throughput vs a raw COPY, in the same run on the same database:
 * - loader: N spend records through runSync (validation, normalization, raw + core upserts,
 *   checkpoint per page, each page one transaction) into empty tables;
 * - baseline: the same N normalized rows COPYed straight into an identical empty table
 *   (core.fct_ad_spend_daily's definition with its primary key and indexes), one COPY, one
 *   transaction: the fastest way to put those rows into Postgres;
 * - floor: the same N records COPYed, unvalidated, into both an identical raw table (payload as
 *   jsonb) and an identical core table, one transaction on one connection. The loader must write
 *   both, so this is what the same writes cost without validation, normalization, pages, merges or
 *   checkpoints. The loader can still pass it: its pages overlap on two connections (a page's raw
 *   rows are written while the page before it writes core rows and commits).
 * - re-read: the loader phase's records synced again, unchanged (as a lookback window or a full
 *   resync reads them): validated, staged and compared, nothing written; its write-ahead log is
 *   reported too.
 * The records come from the fixture connector (test/helpers/fixture-connector.ts), each built as
 * one object literal: the representation JSON.parse() gives a vendor's records. (Until 2026-12-04
 * they were assembled by object spreads, which V8 stores in a slower form: every later read of
 * them, zod's included, cost the loader about twice the CPU that parsed JSON costs.)
 * Both paths first run once on a few pages (warm-up: code compiled, catalogs cached), then the
 * tables are emptied and a CHECKPOINT taken, so each measured phase starts from the same state.
 */
export async function benchLoader(warehouse: Warehouse, rows: number, pageSize: number, repeat = 3): Promise<Record<string, number>> {
  const knex = warehouse.knex;
  const pages = Math.ceil(rows / pageSize);
  await knex.raw('DROP TABLE IF EXISTS public.bench_copy_target');
  await knex.raw('DROP TABLE IF EXISTS public.bench_raw_target');
  await knex.raw('CREATE TABLE public.bench_copy_target (LIKE core.fct_ad_spend_daily INCLUDING ALL)');

  const warmPages = Math.min(pages, 2);
  await loaderPhase(warehouse, warmPages, pageSize); // also creates raw.fixture__spend
  await knex.raw('CREATE TABLE public.bench_raw_target (LIKE raw.fixture__spend INCLUDING ALL)');
  await copyPhase(warehouse, warmPages, pageSize, false);
  const empty = 'TRUNCATE raw.fixture__spend, core.fct_ad_spend_daily, public.bench_copy_target, public.bench_raw_target';
  await knex.raw(empty);
  await knex.raw('CHECKPOINT');

  // The four phases run in turn `repeat` times and each figure is the median, so a burst of load
  // from elsewhere on the machine skews one round, not the result.
  const times: Record<'loader' | 'reread' | 'copy' | 'floor', number[]> = { loader: [], reread: [], copy: [], floor: [] };
  const rereadWal: number[] = [];
  for (let round = 0; round < repeat; round++) {
    if (round > 0) {
      await knex.raw(empty);
      await knex.raw('CHECKPOINT');
    }
    times.loader.push(await loaderPhase(warehouse, pages, pageSize));
    await knex.raw('CHECKPOINT');
    const lsn = (await knex.raw('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l as string;
    times.reread.push(await loaderPhase(warehouse, pages, pageSize, 'unchanged'));
    rereadWal.push(Number((await knex.raw('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ?::pg_lsn) AS d', [lsn])).rows[0].d));
    await knex.raw('CHECKPOINT');
    times.copy.push(await copyPhase(warehouse, pages, pageSize, false));
    await knex.raw(empty);
    await knex.raw('CHECKPOINT');
    times.floor.push(await copyPhase(warehouse, pages, pageSize, true));
  }
  await knex.raw('DROP TABLE public.bench_copy_target, public.bench_raw_target');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const [loaderMs, rereadMs, copyMs, floorMs] = [median(times.loader), median(times.reread), median(times.copy), median(times.floor)];

  const n = pages * pageSize;
  return {
    rows: n, repeat, loaderMs, rereadMs, copyMs, floorMs,
    loaderRowsPerSec: n / (loaderMs / 1000), rereadRowsPerSec: n / (rereadMs / 1000), copyRowsPerSec: n / (copyMs / 1000), floorRowsPerSec: n / (floorMs / 1000),
    ratio: copyMs / loaderMs, rereadRatio: copyMs / rereadMs, floorRatio: copyMs / floorMs, loaderVsFloor: floorMs / loaderMs,
    rereadWalBytes: median(rereadWal),
  };
}

/**
 * Syncs `pages` fixture pages in full mode; returns the elapsed milliseconds. `expect`: every
 * record new (into empty tables), or every record read again unchanged (a lookback re-read).
 */
async function loaderPhase(warehouse: Warehouse, pages: number, pageSize: number, expect: 'inserted' | 'unchanged' = 'inserted'): Promise<number> {
  const connection = await fixtureConnection(warehouse, { pages, pageSize });
  const t0 = performance.now();
  const result = await runSync({ warehouse, connection, stream: connection.connector.streams[0]!, mode: 'full', log: pino({ level: 'silent' }) });
  const ms = performance.now() - t0;
  if (result.status !== 'success' || result.counts[expect] !== pages * pageSize) throw new Error(`loader run ${result.status}: ${result.error ?? JSON.stringify(result.counts)}`);
  return ms;
}

/**
 * COPYs the rows the loader writes to core into public.bench_copy_target and, with `withRaw`, the
 * records into public.bench_raw_target too, in one transaction; returns the elapsed milliseconds.
 */
async function copyPhase(warehouse: Warehouse, pages: number, pageSize: number, withRaw: boolean): Promise<number> {
  const knex = warehouse.knex;
  const n = pages * pageSize;
  const config = { pages, pageSize, invalidEvery: 0, deletedEvery: 0, spendBump: 0 };
  const columns = ['connection_id', 'campaign_id', 'date', 'source_system', 'currency', 'spend', 'impressions', 'clicks', 'conversions', 'conversion_value'];
  function* coreLines(): Generator<string> {
    for (let i = 0; i < n; i++) {
      const r = fixtureRecord(i, config) as { campaign: string; day: string; spend: number; clicks: number };
      yield `fixture\t${r.campaign}\t${r.day}\tfixture\tUSD\t${r.spend}\t${r.clicks * 10}\t${r.clicks}\t0\t0\n`;
    }
  }
  function* rawLines(): Generator<string> {
    for (let i = 0; i < n; i++) {
      const r = fixtureRecord(i, config);
      yield `fixture\t${copyText(String(r.id))}\t${copyText(JSON.stringify(r))}\tf\n`;
    }
  }
  const t0 = performance.now();
  await knex.transaction(async (trx) => {
    const conn = (await trx.client.acquireConnection()) as pg.PoolClient;
    if (withRaw) await copyLines(conn, 'public.bench_raw_target', ['connection_id', 'record_id', 'payload', '_deleted'], rawLines());
    await copyLines(conn, 'public.bench_copy_target', columns, coreLines());
  });
  const ms = performance.now() - t0;
  const copied = Number((await knex('public.bench_copy_target').count({ n: '*' }).first())!.n);
  if (copied !== n) throw new Error(`COPY baseline stored ${copied} rows`);
  return ms;
}

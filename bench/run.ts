import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { prepareWarehouse } from '../pipeline/setup.ts';
import { openWarehouse, type Warehouse } from '../warehouse/db.ts';
import { benchLoader } from './loader.ts';
import { benchTransform, reportTransformBench } from './transform.ts';

/**
 * `npm run bench [-- loader|transform ...]`: every benchmark runs against a fresh Postgres database
 * (DATABASE_URL's server, else the local default) and reports figures as ratios against a baseline
 * measured in the same run. Without names, every benchmark runs.
 * BENCH_ROWS overrides the loader's row count (default 1,000,000); BENCH_WORLD_SCALE the transform's
 * world (default 'large': ~1M touchpoints, ~100k opportunities).
 */
const adminUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const pageSize = Number(process.env.BENCH_PAGE_SIZE ?? 20_000);
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const worldScale = process.env.BENCH_WORLD_SCALE ?? 'large';

const benchmarks: Record<string, (warehouse: Warehouse) => Promise<void>> = {
  loader: async (warehouse) => {
    console.log(`loader benchmark: ${rows.toLocaleString('en')} spend rows, pages of ${pageSize.toLocaleString('en')}, median of ${repeat} rounds, Postgres ${(await warehouse.knex.raw('SHOW server_version')).rows[0].server_version}`);
    const r = await benchLoader(warehouse, rows, pageSize, repeat);
    const fmt = (n: number) => Math.round(n).toLocaleString('en');
    console.log(`  loader (validate + raw + core upsert + checkpoint): ${fmt(r.loaderRowsPerSec!)} rows/s  (${(r.loaderMs! / 1000).toFixed(1)} s)`);
    console.log(`  raw COPY into an identical empty table:             ${fmt(r.copyRowsPerSec!)} rows/s  (${(r.copyMs! / 1000).toFixed(1)} s)`);
    console.log(`  re-read of the same records, unchanged:            ${fmt(r.rereadRowsPerSec!)} rows/s  (${(r.rereadMs! / 1000).toFixed(1)} s, ${(r.rereadWalBytes! / 1048576).toFixed(1)} MB of WAL)`);
    console.log(`  floor: COPY of the records into raw + core:       ${fmt(r.floorRowsPerSec!)} rows/s  (${(r.floorMs! / 1000).toFixed(1)} s)`);
    console.log(`  ratio loader / COPY: ${r.ratio!.toFixed(2)}x   (targets: >= 0.50x and >= 100,000 rows/s)`);
    console.log(`  ratio floor / COPY:  ${r.floorRatio!.toFixed(2)}x   (the same writes unvalidated, one connection)`);
    console.log(`  ratio re-read / COPY: ${r.rereadRatio!.toFixed(2)}x`);
    console.log(`  ratio loader / floor: ${r.loaderVsFloor!.toFixed(2)}x`);
  },
  transform: async (warehouse) => {
    const scale = /^\d+(\.\d+)?$/.test(worldScale) ? Number(worldScale) : (worldScale as 'large' | 'demo' | 'tiny');
    reportTransformBench(await benchTransform(warehouse, scale));
  },
};

const selected = process.argv.slice(2).filter((a) => a !== '--');
const unknown = selected.filter((name) => !(name in benchmarks));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')} (known: ${Object.keys(benchmarks).join(', ')})`);
  process.exit(2);
}

for (const name of selected.length ? selected : Object.keys(benchmarks)) {
  const db = `mpm_bench_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${db}`);
  const url = new URL(adminUrl);
  url.pathname = `/${db}`;
  const warehouse = await openWarehouse({ databaseUrl: url.toString() });
  try {
    await prepareWarehouse(warehouse.knex);
    await benchmarks[name]!(warehouse);
  } finally {
    await warehouse.close();
    await admin.raw(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.destroy();
  }
}

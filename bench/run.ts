import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { prepareWarehouse } from '../pipeline/setup.ts';
import { openWarehouse } from '../warehouse/db.ts';
import { benchLoader } from './loader.ts';

/**
 * `npm run bench`: every benchmark runs against a fresh Postgres database (DATABASE_URL's server,
 * else the local default) and reports figures as ratios against a baseline measured in the same run.
 * BENCH_ROWS overrides the loader's row count (default 1,000,000).
 */
const adminUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const pageSize = Number(process.env.BENCH_PAGE_SIZE ?? 20_000);

const name = `mpm_bench_${randomBytes(4).toString('hex')}`;
const admin = knexFactory({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } });
await admin.raw(`CREATE DATABASE ${name}`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;
const warehouse = await openWarehouse({ databaseUrl: url.toString() });
try {
  await prepareWarehouse(warehouse.knex);
  console.log(`loader benchmark: ${rows.toLocaleString('en')} spend rows, pages of ${pageSize.toLocaleString('en')}, Postgres ${(await warehouse.knex.raw('SHOW server_version')).rows[0].server_version}`);
  const r = await benchLoader(warehouse, rows, pageSize);
  const fmt = (n: number) => Math.round(n).toLocaleString('en');
  console.log(`  loader (validate + raw + core upsert + checkpoint): ${fmt(r.loaderRowsPerSec!)} rows/s  (${(r.loaderMs! / 1000).toFixed(1)} s)`);
  console.log(`  raw COPY into an identical empty table:             ${fmt(r.copyRowsPerSec!)} rows/s  (${(r.copyMs! / 1000).toFixed(1)} s)`);
  console.log(`  ratio loader / COPY: ${r.ratio!.toFixed(2)}x   (targets: >= 0.50x and >= 100,000 rows/s)`);
} finally {
  await warehouse.close();
  await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.destroy();
}

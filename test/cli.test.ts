import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestWarehouse } from './helpers/warehouse.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const tsx = path.join(root, 'node_modules/.bin/tsx');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (bin/mpm.ts) in a child process with a clean environment. */
async function mpm(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  const dir = cwd ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-cli-'));
  try {
    const { stdout, stderr } = await run(tsx, [path.join(root, 'bin/mpm.ts'), ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'warn', ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('CLI', () => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  let dir: string;
  beforeAll(async () => {
    warehouse = await createTestWarehouse('postgres', { migrate: false });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-cli-'));
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('prints help for every command and exits 0', async () => {
    const top = await mpm(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['migrate', 'sources', 'sync', 'status', 'quarantine', 'demo']) expect(top.stdout).toContain(command);
    const sync = await mpm(['sync', '--help']);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toContain('--from <YYYY-MM-DD>');
  });

  it('exits 2 with a message naming the problem on bad arguments', async () => {
    const unknown = await mpm(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);

    const badDate = await mpm(['sync', 'csv', '--from', '2026-02-30', '--to', '2026-03-01'], { DATABASE_URL: warehouse.url! });
    expect(badDate.code).toBe(2);
    expect(badDate.stderr).toMatch(/--from: is not a real calendar date/);
    expect(badDate.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const lonely = await mpm(['sync', 'csv', '--from', '2026-01-01']);
    expect(lonely.code).toBe(2);
    expect(lonely.stderr).toMatch(/--from and --to go together/);

    const unknownConnection = await mpm(['sync', 'nope'], { DATABASE_URL: warehouse.url! });
    expect(unknownConnection.code).toBe(2);
    expect(unknownConnection.stderr).toMatch(/unknown connection "nope"/);
  });

  it('exits 2 naming the variable when the environment is bad', async () => {
    const r = await mpm(['status'], { DATABASE_URL: 'mysql://x@y/z' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/DATABASE_URL: must be a postgres/);
    const level = await mpm(['sources'], { LOG_LEVEL: 'loud' });
    expect(level.code).toBe(2);
    expect(level.stderr).toMatch(/LOG_LEVEL/);
  });

  it('exits 2 naming the connection and the field when the config file is bad', async () => {
    const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-cfg-'));
    fs.writeFileSync(path.join(cfgDir, 'mpm.config.json'), JSON.stringify({ connections: [{ id: 'offline_eu', connector: 'csv', path: 'x.csv', defaultCurrency: 'euro' }] }));
    const r = await mpm(['sources'], {}, cfgDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/connection offline_eu \(csv\): defaultCurrency: must be an ISO 4217 code/);

    fs.writeFileSync(path.join(cfgDir, 'mpm.config.json'), JSON.stringify({ connections: [{ id: 'offline', connector: 'csv', path: '${OFFLINE_CSV}' }] }));
    const missingVar = await mpm(['sources'], {}, cfgDir);
    expect(missingVar.code).toBe(2);
    expect(missingVar.stderr).toMatch(/connection offline\.path: environment variable OFFLINE_CSV is not set/);

    fs.writeFileSync(path.join(cfgDir, 'mpm.config.yaml'), 'connections: [ {id: x');
    fs.rmSync(path.join(cfgDir, 'mpm.config.json'));
    const yaml = await mpm(['sources'], {}, cfgDir);
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(/mpm.config.yaml is not valid YAML/);
  });

  it('syncs a configured connection end to end, reports status as JSON, and a re-run changes nothing', async () => {
    const csv = path.join(dir, 'spend.csv');
    fs.writeFileSync(csv, 'date,channel,campaign,spend,currency,impressions,clicks\n2026-01-05,Events,Expo,1200.50,USD,,\n2026-01-05,Print,Mag,300,EUR,1000,4\n2026-01-06,Print,Mag,not-money,EUR,1000,4\n');
    fs.writeFileSync(path.join(dir, 'mpm.config.yaml'), `connections:\n  - id: offline\n    connector: csv\n    path: \${SPEND_CSV}\n`);
    const env = { DATABASE_URL: warehouse.url!, SPEND_CSV: csv };
    const first = await mpm(['sync', 'offline'], env, dir);
    // One bad row: quarantined, the run still succeeds for the others.
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/offline\.spend: success {2}read 3, inserted 3, updated 0, unchanged 0, quarantined 1/);
    // The transform follows an inline sync: the first run is full, the spend mart has the rows.
    expect(first.stdout).toMatch(/^transform: full/m);
    const mart = (await warehouse.knex.raw(`SELECT count(*)::int AS n FROM marts.fct_ad_spend_daily WHERE connection_id = 'offline'`)).rows[0] as { n: number };
    expect(mart.n).toBe(2);
    const again = await mpm(['sync', 'offline.spend', '--full'], env, dir);
    expect(again.stdout).toMatch(/read 3, inserted 0, updated 0, unchanged 3, quarantined 1/);
    expect(again.stdout).toMatch(/^transform: incremental/m);
    const skipped = await mpm(['sync', 'offline.spend', '--no-transform'], env, dir);
    expect(skipped.stdout).not.toMatch(/^transform:/m);

    const status = await mpm(['status', '--json'], env, dir);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as { streams: Array<{ connection: string; stream: string; openQuarantine: number; lastRun: { status: string } }> };
    expect(parsed.streams).toEqual([expect.objectContaining({ connection: 'offline', stream: 'spend', openQuarantine: 1, lastRun: expect.objectContaining({ status: 'success' }) })]);

    const list = await mpm(['quarantine', 'list', 'offline'], env, dir);
    expect(list.stdout).toMatch(/offline\.spend record 2026-01-06\|Mag\n {2}spend: .*non-negative decimal/);
    const retry = await mpm(['quarantine', 'retry', 'offline'], env, dir);
    expect(retry.code).toBe(1); // still failing: the data is still bad
    expect(retry.stdout).toMatch(/retried 1, resolved 0, still failing 1/);

    // What a killed process leaves behind: a run and an inline backfill marked running that no
    // live process holds. Status says so; the next sync marks the run failed and goes on.
    const [killed] = (await warehouse.knex('meta.sync_runs').insert({ connection: 'offline', stream: 'spend', mode: 'incremental' }).returning('id')) as Array<{ id: number }>;
    await warehouse.knex('meta.backfills').insert({ id: 'bf-killed', connection: 'offline', streams: JSON.stringify(['spend']), window_from: '2026-01-01', window_to: '2026-01-31', chunk_days: 7, execution: 'inline' });
    const stale = await mpm(['status'], env, dir);
    expect(stale.stdout).toContain(`last run ${killed!.id} running, interrupted: its process is gone (the next run marks it failed and resumes)`);
    const bf = await mpm(['backfill', 'status', 'bf-killed'], env, dir);
    expect(bf.stdout, bf.stderr).toContain('interrupted: the process running it is gone; run the same `mpm backfill` again to continue');
    const resumed = await mpm(['sync', 'offline.spend', '--no-transform'], env, dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await warehouse.knex('meta.sync_runs').where({ id: killed!.id }).first('status', 'error')).toEqual({ status: 'failed', error: expect.stringMatching(/stopped without finishing/) });
    expect((await mpm(['status'], env, dir)).stdout).not.toContain('interrupted');
  }, 180_000); // eleven CLI processes, each several seconds on a loaded 2-core machine

  it('loads FX rates from a CSV, and exits 2 naming the line or the rule on bad input, loading nothing', async () => {
    const env = { DATABASE_URL: warehouse.url! };
    const fxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-fx-'));
    fs.writeFileSync(path.join(fxDir, 'rates.csv'), 'date,from_currency,to_currency,rate\n2026-01-01,EUR,USD,1.25\n2026-01-02,EUR,USD,1.2\n');
    const loaded = await mpm(['fx', 'load', 'rates.csv', '--inverse'], env, fxDir);
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.stdout).toContain('loaded 4 rates into core.fx_rate_daily');
    const rates = async () => (await warehouse.knex.raw(`SELECT date::text AS date, from_currency || to_currency AS pair, rate::float8 AS rate FROM core.fx_rate_daily ORDER BY 1, 2`)).rows;
    expect(await rates()).toEqual([
      { date: '2026-01-01', pair: 'EURUSD', rate: 1.25 }, { date: '2026-01-01', pair: 'USDEUR', rate: 0.8 },
      { date: '2026-01-02', pair: 'EURUSD', rate: 1.2 }, { date: '2026-01-02', pair: 'USDEUR', rate: 1 / 1.2 },
    ]);
    // A day that does not exist, on the file's third line: nothing of the file is loaded.
    fs.writeFileSync(path.join(fxDir, 'bad.csv'), 'date,from_currency,to_currency,rate\n2026-02-27,EUR,USD,1.3\n2026-02-30,EUR,USD,1.3\n');
    const bad = await mpm(['fx', 'load', 'bad.csv'], env, fxDir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/fx: bad\.csv line 3: date: must be a date YYYY-MM-DD/);
    expect(await rates()).toHaveLength(4);

    // The transform's config is checked before it starts: a channel rule's regex that does not compile.
    fs.writeFileSync(path.join(fxDir, 'mpm.config.json'), JSON.stringify({ connections: [], transform: { channelRules: [{ channel: 'Affiliates', medium: { regex: 'aff[' } }] } }));
    const transform = await mpm(['transform'], env, fxDir);
    expect(transform.code).toBe(2);
    expect(transform.stderr).toMatch(/transform: channelRules\.0\.medium: "aff\[" is not a valid regular expression/);
  }, 120_000);

  it('keeps a second process off the embedded warehouse, and takes over after a killed holder', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-embedded-'));
    const holder = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/helpers/hold-embedded-warehouse.ts'), dataDir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('open') && resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited early (${code})`)));
      });
      const busy = await mpm(['status'], { MPM_DATA_DIR: dataDir });
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain(`is in use by another process (pid ${holder.pid}`);
      expect(busy.stderr).toMatch(/use Postgres \(DATABASE_URL\) to run several commands at once/);
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL'); // leaves its lock file behind
      await exited;
      const after = await mpm(['status'], { MPM_DATA_DIR: dataDir });
      expect(after.code, after.stderr).toBe(0);
      expect(after.stdout).toContain('warehouse: pglite');
      expect(fs.existsSync(path.join(dataDir, 'pgdata.lock'))).toBe(false); // released on exit
    } finally {
      holder.kill('SIGKILL');
    }
  }, 180_000);
});

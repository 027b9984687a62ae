import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_URL, createTestWarehouse } from '../../test/helpers/warehouse.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');

/** The real CLI in a child process with a clean environment, in a scratch folder. */
async function mpm(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tsx, [path.join(root, 'bin/mpm.ts'), ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, LOG_LEVEL: 'info', ...env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('mpm report, docs and grants (CLI)', () => {
  const role = `mpm_bi_cli_${randomBytes(4).toString('hex')}`;
  const secret = `s3cret-${randomBytes(8).toString('hex')}`;
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  let dir: string;
  beforeAll(async () => {
    warehouse = await createTestWarehouse('postgres');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-bi-cli-'));
  });
  afterAll(async () => {
    await warehouse?.drop();
    const admin = knexFactory({ client: 'pg', connection: ADMIN_URL, pool: { min: 0, max: 1 } });
    try {
      await admin.raw(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await admin.destroy();
    }
  });

  // Each run spawns the CLI (seconds each on a loaded machine), so the cases the unit tests cover
  // (idempotency, refused privileges, bad models) are not repeated here.
  it('grants: creates the role, never printing or logging the password', async () => {
    const env = { DATABASE_URL: warehouse.url!, BI_PASSWORD: secret };
    const first = await mpm(['grants', '--role', role, '--password-env', 'BI_PASSWORD'], env, dir);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`created role ${role} (LOGIN, password set)`);
    expect(first.stdout).toMatch(/no access to: .*core.*meta.*raw.*staging/);
    for (const out of [first.stdout, first.stderr]) expect(out).not.toContain(secret);
    const missing = await mpm(['grants', '--role', role, '--password-env', 'NOT_SET_ANYWHERE'], env, dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('environment variable NOT_SET_ANYWHERE is not set or empty');
  });

  it('grants: exits 2 on the embedded warehouse without creating it', async () => {
    const result = await mpm(['grants', '--role', role], { MPM_DATA_DIR: path.join(dir, 'embedded') }, dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('needs a Postgres warehouse (set DATABASE_URL)');
    expect(fs.existsSync(path.join(dir, 'embedded'))).toBe(false);
  });

  it('report and docs: write their files', async () => {
    const env = { DATABASE_URL: warehouse.url! };
    const report = await mpm(['report', '--out', 'out/dash.html', '--from', '2026-01-01', '--to', '2026-03-31'], env, dir);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain(`wrote ${path.join(fs.realpathSync(dir), 'out/dash.html')}`);
    expect(fs.readFileSync(path.join(dir, 'out/dash.html'), 'utf8')).toContain('id="mpm-report-data"');
    const docs = await mpm(['docs', '--out', 'dict'], env, dir);
    expect(docs.code, docs.stderr).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'dict'))).toEqual(expect.arrayContaining(['README.md', 'marts.kpi_channel_monthly.md']));
  });
});

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
// node --import tsx (not the tsx binary): signals reach the CLI process itself, with no relay in between.
const node = process.execPath;
const tsxLoader = ['--import', pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href];

/** Starts `mpm sandbox start` and resolves once the env lines are out (the log line follows them on stderr). */
function startCli(args: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-sandbox-'));
  const child = spawn(node, [...tsxLoader, path.join(root, 'bin/mpm.ts'), 'sandbox', 'start', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'info' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  // stdout and stderr are separate pipes: wait for the log line that says how many env lines were
  // printed, then for that many lines on stdout.
  const ready = new Promise<{ stdout: string }>((resolve, reject) => {
    let expected = -1;
    const check = () => {
      if (expected >= 0 && stdout.split('\n').filter((l) => l !== '').length >= expected) resolve({ stdout });
    };
    child.stdout.on('data', check);
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      const m = /"envLines":(\d+)/.exec(stderr);
      if (m) expected = Number(m[1]);
      check();
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  ready.catch(() => undefined); // awaited only by tests that expect the server to come up
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, ready, exited, stderr: () => stderr };
}

describe('mpm sandbox start', () => {
  it('prints NAME=value lines the connectors read, serves the emulators with those tokens, and stops on SIGTERM', { timeout: 120_000 }, async () => {
    const { child, ready, exited } = startCli(['--scale', 'tiny', '--seed', '7', '--port', '0']);
    const { stdout } = await ready;
    const env = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((line) => {
          const at = line.indexOf('=');
          expect(at, `line '${line}' is NAME=value`).toBeGreaterThan(0);
          return [line.slice(0, at), line.slice(at + 1)];
        }),
    );
    for (const name of ['SALESFORCE_INSTANCE_URL', 'SALESFORCE_LOGIN_URL', 'SALESFORCE_ACCESS_TOKEN', 'HUBSPOT_BASE_URL', 'HUBSPOT_ACCESS_TOKEN', 'GOOGLE_ADS_BASE_URL', 'GOOGLE_OAUTH_TOKEN_URL', 'GA4_BASE_URL', 'GA4_PROPERTY_ID', 'META_BASE_URL', 'META_ACCESS_TOKEN']) {
      expect(env[name], name).toBeTruthy();
    }
    const origin = env.SALESFORCE_INSTANCE_URL!;
    expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // The printed token is accepted; a wrong one is refused the way Salesforce refuses it.
    const soql = encodeURIComponent('SELECT Id FROM Account LIMIT 1');
    const ok = await fetch(`${origin}/services/data/v${env.SALESFORCE_API_VERSION}/query?q=${soql}`, { headers: { Authorization: `Bearer ${env.SALESFORCE_ACCESS_TOKEN}` } });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { totalSize: number; records: unknown[] };
    expect(body.records).toHaveLength(1);
    const denied = await fetch(`${origin}/services/data/v${env.SALESFORCE_API_VERSION}/query?q=${soql}`, { headers: { Authorization: 'Bearer nope' } });
    expect(denied.status).toBe(401);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 2 naming the option on a bad scale or fault spec', { timeout: 120_000 }, async () => {
    const bad = startCli(['--scale', 'enormous']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/--scale: unknown world scale: enormous/);
    const faults = startCli(['--scale', 'tiny', '--faults', 'salesforce.query:nonsense']);
    expect(await faults.exited).toBe(2);
    expect(faults.stderr()).toMatch(/--faults: /);
  });
});

describe('mpm demo', () => {
  it('exits 2 naming the option on a bad fault spec, before it opens the warehouse', { timeout: 120_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-demo-'));
    const child = spawn(node, [...tsxLoader, path.join(root, 'bin/mpm.ts'), 'demo', '--scale', 'tiny', '--faults', '*:malform=2'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'error' },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/demo: --faults: data fault '\*:malform=2' needs a specific api/);
    expect(fs.existsSync(path.join(dir, '.mpm'))).toBe(false);
  });

  it('runs the whole pipeline offline on the embedded warehouse and prints the summary', { timeout: 300_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-demo-'));
    const child = spawn(node, [...tsxLoader, path.join(root, 'bin/mpm.ts'), 'demo', '--scale', 'tiny'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'error' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/warehouse: pglite/);
    expect(stdout).toMatch(/salesforce\.opportunity: success/);
    expect(stdout).toMatch(/per channel, whole world, credit under w_shaped/);
    expect(stdout).toMatch(/share of won-revenue credit per channel, by attribution model/);
    expect(stdout).toMatch(/goal pacing:/);
    expect(stdout).toContain(`dashboard: ${path.join(fs.realpathSync(dir), '.mpm', 'report.html')}`);
    expect(fs.existsSync(path.join(dir, '.mpm', 'report.html'))).toBe(true);
  });
});

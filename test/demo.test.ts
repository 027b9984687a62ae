import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectors } from '../connectors/registry.ts';
import { createLogger } from '../pipeline/log.ts';
import { runDemo, type DemoSummary } from '../pipeline/demo.ts';
import { createTestWarehouse } from './helpers/warehouse.ts';

const log = createLogger('silent');
type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;

/** The figures a user reads off the demo (everything but run ids and timings). */
function figures(s: DemoSummary) {
  return { currency: s.currency, channels: s.channels, creditShare: s.creditShare, goals: s.goals, world: s.world };
}

describe('npm run demo (runDemo on the tiny world)', () => {
  const opened: TestWarehouse[] = [];
  afterAll(async () => {
    for (const w of opened) await w.drop();
  });

  it('syncs every registered connector from the sandbox, transforms, and gives the same figures twice and on both warehouses', { timeout: 300_000 }, async () => {
    const pg = await createTestWarehouse('postgres');
    opened.push(pg);
    const reportPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-demo-report-')), 'report.html');
    const first = await runDemo({ warehouse: pg, log, scale: 'tiny', reportPath });
    expect(first.report?.path).toBe(reportPath);
    expect(fs.readFileSync(reportPath, 'utf8')).toMatch(/<html/i);
    expect(first.report?.charts).toBeGreaterThan(5);

    expect(first.skipped).toEqual([]);
    const ran = new Set(first.syncs.map((r) => r.connection));
    for (const c of connectors) expect(ran.has(c.name), `${c.name} ran`).toBe(true);
    for (const r of first.syncs) expect(r.status, `${r.connection}.${r.stream}: ${r.error ?? ''}`).toBe('success');
    expect(first.transform?.rows['marts.fct_attribution']).toBeGreaterThan(0);

    // The summary is read from the marts: spend per channel equals the mart's total.
    const spend = (await pg.knex.raw(`SELECT sum(spend_reporting) AS s FROM marts.fct_ad_spend_daily`)).rows[0] as { s: string };
    const summed = first.channels.reduce((a, c) => a + c.spend, 0);
    expect(summed).toBeCloseTo(Number(spend.s), 2);
    expect(first.channels.some((c) => c.revenue > 0)).toBe(true);
    for (const m of first.creditShare) expect(Object.values(m.shares).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(first.goals.length).toBeGreaterThan(0);

    // Again on the same warehouse: incremental syncs change nothing, the figures are the same.
    const again = await runDemo({ warehouse: pg, log, scale: 'tiny' });
    for (const r of again.syncs) expect(r.counts.inserted, `${r.connection}.${r.stream} inserted nothing new`).toBe(0);
    expect(figures(again)).toEqual(figures(first));

    // The embedded warehouse gives the same figures.
    const lite = await createTestWarehouse('pglite');
    opened.push(lite);
    const embedded = await runDemo({ warehouse: lite, log, scale: 'tiny' });
    expect(figures(embedded)).toEqual(figures(first));
  });
});

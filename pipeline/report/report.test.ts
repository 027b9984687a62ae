import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { createTestWarehouse, WAREHOUSE_KINDS } from '../../test/helpers/warehouse.ts';
import { readReportData, writeReport, type ReportData } from './index.ts';
import { seedWorldMarts } from './world-fixture.ts';

type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
const CHROMIUM = '/usr/bin/chromium';

/** The data the page embeds, parsed back out of the HTML file. */
function embeddedData(file: string): ReportData {
  const html = fs.readFileSync(file, 'utf8');
  const match = /<script type="application\/json" id="mpm-report-data">(.*?)<\/script>/s.exec(html);
  expect(match, 'the page embeds its data').not.toBeNull();
  return JSON.parse(match![1]!) as ReportData;
}

const tmpFile = (name: string) => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-report-')), name);

interface ChartProbe { id: string; width: number; height: number; series: number; points: number; names: string[] }

/**
 * Runs in the page (a string: the project compiles without DOM types): for every chart element,
 * its canvas size and what its ECharts instance holds.
 */
const PROBE_CHARTS = `[...document.querySelectorAll('[data-chart]')].map((el) => {
  const box = el.querySelector('canvas')?.getBoundingClientRect();
  const option = window.echarts.getInstanceByDom(el)?.getOption();
  const series = option ? option.series : [];
  return {
    id: el.getAttribute('data-chart'),
    width: box ? box.width : 0,
    height: box ? box.height : 0,
    series: series.length,
    points: series.reduce((a, s) => a + s.data.filter((v) => v !== null && v !== 0).length, 0),
    names: series.map((s) => s.name),
  };
})`;

async function sql<T>(warehouse: TestWarehouse, text: string, bindings: unknown[] = []): Promise<T[]> {
  return (await warehouse.knex.raw(text, bindings as never)).rows as T[];
}

describe.each(WAREHOUSE_KINDS)('mpm report on %s', (kind) => {
  let warehouse: TestWarehouse;
  let file: string;
  let data: ReportData;
  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
    await seedWorldMarts(warehouse);
    file = tmpFile('report.html');
    const result = await writeReport({ warehouse, out: file });
    expect(result.path).toBe(file);
    data = embeddedData(file);
  }, 180_000);
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('writes one self-contained file: ECharts and the data inlined, nothing fetched', () => {
    const html = fs.readFileSync(file, 'utf8');
    expect(html).toContain('echarts');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    expect(data.model).toBe('w_shaped');
    expect(data.currency).toBe('USD');
    expect(data.months).toEqual(['2026-08-01', '2026-09-01', '2026-10-01']);
  });

  it('shows spend, pipeline and revenue per month and channel equal to the marts', async () => {
    const expected = await sql<{ month: string; channel: string; spend: number; pipeline: number; revenue: number }>(warehouse,
      `SELECT month, channel, sum(spend)::float8 AS spend, sum(pipeline)::float8 AS pipeline, sum(revenue)::float8 AS revenue
       FROM marts.kpi_channel_monthly WHERE model = 'w_shaped' GROUP BY 1, 2 ORDER BY 1, 2`);
    expect(data.overTime.map((r) => `${r.month}|${r.channel}`)).toEqual(expected.map((r) => `${r.month}|${r.channel}`));
    data.overTime.forEach((r, i) => {
      expect(r.spend, `${r.month} ${r.channel} spend`).toBeCloseTo(expected[i]!.spend, 6);
      expect(r.pipeline, `${r.month} ${r.channel} pipeline`).toBeCloseTo(expected[i]!.pipeline, 6);
      expect(r.revenue, `${r.month} ${r.channel} revenue`).toBeCloseTo(expected[i]!.revenue, 6);
    });
    // Cross-check against the daily and attribution facts too: the page's totals are the warehouse's.
    const [facts] = await sql<{ spend: number; pipeline: number }>(warehouse,
      `SELECT (SELECT sum(spend_reporting)::float8 FROM marts.fct_ad_spend_daily) AS spend,
              (SELECT sum(pipeline_credit)::float8 FROM marts.fct_attribution WHERE model = 'w_shaped') AS pipeline`);
    expect(data.overTime.reduce((a, r) => a + r.spend, 0)).toBeCloseTo(facts!.spend, 4);
    expect(data.overTime.reduce((a, r) => a + r.pipeline, 0)).toBeCloseTo(facts!.pipeline, 4);
    expect(facts!.spend).toBeGreaterThan(0);
  });

  it('shows ROAS, CPL and CAC per channel from the summed marts, n/a without a denominator', async () => {
    const expected = await sql<{ channel: string; spend: number; leads: number; customers: number; revenue: number }>(warehouse,
      `SELECT channel, sum(spend)::float8 AS spend, sum(leads)::float8 AS leads, sum(customers)::float8 AS customers, sum(revenue)::float8 AS revenue
       FROM marts.kpi_channel_monthly WHERE model = 'w_shaped' GROUP BY 1`);
    expect(data.channelKpis.map((r) => r.channel).sort()).toEqual(expected.map((r) => r.channel).sort());
    for (const e of expected) {
      const row = data.channelKpis.find((r) => r.channel === e.channel)!;
      expect(row.spend, e.channel).toBeCloseTo(e.spend, 6);
      expect(row.leads, e.channel).toBe(e.leads);
      expect(row.roas, e.channel).toEqual(e.spend === 0 ? null : expect.closeTo(e.revenue / e.spend, 9));
      expect(row.cpl, e.channel).toEqual(e.leads === 0 ? null : expect.closeTo(e.spend / e.leads, 9));
      expect(row.cac, e.channel).toEqual(e.customers === 0 ? null : expect.closeTo(e.spend / e.customers, 9));
    }
    expect(data.channelKpis.some((r) => r.roas !== null && r.roas > 0)).toBe(true);
    expect(data.channelKpis.some((r) => r.roas === null)).toBe(true); // organic channels have no spend
  });

  it('shows each channel credit share under every attribution model', async () => {
    const expected = await sql<{ model: string; channel: string; pipeline: number; share: number | null }>(warehouse,
      `SELECT model, channel, sum(pipeline_credit)::float8 AS pipeline,
              (sum(pipeline_credit) / nullif(sum(sum(pipeline_credit)) OVER (PARTITION BY model), 0))::float8 AS share
       FROM marts.fct_attribution GROUP BY 1, 2`);
    expect(data.models).toHaveLength(12);
    for (const e of expected) {
      const row = data.creditShare.find((r) => r.model === e.model && r.channel === e.channel);
      expect(row, `${e.model} ${e.channel}`).toBeDefined();
      expect(row!.pipeline).toBeCloseTo(e.pipeline, 4);
      expect(row!.pipelineShare).toBeCloseTo(e.share!, 9);
    }
    for (const model of data.models) {
      const shares = data.creditShare.filter((r) => r.model === model);
      expect(shares.reduce((a, r) => a + (r.revenueShare ?? 0), 0), model).toBeCloseTo(1, 9);
    }
  });

  it('shows the funnel with stage conversion and the goals with pacing and forecast as in the marts', async () => {
    const funnel = await sql<{ pipeline: string; stage: string; entered: number; advanced: number }>(warehouse,
      `SELECT pipeline, stage, sum(entered)::int AS entered, sum(advanced)::int AS advanced FROM marts.kpi_funnel_monthly GROUP BY 1, 2`);
    expect(data.funnel).toHaveLength(funnel.length);
    for (const f of funnel) {
      const row = data.funnel.find((r) => r.pipeline === f.pipeline && r.stage === f.stage)!;
      expect(row).toMatchObject({ entered: f.entered, advanced: f.advanced });
      expect(row.conversionRate).toBeCloseTo(f.advanced / f.entered, 9);
    }
    expect(new Set(data.funnel.map((r) => r.pipeline))).toEqual(new Set(['Sales', 'default']));
    const goals = await sql<{ goal_id: string; target: string; actual_to_date: string | null; forecast: string | null; pace_pct: string | null; on_track: boolean | null }>(warehouse,
      'SELECT goal_id, target, actual_to_date, forecast, pace_pct, on_track FROM marts.goal_pacing ORDER BY goal_id');
    expect(data.goals.map((g) => g.goalId).sort()).toEqual(goals.map((g) => g.goal_id));
    for (const g of goals) {
      const row = data.goals.find((r) => r.goalId === g.goal_id)!;
      expect(row.target).toBe(Number(g.target));
      expect(row.actualToDate).toBe(g.actual_to_date === null ? null : Number(g.actual_to_date));
      expect(row.forecast).toBe(g.forecast === null ? null : Number(g.forecast));
      expect(row.pacePct).toBe(g.pace_pct === null ? null : Number(g.pace_pct));
      expect(row.onTrack).toBe(g.on_track);
    }
  });

  it('selects whole months with --from/--to and switches the model with --model', async () => {
    const ranged = await readReportData(warehouse, { from: '2026-09-15', to: '2026-10-02', model: 'linear' });
    expect(ranged.months).toEqual(['2026-09-01', '2026-10-01']);
    expect(ranged.model).toBe('linear');
    const [expected] = await sql<{ spend: number; revenue: number }>(warehouse,
      `SELECT sum(spend)::float8 AS spend, sum(revenue)::float8 AS revenue FROM marts.kpi_channel_monthly WHERE model = 'linear' AND month IN ('2026-09-01', '2026-10-01')`);
    expect(ranged.channelKpis.reduce((a, r) => a + r.spend, 0)).toBeCloseTo(expected!.spend, 6);
    expect(ranged.channelKpis.reduce((a, r) => a + r.revenue, 0)).toBeCloseTo(expected!.revenue, 6);
    expect((await readReportData(warehouse, { from: '2027-01-01' })).overTime).toEqual([]);
  });

  it('rejects a bad model, date or range with a message naming the option', async () => {
    await expect(readReportData(warehouse, { model: 'w-shaped' })).rejects.toThrow(ConfigError);
    await expect(readReportData(warehouse, { model: 'w-shaped' })).rejects.toThrow(/--model: "w-shaped" is not an attribution model/);
    await expect(readReportData(warehouse, { from: '2026-02-30' })).rejects.toThrow(/--from: "2026-02-30" is not a date/);
    await expect(readReportData(warehouse, { from: '2026-10-01', to: '2026-09-01' })).rejects.toThrow(/--from 2026-10-01 is after --to 2026-09-01/);
  });

  // In real headless Chromium (Debian's package, never a downloaded browser), once: on Postgres.
  describe.runIf(kind === 'postgres')('in headless Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM });
    });
    afterAll(async () => {
      await browser?.close();
    });

    /** Opens the file offline; returns what the page logged as errors and which URLs it asked for. */
    async function open(file: string) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${file}`);
      await page.waitForSelector('html[data-charts-ready]');
      return { page, errors, requests };
    }

    it('loads with no console errors, renders every chart with its series, and matches its tables', async () => {
      const file = tmpFile('report.html');
      const result = await writeReport({ warehouse, out: file });
      const { page, errors, requests } = await open(file);
      expect(errors).toEqual([]);
      expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);

      const charts = await page.evaluate<ChartProbe[]>(PROBE_CHARTS);
      expect(charts.map((c) => c.id)).toEqual(result.charts);
      expect(result.charts).toEqual(expect.arrayContaining(['spend-over-time', 'pipeline-over-time', 'revenue-over-time', 'roas-by-channel', 'cpl-by-channel', 'cac-by-channel', 'credit-share-revenue', 'credit-share-pipeline', 'funnel-Sales', 'funnel-default', 'goals-pacing']));
      for (const c of charts) {
        expect(c.width, c.id).toBeGreaterThan(100);
        expect(c.height, c.id).toBeGreaterThan(100);
        expect(c.series, c.id).toBeGreaterThan(0);
        expect(c.points, `${c.id} draws data`).toBeGreaterThan(0);
      }
      const creditSeries = charts.find((c) => c.id === 'credit-share-revenue')!.names;
      expect(creditSeries).toHaveLength(12);

      // The tables a reader sees carry the same numbers as the data the charts are drawn from.
      const kpiTable = await page.$$eval('table[data-table="channel-kpis"] tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.getAttribute('data-value'))));
      expect(kpiTable).toEqual(result.data.channelKpis.map((r) => [r.channel, r.spend, r.leads, r.opportunities, r.customers, r.pipeline, r.revenue, r.roas, r.cpl, r.cac].map((v) => (v === null ? '' : String(v)))));
      const goalTable = await page.$$eval('table[data-table="goals"] tbody tr', (rows) => rows.map((r) => r.querySelector('td')!.getAttribute('data-value')));
      expect(goalTable).toEqual(result.data.goals.map((g) => g.goalId));

      fs.mkdirSync(ARTIFACTS, { recursive: true });
      const shot = path.join(ARTIFACTS, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
      await page.close();
    });

    it('opens without errors on empty marts', async () => {
      const empty = await createTestWarehouse('postgres');
      const file = tmpFile('empty.html');
      const result = await writeReport({ warehouse: empty, out: file }).finally(() => empty.drop());
      expect(result.data.months).toEqual([]);
      const { page, errors } = await open(file);
      expect(errors).toEqual([]);
      expect(await page.locator('[data-chart] canvas').count()).toBe(result.charts.length);
      expect(await page.locator('p.empty').count()).toBeGreaterThan(0);
      await page.close();
    });
  });
});

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Warehouse } from '../../warehouse/db.ts';
import { readReportData, type ReportData, type ReportQuery } from './data.ts';

export { readReportData, parseReportQuery, DEFAULT_REPORT_MODEL, type ReportData, type ReportQuery } from './data.ts';

/**
 * The HTML dashboard: one self-contained file (ECharts' own minified bundle and the data inlined,
 * no network needed to open it) drawn from the marts. Charts are ECharts (https://echarts.apache.org/en/option.html);
 * every number is also in a plain table (and in the embedded JSON, #mpm-report-data) so people
 * and tests can read the exact figures.
 */

export const REPORT_FILE = 'report.html';

/** Default output: <MPM_DATA_DIR>/report.html (MPM_DATA_DIR defaults to ./.mpm). */
export function defaultReportPath(dataDir: string): string {
  return path.join(dataDir === 'memory://' ? '.mpm' : dataDir, REPORT_FILE);
}

export interface WriteReportOptions extends ReportQuery {
  warehouse: Warehouse;
  /** File to write (folders are created). */
  out: string;
}

export interface WriteReportResult {
  /** Absolute path of the written file. */
  path: string;
  bytes: number;
  /** Chart ids in the page (data-chart attributes), in page order. */
  charts: string[];
  data: ReportData;
}

export async function writeReport(options: WriteReportOptions): Promise<WriteReportResult> {
  const data = await readReportData(options.warehouse, options);
  const { html, charts } = renderReport(data);
  const file = path.resolve(options.out);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, html);
  return { path: file, bytes: Buffer.byteLength(html), charts, data };
}

let echartsSource: string | undefined;
/** ECharts' UMD bundle (defines window.echarts), read once from the installed package. */
function echartsBundle(): string {
  echartsSource ??= fs.readFileSync(createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js'), 'utf8');
  return echartsSource;
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** JSON safe inside <script>: no '</script', no '<!--', no JS line separators. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

function formatter(currency: string) {
  const money = new Intl.NumberFormat('en-US', { style: 'currency', currency, maximumFractionDigits: 0 });
  const count = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
  return {
    money: (v: number | null) => (v === null ? 'n/a' : money.format(v)),
    count: (v: number | null) => (v === null ? 'n/a' : count.format(v)),
    ratio: (v: number | null) => (v === null ? 'n/a' : v.toFixed(2)),
    pct: (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)} %`),
  };
}

/** A table cell carrying the exact value (data-value) beside the formatted text. */
function td(value: number | string | boolean | null, text?: string): string {
  const raw = value === null ? '' : String(value);
  return `<td data-value="${escapeHtml(raw)}"${typeof value === 'number' || value === null ? ' class="num"' : ''}>${escapeHtml(text ?? (value === null ? 'n/a' : raw))}</td>`;
}

function table(id: string, head: string[], rows: string[][]): string {
  if (rows.length === 0) return `<p class="empty" data-table="${id}">No rows in the marts for this range.</p>`;
  const body = `<table data-table="${id}"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`;
  // Short tables stay open; long ones fold away under the charts.
  return rows.length <= 12 ? body : `<details><summary>The numbers (${rows.length} rows)</summary>${body}</details>`;
}

const chart = (id: string, title: string) => `<figure><figcaption>${escapeHtml(title)}</figcaption><div class="chart" data-chart="${escapeHtml(id)}"></div></figure>`;

/** The page: static HTML (titles, tables) plus charts drawn in the browser from the embedded JSON. */
export function renderReport(data: ReportData): { html: string; charts: string[] } {
  const f = formatter(data.currency);
  const range = data.months.length ? `${data.months[0]!.slice(0, 7)} to ${data.months[data.months.length - 1]!.slice(0, 7)}` : 'no months with data';
  const pipelines = [...new Set(data.funnel.map((r) => r.pipeline))];
  const charts = [
    'spend-over-time', 'pipeline-over-time', 'revenue-over-time', 'roas-by-channel', 'cpl-by-channel', 'cac-by-channel',
    'credit-share-revenue', 'credit-share-pipeline', ...pipelines.map((p) => `funnel-${p}`), 'goals-pacing',
  ];

  const sections = [
    `<section id="over-time"><h2>Spend, pipeline and revenue by channel</h2><p>Per month; pipeline and revenue credited under <b>${escapeHtml(data.model)}</b>. Amounts in ${escapeHtml(data.currency)}.</p>
      <div class="grid">${chart('spend-over-time', 'Spend')}${chart('pipeline-over-time', 'Pipeline created')}${chart('revenue-over-time', 'Won revenue')}</div>
      ${table('over-time', ['Month', 'Channel', 'Spend', 'Pipeline', 'Revenue'], data.overTime.map((r) => [td(r.month), td(r.channel), td(r.spend, f.money(r.spend)), td(r.pipeline, f.money(r.pipeline)), td(r.revenue, f.money(r.revenue))]))}</section>`,
    `<section id="efficiency"><h2>ROAS, CPL and CAC by channel</h2><p>Over the whole range, from summed parts: ROAS = revenue / spend, CPL = spend / leads, CAC = spend / customers (n/a when the denominator is 0).</p>
      <div class="grid">${chart('roas-by-channel', 'ROAS')}${chart('cpl-by-channel', `CPL (${data.currency})`)}${chart('cac-by-channel', `CAC (${data.currency})`)}</div>
      ${table('channel-kpis', ['Channel', 'Spend', 'Leads', 'Opportunities', 'Customers', 'Pipeline', 'Revenue', 'ROAS', 'CPL', 'CAC'], data.channelKpis.map((r) => [
        td(r.channel), td(r.spend, f.money(r.spend)), td(r.leads, f.count(r.leads)), td(r.opportunities, f.count(r.opportunities)), td(r.customers, f.count(r.customers)),
        td(r.pipeline, f.money(r.pipeline)), td(r.revenue, f.money(r.revenue)), td(r.roas, f.ratio(r.roas)), td(r.cpl, f.money(r.cpl)), td(r.cac, f.money(r.cac)),
      ]))}</section>`,
    `<section id="attribution"><h2>Credit per channel under every attribution model</h2><p>Each model's share of won revenue and of pipeline, per channel, side by side.</p>
      <div class="grid wide">${chart('credit-share-revenue', 'Share of won-revenue credit')}${chart('credit-share-pipeline', 'Share of pipeline credit')}</div>
      ${table('credit-share', ['Model', 'Channel', 'Pipeline', 'Pipeline share', 'Revenue', 'Revenue share'], data.creditShare.map((r) => [
        td(r.model), td(r.channel), td(r.pipeline, f.money(r.pipeline)), td(r.pipelineShare, f.pct(r.pipelineShare)), td(r.revenue, f.money(r.revenue)), td(r.revenueShare, f.pct(r.revenueShare)),
      ]))}</section>`,
    `<section id="funnel"><h2>Funnel and stage conversion</h2><p>Opportunities entering each stage in the range, and the share that moved on to a later, not-lost stage.</p>
      <div class="grid">${pipelines.map((p) => chart(`funnel-${p}`, `Pipeline: ${p}`)).join('')}</div>
      ${table('funnel', ['Pipeline', 'Stage', 'Entered', 'Advanced', 'Lost', 'Still in stage', 'Conversion'], data.funnel.map((r) => [
        td(r.pipeline), td(r.stage), td(r.entered, f.count(r.entered)), td(r.advanced, f.count(r.advanced)), td(r.lost, f.count(r.lost)), td(r.stillInStage, f.count(r.stillInStage)), td(r.conversionRate, f.pct(r.conversionRate)),
      ]))}</section>`,
    `<section id="goals"><h2>Goals: pacing and forecast</h2><p>Target to date, actual to date and forecast at period end, as a percentage of each goal's target (for caps, staying under 100 % is on track).</p>
      <div class="grid wide">${chart('goals-pacing', 'Goals, % of target')}</div>
      ${table('goals', ['Goal', 'Metric', 'Channel', 'Period', 'Target', 'Target to date', 'Actual to date', 'Pace %', 'Forecast', 'On track', 'As of'], data.goals.map((g) => {
        const v = g.kind === 'monetary' ? f.money : f.count;
        return [
          td(g.goalId), td(g.metric), td(g.channel ?? 'all', g.channel ?? 'all'), td(`${g.periodStart}..${g.periodEnd}`), td(g.target, v(g.target)), td(g.targetToDate, v(g.targetToDate)),
          td(g.actualToDate, v(g.actualToDate)), td(g.pacePct, g.pacePct === null ? 'n/a' : `${g.pacePct.toFixed(1)} %`), td(g.forecast, v(g.forecast)),
          td(g.onTrack, g.onTrack === null ? 'n/a' : g.onTrack ? 'yes' : 'no'), td(g.asOf),
        ];
      }))}</section>`,
  ];

  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mpm report: ${escapeHtml(range)}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto; padding: 24px; max-width: 1400px; color: #1f2933; background: #fff; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 4px; border-top: 1px solid #e4e7eb; padding-top: 16px; }
  .meta { color: #52606d; margin: 0 0 8px; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; }
  .grid.wide { grid-template-columns: 1fr; }
  figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
  .chart { width: 100%; height: 320px; }
  .grid.wide .chart { height: 380px; }
  table { border-collapse: collapse; margin-top: 12px; font-size: 12px; }
  th, td { border-bottom: 1px solid #e4e7eb; padding: 3px 8px; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
  details { margin-top: 8px; } .empty { color: #7b8794; }
</style>
</head>
<body>
<h1>Marketing performance</h1>
<p class="meta">Months: ${escapeHtml(range)}${data.from || data.to ? ` (asked: ${escapeHtml(data.from ?? 'start')} to ${escapeHtml(data.to ?? 'end')}; the marts are monthly, so whole months are shown)` : ''}.
Attribution model: <b>${escapeHtml(data.model)}</b>. Currency: ${escapeHtml(data.currency)}. Read from the warehouse marts by <code>mpm report</code>.</p>
${sections.join('\n')}
<script type="application/json" id="mpm-report-data">${scriptJson(data)}</script>
<script>${echartsBundle().replace(/<\/script/gi, '<\\/script')}</script>
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;
  return { html, charts };
}

/**
 * Runs in the page: builds one ECharts option per chart element from the embedded data. Plain
 * ES2017, no modules (the file is opened from disk).
 */
const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('mpm-report-data').textContent);
  var money = new Intl.NumberFormat('en-US', { style: 'currency', currency: data.currency, maximumFractionDigits: 0 });
  var fmtMoney = function (v) { return v == null ? 'n/a' : money.format(v); };
  var fmtPct = function (v) { return v == null ? 'n/a' : v.toFixed(1) + ' %'; };
  var base = { animation: false, tooltip: { trigger: 'axis' }, grid: { left: 70, right: 20, top: 40, bottom: 40 } };
  function merge(a, b) { var o = {}; for (var k in a) o[k] = a[k]; for (var j in b) o[j] = b[j]; return o; }

  function overTime(metric) {
    return merge(base, {
      legend: { type: 'scroll', top: 0 },
      tooltip: { trigger: 'axis', valueFormatter: fmtMoney },
      xAxis: { type: 'category', data: data.months.map(function (m) { return m.slice(0, 7); }) },
      yAxis: { type: 'value', axisLabel: { formatter: function (v) { return fmtMoney(v); } } },
      series: data.channels.map(function (c) {
        return {
          name: c, type: 'bar', stack: metric,
          data: data.months.map(function (m) {
            var row = data.overTime.find(function (r) { return r.month === m && r.channel === c; });
            return row ? row[metric] : 0;
          }),
        };
      }),
    });
  }
  function byChannel(metric, isMoney) {
    var rows = data.channelKpis.filter(function (r) { return r[metric] !== null; });
    return merge(base, {
      tooltip: { trigger: 'axis', valueFormatter: isMoney ? fmtMoney : function (v) { return v == null ? 'n/a' : v.toFixed(2); } },
      xAxis: { type: 'category', data: rows.map(function (r) { return r.channel; }), axisLabel: { interval: 0, rotate: 20 } },
      yAxis: { type: 'value' },
      series: [{ name: metric.toUpperCase(), type: 'bar', data: rows.map(function (r) { return r[metric]; }), label: { show: true, position: 'top', formatter: function (p) { return isMoney ? fmtMoney(p.value) : p.value.toFixed(2); } } }],
    });
  }
  function creditShare(metric) {
    return merge(base, {
      legend: { type: 'scroll', top: 0 },
      tooltip: { trigger: 'axis', valueFormatter: fmtPct },
      xAxis: { type: 'category', data: data.channels, axisLabel: { interval: 0 } },
      yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value} %' } },
      series: data.models.map(function (m) {
        return {
          name: m, type: 'bar',
          data: data.channels.map(function (c) {
            var row = data.creditShare.find(function (r) { return r.model === m && r.channel === c; });
            return row && row[metric] !== null ? row[metric] * 100 : 0;
          }),
        };
      }),
    });
  }
  function funnel(pipeline) {
    var rows = data.funnel.filter(function (r) { return r.pipeline === pipeline; });
    return merge(base, {
      legend: { top: 0 },
      xAxis: { type: 'category', data: rows.map(function (r) { return r.stage; }), axisLabel: { interval: 0, rotate: 20 } },
      yAxis: [{ type: 'value', name: 'opportunities' }, { type: 'value', name: 'conversion', max: 100, axisLabel: { formatter: '{value} %' } }],
      series: [
        { name: 'Entered', type: 'bar', data: rows.map(function (r) { return r.entered; }) },
        { name: 'Advanced', type: 'bar', data: rows.map(function (r) { return r.advanced; }) },
        { name: 'Conversion', type: 'line', yAxisIndex: 1, tooltip: { valueFormatter: fmtPct }, data: rows.map(function (r) { return r.conversionRate === null ? null : r.conversionRate * 100; }) },
      ],
    });
  }
  function goals() {
    var pct = function (v, g) { return v === null || !g.target ? null : (v / g.target) * 100; };
    return merge(base, {
      legend: { top: 0 },
      tooltip: { trigger: 'axis', valueFormatter: fmtPct },
      grid: { left: 180, right: 30, top: 40, bottom: 30 },
      yAxis: { type: 'category', inverse: true, data: data.goals.map(function (g) { return g.goalId + (g.onTrack === null ? '' : g.onTrack ? ' (on track)' : ' (off track)'); }) },
      xAxis: { type: 'value', axisLabel: { formatter: '{value} %' } },
      series: [
        { name: 'Target to date', type: 'bar', data: data.goals.map(function (g) { return pct(g.targetToDate, g); }) },
        { name: 'Actual to date', type: 'bar', data: data.goals.map(function (g) { return pct(g.actualToDate, g); }) },
        { name: 'Forecast', type: 'bar', data: data.goals.map(function (g) { return pct(g.forecast, g); }), markLine: { symbol: 'none', data: [{ xAxis: 100 }], label: { formatter: 'target' } } },
      ],
    });
  }

  var builders = {
    'spend-over-time': function () { return overTime('spend'); },
    'pipeline-over-time': function () { return overTime('pipeline'); },
    'revenue-over-time': function () { return overTime('revenue'); },
    'roas-by-channel': function () { return byChannel('roas', false); },
    'cpl-by-channel': function () { return byChannel('cpl', true); },
    'cac-by-channel': function () { return byChannel('cac', true); },
    'credit-share-revenue': function () { return creditShare('revenueShare'); },
    'credit-share-pipeline': function () { return creditShare('pipelineShare'); },
    'goals-pacing': goals,
  };
  var instances = [];
  document.querySelectorAll('[data-chart]').forEach(function (el) {
    var id = el.getAttribute('data-chart');
    var option = id.indexOf('funnel-') === 0 ? funnel(id.slice('funnel-'.length)) : builders[id]();
    var instance = echarts.init(el, null, { renderer: 'canvas' });
    instance.setOption(option);
    instances.push(instance);
  });
  window.addEventListener('resize', function () { instances.forEach(function (i) { i.resize(); }); });
  document.documentElement.setAttribute('data-charts-ready', String(instances.length));
})();
`;

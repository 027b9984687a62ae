import type { Command } from 'commander';
import { z } from 'zod';
import { runDemo, type DemoSummary, type StreamEvent } from '../../pipeline/demo.ts';
import { defaultReportPath } from '../../pipeline/report/index.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';
import { checkFaultsOption, parseScale } from './sandbox.ts';
import { formatResult } from './sync.ts';

const demoOptions = z.object({
  seed: z.coerce.number().int('must be an integer').nonnegative('must be >= 0').optional(),
  scale: z.string().optional(),
  faults: z.string().optional(),
});

const money = (v: number, currency: string) => `${currency} ${Math.round(v).toLocaleString('en-US')}`.padStart(16);
const ratio = (v: number | null, digits = 2) => (v === null ? 'n/a' : v.toFixed(digits)).padStart(8);

/** One line per stream: redrawn in place on a terminal, printed once when done otherwise. */
function progressPrinter(): (event: StreamEvent) => void {
  const tty = process.stdout.isTTY === true;
  return (event) => {
    if (event.kind === 'start' && tty) process.stdout.write(`  ${event.connection}.${event.stream}: starting`);
    else if (event.kind === 'page' && tty) {
      const c = event.progress.counts;
      process.stdout.write(`\r\x1b[2K  ${event.connection}.${event.stream}: page ${event.progress.pages}, ${c.read.toLocaleString('en-US')} records`);
    } else if (event.kind === 'done') {
      if (tty) process.stdout.write('\r\x1b[2K');
      say(`  ${formatResult(event.result)} ${(event.ms / 1000).toFixed(1)} s`);
    }
  };
}

export function printSummary(s: DemoSummary): void {
  say('');
  say('rows per table:');
  for (const t of s.tables) if (t.rows > 0) say(`  ${t.table.padEnd(44)} ${t.rows.toLocaleString('en-US').padStart(10)}`);
  say('');
  say(`per channel, whole world, credit under ${s.summaryModel} (${s.currency}):`);
  say(`  ${'channel'.padEnd(16)} ${'spend'.padStart(16)} ${'pipeline'.padStart(16)} ${'revenue'.padStart(16)} ${'ROAS'.padStart(8)} ${'CAC'.padStart(16)}`);
  for (const c of s.channels) {
    say(`  ${c.channel.padEnd(16)} ${money(c.spend, s.currency)} ${money(c.pipeline, s.currency)} ${money(c.revenue, s.currency)} ${ratio(c.roas)} ${c.cac === null ? 'n/a'.padStart(16) : money(c.cac, s.currency)}`);
  }
  const channels = [...new Set(s.creditShare.flatMap((m) => Object.keys(m.shares)))].sort();
  if (channels.length) {
    say('');
    say('share of won-revenue credit per channel, by attribution model (%):');
    say(`  ${'model'.padEnd(16)}${channels.map((c) => c.slice(0, 13).padStart(14)).join('')}`);
    for (const m of s.creditShare) say(`  ${m.model.padEnd(16)}${channels.map((c) => ((m.shares[c] ?? 0) * 100).toFixed(1).padStart(14)).join('')}`);
  }
  if (s.goals.length) {
    say('');
    say('goal pacing:');
    for (const g of s.goals) {
      const track = g.on_track === null ? 'n/a' : g.on_track ? 'on track' : 'off track';
      say(`  ${g.goal_id.padEnd(30)} target ${String(Math.round(g.target)).padStart(10)}  to date ${String(g.actual_to_date === null ? 'n/a' : Math.round(g.actual_to_date)).padStart(10)}  pace ${g.pace_pct === null ? '   n/a' : `${g.pace_pct.toFixed(0).padStart(5)}%`}  forecast ${String(g.forecast === null ? 'n/a' : Math.round(g.forecast)).padStart(10)}  ${track}`);
    }
  }
}

export function register(program: Command, rt: Runtime): void {
  program
    .command('demo')
    .description('the whole pipeline offline: start the sandbox, sync every connector into the warehouse (embedded, or DATABASE_URL when set), transform, summarize')
    .option('--seed <n>', 'world seed (default 42)')
    .option('--scale <s>', 'world size: tiny, demo, large or a multiple of demo (default demo)')
    .option('--faults <spec>', 'inject vendor faults while syncing (see sandbox/emulators/README.md)')
    .action(async (raw: unknown) => {
      const opts = parseOptions(demoOptions, raw, 'demo');
      const scale = parseScale(opts.scale);
      checkFaultsOption(opts.faults, 'demo');
      const warehouse = await rt.warehouse();
      say(`warehouse: ${warehouse.kind} (${warehouse.location})`);
      const started = performance.now();
      const stages: Record<string, string> = {
        sandbox: 'starting the sandbox (seeded world + vendor emulators on 127.0.0.1)',
        sync: 'syncing every connector inline',
        fx: 'loading the world\'s daily FX rates into core.fx_rate_daily',
        transform: 'transforming: touchpoints, channels, attribution (every model), KPI marts, goals',
        summary: 'reading the marts',
        report: 'writing the HTML dashboard',
      };
      const summary = await runDemo({
        warehouse,
        log: rt.log,
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        ...(scale !== undefined ? { scale } : {}),
        ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
        reportPath: defaultReportPath(rt.env.MPM_DATA_DIR),
        onStage: (stage) => say(`\n${stages[stage] ?? stage}`),
        onStream: progressPrinter(),
      });
      say(`  world: seed ${summary.world.seed}, scale ${summary.world.scale}, ${summary.world.from} .. ${summary.world.to}`);
      for (const s of summary.skipped) say(`  not run: ${s.connector} (${s.reason})`);
      for (const w of summary.transform?.warnings ?? []) say(`  transform warning: ${w}`);
      printSummary(summary);
      const failed = summary.syncs.filter((r) => r.status !== 'success');
      if (summary.report) {
        say('');
        say(`dashboard: ${summary.report.path} (${summary.report.charts} charts; open it in a browser, it needs no network)`);
      }
      say('');
      say(`done in ${((performance.now() - started) / 1000).toFixed(1)} s${failed.length ? `; ${failed.length} stream(s) did not succeed` : ''}`);
      if (failed.length) process.exitCode = 1;
    });
}

import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_REPORT_MODEL, defaultReportPath, parseReportQuery, writeReport } from '../../pipeline/report/index.ts';
import { isoDay, parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

const reportOptions = z.object({
  out: z.string().min(1, 'must be a file path').optional(),
  from: isoDay.optional(),
  to: isoDay.optional(),
  model: z.string().optional(),
});

export function register(program: Command, rt: Runtime): void {
  program
    .command('report')
    .description('write the HTML dashboard (one self-contained file, opens offline) from the marts: spend, pipeline, revenue, ROAS/CPL/CAC by channel, credit under every model, funnel, goals')
    .option('--out <file>', 'HTML file to write (default: <MPM_DATA_DIR>/report.html, i.e. ./.mpm/report.html)')
    .option('--from <YYYY-MM-DD>', 'first day of the range (whole months are shown: the month containing it is the first)')
    .option('--to <YYYY-MM-DD>', 'last day of the range (the month containing it is the last)')
    .option('--model <name>', `attribution model of pipeline, revenue, customers and CAC (default ${DEFAULT_REPORT_MODEL})`)
    .action(async (raw: unknown) => {
      const opts = parseOptions(reportOptions, raw, 'report');
      parseReportQuery(opts); // a bad model or range fails before the warehouse is opened
      const warehouse = await rt.warehouse();
      const result = await writeReport({ warehouse, out: opts.out ?? defaultReportPath(rt.env.MPM_DATA_DIR), from: opts.from, to: opts.to, model: opts.model });
      const months = result.data.months;
      say(`months: ${months.length ? `${months[0]!.slice(0, 7)} to ${months[months.length - 1]!.slice(0, 7)}` : 'none (the marts are empty for this range: run mpm transform)'}; model: ${result.data.model}; ${result.charts.length} charts`);
      say(`wrote ${result.path} (${Math.round(result.bytes / 1024)} KiB)`);
    });
}

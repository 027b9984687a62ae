import type { Command } from 'commander';
import { z } from 'zod';
import { runTransform } from '../../pipeline/transform/index.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

export function register(program: Command, rt: Runtime): void {
  program
    .command('transform')
    .description('build touchpoints, attribution (every model) and the marts from the core tables, in one transaction; incremental after the first run')
    .option('--full', 'rebuild everything instead of only what core rows changed since the last transform touched')
    .action(async (raw: unknown) => {
      const opts = parseOptions(z.object({ full: z.boolean().optional() }), raw, 'transform');
      const config = rt.connections();
      const warehouse = await rt.warehouse();
      const result = await runTransform({ warehouse, log: rt.log, config: config.sections.transform, goals: config.sections.goals, full: opts.full ?? false });
      say(result.mode === 'full' ? `full transform (${result.reason ?? 'requested'})` : `incremental transform: ${Object.entries(result.scope ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      for (const step of result.steps) say(`  ${step.name.padEnd(58)} ${(step.ms / 1000).toFixed(2).padStart(7)} s`);
      for (const [table, n] of Object.entries(result.rows)) say(`${table}: ${n} rows`);
      for (const w of result.warnings) say(`warning: ${w}`);
    });
}

import type { Command } from 'commander';
import { z } from 'zod';
import { loadFxRates, readFxCsv } from '../../pipeline/fx.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

export function register(program: Command, rt: Runtime): void {
  const fx = program.command('fx').description('daily FX rates used to report every amount in one currency');
  fx.command('load')
    .description('load rates from a CSV (date, from_currency, to_currency, rate: 1 from = rate to) into core.fx_rate_daily')
    .argument('<file>', 'CSV file')
    .option('--inverse', 'also store the inverse rate (to -> from)')
    .action(async (file: string, raw: unknown) => {
      const opts = parseOptions(z.object({ inverse: z.boolean().optional() }), raw, 'fx load');
      const rates = await readFxCsv(file);
      const warehouse = await rt.warehouse();
      const n = await loadFxRates(warehouse, rates, { source: `csv:${file}`, withInverse: opts.inverse ?? false });
      say(`loaded ${n} rates into core.fx_rate_daily`);
    });
}

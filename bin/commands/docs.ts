import type { Command } from 'commander';
import { z } from 'zod';
import { writeDictionary } from '../../warehouse/dictionary.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

export const DEFAULT_DOCS_DIR = 'docs/data-dictionary';

export function register(program: Command, rt: Runtime): void {
  program
    .command('docs')
    .description('write the Markdown data dictionary of the marts (tables, grain, columns, types, comments) from the warehouse catalog')
    .option('--out <dir>', `folder to write into (README.md index + one page per table)`, DEFAULT_DOCS_DIR)
    .action(async (raw: unknown) => {
      const opts = parseOptions(z.object({ out: z.string().min(1, 'must be a folder') }), raw, 'docs');
      const warehouse = await rt.warehouse();
      const result = await writeDictionary(warehouse, opts.out);
      say(`wrote ${result.files.length} files (${result.tables} tables) to ${result.dir}`);
      if (result.missing.length) say(`warning: no COMMENT on ${result.missing.join(', ')}`);
    });
}

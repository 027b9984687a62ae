import type { Command } from 'commander';
import { z } from 'zod';
import { connectors } from '../../connectors/registry.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

export function register(program: Command, rt: Runtime): void {
  program
    .command('sources')
    .description('list configured connections and their streams (and the connectors available)')
    .option('--json', 'print JSON')
    .action(async (raw: unknown) => {
      const opts = parseOptions(z.object({ json: z.boolean().optional() }), raw, 'sources');
      const config = rt.connections();
      const list = config.connections.map((c) => ({
        id: c.id,
        connector: c.connector.name,
        origin: c.origin,
        streams: c.connector.streams.map((s) => ({ name: s.name, description: s.description, cursor: s.cursorField ?? null, targets: s.targets })),
      }));
      if (opts.json) {
        say(JSON.stringify({ configFile: config.file ?? null, connections: list }, null, 2));
        return;
      }
      say(config.file ? `connections from ${config.file}:` : 'connections from environment variables (no mpm.config.json found):');
      if (list.length === 0) say('  (none configured)');
      for (const c of list) {
        say(`  ${c.id}  [${c.connector}]`);
        for (const s of c.streams) say(`    ${c.id}.${s.name}  ${s.description}${s.cursor ? `  (cursor: ${s.cursor})` : ''}`);
      }
      say('');
      say(`connectors available: ${connectors.map((c) => c.name).join(', ')}`);
    });
}

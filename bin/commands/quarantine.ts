import type { Command } from 'commander';
import { z } from 'zod';
import { resolveTarget } from '../../pipeline/config/connections.ts';
import { retryQuarantine } from '../../pipeline/quarantine.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

export function register(program: Command, rt: Runtime): void {
  const quarantine = program.command('quarantine').description('records that failed validation: list them, or retry them after a fix');

  quarantine
    .command('list')
    .description('list quarantined records (open ones unless --all)')
    .argument('[target]', '<connection> or <connection>.<stream>')
    .option('--all', 'include resolved entries')
    .option('--limit <n>', 'at most this many entries', '50')
    .option('--json', 'print JSON')
    .action(async (target: string | undefined, raw: unknown) => {
      const opts = parseOptions(z.object({ all: z.boolean().optional(), json: z.boolean().optional(), limit: z.coerce.number().int().positive().max(100_000) }), raw, 'quarantine list');
      const warehouse = await rt.warehouse();
      const [connection, stream] = target ? target.split('.') : [];
      const q = warehouse.knex('meta.quarantine').orderBy('id', 'desc').limit(opts.limit);
      if (connection) q.where({ connection });
      if (stream) q.where({ stream });
      if (!opts.all) q.whereNull('resolved_at');
      const rows = (await q.select('id', 'run_id', 'connection', 'stream', 'record_key', 'error_path', 'error_message', 'first_seen', 'last_seen', 'resolved_at')) as Array<Record<string, unknown>>;
      if (opts.json) {
        say(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) say('no quarantined records');
      for (const r of rows) {
        say(`#${r.id} ${r.connection}.${r.stream} record ${r.record_key}${r.resolved_at ? ' (resolved)' : ''}`);
        say(`  ${r.error_path}: ${r.error_message}`);
      }
    });

  quarantine
    .command('retry')
    .description('re-validate open quarantine entries from the payloads kept in raw (no re-fetch) and load those that pass')
    .argument('[target]', '<connection> or <connection>.<stream> (default: every configured connection)')
    .action(async (target: string | undefined) => {
      const config = rt.connections();
      const targets = target ? [resolveTarget(config, target)] : config.connections.map((c) => ({ connection: c, streams: c.connector.streams }));
      const warehouse = await rt.warehouse();
      let still = 0;
      for (const { connection, streams } of targets) {
        for (const stream of streams) {
          const r = await retryQuarantine(warehouse, connection, stream);
          if (r.retried === 0) continue;
          say(`${r.connection}.${r.stream}: retried ${r.retried}, resolved ${r.resolved}, still failing ${r.stillFailing}`);
          still += r.stillFailing;
        }
      }
      if (still > 0) process.exitCode = 1;
    });
}

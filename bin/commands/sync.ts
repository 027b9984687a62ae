import type { Command } from 'commander';
import { z } from 'zod';
import type { SyncMode } from '../../connectors/core/connector.ts';
import { enqueueSync } from '../../jobs/ops.ts';
import { JobQueues } from '../../jobs/queues.ts';
import { jobsSettings } from '../../jobs/settings.ts';
import { resolveTarget } from '../../pipeline/config/connections.ts';
import { runSync, type SyncResult } from '../../pipeline/sync.ts';
import { runTransform } from '../../pipeline/transform/index.ts';
import { isoDay, parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

const syncOptions = z
  .object({
    full: z.boolean().optional(),
    from: isoDay.optional(),
    to: isoDay.optional(),
    inline: z.boolean().optional(),
    transform: z.boolean().optional(),
  })
  .refine((o) => (o.from === undefined) === (o.to === undefined), { message: '--from and --to go together', path: ['from'] })
  .refine((o) => !o.from || !o.to || o.from <= o.to, { message: 'must not be after --to', path: ['from'] })
  .refine((o) => !(o.full && o.from), { message: 'cannot be combined with --from/--to', path: ['full'] });

export function formatResult(r: SyncResult): string {
  const c = r.counts;
  const base = `${r.connection}.${r.stream}: ${r.status}  read ${c.read}, inserted ${c.inserted}, updated ${c.updated}, unchanged ${c.unchanged}, quarantined ${c.quarantined}, deleted ${c.deleted} (run ${r.runId})`;
  return r.error ? `${base}\n  ${r.error}` : base;
}

export function register(program: Command, rt: Runtime): void {
  program
    .command('sync')
    .description('sync a connection (all its streams) or one stream: queued for the workers when REDIS_URL is set (then the transform runs), else inline in this process')
    .argument('<target>', '<connection> or <connection>.<stream>')
    .option('--full', 'ignore the stored cursor and read everything again')
    .option('--from <YYYY-MM-DD>', 'read this window only (with --to), under its own checkpoint')
    .option('--to <YYYY-MM-DD>', 'last day of the window, inclusive')
    .option('--inline', 'run in this process even when REDIS_URL is set')
    .option('--no-transform', 'inline: do not run the incremental transform after the sync')
    .action(async (target: string, raw: unknown) => {
      const opts = parseOptions(syncOptions, raw, 'sync');
      const { connection, streams } = resolveTarget(rt.connections(), target);
      const mode: SyncMode = opts.from ? 'backfill' : opts.full ? 'full' : 'incremental';
      const window = opts.from && opts.to ? { from: opts.from, to: opts.to } : undefined;
      if (rt.env.REDIS_URL && !opts.inline) {
        // With Redis the workers run it: the stream lock, rate limits and retries apply, then the transform.
        const queues = new JobQueues(jobsSettings(rt.env.REDIS_URL, '`mpm sync`'));
        rt.onClose(() => queues.close());
        const ids = await enqueueSync(queues, connection, streams, mode, window);
        for (const id of ids) say(`queued ${id}`);
        say('a worker (`mpm worker`) runs them, then the transform; `mpm status` shows the runs');
        return;
      }
      const warehouse = await rt.warehouse();
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let failed = false;
      try {
        for (const stream of streams) {
          const result = await runSync({ warehouse, connection, stream, mode, window, log: rt.log, signal: controller.signal });
          say(formatResult(result));
          for (const w of result.warnings) say(`  warning: ${w}`);
          if (result.status !== 'success') failed = true;
          if (controller.signal.aborted) break;
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      // As the workers do after a sync: the transform, incremental (only what the synced rows
      // touched). It also runs after a failed or partial sync: what was stored is consistent.
      if (opts.transform !== false && !controller.signal.aborted) {
        const config = rt.connections();
        const t = await runTransform({ warehouse, log: rt.log, config: config.sections.transform, goals: config.sections.goals });
        say(`transform: ${t.mode}${t.reason ? ` (${t.reason})` : ''}, ${(t.steps.reduce((a, s) => a + s.ms, 0) / 1000).toFixed(1)} s`);
        for (const w of t.warnings) say(`  warning: ${w}`);
      }
      if (failed) process.exitCode = 1;
    });
}

import type { Command } from 'commander';
import { z } from 'zod';
import { cancelBackfill, enqueueBackfill, getBackfill, parseChunk, runBackfillInline } from '../../jobs/backfill.ts';
import { ProgressPrinter } from '../../jobs/progress.ts';
import { JobQueues } from '../../jobs/queues.ts';
import { jobsSettings } from '../../jobs/settings.ts';
import { resolveTarget } from '../../pipeline/config/connections.ts';
import { isBackfillRunning } from '../../pipeline/stream-lock.ts';
import { isoDay, parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

const runOptions = z
  .object({
    from: isoDay,
    to: isoDay,
    chunk: z.string().default('7d'),
    wait: z.boolean().optional(),
    force: z.boolean().optional(),
  })
  .refine((o) => o.from <= o.to, { message: 'must not be after --to', path: ['from'] });

export function register(program: Command, rt: Runtime): void {
  const backfill = program.command('backfill').description('re-read a date range in chunks (queued with REDIS_URL, inline without)');

  backfill
    .command('run <target>', { isDefault: true })
    .description('backfill <connection>[.<stream>] from --from to --to (the word "run" may be left out)')
    .requiredOption('--from <YYYY-MM-DD>', 'first day, inclusive')
    .requiredOption('--to <YYYY-MM-DD>', 'last day, inclusive')
    .option('--chunk <days>', 'chunk size: 7d, 2w or days (default 7d)')
    .option('--wait', 'show progress until the backfill ends (always so without REDIS_URL)')
    .option('--force', 're-read chunks that an earlier backfill already completed')
    .action(async (target: string, raw: unknown) => {
      const opts = parseOptions(runOptions, raw, 'backfill');
      const chunkDays = parseChunk(opts.chunk);
      const { connection, streams } = resolveTarget(rt.connections(), target);
      const warehouse = await rt.warehouse();
      const input = { connection, streams, window: { from: opts.from, to: opts.to }, chunkDays, force: Boolean(opts.force) };
      if (!rt.env.REDIS_URL) {
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        let printer: ProgressPrinter | undefined;
        let pending = Promise.resolve();
        let lastUpdate = 0;
        try {
          const result = await runBackfillInline({
            ...input,
            warehouse,
            log: rt.log,
            signal: controller.signal,
            transform: { config: rt.connections().sections.transform, goals: rt.connections().sections.goals },
            onStart: (id) => {
              printer = new ProgressPrinter(process.stderr, warehouse.knex, id);
            },
            onProgress: () => {
              // Serialised, so lines come out in order; at most 5 updates a second.
              if (Date.now() - lastUpdate < 200) return;
              lastUpdate = Date.now();
              pending = pending.then(async () => {
                await printer?.update();
              });
            },
          });
          await pending;
          await printer?.update();
          printer?.done();
          say(`backfill ${result.id}: ${result.status}; transform: ${result.transform}`);
          const { backfill: row } = await getBackfill(warehouse.knex, result.id);
          if (row.error) say(`  ${row.error}`);
          if (result.status !== 'done') process.exitCode = 1;
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
        return;
      }
      const queues = new JobQueues(jobsSettings(rt.env.REDIS_URL, '`mpm backfill`'));
      rt.onClose(() => queues.close());
      const id = await enqueueBackfill(queues, warehouse.knex, input);
      say(id);
      if (!opts.wait) {
        say(`queued; follow it with \`mpm backfill status ${id}\``);
        return;
      }
      await watch(rt, id);
    });

  backfill
    .command('status <id>')
    .description('chunks done, rows, state of a backfill (from any terminal)')
    .option('--json', 'print JSON')
    .option('--wait', 'follow progress until it ends')
    .action(async (id: string, raw: unknown) => {
      const opts = parseOptions(z.object({ json: z.boolean().optional(), wait: z.boolean().optional() }), raw, 'backfill status');
      const warehouse = await rt.warehouse();
      if (opts.wait) {
        await watch(rt, id);
        return;
      }
      const { backfill: row, chunks } = await getBackfill(warehouse.knex, id);
      // An inline backfill marked running that no live process holds was killed (a worker's is
      // picked up again by the queue).
      const interrupted = row.status === 'running' && row.execution === 'inline' && !(await isBackfillRunning(warehouse, row.id));
      if (opts.json) {
        say(JSON.stringify({ backfill: { ...row, interrupted }, chunks }, null, 2));
        return;
      }
      const by = (s: string) => chunks.filter((c) => c.status === s).length;
      say(`${row.id}: ${row.status}  ${row.connection} [${row.streams.join(', ')}] ${row.window.from}..${row.window.to} in ${row.chunkDays}-day chunks (${row.execution}${row.force ? ', force' : ''})`);
      say(`  chunks: ${chunks.length} total, ${by('done')} done, ${by('skipped')} skipped (already complete), ${by('running')} running, ${by('pending')} pending, ${by('failed')} failed, ${by('cancelled')} cancelled`);
      say(`  rows read: ${chunks.reduce((n, c) => n + c.rowsRead, 0)}`);
      say(`  transform: ${row.transformStatus ?? 'not run yet'}`);
      if (interrupted) say('  interrupted: the process running it is gone; run the same `mpm backfill` again to continue (finished chunks are skipped, the interrupted one resumes from its last stored page)');
      if (row.error) say(`  error: ${row.error}`);
      for (const c of chunks.filter((c) => c.status === 'failed')) say(`  failed ${c.stream} ${c.window.from}..${c.window.to} after ${c.attempts} attempt(s): ${c.error ?? ''}`);
    });

  backfill
    .command('cancel <id>')
    .description('cancel a backfill: pending chunks are dropped, a running one stops after its current page')
    .action(async (id: string) => {
      const warehouse = await rt.warehouse();
      let queues: JobQueues | undefined;
      if (rt.env.REDIS_URL) {
        queues = new JobQueues(jobsSettings(rt.env.REDIS_URL, '`mpm backfill cancel`'));
        rt.onClose(() => queues?.close() ?? Promise.resolve());
      }
      const r = await cancelBackfill(warehouse.knex, id, queues);
      say(`backfill ${id} cancelled (${r.removedJobs} queued chunk job(s) removed)`);
    });
}

async function watch(rt: Runtime, id: string): Promise<void> {
  const warehouse = await rt.warehouse();
  const printer = new ProgressPrinter(process.stderr, warehouse.knex, id);
  let interrupted = false;
  const stop = () => {
    interrupted = true;
  };
  process.once('SIGINT', stop);
  try {
    for (;;) {
      const p = await printer.update();
      if (p.backfill.status !== 'running' && (p.backfill.transformStatus !== null || p.backfill.status !== 'done')) {
        printer.done();
        say(`backfill ${id}: ${p.backfill.status}; transform: ${p.backfill.transformStatus ?? 'not run'}`);
        if (p.backfill.error) say(`  ${p.backfill.error}`);
        if (p.backfill.status !== 'done') process.exitCode = 1;
        return;
      }
      if (interrupted) {
        printer.done();
        say(`stopped watching; the backfill goes on (mpm backfill status ${id})`);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    process.off('SIGINT', stop);
  }
}

import type { Command } from 'commander';
import type { Job } from 'bullmq';
import { z } from 'zod';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { enqueueSync, retryFailed } from '../../jobs/ops.ts';
import { JobQueues } from '../../jobs/queues.ts';
import { jobsSettings } from '../../jobs/settings.ts';
import { resolveTarget } from '../../pipeline/config/connections.ts';
import { scrub } from '../../pipeline/secrets.ts';
import { isoDay, parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

function describe(job: Job): string {
  const attempts = `${job.attemptsMade}/${job.opts.attempts ?? 1} attempt(s)`;
  return `${job.queueName}/${job.id} ${job.name} ${attempts}${job.failedReason ? `: ${scrub(job.failedReason)}` : ''}`;
}

export function register(program: Command, rt: Runtime): void {
  const jobs = program.command('jobs').description('inspect, retry and enqueue jobs (needs REDIS_URL)');
  const open = () => {
    const queues = new JobQueues(jobsSettings(rt.env.REDIS_URL, '`mpm jobs`'));
    rt.onClose(() => queues.close());
    return queues;
  };

  jobs
    .command('list')
    .description('failed jobs (with their error and attempts), or those in another state')
    .option('--state <state>', 'failed, active, waiting, delayed or completed (default failed)')
    .option('--json', 'print JSON')
    .action(async (raw: unknown) => {
      const opts = parseOptions(z.object({ state: z.enum(['failed', 'active', 'waiting', 'delayed', 'completed']).default('failed'), json: z.boolean().optional() }), raw, 'jobs list');
      const queues = open();
      const found: Job[] = [];
      for (const q of await queues.discover()) found.push(...(await q.getJobs([opts.state], 0, 199)));
      if (opts.json) {
        say(JSON.stringify(found.map((j) => ({ queue: j.queueName, id: j.id, name: j.name, data: j.data as unknown, attemptsMade: j.attemptsMade, attempts: j.opts.attempts ?? 1, failedReason: j.failedReason ? scrub(j.failedReason) : null, finishedOn: j.finishedOn ?? null })), null, 2));
        return;
      }
      if (found.length === 0) say(`no ${opts.state} jobs`);
      for (const j of found) say(describe(j));
    });

  jobs
    .command('retry [id]')
    .description('retry a failed job by id (as printed by `mpm jobs list`), or every failed job with --all-failed')
    .option('--all-failed', 'retry every failed job of every mpm queue')
    .action(async (id: string | undefined, raw: unknown) => {
      const opts = parseOptions(z.object({ allFailed: z.boolean().optional() }), raw, 'jobs retry');
      if (!id === !opts.allFailed) throw new ConfigError('jobs retry: give a job id or --all-failed (not both)');
      const queues = open();
      const retried = await retryFailed(queues, opts.allFailed ? { all: true } : { id: id ?? '' });
      for (const j of retried) say(`retrying ${j}`);
      say(`${retried.length} job(s) retried`);
    });

  jobs
    .command('sync <target>')
    .description('enqueue a sync of <connection>[.<stream>] now (then the transform), as a schedule tick would')
    .option('--full', 'ignore the stored cursor and read everything again')
    .option('--from <YYYY-MM-DD>', 'read this window only (with --to), under its own checkpoint')
    .option('--to <YYYY-MM-DD>', 'last day of the window, inclusive')
    .action(async (target: string, raw: unknown) => {
      const opts = parseOptions(
        z
          .object({ full: z.boolean().optional(), from: isoDay.optional(), to: isoDay.optional() })
          .refine((o) => (o.from === undefined) === (o.to === undefined), { message: '--from and --to go together', path: ['from'] })
          .refine((o) => !o.from || !o.to || o.from <= o.to, { message: 'must not be after --to', path: ['from'] })
          .refine((o) => !(o.full && o.from), { message: 'cannot be combined with --from/--to', path: ['full'] }),
        raw,
        'jobs sync',
      );
      const { connection, streams } = resolveTarget(rt.connections(), target);
      const queues = open();
      const window = opts.from && opts.to ? { from: opts.from, to: opts.to } : undefined;
      const ids = await enqueueSync(queues, connection, streams, window ? 'backfill' : opts.full ? 'full' : 'incremental', window);
      for (const i of ids) say(`queued ${i}`);
    });
}

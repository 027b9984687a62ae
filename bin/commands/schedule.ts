import type { Command } from 'commander';
import { z } from 'zod';
import { JobQueues } from '../../jobs/queues.ts';
import { describeSpec, listSchedules, plannedSchedules, reconcileSchedules } from '../../jobs/schedules.ts';
import { jobsSettings } from '../../jobs/settings.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

export function register(program: Command, rt: Runtime): void {
  const schedule = program.command('schedule').description('show and reconcile the sync schedules (needs REDIS_URL)');

  schedule
    .command('list')
    .description('schedules from the config next to those registered in Redis')
    .option('--json', 'print JSON')
    .action(async (raw: unknown) => {
      const opts = parseOptions(z.object({ json: z.boolean().optional() }), raw, 'schedule list');
      const config = rt.connections();
      const queues = new JobQueues(jobsSettings(rt.env.REDIS_URL, '`mpm schedule`'));
      rt.onClose(() => queues.close());
      const states = await listSchedules(queues, config);
      if (opts.json) {
        say(JSON.stringify(states, null, 2));
        return;
      }
      if (states.length === 0) say('no schedules: no connections configured');
      for (const s of states) {
        const where = s.inConfig && s.inRedis ? 'registered' : s.inConfig ? 'NOT registered: run `mpm schedule sync`' : 'stale (not in config): run `mpm schedule sync`';
        say(`${s.id}  ${s.spec}  next ${s.next ? s.next.toISOString() : '-'}  ${where}`);
      }
    });

  schedule
    .command('sync')
    .description('register every configured schedule and remove those whose stream is gone (idempotent)')
    .action(async () => {
      const config = rt.connections();
      plannedSchedules(config); // validates before touching Redis
      const queues = new JobQueues(jobsSettings(rt.env.REDIS_URL, '`mpm schedule`'));
      rt.onClose(() => queues.close());
      const r = await reconcileSchedules(queues, config);
      for (const p of r.upserted) say(`registered ${p.id}: ${describeSpec(p.spec)} [${p.source}]`);
      for (const id of r.removed) say(`removed ${id}`);
      say(`${r.upserted.length} schedule(s) registered, ${r.removed.length} removed`);
    });
}

import type { Command } from 'commander';
import { z } from 'zod';
import { jobsSettings } from '../../jobs/settings.ts';
import { startWorker } from '../../jobs/worker.ts';
import { checkTransformConfig } from '../../pipeline/transform/index.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

const workerOptions = z.object({
  concurrency: z.coerce.number().int().positive().optional(),
  metricsPort: z.union([z.literal(false), z.coerce.number().int().min(0).max(65_535)]).default(9464),
  schedules: z.boolean().default(true),
});

export function register(program: Command, rt: Runtime): void {
  program
    .command('worker')
    .description('process sync, backfill and transform jobs from Redis until SIGTERM/SIGINT (needs REDIS_URL)')
    .option('--concurrency <n>', 'sync jobs per vendor queue at once (default: each vendor\'s limit, see jobs/README.md)')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port (default 9464; 0: any free port)')
    .option('--no-metrics-port', 'do not serve /metrics')
    .option('--no-schedules', 'do not reconcile schedules with the config at start')
    .action(async (raw: unknown) => {
      const opts = parseOptions(workerOptions, raw, 'worker');
      const settings = jobsSettings(rt.env.REDIS_URL, '`mpm worker`');
      const config = rt.connections();
      const warehouse = await rt.warehouse();
      // A bad transform or goals section stops the worker here, not every transform job later.
      await checkTransformConfig(warehouse.knex, { config: config.sections.transform, goals: config.sections.goals });
      const handle = await startWorker({
        settings,
        config,
        warehouse,
        log: rt.log,
        ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
        ...(opts.metricsPort !== false ? { metricsPort: opts.metricsPort } : {}),
        schedules: opts.schedules,
      });
      say(`worker started (prefix ${settings.prefix}${handle.metricsPort !== undefined ? `, metrics on :${handle.metricsPort}/metrics` : ''}); stop with Ctrl-C or SIGTERM`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          rt.log.info({ signal }, 'stopping: finishing the current page of running syncs');
          resolve();
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      await handle.close();
      say('worker stopped');
    });
}

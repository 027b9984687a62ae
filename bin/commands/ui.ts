import type { Command } from 'commander';
import { z } from 'zod';
import { JobQueues } from '../../jobs/queues.ts';
import { jobsSettings } from '../../jobs/settings.ts';
import { startUi } from '../../jobs/ui.ts';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { registerSecret } from '../../pipeline/secrets.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

/** The optional `ui` section of the config file: { "user": "...", "password": "${MPM_UI_PASSWORD}" }. */
const uiSection = z.strictObject({
  /** Basic-auth user. Default: MPM_UI_USER. */
  user: z.string().min(1).optional(),
  /** Basic-auth password. Default: MPM_UI_PASSWORD. */
  password: z.string().min(1).optional(),
  /** Port. Default 3100. */
  port: z.number().int().min(0).max(65_535).optional(),
  /** Interface to bind. Default 127.0.0.1. */
  host: z.string().min(1).optional(),
});

export function register(program: Command, rt: Runtime): void {
  program
    .command('ui')
    .description('Bull Board for every mpm queue (needs REDIS_URL), behind basic auth')
    .option('--port <port>', 'port (default 3100, or ui.port in the config file)')
    .option('--host <host>', 'interface to bind (default 127.0.0.1; anything else requires credentials)')
    .action(async (raw: unknown) => {
      const opts = parseOptions(z.object({ port: z.coerce.number().int().min(0).max(65_535).optional(), host: z.string().optional() }), raw, 'ui');
      const settings = jobsSettings(rt.env.REDIS_URL, '`mpm ui`');
      const parsed = uiSection.safeParse(rt.connections().sections.ui ?? {});
      if (!parsed.success) throw new ConfigError(`ui: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      const section = parsed.data;
      const user = section.user ?? settings.uiUser;
      const password = section.password ?? settings.uiPassword;
      registerSecret(password);
      const queues = new JobQueues(settings);
      rt.onClose(() => queues.close());
      const ui = await startUi(queues, { port: opts.port ?? section.port ?? 3100, host: opts.host ?? section.host ?? '127.0.0.1', user, password });
      say(`mpm ui on ${ui.url}${user ? ' (basic auth)' : ' (no auth: loopback only)'}; stop with Ctrl-C`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await ui.close();
    });
}

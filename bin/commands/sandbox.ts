import type { Command } from 'commander';
import { z } from 'zod';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { FaultSpecError, parseFaultSpec } from '../../sandbox/emulators/faults.ts';
import { startSandbox } from '../../sandbox/index.ts';
import { InvalidScaleError, resolveScale } from '../../sandbox/world/index.ts';
import type { WorldScale } from '../../sandbox/world/types.ts';
import { parseOptions } from '../options.ts';
import type { Runtime } from '../runtime.ts';

const startOptions = z.object({
  seed: z.coerce.number().int('must be an integer').nonnegative('must be >= 0').optional(),
  scale: z.string().optional(),
  faults: z.string().optional(),
  port: z.coerce.number().int('must be an integer').min(0, 'must be 0..65535').max(65535, 'must be 0..65535').optional(),
  host: z.string().optional(),
});

/** 'tiny' | 'demo' | 'large' | a positive number (a multiple of the demo world). */
export function parseScale(text: string | undefined): WorldScale | undefined {
  if (text === undefined) return undefined;
  const scale: WorldScale = /^\d+(\.\d+)?$/.test(text) ? Number(text) : (text as WorldScale);
  try {
    resolveScale(scale);
  } catch (err) {
    if (err instanceof InvalidScaleError) throw new ConfigError(`sandbox: --scale: ${err.message}`);
    throw err;
  }
  return scale;
}

/** A --faults spec that does not parse is a usage error naming it (exit 2), before anything starts. */
export function checkFaultsOption(spec: string | undefined, command: string): void {
  if (spec === undefined) return;
  try {
    parseFaultSpec(spec);
  } catch (err) {
    if (err instanceof FaultSpecError) throw new ConfigError(`${command}: --faults: ${err.message}`);
    throw err;
  }
}

export function register(program: Command, rt: Runtime): void {
  const sandbox = program.command('sandbox').description('the offline sandbox: a seeded synthetic marketing world behind local emulators of every vendor API');
  sandbox
    .command('start')
    .description('serve the world; prints NAME=value lines (stdout) that point each connector at the emulators, then serves until stopped')
    .option('--seed <n>', 'world seed (default 42)')
    .option('--scale <s>', "world size: tiny, demo, large or a multiple of demo (default demo)")
    .option('--faults <spec>', 'fault injection spec (see sandbox/emulators/README.md)')
    .option('--port <p>', 'port on 127.0.0.1; 0 picks a free one', '0')
    .option('--host <h>', 'interface to bind (default 127.0.0.1)')
    .action(async (raw: unknown) => {
      const opts = parseOptions(startOptions, raw, 'sandbox start');
      const scale = parseScale(opts.scale);
      checkFaultsOption(opts.faults, 'sandbox start');
      const box = await startSandbox({
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        ...(scale !== undefined ? { scale } : {}),
        ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
        ...(opts.port !== undefined ? { port: opts.port } : {}),
        ...(opts.host !== undefined ? { host: opts.host } : {}),
      });
      for (const [name, value] of Object.entries(box.env).sort(([a], [b]) => a.localeCompare(b))) {
        process.stdout.write(`${name}=${value}\n`);
      }
      rt.log.info(
        { url: box.url, apis: box.apis, envLines: Object.keys(box.env).length, seed: box.world.seed, scale: box.world.scale, from: box.world.startDate, to: box.world.endDate },
        'sandbox serving; stop with Ctrl-C',
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await box.stop();
      rt.log.info('sandbox stopped');
    });
}

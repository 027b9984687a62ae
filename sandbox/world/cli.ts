/**
 * Writes the ground-truth manifest of a world, and prints a summary of its size:
 *
 *   npx tsx sandbox/world/cli.ts --scale demo --seed 42 --out .mpm/truth.json
 *
 * Options (all optional): --seed (default 42), --scale tiny|demo|large|<multiplier>
 * (default demo), --end-date YYYY-MM-DD (default 2026-10-31), --out <path> (default: print the
 * manifest to stdout).
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { generateWorld } from './world.ts';
import type { WorldOptions } from './types.ts';

const scaleSchema = z.union([z.enum(['tiny', 'demo', 'large']), z.coerce.number().positive()]);

export const cliOptionsSchema = z.object({
  seed: z.coerce.number().int().optional(),
  scale: scaleSchema.optional(),
  'end-date': z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  out: z.string().min(1).optional(),
});

/** Parses CLI arguments into world options and an optional output path. */
export function parseWorldArgs(argv: readonly string[]): { options: WorldOptions; out?: string } {
  const { values } = parseArgs({
    args: [...argv],
    options: { seed: { type: 'string' }, scale: { type: 'string' }, 'end-date': { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  const parsed = cliOptionsSchema.parse(values);
  const options: WorldOptions = {};
  if (parsed.seed !== undefined) options.seed = parsed.seed;
  if (parsed.scale !== undefined) options.scale = parsed.scale;
  if (parsed['end-date'] !== undefined) options.endDate = parsed['end-date'];
  return parsed.out !== undefined ? { options, out: parsed.out } : { options };
}

function main(): void {
  const { options, out } = parseWorldArgs(process.argv.slice(2));
  const world = generateWorld(options);
  if (out === undefined) {
    process.stdout.write(`${JSON.stringify(world.groundTruth(), null, 2)}\n`);
    return;
  }
  world.writeManifest(out);
  const truth = world.groundTruth();
  process.stderr.write(
    `world ${world.startDate}..${world.endDate}: ${truth.peopleInModel} people in the model, ` +
      `${truth.realized.opportunities} opportunities; manifest written to ${out}\n`,
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (err) {
    const message = err instanceof z.ZodError ? z.prettifyError(err) : err instanceof Error ? err.message : String(err);
    process.stderr.write(`${message}\n`);
    process.exitCode = 2;
  }
}

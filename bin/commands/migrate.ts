import type { Command } from 'commander';
import { migrationStatus } from '../../warehouse/migrate.ts';
import { say, type Runtime } from '../runtime.ts';

export function register(program: Command, rt: Runtime): void {
  program
    .command('migrate')
    .description('create or upgrade the warehouse schemas (raw, staging, core, marts, meta); forward-only and idempotent')
    .action(async () => {
      const warehouse = await rt.warehouse();
      const { applied } = await migrationStatus(warehouse.knex);
      say(`warehouse: ${warehouse.kind} (${warehouse.location})`);
      say(`migrations applied: ${applied.length} (latest: ${applied.at(-1) ?? 'none'})`);
    });
}

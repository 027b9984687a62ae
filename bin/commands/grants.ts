import type { Command } from 'commander';
import { z } from 'zod';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { grantReadOnly } from '../../warehouse/grants.ts';
import { parseOptions } from '../options.ts';
import { say, type Runtime } from '../runtime.ts';

const grantsOptions = z.object({
  role: z.string({ error: 'is required (the role name to create or update)' }).min(1, 'is required'),
  passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of an environment variable').optional(),
});

export function register(program: Command, rt: Runtime): void {
  program
    .command('grants')
    .description('create or update a read-only Postgres role for BI tools: SELECT on every marts table (now and future), nothing else')
    .requiredOption('--role <name>', 'role to create or update (lower-case letters, digits, _)')
    .option('--password-env <VAR>', 'environment variable holding the LOGIN password (without it a new role is NOLOGIN; an existing one keeps its password)')
    .action(async (raw: unknown) => {
      const opts = parseOptions(grantsOptions, raw, 'grants');
      // Fail before opening (and migrating) an embedded warehouse that cannot have roles anyway.
      if (!rt.env.DATABASE_URL) throw new ConfigError('grants: needs a Postgres warehouse (set DATABASE_URL): the embedded PGlite warehouse has no roles or logins for BI tools to connect with');
      let password: string | undefined;
      if (opts.passwordEnv !== undefined) {
        password = process.env[opts.passwordEnv];
        // Name the variable, never its value.
        if (password === undefined || password === '') throw new ConfigError(`grants: --password-env: environment variable ${opts.passwordEnv} is not set or empty`);
      }
      const warehouse = await rt.warehouse();
      const result = await grantReadOnly(warehouse, { role: opts.role, password });
      say(`${result.created ? 'created' : 'updated'} role ${result.role} (${result.login ? 'LOGIN' : 'NOLOGIN'}${result.passwordSet ? ', password set' : ''})`);
      say(`  can read ${result.tables.length} tables in marts, and future ones created by ${result.defaultPrivilegesFor.join(', ')}`);
      say(`  no access to: ${result.revokedSchemas.join(', ')}; no writes, no DDL`);
    });
}

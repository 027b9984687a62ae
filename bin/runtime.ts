import type { Logger } from 'pino';
import { parseEnv, type Env } from '../pipeline/config/env.ts';
import { loadConfig, type MpmConfig } from '../pipeline/config/connections.ts';
import { createLogger } from '../pipeline/log.ts';
import { prepareWarehouse } from '../pipeline/setup.ts';
import { openWarehouse, type Warehouse } from '../warehouse/db.ts';

/**
 * What commands share: the parsed environment, the logger, and lazily the connections config and
 * the (migrated) warehouse, so `mpm --help` or `mpm sources` never open a database.
 */
export class Runtime {
  readonly env: Env;
  readonly log: Logger;
  private config?: MpmConfig;
  private warehousePromise?: Promise<Warehouse>;
  /** Set by commands that print human output; closed on exit. */
  private readonly closers: Array<() => Promise<void>> = [];

  constructor(source: NodeJS.ProcessEnv = process.env) {
    this.env = parseEnv(source);
    this.log = createLogger(this.env.LOG_LEVEL);
  }

  connections(): MpmConfig {
    this.config ??= loadConfig({ file: this.env.MPM_CONFIG });
    return this.config;
  }

  /** Opens the warehouse (DATABASE_URL or embedded PGlite) and applies pending migrations. */
  warehouse(): Promise<Warehouse> {
    this.warehousePromise ??= (async () => {
      const warehouse = await openWarehouse({ databaseUrl: this.env.DATABASE_URL, dataDir: this.env.MPM_DATA_DIR });
      this.closers.push(() => warehouse.close());
      const { applied } = await prepareWarehouse(warehouse.knex);
      if (applied.length) this.log.info({ applied }, 'migrations applied');
      return warehouse;
    })();
    return this.warehousePromise;
  }

  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.closers.reverse()) {
      try {
        await fn();
      } catch (err) {
        this.log.warn({ err }, 'error while closing');
      }
    }
    this.closers.length = 0;
  }
}

/** Human output goes to stdout; logs go to stderr as JSON. */
export function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

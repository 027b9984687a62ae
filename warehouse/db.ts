import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { typeParsers } from './types.ts';
import { lockDataDir } from './data-dir-lock.ts';

export type WarehouseKind = 'postgres' | 'pglite';

export interface Warehouse {
  readonly kind: WarehouseKind;
  readonly knex: Knex;
  /** Where the data lives, for humans: the URL without password, or the PGlite folder. */
  readonly location: string;
  close(): Promise<void>;
}

export interface WarehouseOptions {
  /** postgres:// URL; when absent the embedded PGlite warehouse is used. */
  databaseUrl?: string | undefined;
  /** Folder for the embedded warehouse (PGlite files under `<dataDir>/pgdata`); 'memory://' for in-memory. */
  dataDir?: string;
  /** Pool size for Postgres. Default 4. PGlite always has exactly one connection. */
  poolMax?: number;
}

const pgTypes = {
  getTypeParser(oid: number, format?: string) {
    const parser = typeParsers[oid];
    if (parser && format !== 'binary') return parser;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

/** Returns a Knex instance on Postgres (DATABASE_URL) or on the embedded PGlite warehouse. */
export async function openWarehouse(options: WarehouseOptions): Promise<Warehouse> {
  if (options.databaseUrl) {
    const knex = knexFactory({
      client: 'pg',
      connection: { connectionString: options.databaseUrl, types: pgTypes, options: '-c temp_buffers=64MB' } as Knex.PgConnectionConfig,
      pool: { min: 0, max: options.poolMax ?? 4 },
      acquireConnectionTimeout: 30_000,
    });
    return {
      kind: 'postgres',
      knex,
      location: redactUrl(options.databaseUrl),
      close: () => knex.destroy(),
    };
  }

  const dataDir = options.dataDir ?? './.mpm';
  const inMemory = dataDir === 'memory://';
  const folder = inMemory ? undefined : path.resolve(dataDir, 'pgdata');
  if (folder) fs.mkdirSync(folder, { recursive: true });
  const unlock = folder ? lockDataDir(`${folder}.lock`, folder) : () => undefined;
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(folder, { parsers: typeParsers });
  } catch (err) {
    unlock();
    throw err;
  }
  const knex = knexFactory({
    client: ClientPgLite,
    dialect: 'postgres',
    connection: () => ({ pglite }) as object,
  });
  return {
    kind: 'pglite',
    knex,
    location: folder ?? 'memory://',
    close: async () => {
      try {
        await knex.destroy();
        if (!pglite.closed) await pglite.close();
      } finally {
        unlock();
      }
    },
  };
}

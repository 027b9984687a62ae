import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { ConfigError } from '../connectors/core/errors/index.ts';
import type { Warehouse } from './db.ts';
import { sqlLiteral } from './sql.ts';

/**
 * The read-only BI role: USAGE on the marts schema and SELECT on every table in it, now and in the
 * future (ALTER DEFAULT PRIVILEGES), and nothing else: no other schema (raw, core and staging hold
 * personal data, meta holds run state), no writes, no DDL.
 * https://www.postgresql.org/docs/current/sql-grant.html
 * https://www.postgresql.org/docs/current/sql-alterdefaultprivileges.html
 */

/** The schema BI reads. */
export const BI_SCHEMA = 'marts';

export interface GrantOptions {
  /** Role name: lower-case letters, digits and '_', starting with a letter or '_' (at most 63). */
  role: string;
  /**
   * LOGIN password. When given, the role can log in with it (stored as a SCRAM-SHA-256 verifier;
   * the password itself is never sent to the server). When absent, a new role is NOLOGIN (a group
   * role to GRANT to BI users) and an existing role keeps its LOGIN and password.
   */
  password?: string | undefined;
}

export interface GrantResult {
  role: string;
  created: boolean;
  login: boolean;
  passwordSet: boolean;
  /** marts tables the role can read now. */
  tables: string[];
  /** Roles whose future tables in marts the role can read (ALTER DEFAULT PRIVILEGES FOR ROLE ...). */
  defaultPrivilegesFor: string[];
  /** Schemas the role was explicitly left out of (every other schema of the database). */
  revokedSchemas: string[];
}

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function validateRoleName(role: string): void {
  if (!ROLE_NAME.test(role)) throw new ConfigError(`--role: "${role}" is not a valid role name (lower-case letters, digits and _, starting with a letter or _, at most 63 characters)`);
  if (role.startsWith('pg_')) throw new ConfigError(`--role: "${role}": names starting with pg_ are reserved by Postgres`);
}

/**
 * A SCRAM-SHA-256 verifier in the form Postgres stores in pg_authid.rolpassword:
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64). Postgres stores a password
 * given in this form as is (https://www.postgresql.org/docs/current/sql-createrole.html, PASSWORD;
 * format: https://www.postgresql.org/docs/current/catalog-pg-authid.html), so the plain password
 * never reaches the server, its statement log or pg_stat_activity.
 * Keys per RFC 5802 section 3 with SHA-256 (RFC 7677). The password is used as UTF-8 after NFKC
 * normalization, which equals SASLprep for the passwords people type (SASLprep also maps a few
 * space and zero-width characters).
 */
export function scramSha256Verifier(password: string, options: { salt?: Buffer; iterations?: number } = {}): string {
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? 4096;
  const salted = pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

async function rows<T>(knex: Knex | Knex.Transaction, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  return (await knex.raw(sql, bindings as Knex.RawBinding[])).rows as T[];
}

/**
 * Creates or updates the read-only BI role in the warehouse database. Idempotent: running it again
 * gives the same privileges (and picks up marts tables created since). One transaction: on any
 * error nothing changes. Needs a Postgres warehouse and a user allowed to create roles.
 */
export async function grantReadOnly(warehouse: Warehouse, options: GrantOptions): Promise<GrantResult> {
  if (warehouse.kind !== 'postgres') {
    throw new ConfigError('mpm grants needs a Postgres warehouse (set DATABASE_URL): the embedded PGlite warehouse has no roles or logins for BI tools to connect with');
  }
  validateRoleName(options.role);
  if (options.password !== undefined && options.password.length === 0) throw new ConfigError('--password-env: the password is empty');
  const role = ident(options.role);

  return warehouse.knex.transaction(async (trx) => {
    const [me] = await rows<{ user: string; db: string }>(trx, 'SELECT current_user AS "user", current_database() AS db');
    const existing = (await rows<{ rolsuper: boolean; rolcanlogin: boolean; oid: number }>(trx, 'SELECT rolsuper, rolcanlogin, oid::int AS oid FROM pg_roles WHERE rolname = ?', [options.role]))[0];
    if (options.role === me!.user) throw new ConfigError(`--role: "${options.role}" is the user mpm connects as; choose another name for the read-only role`);
    if (existing?.rolsuper) throw new ConfigError(`--role: "${options.role}" is a superuser; a read-only role cannot be made from it`);
    if (existing) {
      const owns = await rows<{ name: string }>(trx, `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relowner = ? UNION ALL SELECT nspname FROM pg_namespace WHERE nspowner = ? ORDER BY 1 LIMIT 5`, [existing.oid, existing.oid]);
      if (owns.length) throw new ConfigError(`--role: "${options.role}" owns ${owns.map((o) => o.name).join(', ')}: an owner can write and alter them, so it cannot be the read-only role`);
      const memberOf = await rows<{ name: string }>(trx, 'SELECT r.rolname AS name FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = ? ORDER BY 1', [existing.oid]);
      if (memberOf.length) throw new ConfigError(`--role: "${options.role}" is a member of ${memberOf.map((m) => m.name).join(', ')} and would inherit their privileges; REVOKE that membership first`);
    }

    if (!existing) await trx.raw(`CREATE ROLE ${role} ${options.password !== undefined ? 'LOGIN' : 'NOLOGIN'}`);
    const attributes = 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT';
    if (options.password !== undefined) {
      try {
        await trx.raw(`ALTER ROLE ${role} WITH LOGIN ${attributes} PASSWORD ${sqlLiteral(scramSha256Verifier(options.password))}`);
      } catch (err) {
        // knex puts the statement in its error message: keep the verifier out of errors and logs.
        const reason = err instanceof Error ? err.message.slice(err.message.lastIndexOf(' - ') + 3) : String(err);
        throw new ConfigError(`could not set the password of role ${options.role}: ${reason}`);
      }
    } else {
      await trx.raw(`ALTER ROLE ${role} WITH ${attributes}`);
    }

    // Every other schema: take away whatever the role may have been given before (nothing else).
    const schemas = (await rows<{ name: string }>(trx, `SELECT nspname AS name FROM pg_namespace WHERE nspname <> ? AND nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%' ORDER BY 1`, [BI_SCHEMA])).map((s) => s.name);
    for (const schema of schemas) {
      await trx.raw(`REVOKE ALL ON SCHEMA ${ident(schema)} FROM ${role}`);
      await trx.raw(`REVOKE ALL ON ALL TABLES IN SCHEMA ${ident(schema)} FROM ${role}`);
      await trx.raw(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${ident(schema)} FROM ${role}`);
    }
    await trx.raw(`REVOKE CREATE ON DATABASE ${ident(me!.db)} FROM ${role}`);
    await trx.raw(`GRANT CONNECT ON DATABASE ${ident(me!.db)} TO ${role}`);

    // marts: read only, now and future.
    await trx.raw(`REVOKE ALL ON SCHEMA ${BI_SCHEMA} FROM ${role}`);
    await trx.raw(`GRANT USAGE ON SCHEMA ${BI_SCHEMA} TO ${role}`);
    await trx.raw(`REVOKE ALL ON ALL TABLES IN SCHEMA ${BI_SCHEMA} FROM ${role}`);
    await trx.raw(`GRANT SELECT ON ALL TABLES IN SCHEMA ${BI_SCHEMA} TO ${role}`);
    // Default privileges apply to tables created by the named role, so set them for whoever
    // creates marts tables: this user (migrations) and the current owners, where we may.
    const owners = (await rows<{ name: string }>(
      trx,
      `SELECT DISTINCT r.rolname AS name FROM pg_roles r
       WHERE (r.rolname = current_user
          OR r.oid = (SELECT nspowner FROM pg_namespace WHERE nspname = ?)
          OR r.oid IN (SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ?))
         AND pg_has_role(current_user, r.oid, 'MEMBER')
       ORDER BY 1`,
      [BI_SCHEMA, BI_SCHEMA],
    )).map((o) => o.name);
    for (const owner of owners) {
      await trx.raw(`ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(owner)} IN SCHEMA ${BI_SCHEMA} REVOKE ALL ON TABLES FROM ${role}`);
      await trx.raw(`ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(owner)} IN SCHEMA ${BI_SCHEMA} GRANT SELECT ON TABLES TO ${role}`);
    }

    const tables = (await rows<{ name: string }>(
      trx,
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = ? AND c.relkind IN ('r', 'v', 'm', 'p') AND has_table_privilege(?, c.oid, 'SELECT') ORDER BY 1`,
      [BI_SCHEMA, options.role],
    )).map((t) => t.name);
    const [after] = await rows<{ rolcanlogin: boolean }>(trx, 'SELECT rolcanlogin FROM pg_roles WHERE rolname = ?', [options.role]);
    return {
      role: options.role,
      created: !existing,
      login: after!.rolcanlogin,
      passwordSet: options.password !== undefined,
      tables,
      defaultPrivilegesFor: owners,
      revokedSchemas: schemas,
    };
  });
}

import { createHash, createHmac, randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_URL, createTestWarehouse } from '../test/helpers/warehouse.ts';
import { ConfigError } from '../connectors/core/errors/index.ts';
import { MART_TABLES } from '../pipeline/transform/index.ts';
import { grantReadOnly, scramSha256Verifier } from './grants.ts';

describe('scramSha256Verifier', () => {
  it('derives the keys of the RFC 7677 example exchange (user "user", password "pencil")', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const verifier = scramSha256Verifier('pencil', { salt, iterations: 4096 });
    const match = /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$([^:]+):(.+)$/.exec(verifier);
    expect(match).not.toBeNull();
    const storedKey = Buffer.from(match![1]!, 'base64');
    const serverKey = Buffer.from(match![2]!, 'base64');
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
    // The server's signature the RFC lists (v=...) is HMAC(ServerKey, AuthMessage).
    expect(createHmac('sha256', serverKey).update(authMessage).digest('base64')).toBe('6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    // The client's proof (p=...) checks out against StoredKey as the server checks it.
    const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
    const signature = createHmac('sha256', storedKey).update(authMessage).digest();
    const clientKey = Buffer.from(proof.map((b, i) => b ^ signature[i]!));
    expect(createHash('sha256').update(clientKey).digest().equals(storedKey)).toBe(true);
  });

  it('uses a fresh random salt each time', () => {
    expect(scramSha256Verifier('x')).not.toBe(scramSha256Verifier('x'));
  });
});

describe('grantReadOnly on PGlite', () => {
  it('refuses with a clear error: embedded has no roles', async () => {
    const warehouse = await createTestWarehouse('pglite', { migrate: false });
    try {
      await expect(grantReadOnly(warehouse, { role: 'bi_reader' })).rejects.toThrow(ConfigError);
      await expect(grantReadOnly(warehouse, { role: 'bi_reader' })).rejects.toThrow(/needs a Postgres warehouse \(set DATABASE_URL\)/);
    } finally {
      await warehouse.drop();
    }
  });
});

describe('grantReadOnly on Postgres', () => {
  const role = `mpm_bi_${randomBytes(5).toString('hex')}`;
  const password = `pw-${randomBytes(9).toString('base64url')}'"$`;
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  let asRole: Knex | undefined;

  beforeAll(async () => {
    warehouse = await createTestWarehouse('postgres');
    await warehouse.knex.raw('CREATE TABLE IF NOT EXISTS staging.zz_people (email text)');
    await warehouse.knex('marts.goal_pacing').insert({
      goal_id: 'g1', kind: 'monetary', metric: 'revenue', direction: 'at_least', period_start: '2026-01-01', period_end: '2026-12-31',
      target: '100', as_of: '2026-06-30', elapsed_share: '0.5', forecast_method: 'run_rate',
    });
  });
  afterAll(async () => {
    await asRole?.destroy();
    await warehouse?.drop(); // drops the database, and with it the role's grants and default privileges
    const admin = knexFactory({ client: 'pg', connection: ADMIN_URL, pool: { min: 0, max: 1 } });
    try {
      await admin.raw(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await admin.destroy();
    }
  });

  const connectAsRole = () => {
    const url = new URL(warehouse.url!);
    url.username = role;
    url.password = encodeURIComponent(password);
    return knexFactory({ client: 'pg', connection: url.toString(), pool: { min: 0, max: 1 } });
  };
  const refused = async (sql: string) => {
    await expect(asRole!.raw(sql), sql).rejects.toMatchObject({ code: '42501' }); // insufficient_privilege
  };

  it('rejects bad role names, superusers and the connecting user', async () => {
    await expect(grantReadOnly(warehouse, { role: 'Bad-Name' })).rejects.toThrow(/--role: "Bad-Name" is not a valid role name/);
    await expect(grantReadOnly(warehouse, { role: 'pg_monitor' })).rejects.toThrow(/reserved/);
    await expect(grantReadOnly(warehouse, { role: 'postgres' })).rejects.toThrow(/is the user mpm connects as/);
    await expect(grantReadOnly(warehouse, { role, password: '' })).rejects.toThrow(/password is empty/);
  });

  it('creates a LOGIN role with a SCRAM verifier, never the password itself', async () => {
    const result = await grantReadOnly(warehouse, { role, password });
    expect(result).toMatchObject({ role, created: true, login: true, passwordSet: true });
    expect(result.tables).toEqual(expect.arrayContaining([...MART_TABLES]));
    expect(result.revokedSchemas).toEqual(expect.arrayContaining(['core', 'meta', 'raw', 'staging']));
    expect(JSON.stringify(result)).not.toContain(password);
    const stored = (await warehouse.knex.raw('SELECT rolpassword, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_authid WHERE rolname = ?', [role])).rows[0];
    expect(stored.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(stored).toMatchObject({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolcanlogin: true });
    asRole = connectAsRole();
    expect((await asRole.raw('SELECT current_user AS u')).rows[0].u).toBe(role);
  });

  it('reads every mart', async () => {
    const marts = (await warehouse.knex.raw(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'`)).rows as Array<{ table_name: string }>;
    expect(marts.length).toBeGreaterThanOrEqual(MART_TABLES.length);
    for (const { table_name } of marts) await asRole!.raw(`SELECT count(*) FROM marts.${table_name}`);
    expect((await asRole!('marts.goal_pacing').select('goal_id')).map((r) => r.goal_id)).toEqual(['g1']);
  });

  it('is refused on raw, core, meta and staging', async () => {
    const rawTable = (await warehouse.knex.raw(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' LIMIT 1`)).rows[0]?.table_name as string | undefined;
    expect(rawTable).toBeDefined();
    await refused(`SELECT * FROM raw.${rawTable}`);
    await refused('SELECT * FROM core.dim_person');
    await refused('SELECT * FROM core.fct_opportunity');
    await refused('SELECT * FROM meta.knex_migrations');
    await refused('SELECT * FROM staging.zz_people');
  });

  it('is refused on INSERT, UPDATE, DELETE, TRUNCATE and DDL', async () => {
    await refused(`INSERT INTO marts.goal_pacing (goal_id, kind, metric, direction, period_start, period_end, target, as_of, elapsed_share, forecast_method) VALUES ('g2', 'monetary', 'revenue', 'at_least', '2026-01-01', '2026-12-31', 1, '2026-06-30', 0.5, 'run_rate')`);
    await refused(`UPDATE marts.goal_pacing SET target = 0`);
    await refused(`DELETE FROM marts.goal_pacing`);
    await refused(`TRUNCATE marts.goal_pacing`);
    await refused(`CREATE TABLE marts.zz_mine (id int)`);
    await refused(`CREATE VIEW marts.zz_view AS SELECT 1 AS one`);
    await refused(`ALTER TABLE marts.goal_pacing ADD COLUMN zz int`);
    await refused(`DROP TABLE marts.goal_pacing`);
    await refused(`CREATE SCHEMA zz_schema`);
    await refused(`CREATE TABLE public.zz_mine (id int)`);
    await refused(`COMMENT ON TABLE marts.goal_pacing IS 'x'`);
    expect((await warehouse.knex('marts.goal_pacing').count({ n: '*' }))[0]!.n).toBe(1);
  });

  it('reads marts tables created after the grant (default privileges)', async () => {
    await warehouse.knex.raw('CREATE TABLE marts.zz_future (id int)');
    await warehouse.knex.raw('INSERT INTO marts.zz_future VALUES (7)');
    expect((await asRole!.raw('SELECT id FROM marts.zz_future')).rows).toEqual([{ id: 7 }]);
    await refused('INSERT INTO marts.zz_future VALUES (8)');
    await warehouse.knex.raw('CREATE TABLE core.zz_future (id int)');
    await refused('SELECT * FROM core.zz_future');
  });

  it('runs again idempotently: same privileges, keeps LOGIN when no password is given, takes back stray grants', async () => {
    await warehouse.knex.raw(`GRANT SELECT ON core.dim_person TO ${role}`);
    await warehouse.knex.raw(`GRANT USAGE ON SCHEMA core TO ${role}`);
    await warehouse.knex.raw(`GRANT INSERT ON marts.goal_pacing TO ${role}`);
    const before = (await warehouse.knex.raw('SELECT rolpassword FROM pg_authid WHERE rolname = ?', [role])).rows[0].rolpassword as string;
    const again = await grantReadOnly(warehouse, { role });
    expect(again).toMatchObject({ role, created: false, login: true, passwordSet: false });
    expect((await warehouse.knex.raw('SELECT rolpassword FROM pg_authid WHERE rolname = ?', [role])).rows[0].rolpassword).toBe(before);
    const third = await grantReadOnly(warehouse, { role, password });
    expect(third.tables).toEqual(again.tables);
    await refused('SELECT * FROM core.dim_person');
    await refused(`UPDATE marts.goal_pacing SET target = 0`);
    await refused(`INSERT INTO marts.goal_pacing (goal_id) VALUES ('x')`);
    for (const t of third.tables) await asRole!.raw(`SELECT count(*) FROM ${t}`);
  });

  it('creates a NOLOGIN group role when no password is given', async () => {
    const group = `${role}_grp`;
    try {
      const result = await grantReadOnly(warehouse, { role: group });
      expect(result).toMatchObject({ created: true, login: false });
    } finally {
      await warehouse.knex.raw(`DROP OWNED BY ${group}`);
      await warehouse.knex.raw(`DROP ROLE ${group}`);
    }
  });
});

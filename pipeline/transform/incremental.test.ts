import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createTestWarehouse, tableHash, WAREHOUSE_KINDS } from '../../test/helpers/warehouse.ts';
import { MART_TABLES, runTransform, type TransformResult } from './index.ts';
import { AGGREGATES } from './kpis.ts';
import { insertCore, seedCrm } from './test-crm.ts';

const log = pino({ level: 'silent' });
type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;

async function martHashes(warehouse: TestWarehouse): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of MART_TABLES) out[table] = await tableHash(warehouse, table);
  return out;
}

/**
 * The counts and sums incremental runs patch in place (path ids aside: a path keeps the id it got
 * when it appeared, a full run numbers them again): they must equal what a full run builds.
 */
async function stateHashes(warehouse: TestWarehouse): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const tables: Array<[string, string[]]> = [
    ['staging.int_path_summary', ['path_id']], ['staging.int_markov_transitions', []], ['staging.int_shapley_sets', []],
    ['staging.int_fractribution_paths', ['path_id']], ['staging.int_channel_weights', []], ['staging.int_attribution_shares', []],
    ['staging.int_attribution_set_groups', []], ['staging.int_attribution_monthly', []], ['staging.int_attribution_touches', ['path_id']],
    ...AGGREGATES.map((a): [string, string[]] => [a.name, []]),
  ];
  for (const [table, exclude] of tables) out[table] = await tableHash(warehouse, table, exclude);
  // Ids resolved to keys: each stored touch points to its opportunity's path, each leave-one-out row to its path.
  const one = async (text: string) => ((await warehouse.knex.raw(text)).rows[0] as { h: string | null }).h ?? '';
  out.touch_paths = await one(`SELECT md5(string_agg(a.opportunity_id || '|' || a.touchpoint_id || '|' || s.path_key, ',' ORDER BY a.opportunity_id, a.touchpoint_id)) AS h
    FROM staging.int_attribution_touches a JOIN staging.int_path_summary s USING (path_id)
    JOIN staging.int_opportunity_paths p ON p.connection_id = a.connection_id AND p.opportunity_id = a.opportunity_id AND p.path_key = s.path_key`);
  out.leave_one_out = await one(`SELECT md5(string_agg(s.path_key || '|' || l.loo_hash, ',' ORDER BY s.path_key, l.loo_hash)) AS h
    FROM staging.int_fractribution_loo l JOIN staging.int_path_summary s USING (path_id)`);
  return out;
}

/** The generic CRM plus what it lacks: CRM campaigns on touches, a converted lead, web traffic, spend campaign metadata. */
async function seedIncrementalWorld(warehouse: TestWarehouse, people: number): Promise<void> {
  await seedCrm(warehouse, people, 11);
  await warehouse.knex.transaction(async (trx) => {
    await insertCore(trx, warehouse.kind, 'core.dim_campaign', [
      { campaign_id: 'C1', name: 'Spring Webinar', campaign_type: 'Webinar', utm_source: 'webinar', utm_medium: 'webinar' },
      { campaign_id: 'C2', name: 'Newsletter', campaign_type: 'Email' },
    ]);
    await insertCore(trx, warehouse.kind, 'core.dim_campaign', [{ campaign_id: '111', name: 'Brand', campaign_type: 'SEARCH' }], 'gads', 'google_ads');
    await insertCore(trx, warehouse.kind, 'core.dim_person', [
      { person_id: 'L1', person_type: 'lead', created_at: '2026-01-10T10:00:00Z', lead_at: '2026-01-10T10:00:00Z', converted_contact_id: 'P3', converted_opportunity_id: 'O3', is_converted: true },
    ]);
    const members = [];
    for (let p = 0; p < people; p += 4) {
      members.push({ touchpoint_id: `M${p}`, person_id: `P${p}`, occurred_at: new Date(Date.UTC(2026, 0, 1 + (p % 150))).toISOString(), touch_type: 'campaign_member', campaign_id: p % 8 ? 'C1' : 'C2' });
    }
    members.push({ touchpoint_id: 'L1-T0', person_id: 'L1', occurred_at: '2026-01-09T10:00:00Z', touch_type: 'visit', utm_source: 'google', utm_medium: 'cpc' });
    await insertCore(trx, warehouse.kind, 'core.fct_touchpoint', members);
    const traffic = [];
    for (let d = 1; d <= 20; d++) {
      const date = `2026-02-${String(d).padStart(2, '0')}`;
      traffic.push({ property_id: '1', date, source: 'google', medium: 'organic', campaign: '(organic)', sessions: 10 + d, engaged_sessions: d, key_events: 1, total_users: 5 });
      traffic.push({ property_id: '1', date, source: 'google', medium: 'cpc', campaign: 'Brand', sessions: 20 + d, engaged_sessions: d, key_events: 2, total_users: 7 });
    }
    await insertCore(trx, warehouse.kind, 'core.fct_web_traffic_daily', traffic, 'ga4', 'ga4');
  });
}

/**
 * Changes of every kind, each followed by an incremental run (`incremental`, which checks its
 * mode), then a full rebuild, which must leave every mart and every kept count and sum as they were.
 */
async function changeSequence(warehouse: TestWarehouse, incremental: () => Promise<TransformResult>, config?: unknown): Promise<void> {
  const sql = (text: string, bindings: Array<string | number> = []) => warehouse.knex.raw(text, bindings);
  const opportunities = Number((await warehouse.knex('staging.int_opportunities').count({ n: '*' }).first())!.n);

  // Touchpoints: a new touch before an opportunity, a touch moved to another time and channel,
  // one flagged deleted, one hard-deleted, and a new person with touches and no opportunity.
  const o6 = (await sql(`SELECT created_at FROM core.fct_opportunity WHERE opportunity_id = 'O6'`)).rows[0].created_at as Date;
  await warehouse.knex.transaction(async (trx) => {
    await insertCore(trx, warehouse.kind, 'core.fct_touchpoint', [
      { touchpoint_id: 'NEW-1', person_id: 'P6', occurred_at: new Date(o6.getTime() - 86_400_000).toISOString(), touch_type: 'visit', utm_source: 'linkedin', utm_medium: 'paid_social' },
      { touchpoint_id: 'NEW-2', person_id: 'P9000', occurred_at: '2026-03-01T10:00:00Z', touch_type: 'visit', utm_source: 'google', utm_medium: 'cpc' },
      { touchpoint_id: 'NEW-3', person_id: 'P9000', occurred_at: '2026-03-02T10:00:00Z', touch_type: 'email_click', utm_source: 'hubspot', utm_medium: 'email' },
    ]);
    await insertCore(trx, warehouse.kind, 'core.dim_person', [{ person_id: 'P9000', person_type: 'lead', created_at: '2026-03-02T10:00:00Z', lead_at: '2026-03-02T10:00:00Z' }]);
  });
  await sql(`UPDATE core.fct_touchpoint SET occurred_at = occurred_at - interval '1 hour', utm_source = 'facebook', utm_medium = 'paid_social', _synced_at = now() WHERE touchpoint_id = 'P9-T0'`);
  await sql(`UPDATE core.fct_touchpoint SET is_deleted = true, _synced_at = now() WHERE touchpoint_id IN ('P12-T0', 'P30-T1')`);
  await sql(`DELETE FROM core.fct_touchpoint WHERE touchpoint_id IN ('P15-T0', 'P33-T0')`);
  const r1 = await incremental();
  expect(r1.scope!.opportunities).toBeGreaterThan(0);
  expect(r1.scope!.opportunities).toBeLessThan(opportunities / 2);

  // Opportunities: amount, creation date (another month, another lookback window), won, deleted,
  // a new one linked to a person, a contact role removed.
  await sql(`UPDATE core.fct_opportunity SET amount = amount * 3, _synced_at = now() WHERE opportunity_id = 'O0'`);
  await sql(`UPDATE core.fct_opportunity SET created_at = created_at - interval '40 days', _synced_at = now() WHERE opportunity_id = 'O3'`);
  await sql(`UPDATE core.fct_opportunity SET is_won = NOT is_won, is_closed = true, _synced_at = now() WHERE opportunity_id = 'O6'`);
  await sql(`UPDATE core.fct_opportunity SET is_deleted = true, _synced_at = now() WHERE opportunity_id = 'O9'`);
  await warehouse.knex.transaction(async (trx) => {
    await insertCore(trx, warehouse.kind, 'core.fct_opportunity', [{ opportunity_id: 'O1', amount: '5000', currency: 'EUR', created_at: '2026-05-01T12:00:00Z', is_closed: false, is_won: false, close_date: '2026-06-01' }]);
    await insertCore(trx, warehouse.kind, 'core.bridge_opportunity_person', [{ opportunity_id: 'O1', person_id: 'P1', is_primary: true }, { opportunity_id: 'O1', person_id: 'P9000' }]);
  });
  await sql(`DELETE FROM core.bridge_opportunity_person WHERE opportunity_id = 'O12'`);
  await incremental();

  // Stage history: a new stage change and a removed one.
  await warehouse.knex.transaction(async (trx) => {
    await insertCore(trx, warehouse.kind, 'core.fct_opportunity_stage_history', [{ history_id: 'H0-new', opportunity_id: 'O0', stage: 'Negotiation', entered_at: '2026-09-01T00:00:00Z' }]);
  });
  await sql(`DELETE FROM core.fct_opportunity_stage_history WHERE history_id = 'H3-0'`);
  await incremental();

  // People: a lead date moved, a contact merged into another person's identity, one deleted.
  await sql(`UPDATE core.dim_person SET lead_at = lead_at - interval '3 days', mql_at = lead_at, _synced_at = now() WHERE person_id = 'P18'`);
  await sql(`UPDATE core.dim_person SET converted_contact_id = 'P24', _synced_at = now() WHERE person_id = 'P21'`);
  await sql(`UPDATE core.dim_person SET is_deleted = true, _synced_at = now() WHERE person_id = 'P27'`);
  await incremental();

  // Touches known by email only (a marketing email click read before its contact existed): no
  // person yet, then linked when a person gets that address, then moved when it changes hands.
  const linkedTo = async (id: string) => ((await sql(`SELECT person_id FROM staging.int_touchpoints WHERE touchpoint_id = ?`, [id])).rows[0] as { person_id: string } | undefined)?.person_id;
  await warehouse.knex.transaction(async (trx) => {
    await insertCore(trx, warehouse.kind, 'core.fct_touchpoint', [
      { touchpoint_id: 'EM-1', email: 'late@example.com', occurred_at: new Date(o6.getTime() - 2 * 86_400_000).toISOString(), touch_type: 'email_click', utm_source: 'hubspot', utm_medium: 'email' },
    ]);
  });
  await incremental();
  expect(await linkedTo('EM-1')).toBeUndefined();
  await sql(`UPDATE core.dim_person SET email = 'Late@Example.com', _synced_at = now() WHERE person_id = 'P6'`);
  await incremental();
  expect(await linkedTo('EM-1')).toBe('P6');
  expect(Number((await sql(`SELECT count(*) AS n FROM marts.fct_attribution WHERE touchpoint_id = 'EM-1' AND opportunity_id = 'O6'`)).rows[0].n)).toBeGreaterThan(0);
  await sql(`UPDATE core.dim_person SET email = 'moved@example.com', _synced_at = now() WHERE person_id = 'P6'`);
  await sql(`UPDATE core.dim_person SET email = 'late@example.com', _synced_at = now() WHERE person_id = 'P10'`);
  await incremental();
  expect(await linkedTo('EM-1')).toBe('P10');

  // Spend restatements, a new campaign, a removed day, and campaigns renamed (CRM and ad platform).
  await sql(`UPDATE core.fct_ad_spend_daily SET spend = spend + 1.5, clicks = clicks + 1, _synced_at = now() WHERE campaign_id = '111' AND date BETWEEN '2026-02-01' AND '2026-02-03'`);
  await sql(`DELETE FROM core.fct_ad_spend_daily WHERE campaign_id = '222' AND date = '2026-03-01'`);
  await warehouse.knex.transaction(async (trx) => {
    await insertCore(trx, warehouse.kind, 'core.fct_ad_spend_daily', [
      { campaign_id: '333', date: '2026-04-01', currency: 'USD', spend: '7.00', impressions: 70, clicks: 7, conversions: 0, conversion_value: 0, campaign_name: 'Display Push', channel_hint: 'display' },
    ], 'gads', 'google_ads');
  });
  await sql(`UPDATE core.dim_campaign SET name = 'Autumn Conference', campaign_type = 'Conference', utm_source = NULL, utm_medium = NULL, _synced_at = now() WHERE campaign_id = 'C1'`);
  await sql(`UPDATE core.dim_campaign SET campaign_type = 'DISPLAY', _synced_at = now() WHERE campaign_id = '111'`);
  // Web traffic: a restated day, a new row, a removed one.
  await sql(`UPDATE core.fct_web_traffic_daily SET sessions = sessions + 100, _synced_at = now() WHERE date = '2026-02-05'`);
  await sql(`DELETE FROM core.fct_web_traffic_daily WHERE date = '2026-02-06' AND medium = 'organic'`);
  await warehouse.knex.transaction(async (trx) => {
    await insertCore(trx, warehouse.kind, 'core.fct_web_traffic_daily', [
      { property_id: '1', date: '2026-03-01', source: 'newsletter', medium: 'email', campaign: 'March', sessions: 40, engaged_sessions: 30, key_events: 3, total_users: 35 },
    ], 'ga4', 'ga4');
  });
  const r5 = await incremental();
  expect(r5.scope!.spend_rows).toBeGreaterThan(3);
  expect(r5.scope!.traffic_rows).toBe(4);

  // Nothing changed: nothing recomputed.
  const quiet = await incremental();
  expect(quiet.scope!.opportunities).toBe(0);
  expect(quiet.scope!.attribution_slices).toBe(0);

  const afterIncremental = await martHashes(warehouse);
  const stateAfterIncremental = await stateHashes(warehouse);
  const rebuilt = await runTransform({ warehouse, log, config, full: true });
  expect(rebuilt.mode).toBe('full');
  expect(await martHashes(warehouse)).toEqual(afterIncremental);
  expect(await stateHashes(warehouse)).toEqual(stateAfterIncremental);
  // The marts are not trivially equal: the changes reached them.
  expect(Number((await sql(`SELECT count(*) AS n FROM marts.fct_attribution WHERE opportunity_id = 'O1'`)).rows[0].n)).toBeGreaterThan(0);
  expect(Number((await sql(`SELECT count(*) AS n FROM marts.fct_attribution WHERE opportunity_id = 'O9'`)).rows[0].n)).toBe(0);
  expect(Number((await sql(`SELECT count(*) AS n FROM marts.fct_attribution WHERE touchpoint_id IN ('P15-T0', 'P12-T0')`)).rows[0].n)).toBe(0);
}

describe.each(WAREHOUSE_KINDS)('incremental transform on %s', (kind) => {
  let warehouse: TestWarehouse;
  let people = 0;
  const sql = (text: string, bindings: Array<string | number> = []) => warehouse.knex.raw(text, bindings);
  const incremental = async () => {
    const result = await runTransform({ warehouse, log });
    expect(result.mode, result.reason).toBe('incremental');
    return result;
  };

  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
    people = kind === 'postgres' ? 200 : 90;
    await seedIncrementalWorld(warehouse, people);
    const first = await runTransform({ warehouse, log });
    expect(first.mode).toBe('full');
  }, 180_000);
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('after a sequence of changes with incremental runs in between, every mart equals a full rebuild', async () => {
    await changeSequence(warehouse, incremental);
  }, 180_000);

  it('recomputes the attribution of an opportunity only when its path rows change, and then matches a full rebuild', async () => {
    // A touch of P45 long after its opportunity converted: O45 is in scope, its path is not changed.
    await warehouse.knex.transaction(async (trx) => {
      await insertCore(trx, warehouse.kind, 'core.fct_touchpoint', [{ touchpoint_id: 'LATE-45', person_id: 'P45', occurred_at: '2030-01-01T00:00:00Z', touch_type: 'visit', utm_source: 'google', utm_medium: 'cpc' }]);
    });
    const late = await incremental();
    expect(late.scope!.opportunities).toBeGreaterThan(0);
    expect(late.scope!.attribution_slices).toBe(0);

    // Won, nothing else: only the opportunity's own row changes (its touches and its path do not).
    await sql(`UPDATE core.fct_opportunity SET is_won = NOT is_won, is_closed = true, _synced_at = now() WHERE opportunity_id = 'O45'`);
    const won = await incremental();
    expect(won.scope!.attribution_slices).toBeGreaterThan(0);
    // A new amount, nothing else: no path and no share moves, so the monthly sums are patched in place.
    await sql(`UPDATE core.fct_opportunity SET amount = amount * 2, _synced_at = now() WHERE opportunity_id = 'O45'`);
    const amount = await incremental();
    expect(amount.scope).toMatchObject({ attribution_opportunities: 1, respread_models: 0, fractribution_paths: 0 });
    const afterIncremental = await martHashes(warehouse);
    const stateAfterIncremental = await stateHashes(warehouse);
    expect((await runTransform({ warehouse, log, full: true })).mode).toBe('full');
    expect(await martHashes(warehouse)).toEqual(afterIncremental);
    expect(await stateHashes(warehouse)).toEqual(stateAfterIncremental);
  }, 120_000);

  it('recomputes only what a change feeds: nothing without a change, no attribution for spend alone, the KPI marts for a removed contact role', async () => {
    const names = (r: Awaited<ReturnType<typeof runTransform>>) => r.steps.map((st) => st.name);
    const before = await martHashes(warehouse);
    const stateBefore = await stateHashes(warehouse);
    const quiet = await incremental();
    expect(names(quiet).filter((n) => n.startsWith('marts.kpi') || n.startsWith('staging.int_attribution_touches'))).toEqual([]);
    expect(await martHashes(warehouse)).toEqual(before);
    expect(await stateHashes(warehouse)).toEqual(stateBefore);

    const spendOf = async () => Number((await sql(`SELECT sum(spend) AS s FROM marts.kpi_channel_monthly WHERE model = 'linear'`)).rows[0].s);
    const spendBefore = await spendOf();
    await sql(`UPDATE core.fct_ad_spend_daily SET spend = spend + 4, _synced_at = now() WHERE campaign_id = '111' AND date = '2026-02-10'`);
    const spendOnly = await incremental();
    expect(names(spendOnly)).not.toContain('staging.int_attribution_touches (incremental)');
    expect(names(spendOnly)).toContain('marts.kpi_channel_monthly (incremental)');
    expect(spendOnly.scope).toMatchObject({ spend_rows: 1, opportunities: 0, attribution_slices: 0 });
    expect(await spendOf()).toBeCloseTo(spendBefore + 4, 6);
    // Contact roles removed, nothing else: the opportunity's touches and credits go.
    const [credited] = (await sql(`SELECT opportunity_id FROM marts.fct_attribution WHERE model = 'linear' AND opportunity_id <> 'O45'
      GROUP BY 1 HAVING count(DISTINCT channel) >= 2 ORDER BY 1 LIMIT 1`)).rows as Array<{ opportunity_id: string }>;
    const kpiBefore = await tableHash(warehouse, 'marts.kpi_channel_monthly');
    await sql(`DELETE FROM core.bridge_opportunity_person WHERE opportunity_id = ?`, [credited!.opportunity_id]);
    const unlinked = await incremental();
    expect(unlinked.scope!.attribution_opportunities).toBe(1);
    expect(await tableHash(warehouse, 'marts.kpi_channel_monthly')).not.toBe(kpiBefore);
    const afterIncremental = await martHashes(warehouse);
    expect((await runTransform({ warehouse, log, full: true })).mode).toBe('full');
    expect(await martHashes(warehouse)).toEqual(afterIncremental);
  }, 120_000);

  it('writes the KPI rows of the months a change reaches, those of every month when a campaign\'s name, channel or credited traffic moves', async () => {
    const kpiSteps = (r: Awaited<ReturnType<typeof runTransform>>) => r.steps.map((st) => st.name).filter((n) => n.startsWith('marts.kpi_c'));
    const matchesRebuild = async () => {
      const afterIncremental = await martHashes(warehouse);
      expect((await runTransform({ warehouse, log, full: true })).mode).toBe('full');
      expect(await martHashes(warehouse)).toEqual(afterIncremental);
    };
    const months = async () => ((await sql(`SELECT count(DISTINCT month) AS n FROM marts.kpi_campaign_monthly`)).rows[0] as { n: number | string }).n;
    expect(Number(await months())).toBeGreaterThan(2);

    // A restated spend day and a won opportunity: the KPI rows of their months only.
    await sql(`UPDATE core.fct_ad_spend_daily SET clicks = clicks + 3, _synced_at = now() WHERE campaign_id = '222' AND date = '2026-02-10'`);
    await sql(`UPDATE core.fct_opportunity SET is_won = true, is_closed = true, _synced_at = now() WHERE opportunity_id = 'O48'`);
    const scoped = await incremental();
    expect(kpiSteps(scoped)).toEqual(['marts.kpi_channel_monthly (incremental)', 'marts.kpi_campaign_monthly (incremental)']);
    await matchesRebuild();
    // A restated day of web traffic: its month only.
    await sql(`UPDATE core.fct_web_traffic_daily SET sessions = sessions + 7, _synced_at = now() WHERE date = '2026-02-15' AND medium = 'cpc'`);
    expect(kpiSteps(await incremental())).toEqual(['marts.kpi_channel_monthly (incremental)', 'marts.kpi_campaign_monthly (incremental)']);
    await matchesRebuild();
    // A person's MQL date moved to another month, nothing else: the MQL counts of both months.
    await sql(`UPDATE core.dim_person SET mql_at = '2026-04-20T00:00:00Z', _synced_at = now() WHERE person_id = 'P30'`);
    const mql = await incremental();
    expect(kpiSteps(mql)).toEqual(['marts.kpi_channel_monthly (incremental)', 'marts.kpi_campaign_monthly (incremental)']);
    await matchesRebuild();

    // A spend day of campaign 222 read again with a channel hint (Display) that comes before its
    // channel: the channel its KPI rows carry, in every month, moves.
    const channelOf222 = async () => ((await sql(`SELECT DISTINCT channel FROM marts.kpi_campaign_monthly WHERE campaign_key = '222'`)).rows as Array<{ channel: string }>).map((r) => r.channel);
    expect(await channelOf222()).not.toContain('Display');
    await sql(`UPDATE core.fct_ad_spend_daily SET channel_hint = 'display', _synced_at = now() WHERE campaign_id = '222' AND date = '2026-02-11'`);
    const renamed = await incremental();
    expect(kpiSteps(renamed)).toEqual(['marts.kpi_channel_monthly', 'marts.kpi_campaign_monthly']);
    expect(await channelOf222()).toEqual(['Display']);
    await matchesRebuild();

    // A new campaign with the name web traffic is credited by (Brand, campaign 111) and a lower id:
    // the traffic of every month goes to it.
    await warehouse.knex.transaction(async (trx) => {
      await insertCore(trx, warehouse.kind, 'core.fct_ad_spend_daily', [
        { campaign_id: '100', date: '2026-02-12', currency: 'USD', spend: '1.00', impressions: 10, clicks: 1, conversions: 0, conversion_value: 0, campaign_name: 'Brand' },
      ], 'gads', 'google_ads');
    });
    const credited = await incremental();
    expect(kpiSteps(credited)).toEqual(['marts.kpi_channel_monthly', 'marts.kpi_campaign_monthly']);
    expect(Number((await sql(`SELECT sum(sessions) AS n FROM marts.kpi_campaign_monthly WHERE campaign_key = '100'`)).rows[0].n)).toBeGreaterThan(0);
    await matchesRebuild();
  }, 120_000);

  it('repeats the last solve\'s warning when no path moved (Shapley skipped for too many channels)', async () => {
    const own = await createTestWarehouse(kind);
    try {
      await seedCrm(own, 40, 3);
      // A touch from one of 17 sources before each opportunity, each source its own channel: more than exact Shapley takes.
      const links = (await own.knex.raw(`SELECT b.person_id, o.created_at FROM core.bridge_opportunity_person b JOIN core.fct_opportunity o USING (connection_id, opportunity_id)`)).rows as Array<{ person_id: string; created_at: Date }>;
      await own.knex.transaction((trx) => insertCore(trx, own.kind, 'core.fct_touchpoint', links.map((l, i) => ({
        touchpoint_id: `X${i}`, person_id: l.person_id, occurred_at: new Date(l.created_at.getTime() - 86_400_000).toISOString(), touch_type: 'visit', utm_source: `s${i % 17}`, utm_medium: 'x',
      }))));
      const config = { channelRules: Array.from({ length: 17 }, (_, i) => ({ channel: `Source ${i}`, source: [`s${i}`] })) };
      const full = await runTransform({ warehouse: own, log, config });
      expect(full.mode).toBe('full');
      expect(full.warnings.filter((w) => w.startsWith('shapley skipped'))).toHaveLength(1);
      const quiet = await runTransform({ warehouse: own, log, config });
      expect(quiet.mode).toBe('incremental');
      expect(quiet.warnings.filter((w) => w.startsWith('shapley skipped'))).toEqual(full.warnings.filter((w) => w.startsWith('shapley skipped')));
    } finally {
      await own.drop();
    }
  }, 120_000);

  it('falls back to a full run when the config changes or a core table is truncated', async () => {
    const changed = await runTransform({ warehouse, log, config: { lookbackDays: 30 } });
    expect(changed.mode).toBe('full');
    expect(changed.reason).toMatch(/config/);
    expect((await runTransform({ warehouse, log, config: { lookbackDays: 30 } })).mode).toBe('incremental');
    await sql('TRUNCATE core.fct_web_traffic_daily');
    const truncated = await runTransform({ warehouse, log, config: { lookbackDays: 30 } });
    expect(truncated.mode).toBe('full');
    expect(truncated.reason).toMatch(/core.fct_web_traffic_daily was truncated/);
    expect(Number((await sql('SELECT count(*) AS n FROM marts.fct_web_traffic_daily')).rows[0].n)).toBe(0);
  }, 120_000);

  it('keeps intermediate tables unlogged and runs full once a crash recovery has emptied them', async () => {
    const persistence = (await sql(`SELECT relname, relpersistence FROM pg_class WHERE oid IN ('staging.int_touchpoints'::regclass, 'staging.int_attribution_touches'::regclass) ORDER BY relname`)).rows;
    // The storage of marts.fct_attribution stays logged (BI reads it through the view, replicas too).
    expect(persistence).toEqual([{ relname: 'int_attribution_touches', relpersistence: 'p' }, { relname: 'int_touchpoints', relpersistence: 'u' }]);
    expect((await runTransform({ warehouse, log, config: { lookbackDays: 30 } })).mode).toBe('incremental');
    // What crash recovery does to every unlogged table.
    await sql('TRUNCATE staging.int_transform_sentinel, staging.int_touchpoints');
    const recovered = await runTransform({ warehouse, log, config: { lookbackDays: 30 } });
    expect(recovered.mode).toBe('full');
    expect(recovered.reason).toMatch(/crash recovery/);
    expect(Number((await sql('SELECT count(*) AS n FROM staging.int_touchpoints')).rows[0].n)).toBeGreaterThan(0);
  }, 120_000);
});

/**
 * The same sequence under a transform configured away from every default a model reads: paths that
 * run to the close of won opportunities, a second-order Markov chain, a shorter lookback, another
 * half-life, other direct channels, custom weights.
 */
describe.each(WAREHOUSE_KINDS)('incremental transform under a configured transform on %s', (kind) => {
  const config = {
    conversionEvent: 'closed_won', markovOrder: 2, lookbackDays: 75, timeDecayHalfLifeDays: 3, directChannels: ['Direct', 'Email'],
    customWeights: { first: 1, lead: 0, opportunity: 0, won: 2, rest: 0 },
  };
  let warehouse: TestWarehouse;
  const incremental = async () => {
    const result = await runTransform({ warehouse, log, config });
    expect(result.mode, result.reason).toBe('incremental');
    return result;
  };

  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
    await seedIncrementalWorld(warehouse, kind === 'postgres' ? 200 : 90);
    // Touches between creation and close of won opportunities: in their paths under closed_won.
    await warehouse.knex.raw(
      `INSERT INTO core.fct_touchpoint (connection_id, touchpoint_id, source_system, person_id, occurred_at, touch_type, utm_source, utm_medium)
       SELECT o.connection_id, 'AFTER-' || o.opportunity_id, o.source_system, b.person_id, o.created_at + interval '2 days', 'visit', 'newsletter', 'email'
       FROM core.fct_opportunity o JOIN core.bridge_opportunity_person b USING (connection_id, opportunity_id) WHERE o.is_won`,
    );
    expect((await runTransform({ warehouse, log, config })).mode).toBe('full');
    expect(Number((await warehouse.knex.raw(`SELECT count(*) AS n FROM marts.fct_attribution WHERE model = 'linear' AND is_closed_won_touch`)).rows[0].n)).toBeGreaterThan(5);
    expect(Number((await warehouse.knex.raw(`SELECT count(*) AS n FROM staging.int_markov_transitions WHERE from_state LIKE '%' || chr(31) || '%'`)).rows[0].n)).toBeGreaterThan(5);
  }, 180_000);
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('after a sequence of changes with incremental runs in between, every mart equals a full rebuild', async () => {
    await changeSequence(warehouse, incremental, config);
  }, 180_000);
});

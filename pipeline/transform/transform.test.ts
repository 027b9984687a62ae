import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Knex } from 'knex';
import { attributeTouches, RULE_MODELS, type RuleModel } from '../attribution/index.ts';
import { upsertCore } from '../loader.ts';
import { coreRowSchema } from '../../warehouse/core-tables.ts';
import { createTestWarehouse, WAREHOUSE_KINDS } from '../../test/helpers/warehouse.ts';
import { runTransform } from './index.ts';

const log = pino({ level: 'silent' });
type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;

/** mulberry32: a small seeded PRNG so the generated CRM is the same every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UTMS: Array<[string, string, string]> = [
  ['google', 'cpc', 'Paid Search'],
  ['facebook', 'paid_social', 'Paid Social'],
  ['hubspot', 'email', 'Email'],
  ['google', 'organic', 'Organic Search'],
  ['partner.example', 'referral', 'Referral'],
  ['(direct)', '(none)', 'Direct'],
  ['saastr', 'event', 'Events'],
];

async function insert(trx: Knex.Transaction, kind: TestWarehouse['kind'], table: Parameters<typeof upsertCore>[2], rows: Array<Record<string, unknown>>, connectionId = 'crm', sourceSystem = 'salesforce') {
  // Through the core row contract, as the loader does (defaults such as is_deleted = false apply).
  const valid = rows.map((r) => coreRowSchema(table).parse(r) as Record<string, unknown>);
  await upsertCore(trx, kind, table, { connectionId, sourceSystem, runId: null }, valid);
}

/** A CRM with `people` people, random touches (with exact time ties), and opportunities for about a third. */
async function seedCrm(warehouse: TestWarehouse, people: number, seed: number) {
  const random = prng(seed);
  const base = Date.UTC(2026, 0, 1);
  const persons: Array<Record<string, unknown>> = [];
  const touches: Array<Record<string, unknown>> = [];
  const opps: Array<Record<string, unknown>> = [];
  const links: Array<Record<string, unknown>> = [];
  const history: Array<Record<string, unknown>> = [];
  const spend: Array<Record<string, unknown>> = [];
  for (let d = 0; d < 200; d++) {
    const date = new Date(base + d * 86_400_000).toISOString().slice(0, 10);
    spend.push({ campaign_id: '111', date, currency: 'USD', spend: '10.00', impressions: 100, clicks: 5, conversions: 0, conversion_value: 0, campaign_name: 'Brand' });
    spend.push({ campaign_id: '222', date, currency: 'EUR', spend: '20.00', impressions: 100, clicks: 5, conversions: 0, conversion_value: 0, campaign_name: 'Retarget' });
  }
  for (let p = 0; p < people; p++) {
    const id = `P${p}`;
    const n = 1 + Math.floor(random() * (p % 17 === 0 ? 120 : 8)); // some paths longer than 100 touches
    let at = base + Math.floor(random() * 200) * 86_400_000;
    const times: number[] = [];
    for (let k = 0; k < n; k++) {
      const step = p % 17 === 0 ? 3_600_000 : 5 * 86_400_000; // long paths are dense, so they fit the lookback window
      if (k > 0 && random() > 0.15) at += Math.floor(random() * step); // 15 %: same instant as the previous touch
      times.push(at);
      const [source, medium] = UTMS[Math.floor(random() * UTMS.length)]!;
      touches.push({ touchpoint_id: `${id}-T${k}`, person_id: id, occurred_at: new Date(at).toISOString(), touch_type: 'visit', utm_source: source, utm_medium: medium });
    }
    const leadAt = times[Math.floor(random() * times.length)]! + (random() < 0.2 ? -86_400_000 * 400 : 0); // some leads older than every touch
    persons.push({ person_id: id, person_type: 'contact', created_at: new Date(leadAt).toISOString(), lead_at: new Date(leadAt).toISOString() });
    if (p % 3 === 0) {
      const created = times[times.length - 1]! + (random() < 0.5 ? 0 : 3_600_000);
      const won = random() < 0.5;
      opps.push({
        opportunity_id: `O${p}`, amount: String(1000 + p), currency: p % 2 ? 'EUR' : 'USD', created_at: new Date(created).toISOString(),
        is_closed: won, is_won: won, close_date: new Date(created + 30 * 86_400_000).toISOString().slice(0, 10),
      });
      links.push({ opportunity_id: `O${p}`, person_id: id, is_primary: true });
      const stages = ['Prospecting', 'Qualification', 'Proposal', won ? 'Closed Won' : 'Closed Lost'];
      const reached = 1 + Math.floor(random() * stages.length);
      for (let k = 0; k < reached; k++) {
        // Every stage row twice: the second records an amount change, not a stage change.
        const stage = stages[k]!;
        history.push({ history_id: `H${p}-${k}`, opportunity_id: `O${p}`, stage, entered_at: new Date(created + k * 7 * 86_400_000).toISOString(), amount: '1' });
        history.push({ history_id: `H${p}-${k}b`, opportunity_id: `O${p}`, stage, entered_at: new Date(created + k * 7 * 86_400_000 + 3_600_000).toISOString(), amount: '2' });
      }
    }
  }
  await warehouse.knex.transaction(async (trx) => {
    await insert(trx, warehouse.kind, 'core.dim_person', persons);
    await insert(trx, warehouse.kind, 'core.fct_touchpoint', touches);
    await insert(trx, warehouse.kind, 'core.fct_opportunity', opps);
    await insert(trx, warehouse.kind, 'core.bridge_opportunity_person', links);
    await insert(trx, warehouse.kind, 'core.fct_opportunity_stage_history', history);
    await insert(trx, warehouse.kind, 'core.fct_ad_spend_daily', spend, 'gads', 'google_ads');
    await trx('core.fx_rate_daily').insert({ date: '2025-01-01', from_currency: 'EUR', to_currency: 'USD', rate: '1.1' });
  });
}

describe.each(WAREHOUSE_KINDS)('transform on %s', (kind) => {
  let warehouse: TestWarehouse;
  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
    await seedCrm(warehouse, kind === 'postgres' ? 600 : 150, 7);
    await runTransform({ warehouse, log });
  }, 180_000);
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('gives every opportunity credits >= 0 that sum to 1 under every model', async () => {
    const sums = (await warehouse.knex.raw(
      `SELECT model, count(DISTINCT opportunity_id)::int AS opps, min(total)::float8 AS lo, max(total)::float8 AS hi, min(min_credit)::float8 AS min_credit
       FROM (SELECT model, opportunity_id, sum(credit) AS total, min(credit) AS min_credit FROM marts.fct_attribution GROUP BY 1, 2) s GROUP BY model ORDER BY model`,
    )).rows as Array<{ model: string; opps: number; lo: number; hi: number; min_credit: number }>;
    expect(sums.map((s) => s.model)).toEqual([...RULE_MODELS, 'markov', 'shapley', 'fractribution'].sort());
    const opps = sums[0]!.opps;
    expect(opps).toBeGreaterThan(kind === 'postgres' ? 150 : 30);
    for (const s of sums) {
      expect(s.opps, s.model).toBe(opps);
      expect(s.lo, s.model).toBeCloseTo(1, 9);
      expect(s.hi, s.model).toBeCloseTo(1, 9);
      expect(s.min_credit, s.model).toBeGreaterThanOrEqual(0);
    }
  });

  it('matches the TypeScript reference of every rule model, touch by touch', async () => {
    const touches = (await warehouse.knex.raw(
      `SELECT opportunity_id, touchpoint_id, channel, occurred_at, is_first_touch, is_lead_creation_touch, is_opportunity_creation_touch, is_closed_won_touch, model, credit::float8 AS credit
       FROM marts.fct_attribution WHERE model = ANY(?) ORDER BY opportunity_id, model, touch_position`,
      [[...RULE_MODELS]],
    )).rows as Array<{ opportunity_id: string; touchpoint_id: string; channel: string; occurred_at: Date; is_first_touch: boolean; is_lead_creation_touch: boolean; is_opportunity_creation_touch: boolean; is_closed_won_touch: boolean; model: RuleModel; credit: number }>;
    const groups = new Map<string, typeof touches>();
    for (const t of touches) {
      const key = `${t.opportunity_id}|${t.model}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(t);
    }
    let compared = 0;
    let longest = 0;
    for (const group of groups.values()) {
      const expected = attributeTouches(
        group[0]!.model,
        group.map((t) => ({ id: t.touchpoint_id, at: t.occurred_at.getTime(), channel: t.channel, isFirst: t.is_first_touch, isLeadCreation: t.is_lead_creation_touch, isOppCreation: t.is_opportunity_creation_touch, isClosedWon: t.is_closed_won_touch })),
      );
      const byId = new Map(expected.map((e) => [e.id, e.credit]));
      for (const t of group) expect(t.credit, `${t.model} ${t.opportunity_id} ${t.touchpoint_id}`).toBeCloseTo(byId.get(t.touchpoint_id)!, 9);
      compared += group.length;
      longest = Math.max(longest, group.length);
    }
    expect(compared).toBeGreaterThan(500);
    if (kind === 'postgres') expect(longest).toBeGreaterThan(100);
  });

  it('marks one touch per key moment and spreads money in the reporting currency', async () => {
    const row = (await warehouse.knex.raw(
      `SELECT count(*) FILTER (WHERE is_first_touch)::int AS firsts, count(DISTINCT opportunity_id)::int AS opps,
              count(*) FILTER (WHERE is_opportunity_creation_touch)::int AS opp_moments
       FROM marts.fct_attribution WHERE model = 'linear'`,
    )).rows[0];
    expect(row.firsts).toBe(row.opps);
    expect(row.opp_moments).toBe(row.opps);
    const money = (await warehouse.knex.raw(
      `SELECT a.opportunity_id, sum(a.pipeline_credit)::float8 AS pipeline, max(o.amount)::float8 AS amount, max(o.currency) AS currency
       FROM marts.fct_attribution a JOIN core.fct_opportunity o USING (connection_id, opportunity_id)
       WHERE a.model = 'markov' GROUP BY a.opportunity_id`,
    )).rows as Array<{ pipeline: number; amount: number; currency: string }>;
    for (const m of money) expect(m.pipeline).toBeCloseTo(m.currency === 'EUR' ? m.amount * 1.1 : m.amount, 4);
  });

  it('builds KPI marts whose figures equal the underlying marts, with NULL for empty denominators', async () => {
    const spend = (await warehouse.knex.raw(`SELECT sum(spend_reporting)::float8 AS s FROM marts.fct_ad_spend_daily`)).rows[0].s as number;
    expect(spend).toBeCloseTo(200 * 10 + 200 * 20 * 1.1, 6);
    const perModel = (await warehouse.knex.raw(
      `SELECT model, sum(spend)::float8 AS spend, sum(pipeline)::float8 AS pipeline, sum(opportunities)::float8 AS opps FROM marts.kpi_channel_monthly GROUP BY model ORDER BY model`,
    )).rows as Array<{ model: string; spend: number; pipeline: number; opps: number }>;
    expect(perModel).toHaveLength(12);
    const credited = (await warehouse.knex.raw(
      `SELECT model, sum(pipeline_credit)::float8 AS pipeline, count(DISTINCT opportunity_id)::float8 AS opps FROM marts.fct_attribution GROUP BY model`,
    )).rows as Array<{ model: string; pipeline: number; opps: number }>;
    for (const m of perModel) {
      expect(m.spend, m.model).toBeCloseTo(spend, 6);
      const c = credited.find((x) => x.model === m.model)!;
      expect(m.pipeline, m.model).toBeCloseTo(c.pipeline, 3);
      expect(m.opps, m.model).toBeCloseTo(c.opps, 6);
    }
    const paidSearch = (await warehouse.knex.raw(`SELECT count(*)::int AS n FROM marts.kpi_channel_monthly WHERE channel = 'Paid Search' AND spend > 0`)).rows[0].n as number;
    expect(paidSearch).toBeGreaterThan(0);
    const badRatios = (await warehouse.knex.raw(
      `SELECT count(*)::int AS n FROM marts.kpi_channel_monthly
       WHERE (leads = 0 AND cpl IS NOT NULL) OR (spend = 0 AND (roas IS NOT NULL OR roi IS NOT NULL)) OR (customers = 0 AND cac IS NOT NULL)
          OR (opportunities = 0 AND (cost_per_opportunity IS NOT NULL OR opportunity_to_won_rate IS NOT NULL))`,
    )).rows[0].n as number;
    expect(badRatios).toBe(0);
    const roas = (await warehouse.knex.raw(`SELECT count(*)::int AS n FROM marts.kpi_channel_monthly WHERE spend > 0 AND abs(roas - revenue / spend) > 1e-6`)).rows[0].n as number;
    expect(roas).toBe(0);
    const campaigns = (await warehouse.knex.raw(`SELECT campaign_key, min(campaign_name) AS name, sum(spend)::float8 AS spend FROM marts.kpi_campaign_monthly WHERE model = 'linear' AND campaign_key IN ('111', '222') GROUP BY 1 ORDER BY 1`)).rows;
    expect(campaigns).toEqual([{ campaign_key: '111', name: 'Brand', spend: 2000 }, { campaign_key: '222', name: 'Retarget', spend: 4400 }]);
  });

  it('builds the funnel from stage changes only', async () => {
    const funnel = (await warehouse.knex.raw(
      `SELECT stage, min(stage_order) AS stage_order, sum(entered)::int AS entered, sum(advanced)::int AS advanced, sum(lost)::int AS lost, sum(still_in_stage)::int AS still
       FROM marts.kpi_funnel_monthly GROUP BY stage ORDER BY min(stage_order), stage`,
    )).rows as Array<{ stage: string; stage_order: number; entered: number; advanced: number; lost: number; still: number }>;
    expect(funnel.map((f) => f.stage).slice(0, 3)).toEqual(['Prospecting', 'Qualification', 'Proposal']);
    const opps = Number((await warehouse.knex('core.fct_opportunity').count({ n: '*' }).first())!.n);
    expect(funnel[0]!.entered).toBe(opps); // duplicates (amount edits) are not counted twice
    for (const f of funnel) expect(f.advanced + f.lost + f.still).toBe(f.entered);
    expect(funnel[0]!.advanced).toBe(funnel[1]!.entered);
  });

  it('plans goals backward into months and paces them', async () => {
    await runTransform({
      warehouse,
      log,
      config: { asOf: '2026-02-28' },
      goals: [
        { id: 'q1_spend_cap', metric: 'spend', period: '2026-Q1', target: 6000 },
        { id: 'leads_2026', metric: 'leads', period: '2026', target: 1000, split: 'seasonal' },
        { id: 'paid_search_pipeline', metric: 'pipeline', period: '2026-Q1', target: 50, channel: 'Paid Search', model: 'linear' },
      ],
    });
    const pacing = (await warehouse.knex('marts.goal_pacing').orderBy('goal_id').select()) as Array<Record<string, unknown>>;
    expect(pacing.map((p) => p.goal_id)).toEqual(['leads_2026', 'paid_search_pipeline', 'q1_spend_cap']);
    const cap = pacing.find((p) => p.goal_id === 'q1_spend_cap')!;
    // 32 USD a day (10 USD + 20 EUR at 1.1) over Jan + Feb 2026 = 59 days; 2 of 3 months elapsed, even plan.
    expect(Number(cap.actual_to_date)).toBeCloseTo(59 * 32, 6);
    expect(Number(cap.elapsed_share)).toBeCloseTo(2 / 3, 9);
    expect(Number(cap.target_to_date)).toBeCloseTo(4000, 6);
    expect(Number(cap.forecast)).toBeCloseTo((59 * 32) / (2 / 3), 6);
    expect(Number(cap.pace_pct)).toBeCloseTo((4000 / (59 * 32)) * 100, 2);
    expect(cap).toMatchObject({ direction: 'at_most', kind: 'monetary', forecast_method: 'run_rate', on_track: true, currency: 'USD' });
    const months = await warehouse.knex('marts.goal_monthly_targets').where({ goal_id: 'leads_2026' }).select('weight', 'target');
    expect(months).toHaveLength(12);
    expect(months.reduce((a, m) => a + Number(m.weight), 0)).toBeCloseTo(1, 9);
    const pipelineGoal = pacing.find((p) => p.goal_id === 'paid_search_pipeline')!;
    const actual = (await warehouse.knex.raw(
      `SELECT coalesce(sum(pipeline), 0)::float8 AS p FROM marts.kpi_channel_monthly WHERE model = 'linear' AND channel = 'Paid Search' AND month IN ('2026-01-01', '2026-02-01')`,
    )).rows[0].p as number;
    expect(Number(pipelineGoal.actual_to_date)).toBeCloseTo(actual, 6);
    expect(pipelineGoal.on_track).toBe(Number(pipelineGoal.forecast) >= 50);
    await runTransform({ warehouse, log }); // back to the default state for the other tests
  });

  it('is deterministic: a second run gives identical marts', async () => {
    const hash = async () => (await warehouse.knex.raw(`SELECT md5(string_agg(t::text, '' ORDER BY t::text)) AS h FROM marts.fct_attribution t`)).rows[0].h as string;
    const before = await hash();
    await runTransform({ warehouse, log });
    expect(await hash()).toBe(before);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { attributeTouches, RULE_MODELS, type RuleConfig, type RuleModel } from '../attribution/index.ts';
import { createTestWarehouse, WAREHOUSE_KINDS } from '../../test/helpers/warehouse.ts';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { runTransform } from './index.ts';
import { insertCore, seedCrm } from './test-crm.ts';

const log = pino({ level: 'silent' });
type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;

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

  /** Compares the mart's credits of `models` with the TypeScript reference, touch by touch; returns the touches compared and the longest path. */
  async function compareWithReference(models: readonly RuleModel[], config: RuleConfig = {}): Promise<{ compared: number; longest: number }> {
    const touches = (await warehouse.knex.raw(
      `SELECT opportunity_id, touchpoint_id, channel, occurred_at, is_first_touch, is_lead_creation_touch, is_opportunity_creation_touch, is_closed_won_touch, model, credit::float8 AS credit
       FROM marts.fct_attribution WHERE model = ANY(?) ORDER BY opportunity_id, model, touch_position`,
      [[...models]],
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
        config,
      );
      const byId = new Map(expected.map((e) => [e.id, e.credit]));
      for (const t of group) expect(t.credit, `${t.model} ${t.opportunity_id} ${t.touchpoint_id}`).toBeCloseTo(byId.get(t.touchpoint_id)!, 9);
      compared += group.length;
      longest = Math.max(longest, group.length);
    }
    return { compared, longest };
  }

  it('matches the TypeScript reference of every rule model, touch by touch', async () => {
    const { compared, longest } = await compareWithReference(RULE_MODELS);
    expect(compared).toBeGreaterThan(500);
    if (kind === 'postgres') expect(longest).toBeGreaterThan(100);
  });

  it('matches the TypeScript reference under a configured transform: conversion at closed won, half-life, direct channels, custom weights, reporting in EUR', async () => {
    const custom = { first: 2, lead: 0, opportunity: 0.5, won: 1, rest: 1 };
    // Touches between creation and close of some won opportunities: in their paths only when the conversion is the close.
    const wonOpps = (await warehouse.knex.raw(
      `SELECT b.person_id, o.opportunity_id, o.created_at FROM core.fct_opportunity o JOIN core.bridge_opportunity_person b USING (connection_id, opportunity_id)
       WHERE o.is_won ORDER BY o.opportunity_id LIMIT 10`,
    )).rows as Array<{ person_id: string; opportunity_id: string; created_at: Date }>;
    expect(wonOpps.length).toBe(10);
    await warehouse.knex.transaction(async (trx) => {
      await insertCore(trx, warehouse.kind, 'core.fct_touchpoint', wonOpps.map((o) => ({
        touchpoint_id: `AFTER-${o.opportunity_id}`, person_id: o.person_id, occurred_at: new Date(o.created_at.getTime() + 2 * 86_400_000).toISOString(),
        touch_type: 'visit', utm_source: 'newsletter', utm_medium: 'email',
      })));
    });
    // Reporting in EUR: USD amounts need the USD -> EUR rate.
    await warehouse.knex('core.fx_rate_daily').insert({ date: '2025-01-01', from_currency: 'USD', to_currency: 'EUR', rate: '0.8' });
    await runTransform({ warehouse, log, config: { conversionEvent: 'closed_won', timeDecayHalfLifeDays: 3, directChannels: ['Direct', 'Email'], customWeights: custom, reportingCurrency: 'EUR' } });
    const { compared } = await compareWithReference(RULE_MODELS, { custom, halfLifeDays: 3, directChannels: ['Direct', 'Email'] });
    expect(compared).toBeGreaterThan(kind === 'postgres' ? 5000 : 1000);
    // Paths run to the close of won opportunities, whose last touch before it is the closed-won touch.
    const won = (await warehouse.knex.raw(
      `SELECT count(*) FILTER (WHERE is_closed_won_touch)::int AS won_touches, count(*) FILTER (WHERE occurred_at > opportunity_created_at)::int AS after_creation
       FROM marts.fct_attribution WHERE model = 'linear'`,
    )).rows[0] as { won_touches: number; after_creation: number };
    expect(won.won_touches).toBeGreaterThan(kind === 'postgres' ? 20 : 5);
    expect(won.after_creation).toBe(10);
    const late = (await warehouse.knex.raw(
      `SELECT count(*)::int AS n FROM marts.fct_attribution WHERE model = 'linear' AND touchpoint_id LIKE 'AFTER-%' AND is_closed_won_touch AND opportunity_id = substr(touchpoint_id, 7)`,
    )).rows[0] as { n: number };
    expect(late.n).toBe(10);
    const money = (await warehouse.knex.raw(
      `SELECT sum(a.pipeline_credit)::float8 AS pipeline, max(o.amount)::float8 AS amount, max(o.currency) AS currency, array_agg(DISTINCT a.reporting_currency) AS reporting
       FROM marts.fct_attribution a JOIN core.fct_opportunity o USING (connection_id, opportunity_id)
       WHERE a.model = 'linear' GROUP BY a.opportunity_id`,
    )).rows as Array<{ pipeline: number; amount: number; currency: string; reporting: string[] }>;
    expect(new Set(money.map((m) => m.currency))).toEqual(new Set(['EUR', 'USD']));
    for (const m of money) {
      expect(m.pipeline).toBeCloseTo(m.currency === 'USD' ? m.amount * 0.8 : m.amount, 3); // per-touch rounding to 1e-6, up to 120 touches
      expect(m.reporting).toEqual(['EUR']);
    }
    const spend = (await warehouse.knex.raw(
      `SELECT currency, sum(spend)::float8 AS spend, sum(spend_reporting)::float8 AS reporting, array_agg(DISTINCT reporting_currency) AS rc FROM marts.fct_ad_spend_daily GROUP BY currency ORDER BY currency`,
    )).rows as Array<{ currency: string; spend: number; reporting: number; rc: string[] }>;
    expect(spend.map((r) => [r.currency, r.rc])).toEqual([['EUR', ['EUR']], ['USD', ['EUR']]]);
    for (const r of spend) expect(r.reporting).toBeCloseTo(r.currency === 'USD' ? r.spend * 0.8 : r.spend, 4);
    for (const table of ['marts.kpi_channel_monthly', 'marts.kpi_campaign_monthly']) {
      expect((await warehouse.knex(table).distinct('reporting_currency').pluck('reporting_currency')) as string[], table).toEqual(['EUR']);
    }
    const kpiSpend = Number((await warehouse.knex.raw(`SELECT sum(spend) AS s FROM marts.kpi_channel_monthly WHERE model = 'linear'`)).rows[0].s);
    expect(kpiSpend).toBeCloseTo(spend.reduce((a, r) => a + r.reporting, 0), 4);
    await warehouse.knex('core.fx_rate_daily').where({ from_currency: 'USD', to_currency: 'EUR' }).delete();
    await warehouse.knex('core.fct_touchpoint').where('touchpoint_id', 'like', 'AFTER-%').delete();
    await runTransform({ warehouse, log }); // back to the default state for the other tests
  });

  it('decays to 0, not to an error, past a thousand half-lives (a short half-life on a long path)', async () => {
    await runTransform({ warehouse, log, config: { timeDecayHalfLifeDays: 0.01 } });
    const { compared } = await compareWithReference(['time_decay'], { halfLifeDays: 0.01 });
    expect(compared).toBeGreaterThan(kind === 'postgres' ? 500 : 100);
    const zeros = (await warehouse.knex.raw(`SELECT count(*)::int AS n FROM marts.fct_attribution WHERE model = 'time_decay' AND credit = 0`)).rows[0] as { n: number };
    expect(zeros.n).toBeGreaterThan(0);
    await runTransform({ warehouse, log }); // back to the default state for the other tests
  });

  it('takes no direct channels (an empty list): last_non_direct is then the last touch', async () => {
    await runTransform({ warehouse, log, config: { directChannels: [] } });
    const row = (await warehouse.knex.raw(
      `SELECT count(*)::int AS touches, count(*) FILTER (WHERE a.credit <> b.credit)::int AS differ,
              count(*) FILTER (WHERE a.touch_position = a.touch_count AND a.channel = 'Direct')::int AS direct_last
       FROM marts.fct_attribution a JOIN marts.fct_attribution b USING (connection_id, opportunity_id, touchpoint_id)
       WHERE a.model = 'last_non_direct' AND b.model = 'last_touch'`,
    )).rows[0] as { touches: number; differ: number; direct_last: number };
    expect(row.touches).toBeGreaterThan(kind === 'postgres' ? 1000 : 200);
    expect(row.direct_last).toBeGreaterThan(0); // paths ending on Direct, which the default would skip
    expect(row.differ).toBe(0);
    await runTransform({ warehouse, log }); // back to the default state for the other tests
  });

  it('gives equal shares under custom weights that all fall on moments a path lacks', async () => {
    // Everything on the lead-creation touch (closed-won touches exist only under the closed_won
    // conversion event): opportunities without one spread their credit equally.
    const weights = { first: 0, lead: 1, opportunity: 0, won: 1, rest: 0 };
    await runTransform({ warehouse, log, config: { customWeights: weights } });
    const { compared } = await compareWithReference(['custom'], { custom: weights });
    expect(compared).toBeGreaterThan(kind === 'postgres' ? 500 : 200);
    const sums = (await warehouse.knex.raw(
      `SELECT count(*)::int AS opps, min(total)::float8 AS lo, max(total)::float8 AS hi,
              count(*) FILTER (WHERE NOT has_lead AND n > 1)::int AS missing, count(*) FILTER (WHERE NOT has_lead AND n > 1 AND spread)::int AS missing_spread
       FROM (SELECT opportunity_id, sum(credit) AS total, count(*) AS n, bool_or(is_lead_creation_touch) AS has_lead, min(credit) = max(credit) AS spread
             FROM marts.fct_attribution WHERE model = 'custom' GROUP BY opportunity_id) s`,
    )).rows[0] as { opps: number; lo: number; hi: number; missing: number; missing_spread: number };
    const linear = (await warehouse.knex.raw(`SELECT count(DISTINCT opportunity_id)::int AS n FROM marts.fct_attribution WHERE model = 'linear'`)).rows[0].n as number;
    expect(sums.opps).toBe(linear);
    expect(sums.lo).toBeCloseTo(1, 9);
    expect(sums.hi).toBeCloseTo(1, 9);
    expect(sums.missing).toBeGreaterThan(kind === 'postgres' ? 10 : 2);
    expect(sums.missing_spread).toBe(sums.missing);
    await runTransform({ warehouse, log }); // back to the default state for the other tests
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
    // Last year holds leads in some months only: the plan is even (a seasonal plan from partial
    // history would plan nothing for the months it lacks), so the target to date is never zero.
    const leads = pacing.find((p) => p.goal_id === 'leads_2026')!;
    expect(leads).toMatchObject({ forecast_method: 'run_rate' });
    expect(Number(leads.target_to_date)).toBeCloseTo(1000 * Number(leads.elapsed_share), 6);
    expect(Number(leads.target_to_date)).toBeGreaterThan(0);
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

  it('rejects a goal for a channel the grouping rules never give, naming it and the channels there are', async () => {
    const goals = [{ id: 'paid_leads', metric: 'leads', period: '2026', target: 10, channel: 'Paid Serch' }];
    const run = runTransform({ warehouse, log, goals });
    await expect(run).rejects.toThrow(ConfigError);
    await expect(run).rejects.toThrow(/goals: paid_leads: channel "Paid Serch" is not a channel of the grouping rules \(Direct, Display, Email, .*Other, Paid Search, /);
    // A configured channel is one.
    const ok = await runTransform({ warehouse, log, goals: [{ ...goals[0], channel: 'Partners' }], config: { channelRules: [{ channel: 'Partners', source: 'partnerstack' }] } });
    expect(ok.mode).toBe('full');
    await runTransform({ warehouse, log }); // back to the default state for the other tests
  });

  it('counts email sends for the emails_sent goal and never credits them', async () => {
    const sends = ['P1', 'P2', 'P3'].map((person, i) => ({
      touchpoint_id: `SEND-${i}`, person_id: person, occurred_at: `2026-01-1${i}T09:00:00.000Z`, touch_type: 'email_send', utm_medium: 'email',
    }));
    await warehouse.knex.transaction((trx) => insertCore(trx, warehouse.kind, 'core.fct_touchpoint', sends));
    await runTransform({ warehouse, log, config: { asOf: '2026-02-28' }, goals: [{ id: 'sends_q1', metric: 'emails_sent', period: '2026-Q1', target: 30 }] });
    const credited = await warehouse.knex('marts.fct_attribution').whereIn('touchpoint_id', sends.map((t) => t.touchpoint_id)).count({ n: '*' }).first();
    expect(Number(credited?.n)).toBe(0);
    const inPaths = await warehouse.knex('staging.int_touchpoints').where('touch_type', 'email_send').count({ n: '*' }).first();
    expect(Number(inPaths?.n)).toBe(0);
    const goal = await warehouse.knex('marts.goal_pacing').where({ goal_id: 'sends_q1' }).first('actual_to_date', 'kind');
    expect(goal).toMatchObject({ kind: 'production' });
    expect(Number(goal?.actual_to_date)).toBe(3);
    await warehouse.knex('core.fct_touchpoint').whereIn('touchpoint_id', sends.map((t) => t.touchpoint_id)).delete();
    await runTransform({ warehouse, log }); // back to the default state for the other tests
  });

  it('is deterministic: a second run gives identical marts', async () => {
    const hash = async () => (await warehouse.knex.raw(`SELECT md5(string_agg(t::text, '' ORDER BY t::text)) AS h FROM marts.fct_attribution t`)).rows[0].h as string;
    const before = await hash();
    await runTransform({ warehouse, log });
    expect(await hash()).toBe(before);
  });
});

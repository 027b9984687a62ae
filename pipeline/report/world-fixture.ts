import { pino } from 'pino';
import type { Knex } from 'knex';
import { generateWorld, type World, type WorldScale } from '../../sandbox/world/index.ts';
import { coreRowSchema, type CoreTableName } from '../../warehouse/core-tables.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { loadFxRates } from '../fx.ts';
import { upsertCore } from '../loader.ts';
import { runTransform, type TransformResult } from '../transform/index.ts';

/**
 * Test fixture: a generated sandbox world written straight into the core tables (through the core
 * row contract, as the loader writes them), then the real transform. Faster than syncing through
 * the emulators and enough for tests of what reads the marts (report, BI role, dictionary).
 */

/** Goals over the tiny world (Aug-Oct 2026), covering every goal kind the pacing mart knows. */
export const FIXTURE_GOALS = [
  { id: 'revenue_2026_q4', metric: 'revenue', period: '2026-Q4', target: 400000, model: 'w_shaped', split: 'even' },
  { id: 'pipeline_2026_q3', metric: 'pipeline', period: '2026-Q3', target: 900000, model: 'w_shaped', split: 'even' },
  { id: 'leads_2026_q3', metric: 'leads', period: '2026-Q3', target: 150, split: 'even' },
  { id: 'paid_search_leads_q4', metric: 'leads', period: '2026-Q4', target: 40, channel: 'Paid Search', split: 'even' },
  { id: 'spend_cap_2026_q3', metric: 'spend', period: '2026-Q3', target: 60000, split: 'even' },
  { id: 'cpl_cap_2026_q4', metric: 'cpl', period: '2026-Q4', target: 500, split: 'even' },
] as const;

async function insert(trx: Knex.Transaction, warehouse: Warehouse, table: CoreTableName, rows: Array<Record<string, unknown>>, connectionId: string, sourceSystem: string): Promise<void> {
  const valid = rows.map((r) => coreRowSchema(table).parse(r) as Record<string, unknown>);
  for (let i = 0; i < valid.length; i += 2000) await upsertCore(trx, warehouse.kind, table, { connectionId, sourceSystem, runId: null }, valid.slice(i, i + 2000));
}

/** Writes the world's CRM, ad spend and GA4 rows into core, and its EUR/USD rates into core.fx_rate_daily. */
export async function loadWorldIntoCore(warehouse: Warehouse, world: World): Promise<void> {
  const persons: Array<Record<string, unknown>> = [];
  const touches: Array<Record<string, unknown>> = [];
  for (const p of world.people()) {
    persons.push({
      person_id: p.id, person_type: 'contact', email: p.email, first_name: p.firstName, last_name: p.lastName, title: p.title,
      account_id: p.accountId, lead_source: p.leadSource, lifecycle_stage: p.lifecycleStage,
      created_at: p.lifecycle.leadAt, lead_at: p.lifecycle.leadAt, mql_at: p.lifecycle.mqlAt, sql_at: p.lifecycle.sqlAt,
      opportunity_at: p.lifecycle.opportunityAt, customer_at: p.lifecycle.customerAt,
    });
    for (const t of p.touchpoints) {
      touches.push({
        touchpoint_id: t.id, person_id: t.personId, occurred_at: t.at, touch_type: t.kind, campaign_id: t.campaignId, ad_campaign_id: t.utm_id,
        utm_source: t.utm_source, utm_medium: t.utm_medium, utm_campaign: t.utm_campaign, utm_content: t.utm_content, utm_term: t.utm_term, landing_page: t.landingPage,
      });
    }
  }
  const opps: Array<Record<string, unknown>> = [];
  const links: Array<Record<string, unknown>> = [];
  const history: Array<Record<string, unknown>> = [];
  for (const o of world.opportunities()) {
    opps.push({
      opportunity_id: o.id, account_id: o.accountId, name: o.name, pipeline: o.crm === 'hubspot' ? 'default' : 'Sales', stage: o.stage, lead_source: o.leadSource,
      primary_campaign_id: o.campaignId, amount: (o.amountCents / 100).toFixed(2), currency: o.currency, is_closed: o.isClosed, is_won: o.isWon,
      created_at: o.createdAt, close_date: o.closeDate, closed_at: o.isClosed ? o.stageHistory[o.stageHistory.length - 1]!.at : null,
    });
    for (const r of o.contactRoles) links.push({ opportunity_id: o.id, person_id: r.personId, role: r.role, is_primary: r.isPrimary });
    o.stageHistory.forEach((s, i) => history.push({ history_id: `${o.id}-${i}`, opportunity_id: o.id, stage: s.stage, entered_at: s.at }));
  }
  const spend: Record<string, Array<Record<string, unknown>>> = { google_ads: [], meta_ads: [] };
  for (const d of world.adDaily()) {
    spend[d.platform]!.push({
      campaign_id: d.campaignId, date: d.date, account_id: d.adAccountId, campaign_name: d.campaignName, currency: d.currency,
      spend: (d.spendMicros / 1e6).toFixed(2), impressions: d.impressions, clicks: d.clicks, conversions: d.conversions, conversion_value: (d.conversionsValueMicros / 1e6).toFixed(6),
    });
  }
  const traffic = [...world.ga4Daily()].map((g) => ({
    property_id: world.ga4Property.id, date: g.date, source: g.sessionSource, medium: g.sessionMedium, campaign: g.sessionCampaignName,
    default_channel_group: g.sessionDefaultChannelGroup, sessions: g.sessions, engaged_sessions: g.engagedSessions, key_events: g.keyEvents, total_users: g.totalUsers,
  }));
  await warehouse.knex.transaction(async (trx) => {
    await insert(trx, warehouse, 'core.dim_person', persons, 'crm', 'salesforce');
    await insert(trx, warehouse, 'core.fct_touchpoint', touches, 'crm', 'salesforce');
    await insert(trx, warehouse, 'core.fct_opportunity', opps, 'crm', 'salesforce');
    await insert(trx, warehouse, 'core.bridge_opportunity_person', links, 'crm', 'salesforce');
    await insert(trx, warehouse, 'core.fct_opportunity_stage_history', history, 'crm', 'salesforce');
    for (const [platform, rows] of Object.entries(spend)) await insert(trx, warehouse, 'core.fct_ad_spend_daily', rows, platform, platform);
    await insert(trx, warehouse, 'core.fct_web_traffic_daily', traffic, 'ga4', 'ga4');
  });
  const rates = Object.entries(world.fxEurUsd).map(([date, rate]) => ({ date, from_currency: 'EUR', to_currency: 'USD', rate }));
  await loadFxRates(warehouse, rates, { source: `world:seed=${world.seed}`, withInverse: true });
}

/** Generates a world (tiny by default), loads it into core and runs the transform with FIXTURE_GOALS. */
export async function seedWorldMarts(warehouse: Warehouse, options: { seed?: number; scale?: WorldScale } = {}): Promise<{ world: World; transform: TransformResult }> {
  const world = generateWorld({ seed: options.seed ?? 42, scale: options.scale ?? 'tiny' });
  await loadWorldIntoCore(warehouse, world);
  const transform = await runTransform({ warehouse, log: pino({ level: 'silent' }), goals: FIXTURE_GOALS.map((g) => ({ ...g })) });
  return { world, transform };
}

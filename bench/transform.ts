import type pg from 'pg';
import { pino } from 'pino';
import { generateWorld, type World } from '../sandbox/world/index.ts';
import { runTransform, type TransformResult } from '../pipeline/transform/index.ts';
import { parseTransformConfig } from '../pipeline/transform/config.ts';
import { ruleCreditsWideSelect } from '../pipeline/transform/models.ts';
import type { Warehouse } from '../warehouse/db.ts';
import { copyLines, copyText, type Cell } from './copy.ts';

/**
 * Transform benchmark (`npm run bench -- transform`), on the large sandbox world (~1M touchpoints,
 * ~100k opportunities), every figure measured in the same run on the same database:
 * - full: every model and every mart from scratch (`runTransform({ full: true })`);
 * - incremental after a 1 % change: 1 % of people get a new touch and a moved touch, 1 % of
 *   opportunities change amount or stage, 1 % of spend rows are restated; then
 *   `runTransform()` (incremental), as a share of the full run;
 * - incremental after the smallest changes a sync brings, each alone: one opportunity's new amount
 *   (no path moves), then one touch moved to another channel (its opportunities' paths move, and
 *   with them the data-driven weights): what a run costs whatever the size of its change;
 * - incremental after each part of a 1 % change alone (new touches, moved touches, opportunities,
 *   spend rows; each on 1 % of people, opportunities or spend rows the whole change left alone):
 *   which kinds of change the run's cost comes from;
 * - rule models: our rule-model step (one row per touch, a credit column per model, as the
 *   transform stores them under the marts.fct_attribution view), for the same four models and for all
 *   nine, against a plain SQL reference of first/last/linear/U-shaped written straight as window
 *   functions over the same touch table (staging.int_opportunity_touches), as in the dbt
 *   attribution playbook. Ours reads the positions and key moments that table already holds (the
 *   path model every attribution model shares); the reference numbers the touches itself.
 * Loading the world into core (COPY) is not timed.
 */

/**
 * Loads a sandbox world straight into the core tables with COPY (for benchmarks: the connectors
 * and the loader are measured elsewhere). Salesforce people are leads; a converted lead also gets
 * its contact row (converted_contact_id), and contact roles point to the contact, so identity
 * stitching is exercised as in a real org.
 */
async function copyInto(warehouse: Warehouse, table: string, columns: readonly string[], rows: Iterable<Cell[]>): Promise<number> {
  let count = 0;
  function* lines(): Generator<string> {
    for (const row of rows) {
      count++;
      yield `${row.map(copyText).join('\t')}\n`;
    }
  }
  await warehouse.knex.transaction(async (trx) => {
    const conn = (await trx.client.acquireConnection()) as pg.PoolClient;
    try {
      await copyLines(conn, table, columns, lines());
    } finally {
      trx.client.releaseConnection(conn);
    }
  });
  return count;
}

const cents = (n: number) => (n / 100).toFixed(2);
const micros = (n: number) => (n / 1_000_000).toFixed(6);

export async function loadWorldIntoCore(warehouse: Warehouse, world: World): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  counts['core.dim_campaign'] = await copyInto(warehouse, 'core.dim_campaign',
    ['connection_id', 'campaign_id', 'source_system', 'account_id', 'name', 'status', 'campaign_type', 'channel_hint', 'currency', 'start_date', 'end_date', 'utm_source', 'utm_medium', 'utm_campaign'],
    world.campaigns.map((c) => [c.platform, c.id, c.platform, c.adAccountId, c.name, c.status, c.platformType ?? c.sfType, c.sfType, c.currency, c.startDate, c.endDate, c.utmSource, c.utmMedium, c.utmCampaign]));

  counts['core.dim_person'] = await copyInto(warehouse, 'core.dim_person',
    ['connection_id', 'person_id', 'source_system', 'person_type', 'email', 'created_at', 'lead_at', 'mql_at', 'sql_at', 'is_converted', 'converted_at', 'converted_contact_id'],
    (function* () {
      for (const p of world.people()) {
        const converted = p.crm === 'salesforce' && p.sfContactId !== undefined && p.convertedAt !== undefined;
        yield [p.crm, p.crmId, p.crm, p.crm === 'salesforce' ? 'lead' : 'contact', p.email, p.lifecycle.leadAt, p.lifecycle.leadAt, p.lifecycle.mqlAt, p.lifecycle.sqlAt,
          converted, converted ? p.convertedAt : null, converted ? p.sfContactId : null];
        if (converted) yield [p.crm, p.sfContactId, p.crm, 'contact', p.email, p.convertedAt, null, null, null, false, null, null];
      }
    })());

  // World person id -> CRM ids (touches hang on the lead, contact roles on the contact).
  const people = new Map<string, { crm: string; lead: string; contact: string }>();
  for (const p of world.people()) people.set(p.id, { crm: p.crm, lead: p.crmId, contact: p.sfContactId ?? p.crmId });

  counts['core.fct_touchpoint'] = await copyInto(warehouse, 'core.fct_touchpoint',
    ['connection_id', 'touchpoint_id', 'source_system', 'person_id', 'occurred_at', 'touch_type', 'ad_campaign_id', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'landing_page'],
    (function* () {
      for (const t of world.touchpoints()) {
        const p = people.get(t.personId)!;
        yield [p.crm, t.id, p.crm, p.lead, t.at, t.kind, t.utm_id, t.utm_source, t.utm_medium, t.utm_campaign, t.utm_content, t.utm_term, t.landingPage];
      }
    })());

  const opportunities = [...world.opportunities()];
  counts['core.fct_opportunity'] = await copyInto(warehouse, 'core.fct_opportunity',
    ['connection_id', 'opportunity_id', 'source_system', 'name', 'stage', 'amount', 'currency', 'is_closed', 'is_won', 'created_at', 'close_date', 'closed_at'],
    opportunities.map((o) => [o.crm, o.crmId, o.crm, o.name, o.stage, cents(o.amountCents), o.currency, o.isClosed, o.isWon, o.createdAt, o.closeDate, o.isClosed ? o.stageHistory.at(-1)!.at : null]));
  counts['core.bridge_opportunity_person'] = await copyInto(warehouse, 'core.bridge_opportunity_person',
    ['connection_id', 'opportunity_id', 'person_id', 'source_system', 'role', 'is_primary'],
    (function* () {
      for (const o of opportunities) for (const r of o.contactRoles) yield [o.crm, o.crmId, people.get(r.personId)!.contact, o.crm, r.role, r.isPrimary];
    })());
  counts['core.fct_opportunity_stage_history'] = await copyInto(warehouse, 'core.fct_opportunity_stage_history',
    ['connection_id', 'history_id', 'opportunity_id', 'source_system', 'stage', 'entered_at', 'amount', 'currency'],
    (function* () {
      for (const o of opportunities) for (const [i, s] of o.stageHistory.entries()) yield [o.crm, `${o.crmId}-${i}`, o.crmId, o.crm, s.stage, s.at, cents(o.amountCents), o.currency];
    })());

  counts['core.fct_ad_spend_daily'] = await copyInto(warehouse, 'core.fct_ad_spend_daily',
    ['connection_id', 'campaign_id', 'date', 'source_system', 'account_id', 'campaign_name', 'currency', 'spend', 'impressions', 'clicks', 'conversions', 'conversion_value'],
    (function* () {
      for (const d of world.adDaily()) yield [d.platform, d.campaignId, d.date, d.platform, d.adAccountId, d.campaignName, d.currency, micros(d.spendMicros), d.impressions, d.clicks, d.conversions, micros(d.conversionsValueMicros)];
    })());
  const property = world.ga4Property.id;
  counts['core.fct_web_traffic_daily'] = await copyInto(warehouse, 'core.fct_web_traffic_daily',
    ['connection_id', 'property_id', 'date', 'source_system', 'source', 'medium', 'campaign', 'default_channel_group', 'sessions', 'engaged_sessions', 'key_events', 'total_users'],
    (function* () {
      for (const g of world.ga4Daily()) yield ['ga4', property, g.date, 'ga4', g.sessionSource, g.sessionMedium, g.sessionCampaignName, g.sessionDefaultChannelGroup, g.sessions, g.engagedSessions, g.keyEvents, g.totalUsers];
    })());
  counts['core.fx_rate_daily'] = await copyInto(warehouse, 'core.fx_rate_daily', ['date', 'from_currency', 'to_currency', 'rate', 'source'],
    Object.entries(world.fxEurUsd).map(([date, rate]) => [date, 'EUR', 'USD', rate, 'sandbox']));
  await warehouse.knex.raw('ANALYZE');
  return counts;
}

/**
 * The parts of the 1 % change a day of syncs brings, each touching its own 1 % of people,
 * opportunities or spend rows (`slice` picks which: 0 to 49), stamped with now() as the loader
 * stamps what it changes:
 * - touchpoints_added: a new touch (a paid search visit) after the last touch of 1 % of people;
 * - touchpoints_moved: the first touch of another 1 % of people moved a day back, into Email;
 * - opportunities: 1 % of opportunities with a new amount (and open ones a new stage);
 * - spend_rows: 1 % of spend rows restated.
 */
export function onePercentChanges(slice = 0): Record<string, string> {
  const people = (k: number) => `abs(hashtext(person_id)) % 100 = ${2 * slice + k}`;
  return {
    touchpoints_added: `
    INSERT INTO core.fct_touchpoint (connection_id, touchpoint_id, source_system, person_id, occurred_at, touch_type, utm_source, utm_medium, utm_campaign)
    SELECT connection_id, touchpoint_id || '-x', source_system, person_id, occurred_at + interval '2 hours', 'visit', 'google', 'cpc', 'brand'
    FROM (SELECT DISTINCT ON (connection_id, person_id) * FROM core.fct_touchpoint
          WHERE ${people(0)} ORDER BY connection_id, person_id, occurred_at DESC) last_touch`,
    touchpoints_moved: `
    UPDATE core.fct_touchpoint SET occurred_at = occurred_at - interval '1 day', utm_medium = 'email', utm_source = 'newsletter', _synced_at = now()
    WHERE ${people(1)} AND touchpoint_id LIKE '%-0'`,
    opportunities: `
    UPDATE core.fct_opportunity SET amount = amount * 1.1, stage = CASE WHEN is_closed THEN stage ELSE 'Negotiation' END, _synced_at = now()
    WHERE abs(hashtext(opportunity_id)) % 100 = ${slice}`,
    spend_rows: `
    UPDATE core.fct_ad_spend_daily SET spend = spend + 0.01, clicks = clicks + 1, _synced_at = now()
    WHERE abs(hashtext(campaign_id || date::text)) % 100 = ${slice}`,
  };
}

/** Applies the whole 1 % change (every part of onePercentChanges(0), in order); returns the rows each part changed. */
export async function applyOnePercentChange(warehouse: Warehouse): Promise<Record<string, number>> {
  const changed: Record<string, number> = {};
  for (const [name, sql] of Object.entries(onePercentChanges(0))) changed[name] = Number((await warehouse.knex.raw(sql)).rowCount ?? 0);
  return changed;
}

/** Plain SQL rule models (dbt attribution playbook style): four window-function columns over the touch table. */
export const REFERENCE_RULES_SQL = `
  CREATE TEMP TABLE bench_reference AS
  SELECT connection_id, opportunity_id, touchpoint_id,
         CASE WHEN pos = 1 THEN 1.0 ELSE 0.0 END AS first_touch,
         CASE WHEN pos = n THEN 1.0 ELSE 0.0 END AS last_touch,
         1.0 / n AS linear,
         CASE WHEN n = 1 THEN 1.0
              WHEN n = 2 THEN 0.5
              WHEN pos = 1 OR pos = n THEN 0.4
              ELSE 0.2 / (n - 2) END AS u_shaped
  FROM (SELECT connection_id, opportunity_id, touchpoint_id,
               row_number() OVER (PARTITION BY connection_id, opportunity_id ORDER BY occurred_at, touchpoint_id) AS pos,
               count(*) OVER (PARTITION BY connection_id, opportunity_id) AS n
        FROM staging.int_opportunity_touches) t`;

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

export interface TransformBenchResult {
  core: Record<string, number>;
  loadMs: number;
  full: TransformResult & { ms: number };
  change: Record<string, number>;
  incremental: TransformResult & { ms: number };
  oneAmount: TransformResult & { ms: number };
  oneTouch: TransformResult & { ms: number };
  /** Each part of a 1 % change alone (on other people, opportunities and spend rows than the whole change's). */
  parts: Array<{ name: string; rows: number; run: TransformResult & { ms: number } }>;
  ruleStepMs: number;
  ruleStepSameModelsMs: number;
  referenceMs: number;
}

export async function benchTransform(warehouse: Warehouse, scale: 'large' | 'demo' | 'tiny' | number = 'large'): Promise<TransformBenchResult> {
  const log = pino({ level: 'silent' });
  const load = await timed(() => loadWorldIntoCore(warehouse, generateWorld({ scale })));
  await warehouse.knex.raw('CHECKPOINT');
  const full = await timed(() => runTransform({ warehouse, log, full: true }));
  const change = await applyOnePercentChange(warehouse);
  await warehouse.knex.raw('ANALYZE');
  await warehouse.knex.raw('CHECKPOINT');
  const incrementalRun = async () => {
    const run = await timed(() => runTransform({ warehouse, log }));
    if (run.value.mode !== 'incremental') throw new Error(`expected an incremental run, got a full one: ${run.value.reason ?? ''}`);
    return { ...run.value, ms: run.ms };
  };
  const incremental = await incrementalRun();
  const small = async (change: string) => {
    await warehouse.knex.raw(change);
    return incrementalRun();
  };
  const oneAmount = await small(`UPDATE core.fct_opportunity SET amount = amount + 1, _synced_at = now()
    WHERE (connection_id, opportunity_id) = (SELECT connection_id, opportunity_id FROM staging.int_opportunity_paths ORDER BY opportunity_id LIMIT 1)`);
  const oneTouch = await small(`UPDATE core.fct_touchpoint SET utm_source = 'newsletter', utm_medium = 'email', _synced_at = now()
    WHERE (connection_id, touchpoint_id) = (SELECT connection_id, touchpoint_id FROM staging.int_opportunity_touches WHERE channel <> 'Email' ORDER BY opportunity_id, pos LIMIT 1)`);

  const parts: TransformBenchResult['parts'] = [];
  for (const [name, sql] of Object.entries(onePercentChanges(1))) {
    const changed = Number((await warehouse.knex.raw(sql)).rowCount ?? 0);
    await warehouse.knex.raw('ANALYZE');
    await warehouse.knex.raw('CHECKPOINT');
    parts.push({ name, rows: changed, run: await incrementalRun() });
  }

  // Rule models, ours vs the reference, on the same staging.int_opportunity_touches, each materialized once.
  const config = parseTransformConfig(undefined);
  await warehouse.knex.raw('CHECKPOINT');
  const rules = (only?: readonly string[]) => timed(() => warehouse.knex.transaction(async (trx) => {
    await trx.raw(`SET LOCAL work_mem = '128MB'`);
    await trx.raw(`CREATE TEMP TABLE bench_rules ON COMMIT DROP AS ${ruleCreditsWideSelect(config, null, only)}`);
  }));
  const ours = await rules();
  const oursSame = await rules(['first_touch', 'last_touch', 'linear', 'u_shaped']);
  const reference = await timed(() => warehouse.knex.transaction(async (trx) => {
    await trx.raw(`SET LOCAL work_mem = '128MB'`);
    await trx.raw(`${REFERENCE_RULES_SQL.replace('CREATE TEMP TABLE bench_reference AS', 'CREATE TEMP TABLE bench_reference ON COMMIT DROP AS')}`);
  }));
  return {
    core: load.value, loadMs: load.ms,
    full: { ...full.value, ms: full.ms }, change, incremental, oneAmount, oneTouch, parts,
    ruleStepMs: ours.ms, ruleStepSameModelsMs: oursSame.ms, referenceMs: reference.ms,
  };
}

/** Prints the figures with their ratios and targets. */
export function reportTransformBench(r: TransformBenchResult): void {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(`transform benchmark: ${r.core['core.fct_touchpoint']!.toLocaleString('en')} touchpoints, ${r.core['core.fct_opportunity']!.toLocaleString('en')} opportunities, ${r.full.rows['marts.fct_attribution']!.toLocaleString('en')} attribution rows (core loaded in ${s(r.loadMs)}, not timed)`);
  console.log(`  full (all models + all marts):       ${s(r.full.ms)}   (target < 60 s on 2 cores)`);
  for (const step of [...r.full.steps].sort((a, b) => b.ms - a.ms).slice(0, 6)) console.log(`      ${step.name.padEnd(58)} ${s(step.ms)}`);
  console.log(`  1 % change: ${Object.entries(r.change).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`  incremental after the change:        ${s(r.incremental.ms)}   = ${((r.incremental.ms / r.full.ms) * 100).toFixed(1)} % of full (target <= 5 %)`);
  console.log(`      recomputed: ${Object.entries(r.incremental.scope ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const step of [...r.incremental.steps].sort((a, b) => b.ms - a.ms).slice(0, 6)) console.log(`      ${step.name.padEnd(58)} ${s(step.ms)}`);
  const share = (ms: number) => `${((ms / r.full.ms) * 100).toFixed(1)} % of full`;
  console.log(`  incremental after one opportunity's new amount:   ${s(r.oneAmount.ms)}   = ${share(r.oneAmount.ms)} (no path moves)`);
  console.log(`  incremental after one touch moved to a channel:   ${s(r.oneTouch.ms)}   = ${share(r.oneTouch.ms)} (paths move, and with them the data-driven weights of ${r.oneTouch.scope?.respread_models ?? 0} models)`);
  console.log('  incremental after each part of a 1 % change alone (other people, opportunities and spend rows):');
  for (const p of r.parts) {
    console.log(`      ${`${p.name} (${p.rows.toLocaleString('en')} rows)`.padEnd(40)} ${s(p.run.ms)}   = ${share(p.run.ms)}   (${p.run.scope?.opportunities ?? 0} opportunities in scope, ${p.run.scope?.attribution_opportunities ?? 0} recomputed, ${(p.run.scope?.attribution_slices ?? 0) - (p.run.scope?.attribution_opportunities ?? 0)} more with new fractribution credits)`);
  }
  console.log(`  plain SQL reference (first/last/linear/U-shaped): ${s(r.referenceMs)}`);
  console.log(`  rule-model step, the same 4 models:               ${s(r.ruleStepSameModelsMs)}   ratio ours / reference ${(r.ruleStepSameModelsMs / r.referenceMs).toFixed(2)}x (target <= 1.00x)`);
  console.log(`  rule-model step, all 9 rule models:               ${s(r.ruleStepMs)}   ratio ${(r.ruleStepMs / r.referenceMs).toFixed(2)}x`);
}

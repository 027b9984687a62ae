import type { Knex } from 'knex';
import { upsertCore } from '../loader.ts';
import { coreRowSchema } from '../../warehouse/core-tables.ts';
import type { createTestWarehouse } from '../../test/helpers/warehouse.ts';
import { mulberry32 as prng } from '../../sandbox/emulators/prng.ts';

/** Test fixture: a seeded synthetic CRM written into the core tables through the core row contract. */
type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;

const UTMS: Array<[string, string, string]> = [
  ['google', 'cpc', 'Paid Search'],
  ['facebook', 'paid_social', 'Paid Social'],
  ['hubspot', 'email', 'Email'],
  ['google', 'organic', 'Organic Search'],
  ['partner.example', 'referral', 'Referral'],
  ['(direct)', '(none)', 'Direct'],
  ['saastr', 'event', 'Events'],
];

export async function insertCore(trx: Knex.Transaction, kind: TestWarehouse['kind'], table: Parameters<typeof upsertCore>[2], rows: Array<Record<string, unknown>>, connectionId = 'crm', sourceSystem = 'salesforce') {
  // Through the core row contract, as the loader does (defaults such as is_deleted = false apply).
  const valid = rows.map((r) => coreRowSchema(table).parse(r) as Record<string, unknown>);
  await upsertCore(trx, kind, table, { connectionId, sourceSystem, runId: null }, valid);
}

/** A CRM with `people` people, random touches (with exact time ties), and opportunities for about a third. */
export async function seedCrm(warehouse: TestWarehouse, people: number, seed: number) {
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
    await insertCore(trx, warehouse.kind, 'core.dim_person', persons);
    await insertCore(trx, warehouse.kind, 'core.fct_touchpoint', touches);
    await insertCore(trx, warehouse.kind, 'core.fct_opportunity', opps);
    await insertCore(trx, warehouse.kind, 'core.bridge_opportunity_person', links);
    await insertCore(trx, warehouse.kind, 'core.fct_opportunity_stage_history', history);
    await insertCore(trx, warehouse.kind, 'core.fct_ad_spend_daily', spend, 'gads', 'google_ads');
    await trx('core.fx_rate_daily').insert({ date: '2025-01-01', from_currency: 'EUR', to_currency: 'USD', rate: '1.1' });
  });
}


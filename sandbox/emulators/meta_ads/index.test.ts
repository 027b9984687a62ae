import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWorld } from '../../world/index.ts';
import { addDays } from '../../world/dates.ts';
import { startEmulatorServer } from '../server.ts';
import type { EmulatorServer } from '../server.ts';
import { FaultInjector, parseFaultSpec } from '../faults.ts';
import { mulberry32 } from '../prng.ts';
import { shapeOf } from '../google_ads/shape.ts';
import { createMetaAdsEmulator } from './index.ts';
import type { MetaAdsEmulator } from './index.ts';
import {
  adAccountExample,
  adAccountUsageExample,
  businessUseCaseUsageExample,
  campaignsPageExample,
  insightsPageExample,
  reduceDataErrorExample,
  reportRunCreatedExample,
  reportRunExample,
  throttleErrorExample,
  tokenErrorExample,
} from './fixtures.ts';

const world = generateWorld({ seed: 42, scale: 'tiny' });
const accounts = world.adAccounts.filter((a) => a.platform === 'meta_ads');
const withCampaigns = accounts.find((a) => world.campaigns.some((c) => c.platform === 'meta_ads' && c.adAccountId === a.id));
const accountId = (withCampaigns ?? accounts[0])?.id as string;
const FIELDS = 'account_currency,campaign_id,campaign_name,spend,impressions,clicks,actions,action_values';
const V = 'v26.0';

let emu: MetaAdsEmulator;
let server: EmulatorServer;
let base: string;

type Row = Record<string, unknown> & { spend?: string; date_start?: string; campaign_id?: string; actions?: Array<{ action_type: string; value: string }> };
type Page = { data: Row[]; paging?: { cursors: { before: string; after: string }; next?: string } };

async function get(path: string, params: Record<string, string> = {}, token: string | null = emu.accessToken): Promise<{ status: number; body: unknown; headers: Headers }> {
  const url = new URL(`${base}/${V}/${path}`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function readAll(first: Page): Promise<Row[]> {
  const rows = [...first.data];
  let next = first.paging?.next;
  while (next) {
    const res = await fetch(next, { headers: { authorization: `Bearer ${emu.accessToken}` } });
    const page = (await res.json()) as Page;
    rows.push(...page.data);
    next = page.paging?.next;
  }
  return rows;
}

function worldSpendMicros(since: string, until: string): number {
  let sum = 0;
  for (const d of world.adDaily()) if (d.adAccountId === accountId && d.date >= since && d.date <= until) sum += d.spendMicros;
  return sum;
}

const toMicros = (s: string): number => Math.round(Number(s) * 1_000_000);

beforeAll(async () => {
  emu = createMetaAdsEmulator(world, { maxSyncRows: 40, maxAsyncRows: 70, pollsToComplete: 3, callBudget: 10_000 });
  server = await startEmulatorServer({ routes: emu.routes });
  base = server.origin;
});
afterAll(async () => {
  await server.close();
});

describe('Meta Ads emulator: account and campaigns', () => {
  it('answers the ad account fields in the documented shape, with the world currency and time zone', async () => {
    const r = await get(`act_${accountId}`, { fields: 'account_id,name,currency,timezone_name,timezone_offset_hours_utc,account_status' });
    expect(r.status).toBe(200);
    expect(shapeOf(r.body)).toEqual(shapeOf(adAccountExample));
    const account = accounts.find((a) => a.id === accountId);
    expect(r.body).toMatchObject({ id: `act_${accountId}`, account_id: accountId, currency: account?.currency, timezone_name: account?.timeZone });
  });

  it('lists campaigns in the documented shape, cursor-paged', async () => {
    const fields = 'id,account_id,name,status,effective_status,objective,start_time,daily_budget,created_time,updated_time';
    const r = await get(`act_${accountId}/campaigns`, { fields, limit: '1' });
    expect(r.status).toBe(200);
    const page = r.body as Page;
    expect(shapeOf({ ...page, paging: { cursors: page.paging?.cursors } })).toEqual(shapeOf(campaignsPageExample));
    const all = await readAll(page);
    expect(all.map((c) => c.id).sort()).toEqual(world.campaigns.filter((c) => c.platform === 'meta_ads' && c.adAccountId === accountId).map((c) => c.id).sort());
  });
});

describe('Meta Ads emulator: synchronous insights', () => {
  it('answers level=campaign, time_increment=1 in the documented shape', async () => {
    // A day with conversions, so actions and action_values are present (Meta omits empty lists).
    let day = world.endDate;
    for (const d of world.adDaily()) if (d.adAccountId === accountId && d.conversions > 0 && d.conversionsValueMicros > 0) day = d.date;
    const r = await get(`act_${accountId}/insights`, { level: 'campaign', time_increment: '1', fields: FIELDS, time_range: JSON.stringify({ since: day, until: day }), limit: '1' });
    expect(r.status).toBe(200);
    const page = r.body as Page;
    const first = page.data[0] as Row;
    expect(Object.keys(first).sort()).toEqual(Object.keys(insightsPageExample.data[0] as object).sort());
    expect(shapeOf(first)).toEqual(shapeOf(insightsPageExample.data[0]));
    expect(first.date_start).toBe(day);
    expect(first.date_stop).toBe(day);
    expect(first.spend).toMatch(/^\d+(\.\d{1,2})?$/);
    expect(r.headers.get('x-business-use-case-usage')).toBeTruthy();
  });

  it('pages with cursors (next only while more rows remain) and totals equal the world to the micro', async () => {
    const since = addDays(world.endDate, -9);
    const first = await get(`act_${accountId}/insights`, { level: 'campaign', time_increment: '1', fields: FIELDS, time_range: JSON.stringify({ since, until: world.endDate }), limit: '3' });
    const page = first.body as Page;
    expect(page.paging?.next).toContain('after=');
    const rows = await readAll(page);
    expect(rows.length).toBeGreaterThan(3);
    expect(new Set(rows.map((r) => `${r.campaign_id}|${r.date_start}`)).size).toBe(rows.length);
    expect(rows.reduce((s, r) => s + toMicros(r.spend as string), 0)).toBe(worldSpendMicros(since, world.endDate));
  });

  it('sums over the range when time_increment is all_days', async () => {
    const since = addDays(world.endDate, -4);
    const r = await get(`act_${accountId}/insights`, { level: 'campaign', fields: 'campaign_id,spend', time_range: JSON.stringify({ since, until: world.endDate }) });
    const rows = (r.body as Page).data;
    expect(rows.every((x) => x.date_start === since && x.date_stop === world.endDate)).toBe(true);
    expect(rows.reduce((s, x) => s + toMicros(x.spend as string), 0)).toBe(worldSpendMicros(since, world.endDate));
  });

  it('refuses too large a range with "Please reduce the amount of data" (code 100, subcode 1487534)', async () => {
    const r = await get(`act_${accountId}/insights`, { level: 'campaign', time_increment: '1', fields: FIELDS, time_range: JSON.stringify({ since: world.startDate, until: world.endDate }) });
    expect(r.status).toBe(400);
    expect(shapeOf(r.body)).toEqual(shapeOf(reduceDataErrorExample));
    expect(r.body).toMatchObject({ error: { code: 100, error_subcode: 1487534 } });
  });

  it('rejects an unknown field, a missing or bad token and an unknown account with Graph errors', async () => {
    const badField = await get(`act_${accountId}/insights`, { fields: 'spend,bogus_metric' });
    expect(badField.body).toMatchObject({ error: { code: 100, type: 'OAuthException' } });
    const noToken = await get(`act_${accountId}/insights`, {}, null);
    expect(noToken.status).toBe(400);
    expect(noToken.body).toMatchObject({ error: { code: 2500 } });
    const badToken = await get(`act_${accountId}/insights`, {}, 'EAAnot-the-token');
    const { error_subcode: _subcode, ...tokenError } = tokenErrorExample.error;
    expect(shapeOf((badToken.body as { error: object }).error)).toEqual(shapeOf(tokenError));
    expect(badToken.body).toMatchObject({ error: { code: 190, type: 'OAuthException' } });
    const unknown = await get('act_999/insights');
    expect(unknown.body).toMatchObject({ error: { code: 100, error_subcode: 33, type: 'GraphMethodException' } });
  });

  it('accepts the token as the access_token parameter too', async () => {
    const r = await get(`act_${accountId}`, { fields: 'currency', access_token: emu.accessToken }, null);
    expect(r.status).toBe(200);
  });
});

describe('Meta Ads emulator: async report runs', () => {
  async function post(params: Record<string, string>): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${base}/${V}/act_${accountId}/insights`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.accessToken}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
    return { status: res.status, body: await res.json() };
  }

  it('creates, polls to Job Completed and reads the same rows as a synchronous read', async () => {
    const since = addDays(world.endDate, -29);
    const range = JSON.stringify({ since, until: world.endDate });
    const created = await post({ level: 'campaign', time_increment: '1', fields: FIELDS, time_range: range });
    expect(created.status).toBe(200);
    expect(shapeOf(created.body)).toEqual(shapeOf(reportRunCreatedExample));
    const id = (created.body as { report_run_id: string }).report_run_id;

    const notReady = await get(`${id}/insights`);
    expect(notReady.status).toBe(400);

    const statuses: string[] = [];
    let status: Record<string, unknown> = {};
    for (let i = 0; i < 5 && status.async_status !== 'Job Completed'; i++) {
      status = (await get(id)).body as Record<string, unknown>;
      statuses.push(status.async_status as string);
    }
    expect(statuses).toEqual(['Job Started', 'Job Running', 'Job Completed']);
    expect(shapeOf(status)).toEqual(shapeOf(reportRunExample));
    expect(status.async_percent_completion).toBe(100);

    const rows = await readAll((await get(`${id}/insights`, { limit: '7' })).body as Page);
    expect(rows.reduce((s, r) => s + toMicros(r.spend as string), 0)).toBe(worldSpendMicros(since, world.endDate));
  });

  it('fails a run over too much data with the error fields, and stalls a queued stalled run', async () => {
    const big = await post({ level: 'campaign', time_increment: '1', fields: FIELDS, time_range: JSON.stringify({ since: world.startDate, until: world.endDate }) });
    const id = (big.body as { report_run_id: string }).report_run_id;
    let status: Record<string, unknown> = {};
    for (let i = 0; i < 3; i++) status = (await get(id)).body as Record<string, unknown>;
    expect(status).toMatchObject({ async_status: 'Job Failed', error_code: 100, error_subcode: 1487534 });
    expect(String(status.error_message)).toContain('reduce the amount of data');

    emu.store.queueRunFates('stall');
    const stalled = await post({ level: 'campaign', time_increment: '1', fields: FIELDS, time_range: JSON.stringify({ since: world.endDate, until: world.endDate }) });
    const sid = (stalled.body as { report_run_id: string }).report_run_id;
    const percents: unknown[] = [];
    for (let i = 0; i < 5; i++) percents.push(((await get(sid)).body as Record<string, unknown>).async_percent_completion);
    expect(new Set(percents).size).toBe(1);
    expect(((await get(sid)).body as Record<string, unknown>).async_status).toBe('Job Running');
  });
});

describe('Meta Ads emulator: throttling and faults', () => {
  it('reports usage headers and throttles past the hourly call budget (code 80000)', async () => {
    let now = Date.parse('2026-11-01T00:00:00Z');
    const e = createMetaAdsEmulator(world, { callBudget: 4, now: () => now });
    const s = await startEmulatorServer({ routes: e.routes });
    try {
      const call = () => fetch(`${s.origin}/${V}/act_${accountId}?fields=currency`, { headers: { authorization: `Bearer ${e.accessToken}` } });
      let last = await call();
      const usage = JSON.parse(last.headers.get('x-business-use-case-usage') ?? '{}') as Record<string, unknown>;
      expect(shapeOf(Object.values(usage)[0])).toEqual(shapeOf(Object.values(businessUseCaseUsageExample)[0]));
      expect(shapeOf(JSON.parse(last.headers.get('x-ad-account-usage') ?? '{}'))).toEqual(shapeOf({ ...adAccountUsageExample, acc_id_util_pct: 25 }));
      for (let i = 0; i < 4; i++) last = await call();
      expect(last.status).toBe(400);
      const body = await last.json();
      expect(shapeOf(body)).toEqual(shapeOf(throttleErrorExample));
      const regain = (JSON.parse(last.headers.get('x-business-use-case-usage') ?? '{}') as Record<string, Array<{ estimated_time_to_regain_access: number }>>)[accountId]?.[0];
      expect(regain?.estimated_time_to_regain_access).toBeGreaterThan(0);
      now += 3_600_000;
      expect((await call()).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('answers injected rate limits with Meta throttling codes (4, 17, 32, 613, 80004)', async () => {
    const e = createMetaAdsEmulator(world);
    const s = await startEmulatorServer({ routes: e.routes, faults: new FaultInjector(parseFaultSpec('meta_ads.insights:rate_limit@first=5')) });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${s.origin}/${V}/act_${accountId}/insights`, { headers: { authorization: `Bearer ${e.accessToken}` } });
        codes.push(((await res.json()) as { error: { code: number } }).error.code);
      }
      expect(new Set(codes)).toEqual(new Set([4, 17, 32, 613, 80004]));
    } finally {
      await s.close();
    }
  });

  it('restates the trailing days on demand (data fault) and serves malformed rows', () => {
    const e = createMetaAdsEmulator(world);
    const campaign = e.store.campaigns.find((c) => c.accountId === accountId);
    const yesterday = world.endDate;
    const before = e.store.day(campaign?.id as string, yesterday);
    e.store.faultTarget().restate?.(3, mulberry32(7));
    const after = e.store.day(campaign?.id as string, yesterday);
    expect(after).not.toEqual(before);
    // Days before the restated window keep the numbers a fresh store has.
    const untouched = addDays(yesterday, -10);
    expect(e.store.day(campaign?.id as string, untouched)).toEqual(createMetaAdsEmulator(world).store.day(campaign?.id as string, untouched));
    const picked = e.store.faultTarget().malformRandom?.(2, mulberry32(1)) ?? [];
    expect(picked).toHaveLength(2);
    // A day restated to nothing is left out of Insights, as a campaign-day without stats is.
    const served = e.store.accountDays(accountId, yesterday, yesterday).map((d) => d.campaignId);
    const voided = served[0] as string;
    e.store.restateToNothing(voided, yesterday);
    expect(e.store.accountDays(accountId, yesterday, yesterday).map((d) => d.campaignId)).toEqual(served.filter((id) => id !== voided));
  });

  it('env points a connector at the emulator', () => {
    expect(emu.env('http://127.0.0.1:1')).toEqual({
      META_BASE_URL: 'http://127.0.0.1:1',
      META_ACCESS_TOKEN: emu.accessToken,
      META_AD_ACCOUNT_ID: accounts.map((a) => `act_${a.id}`).join(','),
    });
  });
});

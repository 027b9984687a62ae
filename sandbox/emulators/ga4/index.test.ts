import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWorld } from '../../world/index.ts';
import { startEmulatorServer } from '../server.ts';
import type { EmulatorServer } from '../server.ts';
import { shapeOf } from '../google_ads/shape.ts';
import { createGa4Emulator } from './index.ts';
import type { Ga4Emulator } from './index.ts';
import { errorExample, metadataExample, runReportExample } from './fixtures.ts';

const world = generateWorld({ seed: 42, scale: 'tiny' });
/** A pinned clock (mutable): 2026-11-01 15:00 UTC, the day after the world ends. */
let clock = Date.parse('2026-11-01T15:00:00Z');

type Report = {
  dimensionHeaders: { name: string }[];
  metricHeaders: { name: string; type: string }[];
  rows?: { dimensionValues: { value: string }[]; metricValues: { value: string }[] }[];
  rowCount?: number;
  metadata: { dataLossFromOtherRow?: boolean; currencyCode: string; timeZone: string };
  propertyQuota?: Record<string, { consumed: number; remaining: number }>;
  kind: string;
};

let emu: Ga4Emulator;
let server: EmulatorServer;
let env: Record<string, string>;
let token: string;

async function getToken(): Promise<string> {
  const res = await fetch(env.GOOGLE_OAUTH_TOKEN_URL as string, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', client_id: env.GOOGLE_CLIENT_ID as string, client_secret: env.GOOGLE_CLIENT_SECRET as string, refresh_token: env.GOOGLE_REFRESH_TOKEN as string }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function report(body: unknown, opts: { property?: string; auth?: string | null } = {}): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.auth !== null) headers.authorization = `Bearer ${opts.auth ?? token}`;
  const res = await fetch(`${env.GA4_BASE_URL}/v1beta/properties/${opts.property ?? env.GA4_PROPERTY_ID}:runReport`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const CORE = {
  dimensions: ['date', 'sessionSource', 'sessionMedium', 'sessionCampaignName', 'sessionDefaultChannelGroup'].map((name) => ({ name })),
  metrics: ['sessions', 'engagedSessions', 'keyEvents', 'totalUsers'].map((name) => ({ name })),
};

const worldRows = [...world.ga4Daily()];
const sumWorld = (from: string, to: string) => worldRows.filter((r) => r.date >= from && r.date <= to).reduce((s, r) => s + r.sessions, 0);

beforeAll(async () => {
  emu = createGa4Emulator(world, { now: () => clock, otherRowLimit: 200 });
  server = await startEmulatorServer({ routes: emu.routes });
  env = emu.env(server.origin);
  token = await getToken();
});
afterAll(async () => {
  await server.close();
});

describe('GA4 emulator: runReport', () => {
  it('answers in the documented RunReportResponse shape, with propertyQuota when asked', async () => {
    const res = await report({ ...CORE, dimensions: [{ name: 'date' }, { name: 'sessionSource' }], metrics: [{ name: 'sessions' }, { name: 'keyEvents' }], dateRanges: [{ startDate: '2026-10-01', endDate: '2026-10-01' }], returnPropertyQuota: true });
    expect(res.status).toBe(200);
    const { metadata, ...rest } = res.body as Report;
    const { metadata: exampleMeta, ...example } = runReportExample;
    expect(shapeOf(rest)).toEqual(shapeOf(example));
    const { dataLossFromOtherRow: _loss, ...metaWithoutLoss } = exampleMeta;
    expect(shapeOf(metadata)).toEqual(shapeOf(metaWithoutLoss));
    const body = res.body as Report;
    expect(body.metricHeaders).toEqual([{ name: 'sessions', type: 'TYPE_INTEGER' }, { name: 'keyEvents', type: 'TYPE_FLOAT' }]);
    expect(body.metadata).toEqual({ currencyCode: 'USD', timeZone: world.ga4Property.timeZone });
    expect(body.kind).toBe('analyticsData#runReport');
    // Every value is a string; the day's sessions sum to the world's.
    const sessions = (body.rows ?? []).reduce((s, r) => s + Number(r.metricValues[0]?.value), 0);
    expect(sessions).toBe(sumWorld('2026-10-01', '2026-10-01'));
    expect(body.propertyQuota?.tokensPerHour?.consumed).toBeGreaterThan(0);
  });

  it('leaves out propertyQuota unless asked, and rows/rowCount on an empty report', async () => {
    const res = await report({ ...CORE, dateRanges: [{ startDate: '2020-01-01', endDate: '2020-01-31' }] });
    expect(res.status).toBe(200);
    const body = res.body as Report;
    expect(body.propertyQuota).toBeUndefined();
    expect(body.rows).toBeUndefined();
    expect(body.rowCount).toBeUndefined();
    expect(body.dimensionHeaders).toHaveLength(5);
  });

  it('pages with limit/offset: rowCount is the whole result, pages concatenate to it', async () => {
    const range = { startDate: '2026-10-01', endDate: '2026-10-07' };
    const full = (await report({ ...CORE, dateRanges: [range], limit: '250000' })).body as Report;
    const total = full.rowCount as number;
    expect(total).toBeGreaterThan(20);
    const pages: Report[] = [];
    for (let offset = 0; offset < total; offset += 20) pages.push((await report({ ...CORE, dateRanges: [range], limit: '20', offset: String(offset) })).body as Report);
    expect(pages.every((p) => p.rowCount === total)).toBe(true);
    expect(pages.flatMap((p) => p.rows ?? [])).toEqual(full.rows);
    // A limit above 250,000 is clamped, not refused.
    expect((await report({ ...CORE, dateRanges: [range], limit: 999_999 })).status).toBe(200);
  });

  it('aggregates to the requested dimensions, orders by orderBys and resolves relative dates in the property time zone', async () => {
    const res = (await report({ dimensions: [{ name: 'sessionDefaultChannelGroup' }], metrics: [{ name: 'sessions' }, { name: 'engagementRate' }], dateRanges: [{ startDate: '31daysAgo', endDate: 'yesterday' }], orderBys: [{ metric: { metricName: 'sessions' }, desc: true }] })).body as Report;
    const values = (res.rows ?? []).map((r) => Number(r.metricValues[0]?.value));
    expect(values).toEqual([...values].sort((a, b) => b - a));
    // 2026-11-01 15:00 UTC is 11-01 in New York: yesterday is 10-31, 31 days ago is 10-01.
    expect(values.reduce((a, b) => a + b, 0)).toBe(sumWorld('2026-10-01', '2026-10-31'));
    expect(res.metricHeaders[1]).toEqual({ name: 'engagementRate', type: 'TYPE_FLOAT' });
    expect(Number(res.rows?.[0]?.metricValues[1]?.value)).toBeGreaterThan(0);
    expect(Number(res.rows?.[0]?.metricValues[1]?.value)).toBeLessThanOrEqual(1);
  });

  it('folds a result above the cardinality limit into "(other)" rows per date, flags dataLossFromOtherRow, keeps the totals', async () => {
    const month = (await report({ ...CORE, dateRanges: [{ startDate: '2026-09-01', endDate: '2026-10-31' }], limit: 100_000 })).body as Report;
    expect(month.metadata.dataLossFromOtherRow).toBe(true);
    expect(shapeOf(month.metadata)).toEqual(shapeOf(runReportExample.metadata));
    const others = (month.rows ?? []).filter((r) => r.dimensionValues[1]?.value === '(other)');
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((r) => /^\d{8}$/.test(r.dimensionValues[0]?.value ?? '') && r.dimensionValues.slice(1).every((v) => v.value === '(other)'))).toBe(true);
    const sessions = (month.rows ?? []).reduce((s, r) => s + Number(r.metricValues[0]?.value), 0);
    expect(sessions).toBe(sumWorld('2026-09-01', '2026-10-31'));
    // One day is below the limit: no (other), no flag.
    const day = (await report({ ...CORE, dateRanges: [{ startDate: '2026-10-01', endDate: '2026-10-01' }] })).body as Report;
    expect(day.metadata.dataLossFromOtherRow).toBeUndefined();
  });

  it('refuses bad requests with google.rpc.Status bodies naming the problem', async () => {
    const bad = await report({ dimensions: [{ name: 'sessionSauce' }], metrics: [{ name: 'sessions' }], dateRanges: [{ startDate: '2026-10-01', endDate: '2026-10-02' }] });
    expect(bad.status).toBe(400);
    expect(shapeOf(bad.body)).toEqual(shapeOf(errorExample));
    expect((bad.body as typeof errorExample).error.message).toMatch(/sessionSauce is not a valid dimension/);
    expect((await report({ ...CORE, dateRanges: [{ startDate: '2026-10-05', endDate: '2026-10-01' }] })).status).toBe(400);
    expect((await report({ ...CORE, dateRanges: [{ startDate: '2026-13-01', endDate: '2026-10-01' }] })).status).toBe(400);
    const wrong = await report({ ...CORE, dateRanges: [{ startDate: 'yesterday', endDate: 'yesterday' }] }, { property: '1' });
    expect(wrong.status).toBe(403);
    expect((wrong.body as typeof errorExample).error.status).toBe('PERMISSION_DENIED');
    expect((await report({ ...CORE, dateRanges: [{ startDate: 'yesterday', endDate: 'yesterday' }] }, { auth: null })).status).toBe(401);
    expect((await report({ ...CORE, dateRanges: [{ startDate: 'yesterday', endDate: 'yesterday' }] }, { auth: 'ya29.forged' })).status).toBe(401);
  });

  it('serves malformed rows and drifted fields when the store says so, and restated numbers', async () => {
    const key = worldRows.find((r) => r.date === '2026-10-03') as (typeof worldRows)[number];
    emu.store.malform(key, 'non_numeric_metric');
    emu.store.addField('sessionAttribution', 'last_click');
    const later = worldRows.find((r) => r.date === '2026-10-04') as (typeof worldRows)[number];
    emu.store.restate(later, { sessions: 99_999 });
    try {
      const res = (await report({ ...CORE, dateRanges: [{ startDate: '2026-10-03', endDate: '2026-10-04' }] })).body as Report;
      const rows = (res.rows ?? []) as Array<NonNullable<Report['rows']>[number] & { sessionAttribution?: string }>;
      const broken = rows.find((r) => r.dimensionValues[0]?.value === '20261003' && r.dimensionValues[1]?.value === key.sessionSource && r.dimensionValues[3]?.value === key.sessionCampaignName && r.dimensionValues[2]?.value === key.sessionMedium);
      expect(broken?.metricValues[0]?.value).toBe('twelve');
      expect(rows.every((r) => r.sessionAttribution === 'last_click')).toBe(true);
      expect(rows.some((r) => r.metricValues[0]?.value === '99999')).toBe(true);
    } finally {
      emu.store.repair(key);
      emu.store.restate(later, { sessions: later.sessions });
    }
  });
});

describe('GA4 emulator: rows that split or vanish as the data settles', () => {
  it('serves a key split across two channel groups as two rows (one without the channel dimension), and a removed row not at all', async () => {
    const local = createGa4Emulator(world, { now: () => clock, otherRowLimit: 200 });
    const srv = await startEmulatorServer({ routes: local.routes });
    try {
      const localEnv = local.env(srv.origin);
      const day = worldRows.filter((r) => r.date === '2026-10-20' && r.sessions >= 4);
      const [split, gone] = day as [(typeof worldRows)[number], (typeof worldRows)[number]];
      local.store.splitChannelGroup(split, 'Cross-network', { sessions: 3, engagedSessions: 1, keyEvents: 0, totalUsers: 2 });
      local.store.remove(gone);
      const res = await fetch(`${localEnv.GA4_BASE_URL}/v1beta/properties/${localEnv.GA4_PROPERTY_ID}:runReport`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ ...CORE, dateRanges: [{ startDate: '2026-10-20', endDate: '2026-10-20' }] }),
      });
      const rows = ((await res.json()) as Report).rows ?? [];
      const of = (r: (typeof worldRows)[number]) =>
        rows.filter((x) => x.dimensionValues[1]?.value === r.sessionSource && x.dimensionValues[2]?.value === r.sessionMedium && x.dimensionValues[3]?.value === r.sessionCampaignName);
      expect(of(split).map((x) => [x.dimensionValues[4]?.value, x.metricValues[0]?.value]).sort()).toEqual(
        [['Cross-network', '3'], [split.sessionDefaultChannelGroup, String(split.sessions - 3)]].sort(),
      );
      expect(of(gone)).toEqual([]);
      // The day's total is the world's less the removed row.
      expect(rows.reduce((t, x) => t + Number(x.metricValues[0]?.value), 0)).toBe(sumWorld('2026-10-20', '2026-10-20') - gone.sessions);
      expect(() => local.store.remove(gone)).toThrow(/no GA4 row/);
    } finally {
      await srv.close();
    }
  });
});

describe('GA4 emulator: property quota', () => {
  it('deducts tokens from every token quota, refills on the hour, and answers 429 RESOURCE_EXHAUSTED when exhausted', async () => {
    const local = createGa4Emulator(world, { now: () => clock, quota: { tokensPerHour: 5, tokensPerProjectPerHour: 5 }, tokenCost: () => 2 });
    const srv = await startEmulatorServer({ routes: local.routes });
    try {
      let bearer = token;
      const call = async () => {
        const res = await fetch(`${srv.origin}/v1beta/properties/${world.ga4Property.id}:runReport`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
          body: JSON.stringify({ ...CORE, dateRanges: [{ startDate: 'yesterday', endDate: 'yesterday' }], returnPropertyQuota: true }),
        });
        return { status: res.status, body: (await res.json()) as Report & typeof errorExample };
      };
      const first = await call();
      expect(first.body.propertyQuota).toMatchObject({ tokensPerHour: { consumed: 2, remaining: 3 }, tokensPerDay: { consumed: 2, remaining: 199_998 }, tokensPerProjectPerHour: { consumed: 2, remaining: 3 }, concurrentRequests: { consumed: 0, remaining: 10 } });
      await call();
      const third = await call();
      expect(third.body.propertyQuota?.tokensPerHour).toEqual({ consumed: 2, remaining: 0 });
      const refused = await call();
      expect(refused.status).toBe(429);
      expect(refused.body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED', message: expect.stringMatching(/tokens per hour/) });
      expect(local.quota.refused).toBe(1);
      clock += 3_600_000;
      bearer = await getToken();
      expect((await call()).status).toBe(200);
      // The daily quota: nearly spent, then gone.
      local.quota.setUsed({ day: 200_000 });
      const daily = await call();
      expect(daily.status).toBe(429);
      expect(daily.body.error.message).toMatch(/tokens per day/);
    } finally {
      clock -= 3_600_000;
      await srv.close();
    }
  });
});

describe('GA4 emulator: getMetadata', () => {
  it('lists the dimensions and metrics available, in the documented Metadata shape', async () => {
    const res = await fetch(`${env.GA4_BASE_URL}/v1beta/properties/${env.GA4_PROPERTY_ID}/metadata`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Omit<typeof metadataExample, 'metrics'> & { metrics: Array<{ apiName: string; type: string; expression?: string }> };
    expect(shapeOf({ ...body, metrics: [body.metrics[0]] })).toEqual(shapeOf(metadataExample));
    expect(body.name).toBe(`properties/${env.GA4_PROPERTY_ID}/metadata`);
    expect(body.dimensions.map((d) => d.apiName)).toEqual(expect.arrayContaining(['date', 'sessionSource', 'sessionMedium', 'sessionCampaignName', 'sessionDefaultChannelGroup']));
    expect(body.metrics.find((m) => m.apiName === 'keyEvents')?.type).toBe('TYPE_FLOAT');
    expect(body.metrics.find((m) => m.apiName === 'engagementRate')?.expression).toBe('engagedSessions/sessions');
  });

  it('exposes the variables a connector needs', () => {
    expect(env).toMatchObject({ GA4_BASE_URL: server.origin, GA4_PROPERTY_ID: world.ga4Property.id, GOOGLE_OAUTH_TOKEN_URL: `${server.origin}/token` });
    expect(env.GOOGLE_REFRESH_TOKEN).toBeTruthy();
  });
});

describe('GA4 emulator: data faults', () => {
  it('restates the trailing days and malforms rows deterministically by seed', async () => {
    const { mulberry32 } = await import('../prng.ts');
    const run = () => {
      const e = createGa4Emulator(world, { now: () => clock });
      const target = e.store.faultTarget();
      target.restate?.(3, mulberry32(7));
      const ids = target.malformRandom?.(2, mulberry32(8)) ?? [];
      return { e, ids };
    };
    const a = run();
    const b = run();
    expect(a.ids).toEqual(b.ids);
    expect(a.ids).toHaveLength(2);
    const changed = a.e.store.rows().filter((r) => {
      const w = worldRows.find((x) => x.date === r.date && x.sessionSource === r.sessionSource && x.sessionMedium === r.sessionMedium && x.sessionCampaignName === r.sessionCampaignName);
      return w !== undefined && w.sessions !== r.sessions;
    });
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((r) => r.date >= '2026-10-29')).toBe(true);
    expect(a.e.store.rows()).toEqual(b.e.store.rows());
    for (const id of a.ids) expect(a.e.store.malformKind(id)).toBeDefined();
  });
});

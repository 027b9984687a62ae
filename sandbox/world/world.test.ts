import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidDateError, generateWorld, opportunityProbability, sfChecksum, type Channel, type Person, type World } from './index.ts';
import { InvalidScaleError } from './catalog.ts';

/** sha256 over every stream and the metadata, one JSON document per line. */
function worldHash(w: World): string {
  const h = createHash('sha256');
  const feed = (label: string, items: Iterable<unknown>) => {
    h.update(`#${label}\n`);
    for (const x of items) h.update(`${JSON.stringify(x)}\n`);
  };
  feed('meta', [
    { start: w.startDate, end: w.endDate, adAccounts: w.adAccounts, campaigns: w.campaigns, emails: w.marketingEmails, ga4: w.ga4Property, fx: w.fxEurUsd },
  ]);
  feed('accounts', w.accounts());
  feed('people', w.people());
  feed('opportunities', w.opportunities());
  feed('touchpoints', w.touchpoints());
  feed('members', w.campaignMembers());
  feed('emailSends', w.emailSends());
  feed('adDaily', w.adDaily());
  feed('ga4Daily', w.ga4Daily());
  feed('truth', [w.groundTruth()]);
  return h.digest('hex');
}

function localHour(iso: string, timeZone: string): number {
  return Number(new Intl.DateTimeFormat('en-US', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(new Date(iso)));
}

function localDate(iso: string, timeZone: string): string {
  // en-CA formats as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));
}

describe('determinism', () => {
  it('same seed gives a byte-identical tiny and demo world; another seed a different one', () => {
    for (const scale of ['tiny', 'demo'] as const) {
      const a = worldHash(generateWorld({ seed: 7, scale }));
      const b = worldHash(generateWorld({ seed: 7, scale }));
      expect(a).toBe(b);
      expect(worldHash(generateWorld({ seed: 8, scale }))).not.toBe(a);
    }
  });

  it('streams regenerate identically, in any order', () => {
    const w = generateWorld({ scale: 'tiny' });
    const first = JSON.stringify([...w.people()]);
    // Consume other streams first: nothing carries over between them.
    for (const _ of w.ga4Daily()) void _;
    for (const _ of w.adDaily()) void _;
    expect(JSON.stringify([...w.people()])).toBe(first);
    // A fresh world that only ever asks for people gives the same people.
    expect(JSON.stringify([...generateWorld({ scale: 'tiny' }).people()])).toBe(first);
  });

  it('the endDate option moves the world and nothing depends on the clock', () => {
    const w = generateWorld({ scale: 'tiny', endDate: '2025-03-31' });
    expect(w.endDate).toBe('2025-03-31');
    expect(w.dates[w.dates.length - 1]).toBe('2025-03-31');
    expect(w.dates).toHaveLength(92);
    for (const t of w.touchpoints()) expect(t.at <= '2025-04-01T06:00:00.000Z').toBe(true);
  });

  it('accepts a numeric scale as a multiplier of the demo population', () => {
    const half = generateWorld({ scale: 0.5 });
    const demo = generateWorld({ scale: 'demo' });
    expect(half.accountCount).toBe(demo.accountCount / 2);
    expect(half.campaigns).toHaveLength(demo.campaigns.length);
    let n = 0;
    for (const _ of half.people()) n++;
    expect(n).toBeGreaterThan(1500);
    expect(n).toBeLessThan(2500);
  });

  it('rejects a malformed endDate', () => {
    expect(() => generateWorld({ endDate: '31/10/2026' })).toThrow(InvalidDateError);
  });

  it('rejects an unknown scale', () => {
    expect(() => generateWorld({ scale: 'huge' as unknown as 'tiny' })).toThrow(InvalidScaleError);
  });
});

describe('shape of the demo world', () => {
  const w = generateWorld({ scale: 'demo' });
  const people = [...w.people()];
  const opps = [...w.opportunities()];
  const touches = people.reduce((s, p) => s + p.touchpoints.length, 0);

  it('has the documented size', () => {
    expect(w.dates).toHaveLength(365);
    expect(w.campaigns).toHaveLength(16);
    expect(people.length).toBeGreaterThan(3000);
    expect(people.length).toBeLessThan(5000);
    expect(touches).toBeGreaterThan(18_000);
    expect(touches).toBeLessThan(32_000);
    expect(opps.length).toBeGreaterThan(400);
    expect(opps.length).toBeLessThan(800);
  });

  it('computes the Salesforce case-safe id suffix', () => {
    expect(sfChecksum('70130000001tcyI')).toBe('AAQ');
    expect(sfChecksum('00558000001N0Ke')).toBe('AAK');
  });

  it('has vendor-shaped accounts and ids', () => {
    const google = w.adAccounts.filter((a) => a.platform === 'google_ads');
    const meta = w.adAccounts.filter((a) => a.platform === 'meta_ads');
    expect(google.map((a) => [a.currency, a.timeZone])).toEqual([['USD', 'America/New_York'], ['EUR', 'Europe/Berlin']]);
    expect(meta.map((a) => [a.currency, a.timeZone])).toEqual([['USD', 'America/Los_Angeles'], ['EUR', 'Europe/Dublin']]);
    for (const a of google) expect(a.id).toMatch(/^[1-9]\d{9}$/);
    for (const a of meta) expect(a.id).toMatch(/^[1-9]\d{14}$/);
    expect(w.ga4Property.id).toMatch(/^\d{9}$/);
    const ids = new Set(w.campaigns.map((c) => c.id));
    expect(ids.size).toBe(w.campaigns.length);
    expect(new Set(w.campaigns.map((c) => c.utmCampaign)).size).toBe(w.campaigns.length);
    for (const c of w.campaigns) {
      if (c.platform === 'google_ads' || c.platform === 'meta_ads') expect(c.id).toMatch(/^\d{11,18}$/);
      if (c.platform === 'salesforce') expect(c.id).toMatch(/^701\w{15}$/);
    }
    for (const p of people.slice(0, 500)) {
      if (p.crm === 'salesforce') {
        expect(p.crmId).toMatch(/^00Q\w{15}$/);
        expect(p.crmId.slice(15)).toBe(sfChecksum(p.crmId.slice(0, 15)));
      } else {
        expect(p.crmId).toMatch(/^\d+$/);
      }
    }
    const channels = new Set(w.campaigns.map((c) => c.channel));
    expect([...channels].sort()).toEqual(['Display', 'Email', 'Events', 'Paid Search', 'Paid Social']);
    const crmSplit = people.filter((p) => p.crm === 'salesforce').length / people.length;
    expect(crmSplit).toBeGreaterThan(0.5);
    expect(crmSplit).toBeLessThan(0.7);
  });

  it('paid campaigns have a budget change inside their flight', () => {
    for (const c of w.campaigns.filter((x) => x.dailyBudgetMicros !== undefined)) {
      const change = c.budgetChange;
      expect(change).toBeDefined();
      expect(change!.date > c.startDate && change!.date <= c.endDate).toBe(true);
      expect(change!.dailyBudgetMicros).not.toBe(c.dailyBudgetMicros);
    }
  });
});

describe('consistency (tiny and demo)', () => {
  for (const scale of ['tiny', 'demo'] as const) {
    const w = generateWorld({ scale, seed: 11 });
    const people = [...w.people()];
    const byId = new Map(people.map((p) => [p.id, p]));
    const opps = [...w.opportunities()];

    it(`${scale}: journeys are sorted, inside the world, and tagged consistently`, () => {
      for (const p of people) {
        expect(p.touchpoints.length).toBeGreaterThan(0);
        let prev = '';
        for (const t of p.touchpoints) {
          expect(t.at >= prev).toBe(true);
          prev = t.at;
          expect(t.personId).toBe(p.id);
          expect(w.dates.includes(t.date)).toBe(true);
          if (t.campaignId !== undefined) {
            const c = w.campaigns[t.campaignIndex!]!;
            expect(c.id).toBe(t.campaignId);
            expect(t.utm_id).toBe(c.id);
            expect(t.utm_campaign).toBe(c.utmCampaign);
            expect(t.channel).toBe(c.channel);
          }
          if (t.session && t.campaignId !== undefined) {
            const url = new URL(t.landingPage!);
            expect(url.searchParams.get('utm_source')).toBe(t.utm_source);
            expect(url.searchParams.get('utm_medium')).toBe(t.utm_medium);
            expect(url.searchParams.get('utm_campaign')).toBe(t.utm_campaign);
          }
        }
        // Lead creation is the first form fill.
        const firstForm = p.touchpoints.find((t) => t.kind === 'form_fill');
        expect(firstForm?.at).toBe(p.lifecycle.leadAt);
        const l = p.lifecycle;
        const order = [l.leadAt, l.mqlAt, l.sqlAt, l.opportunityAt, l.customerAt].filter((x): x is string => x !== undefined);
        expect([...order].sort()).toEqual(order);
      }
    });

    it(`${scale}: touch dates are the GA4-local date and the same in every ad account's zone`, () => {
      // Every 10th demo person: enough to cover the whole year (Intl formatting is slow).
      const sample = scale === 'tiny' ? people : people.filter((_, i) => i % 10 === 0);
      for (const p of sample) {
        for (const t of p.touchpoints) {
          expect(localDate(t.at, w.ga4Property.timeZone)).toBe(t.date);
          // Website visits happen in business hours, across both DST changes of the demo year
          // (a pre-lead visit may be pulled to 07:59:59 to precede its form fill).
          if (t.session && t.kind !== 'email_click') {
            const h = localHour(t.at, w.ga4Property.timeZone);
            expect(h >= 7 && h < 18).toBe(true);
          }
          if (t.campaignIndex !== undefined && t.session) {
            const c = w.campaigns[t.campaignIndex]!;
            const acct = w.adAccounts.find((a) => a.id === c.adAccountId);
            if (acct) expect(localDate(t.at, acct.timeZone)).toBe(t.date);
          }
        }
      }
    });

    it(`${scale}: opportunities follow lead creation, have ordered stages and positive amounts`, () => {
      expect(opps.length).toBeGreaterThan(0);
      const sfStages = ['Prospecting', 'Qualification', 'Proposal', 'Negotiation', 'Closed Won', 'Closed Lost'];
      const hsStages = ['appointmentscheduled', 'qualifiedtobuy', 'presentationscheduled', 'decisionmakerboughtin', 'contractsent', 'closedwon', 'closedlost'];
      for (const o of opps) {
        const primary = byId.get(o.primaryPersonId)!;
        expect(primary).toBeDefined();
        expect(o.createdAt > primary.lifecycle.leadAt).toBe(true);
        expect(o.createdAt > primary.touchpoints[0]!.at).toBe(true);
        expect(o.amountCents).toBeGreaterThan(0);
        expect(Number.isInteger(o.amountCents)).toBe(true);
        expect(o.stageHistory[0]!.at).toBe(o.createdAt);
        const times = o.stageHistory.map((s) => s.at);
        expect([...times].sort()).toEqual(times);
        const allowed = o.crm === 'salesforce' ? sfStages : hsStages;
        for (const s of o.stageHistory) expect(allowed).toContain(s.stage);
        expect(o.stage).toBe(o.stageHistory[o.stageHistory.length - 1]!.stage);
        const closedStage = /^closed ?(won|lost)$/i.test(o.stage);
        expect(closedStage).toBe(o.isClosed);
        if (o.isWon) expect(/won$/i.test(o.stage)).toBe(true);
        expect(o.closeDate >= o.createdAt.slice(0, 10)).toBe(true);
        const acct = primary.accountId;
        expect(o.accountId).toBe(acct);
        expect(o.contactRoles.filter((r) => r.isPrimary)).toHaveLength(1);
        expect(o.contactRoles.length).toBeLessThanOrEqual(3);
        for (const r of o.contactRoles) {
          const member = byId.get(r.personId)!;
          expect(member.accountId).toBe(acct);
          expect(member.opportunityIds).toContain(o.id);
          expect(member.lifecycle.leadAt <= o.createdAt).toBe(true);
          if (o.crm === 'salesforce') {
            expect(member.sfContactId).toMatch(/^003/);
            expect(member.convertedAt! <= o.createdAt).toBe(true);
          }
        }
        expect(primary.lifecycle.opportunityAt).toBe(o.createdAt);
        expect(primary.lifecycle.sqlAt! < o.createdAt).toBe(true);
        // Pre-decision touches are strictly before the opportunity.
        for (const t of primary.touchpoints) expect(t.preDecision).toBe(t.at < o.createdAt);
      }
    });

    it(`${scale}: identified activity never exceeds clicks or sessions, and daily sums agree`, () => {
      const ad = new Map<string, number>();
      for (const r of w.adDaily()) {
        expect(r.spendMicros % 10_000).toBe(0);
        expect(r.impressions).toBeGreaterThanOrEqual(r.clicks);
        const c = w.campaigns[r.campaignIndex]!;
        expect(r.date >= c.startDate && r.date <= c.endDate).toBe(true);
        expect(r.dailyBudgetMicros).toBe(r.date >= c.budgetChange!.date ? c.budgetChange!.dailyBudgetMicros : c.dailyBudgetMicros);
        ad.set(`${r.date}|${c.utmCampaign}`, r.clicks);
      }
      const identified = new Map<string, number>();
      const formFillsByDay = new Map<string, number>();
      const sessionsByDay = new Map<string, number>();
      const platformFormFills = new Map<string, number>();
      for (const p of people) {
        for (const t of p.touchpoints) {
          if (!t.session) continue;
          const k = `${t.date}|${t.utm_source}|${t.utm_medium}|${t.utm_campaign}`;
          identified.set(k, (identified.get(k) ?? 0) + 1);
          sessionsByDay.set(t.date, (sessionsByDay.get(t.date) ?? 0) + 1);
          if (t.kind === 'form_fill') {
            formFillsByDay.set(t.date, (formFillsByDay.get(t.date) ?? 0) + 1);
            if (t.campaignIndex !== undefined) platformFormFills.set(`${t.date}|${t.utm_campaign}`, (platformFormFills.get(`${t.date}|${t.utm_campaign}`) ?? 0) + 1);
          }
        }
      }
      const keyEventsByDay = new Map<string, number>();
      const identifiedByDay = new Map<string, number>();
      let paidRows = 0;
      for (const r of w.ga4Daily()) {
        const k = `${r.date}|${r.sessionSource}|${r.sessionMedium}|${r.sessionCampaignName}`;
        expect(r.identifiedSessions).toBe(identified.get(k) ?? 0);
        expect(r.sessions).toBeGreaterThanOrEqual(r.identifiedSessions);
        expect(r.engagedSessions).toBeLessThanOrEqual(r.sessions);
        expect(r.totalUsers).toBeLessThanOrEqual(r.sessions);
        expect(r.keyEvents).toBeLessThanOrEqual(r.engagedSessions);
        const clicks = ad.get(`${r.date}|${r.sessionCampaignName}`);
        if (clicks !== undefined) {
          paidRows++;
          expect(r.sessions).toBeLessThanOrEqual(clicks);
        }
        keyEventsByDay.set(r.date, (keyEventsByDay.get(r.date) ?? 0) + r.keyEvents);
        identifiedByDay.set(r.date, (identifiedByDay.get(r.date) ?? 0) + r.identifiedSessions);
      }
      expect(paidRows).toBeGreaterThan(0);
      expect(keyEventsByDay).toEqual(new Map([...keyEventsByDay.keys()].map((d) => [d, formFillsByDay.get(d) ?? 0])));
      expect([...formFillsByDay.values()].reduce((s, v) => s + v, 0)).toBe([...keyEventsByDay.values()].reduce((s, v) => s + v, 0));
      expect(identifiedByDay).toEqual(new Map([...identifiedByDay.keys()].map((d) => [d, sessionsByDay.get(d) ?? 0])));
      // Platforms over-count the CRM's form fills.
      for (const r of w.adDaily()) {
        const crm = platformFormFills.get(`${r.date}|${w.campaigns[r.campaignIndex]!.utmCampaign}`) ?? 0;
        expect(r.conversions).toBeGreaterThanOrEqual(crm);
      }
    });

    it(`${scale}: email sends and campaign members match the touches`, () => {
      let opens = 0;
      let clicks = 0;
      for (const s of w.emailSends()) {
        const p = byId.get(s.personId)!;
        expect(s.recipient).toBe(p.email);
        expect(s.sentAt > p.lifecycle.leadAt).toBe(true);
        if (s.openedAt) {
          opens++;
          expect(s.openedAt > s.sentAt).toBe(true);
        }
        if (s.clickedAt) {
          clicks++;
          expect(s.openedAt! <= s.clickedAt).toBe(true);
        }
      }
      const touchCount = (kinds: string[]) => people.reduce((n, p) => n + p.touchpoints.filter((t) => kinds.includes(t.kind)).length, 0);
      expect(opens).toBe(touchCount(['email_open']));
      expect(clicks).toBe(touchCount(['email_click']));
      let attended = 0;
      let responded = 0;
      for (const m of w.campaignMembers()) {
        const p = byId.get(m.personId)!;
        expect(p.crm).toBe('salesforce');
        expect(w.campaigns[m.campaignIndex]!.platform).toBe('salesforce');
        if (m.status === 'Attended') attended++;
        if (m.hasResponded) responded++;
        expect(m.hasResponded).toBe(m.status !== 'Sent');
      }
      expect(attended).toBe(touchCount(['event_attended', 'webinar_attended']));
      const eventForms = people.reduce((n, p) => n + p.touchpoints.filter((t) => t.kind === 'form_fill' && t.channel === 'Events').length, 0);
      expect(responded).toBe(eventForms);
    });

    it(`${scale}: ground truth is non-negative and matches a recomputation from the touches`, () => {
      const gt = w.groundTruth();
      expect(JSON.parse(JSON.stringify(gt))).toEqual(gt);
      let expected = 0;
      let expectedOpps = 0;
      const incr = new Map<Channel, number>();
      for (const p of people as Person[]) {
        const counts: Partial<Record<Channel, number>> = {};
        for (const t of p.touchpoints) if (t.preDecision) counts[t.channel] = (counts[t.channel] ?? 0) + 1;
        expect(counts).toEqual(p.truth.channelTouches);
        if (p.truth.decisionAt === undefined) {
          expect(p.truth.pOpportunity).toBe(0);
          expect(p.opportunityIds.filter((id) => id === `O${p.index}`)).toEqual([]);
          continue;
        }
        // Independent noisy-OR from the manifest's parameters.
        let miss = 1 - gt.model.baseline;
        for (const [ch, n] of Object.entries(counts) as [Channel, number][]) miss *= (1 - gt.model.lift[ch]!) ** Math.min(n, gt.model.touchCap);
        const pOpp = 1 - miss;
        expect(pOpp).toBeCloseTo(p.truth.pOpportunity, 12);
        const value = p.truth.pWin * p.truth.potentialAmountUsd;
        expected += pOpp * value;
        expectedOpps += pOpp;
        for (const ch of Object.keys(counts) as Channel[]) {
          const pWithout = 1 - miss / (1 - gt.model.lift[ch]!) ** Math.min(counts[ch]!, gt.model.touchCap);
          expect(pWithout).toBeCloseTo(opportunityProbability(gt.model, counts, ch), 12);
          incr.set(ch, (incr.get(ch) ?? 0) + (pOpp - pWithout) * value);
        }
      }
      expect(gt.expectedWonRevenueUsd).toBeGreaterThan(0);
      expect(gt.expectedWonRevenueUsd).toBeCloseTo(expected, 3);
      expect(gt.expectedOpportunities).toBeCloseTo(expectedOpps, 6);
      let shares = 0;
      for (const c of gt.channels) {
        expect(c.incrementalWonRevenueUsd).toBeGreaterThanOrEqual(0);
        expect(c.incrementalWonRevenueUsd).toBeCloseTo(incr.get(c.channel) ?? 0, 3);
        shares += c.share;
      }
      expect(shares).toBeCloseTo(1, 9);
      // Removing a channel can never cost more than all revenue.
      expect(Math.max(...gt.channels.map((c) => c.incrementalWonRevenueUsd))).toBeLessThan(gt.expectedWonRevenueUsd);
      expect(gt.realized.opportunities).toBe(opps.length);
    });
  }

  it('writeManifest writes the ground truth as JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mpm-world-'));
    try {
      const w = generateWorld({ scale: 'tiny' });
      const path = join(dir, 'nested', 'truth.json');
      w.writeManifest(path);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(w.groundTruth());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('FX rates cover every date and stay plausible', () => {
    const w = generateWorld({ scale: 'tiny' });
    for (const d of w.dates) {
      const r = w.fxEurUsd[d]!;
      expect(r).toBeGreaterThan(0.9);
      expect(r).toBeLessThan(1.3);
      expect(w.fxToUsd('EUR', d)).toBe(r);
    }
    expect(w.fxToUsd('USD', w.dates[0]!)).toBe(1);
    expect(w.fxToUsd('EUR', '2000-01-01')).toBe(w.fxEurUsd[w.startDate]);
  });
});

import { describe, expect, it } from 'vitest';
import { attributeTouches, InvalidTouchError, RULE_MODELS, type RuleModel, type Touch } from './rules.ts';

type Flags = Partial<Pick<Touch, 'isFirst' | 'isLeadCreation' | 'isOppCreation' | 'isClosedWon'>>;
const DAY = 86_400_000;
function t(id: string, day: number, channel: string, flags: Flags = {}): Touch {
  return { id, at: day * DAY, channel, isLeadCreation: false, isOppCreation: false, isClosedWon: false, ...flags };
}
const credits = (model: RuleModel, touches: Touch[], config = {}) =>
  Object.fromEntries(attributeTouches(model, touches, config).map((c) => [c.id, c.credit]));
const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

// A full B2B journey: first touch t1, lead created on t3, opportunity on t5, closed won on t7.
const journey: Touch[] = [
  t('t5', 5, 'Webinar', { isOppCreation: true }),
  t('t1', 1, 'Paid Search'),
  t('t3', 3, 'Email', { isLeadCreation: true }),
  t('t2', 2, 'Social'),
  t('t7', 7, 'Email', { isClosedWon: true }),
  t('t4', 4, 'Direct'),
  t('t6', 6, 'Direct'),
];

describe('single-position and linear models', () => {
  it('returns touches in (at, id) order', () => {
    expect(attributeTouches('linear', journey).map((c) => c.id)).toEqual(['t1', 't2', 't3', 't4', 't5', 't6', 't7']);
  });

  it('first_touch, last_touch, linear', () => {
    expect(credits('first_touch', journey)).toMatchObject({ t1: 1, t2: 0, t7: 0 });
    expect(credits('last_touch', journey)).toMatchObject({ t1: 0, t7: 1 });
    for (const v of Object.values(credits('linear', journey))) expect(v).toBeCloseTo(1 / 7, 15);
  });

  it('first_touch honours an explicit isFirst flag', () => {
    const touches = [t('a', 1, 'X'), t('b', 2, 'Y', { isFirst: true }), t('c', 3, 'Z')];
    expect(credits('first_touch', touches)).toEqual({ a: 0, b: 1, c: 0 });
  });

  it('last_non_direct skips Direct, and falls back to the last touch when all are Direct', () => {
    // t7 (Email) is last and not direct.
    expect(credits('last_non_direct', journey).t7).toBe(1);
    // Without t7 the last touch t6 is Direct -> t5 (Webinar).
    expect(credits('last_non_direct', journey.filter((x) => x.id !== 't7')).t5).toBe(1);
    expect(credits('last_non_direct', [t('a', 1, 'Direct'), t('b', 2, 'Direct')])).toEqual({ a: 0, b: 1 });
    // Configurable direct list.
    expect(credits('last_non_direct', journey, { directChannels: ['Direct', 'Email'] }).t5).toBe(1);
  });

  it('breaks ties in time by id (code-unit order, "B" < "a")', () => {
    const tied = [t('b', 1, 'X'), t('a', 1, 'Y'), t('B', 1, 'Z')];
    expect(attributeTouches('linear', tied).map((c) => c.id)).toEqual(['B', 'a', 'b']);
    expect(credits('first_touch', tied)).toEqual({ B: 1, a: 0, b: 0 });
    expect(credits('last_touch', tied)).toEqual({ B: 0, a: 0, b: 1 });
  });
});

describe('time_decay', () => {
  it('halves the weight per half-life, normalised', () => {
    // Half-life 1 day; ages 2, 1, 0 days -> 1/4, 1/2, 1 -> 1/7, 2/7, 4/7.
    const touches = [t('a', 0, 'X'), t('b', 1, 'Y'), t('c', 2, 'Z')];
    const r = credits('time_decay', touches, { halfLifeDays: 1 });
    expect(r.a).toBeCloseTo(1 / 7, 14);
    expect(r.b).toBeCloseTo(2 / 7, 14);
    expect(r.c).toBeCloseTo(4 / 7, 14);
    // A later conversion multiplies every weight by the same factor: same result.
    const later = credits('time_decay', touches, { halfLifeDays: 1, conversionAt: 10 * DAY });
    expect(later.a).toBeCloseTo(1 / 7, 14);
  });

  it('uses the default 7-day half-life and clamps touches after the conversion to age 0', () => {
    // Ages 7 and 0 days -> 1/2 and 1 -> 1/3, 2/3.
    const r = credits('time_decay', [t('a', 0, 'X'), t('b', 7, 'Y')]);
    expect(r.a).toBeCloseTo(1 / 3, 14);
    // conversionAt = day 1 with half-life 1: ages 1, 0, 0 (clamped) -> 1/2, 1, 1 -> 0.2, 0.4, 0.4.
    const c = credits('time_decay', [t('a', 0, 'X'), t('b', 1, 'Y'), t('c', 2, 'Z')], { halfLifeDays: 1, conversionAt: DAY });
    expect(c.a).toBeCloseTo(0.2, 14);
    expect(c.c).toBeCloseTo(0.4, 14);
  });

  it('does not underflow on very old paths', () => {
    // Ages 20,000 and 19,999 days with a 1-day half-life: 2^-20000 underflows, the ratio 1:2 does not.
    const r = credits('time_decay', [t('a', 0, 'X'), t('b', 1, 'Y')], { halfLifeDays: 1, conversionAt: 20_000 * DAY });
    expect(r.a).toBeCloseTo(1 / 3, 14);
    expect(r.b).toBeCloseTo(2 / 3, 14);
  });
});

describe('U-shaped (40 first / 40 lead creation / 20 strictly between)', () => {
  it('full journey: t1 0.4, t2 (only touch between) 0.2, t3 0.4, later touches 0', () => {
    const r = credits('u_shaped', journey);
    expect(r.t1).toBeCloseTo(0.4, 15);
    expect(r.t2).toBeCloseTo(0.2, 15);
    expect(r.t3).toBeCloseTo(0.4, 15);
    expect(r.t4).toBe(0);
    expect(r.t7).toBe(0);
  });

  it('splits 20 % over several touches between', () => {
    // Between a and d: b and c get 0.1 each.
    const r = credits('u_shaped', [t('a', 1, 'X'), t('b', 2, 'Y'), t('c', 3, 'Z'), t('d', 4, 'W', { isLeadCreation: true })]);
    expect(r).toEqual({ a: 0.4, b: 0.1, c: 0.1, d: 0.4 });
  });

  it('50/50 when nothing lies between first and lead creation', () => {
    // 0.4 + 0.4, rest dropped -> 0.4 / 0.8 each. The touch after lead creation gets 0.
    const r = credits('u_shaped', [t('a', 1, 'X'), t('b', 2, 'Y', { isLeadCreation: true }), t('c', 3, 'Z')]);
    expect(r).toEqual({ a: 0.5, b: 0.5, c: 0 });
  });

  it('100 % when first touch and lead creation coincide', () => {
    const r = credits('u_shaped', [t('a', 1, 'X', { isLeadCreation: true }), t('b', 2, 'Y')]);
    expect(r).toEqual({ a: 1, b: 0 });
  });

  it('100 % to the first touch when lead creation is missing (its 40 % and the between 20 % go nowhere)', () => {
    const r = credits('u_shaped', [t('a', 1, 'X'), t('b', 2, 'Y'), t('c', 3, 'Z')]);
    expect(r).toEqual({ a: 1, b: 0, c: 0 });
  });
});

describe('W-shaped (30/30/30 + 10 over touches with no key moment)', () => {
  it('full journey: rest = t2, t4, t6, t7 (closed won is not a W key moment)', () => {
    const r = credits('w_shaped', journey);
    expect(r.t1).toBeCloseTo(0.3, 15);
    expect(r.t3).toBeCloseTo(0.3, 15);
    expect(r.t5).toBeCloseTo(0.3, 15);
    for (const id of ['t2', 't4', 't6', 't7']) expect(r[id]).toBeCloseTo(0.025, 15);
    expect(total(r)).toBeCloseTo(1, 15);
  });

  it('missing opportunity creation: 0.3, 0.05, 0.3, 0.05 renormalised by 0.7', () => {
    const r = credits('w_shaped', [t('a', 1, 'X'), t('b', 2, 'Y'), t('c', 3, 'Z', { isLeadCreation: true }), t('d', 4, 'W')]);
    expect(r.a).toBeCloseTo(3 / 7, 15);
    expect(r.b).toBeCloseTo(1 / 14, 15);
    expect(r.c).toBeCloseTo(3 / 7, 15);
    expect(r.d).toBeCloseTo(1 / 14, 15);
  });

  it('lead and opportunity creation on one touch add up (0.3 / 0.1 / 0.6)', () => {
    const r = credits('w_shaped', [t('a', 1, 'X'), t('b', 2, 'Y'), t('c', 3, 'Z', { isLeadCreation: true, isOppCreation: true })]);
    expect(r.a).toBeCloseTo(0.3, 15);
    expect(r.b).toBeCloseTo(0.1, 15);
    expect(r.c).toBeCloseTo(0.6, 15);
  });

  it('all key moments on a single touch: 0.9 then rest dropped -> 1', () => {
    const r = credits('w_shaped', [t('a', 1, 'X', { isLeadCreation: true, isOppCreation: true })]);
    expect(r).toEqual({ a: 1 });
  });
});

describe('full path (22.5 x 4 + 10 over the rest)', () => {
  it('full journey: rest = t2, t4, t6', () => {
    const r = credits('full_path', journey);
    for (const id of ['t1', 't3', 't5', 't7']) expect(r[id]).toBeCloseTo(0.225, 15);
    for (const id of ['t2', 't4', 't6']) expect(r[id]).toBeCloseTo(0.1 / 3, 15);
  });

  it('only a first touch: 0.225 and 0.05 + 0.05, divided by 0.325', () => {
    const r = credits('full_path', [t('a', 1, 'X'), t('b', 2, 'Y'), t('c', 3, 'Z')]);
    expect(r.a).toBeCloseTo(9 / 13, 14);
    expect(r.b).toBeCloseTo(2 / 13, 14);
    expect(r.c).toBeCloseTo(2 / 13, 14);
  });
});

describe('custom position weights', () => {
  it('reproduces W-shaped and full path from their weights', () => {
    expect(credits('custom', journey, { custom: { first: 0.3, lead: 0.3, opportunity: 0.3, rest: 0.1 } })).toEqual(
      credits('w_shaped', journey),
    );
    expect(
      credits('custom', journey, { custom: { first: 0.225, lead: 0.225, opportunity: 0.225, won: 0.225, rest: 0.1 } }),
    ).toEqual(credits('full_path', journey));
  });

  it('weights need not sum to 1; a 0-weight moment is not a key moment', () => {
    // first 2, won 1, rest 1: rest = every touch but t1 and t7 (5 touches, 0.2 each); total 4.
    const r = credits('custom', journey, { custom: { first: 2, won: 1, rest: 1 } });
    expect(r.t1).toBeCloseTo(0.5, 15);
    expect(r.t7).toBeCloseTo(0.25, 15);
    expect(r.t3).toBeCloseTo(0.05, 15);
  });

  it('all positive weights on missing moments and rest 0: equal shares (the credits still sum to 1)', () => {
    expect(credits('custom', [t('a', 1, 'X')], { custom: { won: 1 } })).toEqual({ a: 1 });
    expect(credits('custom', [t('a', 1, 'X'), t('b', 2, 'Y'), t('c', 3, 'X'), t('d', 4, 'Z')], { custom: { lead: 1, won: 2 } }))
      .toEqual({ a: 0.25, b: 0.25, c: 0.25, d: 0.25 });
  });
});

describe('every model', () => {
  it('gives a single-touch path 100 %', () => {
    for (const model of RULE_MODELS) expect(credits(model, [t('only', 1, 'X')])).toEqual({ only: 1 });
  });

  it('gives an empty path nothing', () => {
    for (const model of RULE_MODELS) expect(attributeTouches(model, [])).toEqual([]);
  });

  it('sums to 1 with non-negative credits on a 150-touch path', () => {
    const long = Array.from({ length: 150 }, (_, i) =>
      t(`x${String(i).padStart(3, '0')}`, i * 0.5, i % 3 === 0 ? 'Direct' : `ch${i % 7}`, {
        isLeadCreation: i === 40,
        isOppCreation: i === 90,
        isClosedWon: i === 149,
      }),
    );
    for (const model of RULE_MODELS) {
      const r = attributeTouches(model, long, { custom: { first: 1, lead: 1, opportunity: 1, won: 1, rest: 1 } });
      expect(r).toHaveLength(150);
      expect(total(Object.fromEntries(r.map((c) => [c.id, c.credit])))).toBeCloseTo(1, 12);
      for (const c of r) expect(c.credit).toBeGreaterThanOrEqual(0);
    }
    // U-shaped: the 39 touches strictly between x000 and x040 (x001..x039) share 0.2.
    expect(credits('u_shaped', long).x020).toBeCloseTo(0.2 / 39, 15);
  });

  it('rejects duplicate ids and non-finite times', () => {
    expect(() => attributeTouches('linear', [t('a', 1, 'X'), t('a', 2, 'Y')])).toThrow(InvalidTouchError);
    expect(() => attributeTouches('linear', [t('a', Number.NaN, 'X')])).toThrow(InvalidTouchError);
  });
});

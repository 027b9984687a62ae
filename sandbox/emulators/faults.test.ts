import { describe, expect, it } from 'vitest';
import { FaultInjector, FaultSpecError, parseFaultSpec, vendorErrorResponse } from './faults.ts';
import type { FaultDecision } from './faults.ts';

describe('parseFaultSpec', () => {
  it('parses seed, transport rules with modes and args, and data rules', () => {
    const spec = parseFaultSpec('seed=7; salesforce.query:rate_limit=3@every=5, hubspot.search:slow=1500@p=0.2;*:reset@first=2;ga4:expired_token;salesforce:delete=3;hubspot:mutate_during_paging=2');
    expect(spec.seed).toBe(7);
    expect(spec.transport).toEqual([
      { api: 'salesforce', route: 'query', fault: 'rate_limit', arg: 3, mode: { kind: 'every', n: 5 } },
      { api: 'hubspot', route: 'search', fault: 'slow', arg: 1500, mode: { kind: 'probability', p: 0.2 } },
      { api: '*', route: '*', fault: 'reset', arg: undefined, mode: { kind: 'first', n: 2 } },
      { api: 'ga4', route: '*', fault: 'expired_token', arg: undefined, mode: undefined },
    ]);
    expect(spec.data).toEqual([
      { api: 'salesforce', fault: 'delete', arg: 3 },
      { api: 'hubspot', fault: 'mutate_during_paging', arg: 2 },
    ]);
  });

  it('rejects unknown apis, kinds, modes and bad numbers', () => {
    expect(() => parseFaultSpec('marketo:reset')).toThrow(FaultSpecError);
    expect(() => parseFaultSpec('salesforce:explode')).toThrow(/unknown fault kind/);
    expect(() => parseFaultSpec('salesforce:reset@sometimes=1')).toThrow(/unknown fault mode/);
    expect(() => parseFaultSpec('salesforce:reset@p=2')).toThrow(/probability/);
    expect(() => parseFaultSpec('*:delete=1')).toThrow(/specific api/);
    expect(() => parseFaultSpec('salesforce')).toThrow(/needs/);
  });
});

function run(injector: FaultInjector, n: number, route = 'query'): (string | null)[] {
  const out: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    const d: FaultDecision | null = injector.decide({ api: 'salesforce', route, token: 't' });
    out.push(d ? d.fault : null);
  }
  return out;
}

describe('FaultInjector', () => {
  it('is deterministic by seed: same seed, same fault sequence; other seed, other sequence', () => {
    const spec = 'salesforce.query:server_error@p=0.3;salesforce.query:slow=5@p=0.3';
    const a = run(new FaultInjector(`seed=11;${spec}`), 200);
    const b = run(new FaultInjector(`seed=11;${spec}`), 200);
    const c = run(new FaultInjector(`seed=12;${spec}`), 200);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const errors = a.filter((x) => x === 'server_error').length;
    // p = 0.3 over 200 draws: far from 0 and from 200.
    expect(errors).toBeGreaterThan(30);
    expect(errors).toBeLessThan(90);
  });

  it('does not let traffic on other routes shift a route\'s probabilistic schedule', () => {
    const spec = 'seed=5;salesforce:unavailable@p=0.5';
    const alone = run(new FaultInjector(spec), 50, 'query');
    const mixed = new FaultInjector(spec);
    const interleaved: (string | null)[] = [];
    for (let i = 0; i < 50; i++) {
      mixed.decide({ api: 'salesforce', route: 'describe' });
      interleaved.push(mixed.decide({ api: 'salesforce', route: 'query' })?.fault ?? null);
    }
    expect(interleaved).toEqual(alone);
  });

  it('supports every-nth and first-n modes and counts stats per route and kind', () => {
    const inj = new FaultInjector({ seed: 1, transport: [{ api: 'hubspot', route: 'search', fault: 'rate_limit', mode: { kind: 'every', n: 3 } }, { api: 'hubspot', route: '*', fault: 'reset', mode: { kind: 'first', n: 2 } }] });
    const seq: (string | null)[] = [];
    for (let i = 0; i < 7; i++) seq.push(inj.decide({ api: 'hubspot', route: 'search' })?.fault ?? null);
    // rule 1 fires on the 3rd and 6th search; rule 2 on the first two requests its rule reached.
    expect(seq).toEqual(['reset', 'reset', 'rate_limit', null, null, 'rate_limit', null]);
    // first=2 counts per route: the first request of another route is reset too.
    expect(inj.decide({ api: 'hubspot', route: 'list' })?.fault).toBe('reset');
    const stats = inj.stats();
    expect(stats.routes['hubspot.search']).toEqual({ requests: 7, faults: { reset: 2, rate_limit: 2 } });
    expect(stats.routes['hubspot.list']).toEqual({ requests: 1, faults: { reset: 1 } });
    expect(stats.totalRequests).toBe(8);
    expect(stats.totalFaults).toEqual({ reset: 3, rate_limit: 2 });
  });

  it('expires a token once and keeps it dead; a new token passes', () => {
    const inj = new FaultInjector('salesforce:expired_token@first=1');
    expect(inj.decide({ api: 'salesforce', route: 'query', token: 'old' })?.fault).toBe('expired_token');
    expect(inj.decide({ api: 'salesforce', route: 'query', token: 'old' })?.fault).toBe('expired_token');
    expect(inj.isExpired('old')).toBe(true);
    expect(inj.decide({ api: 'salesforce', route: 'query', token: 'new' })).toBeNull();
    // Requests without a token never consume an expired_token rule.
    const inj2 = new FaultInjector('salesforce:expired_token@first=1');
    expect(inj2.decide({ api: 'salesforce', route: 'token' })).toBeNull();
    expect(inj2.decide({ api: 'salesforce', route: 'query', token: 'x' })?.fault).toBe('expired_token');
  });
});

describe('vendorErrorResponse', () => {
  const ctx = { retryAfterSeconds: 2, seed: 1, n: 1 };
  it('shapes rate limits the way each vendor does', () => {
    expect(vendorErrorResponse('salesforce', 'rate_limit', ctx)).toMatchObject({ status: 403, body: [{ errorCode: 'REQUEST_LIMIT_EXCEEDED' }] });
    const hs = vendorErrorResponse('hubspot', 'rate_limit', ctx);
    expect(hs.status).toBe(429);
    expect(hs.headers).toMatchObject({ 'retry-after': '2', 'x-hubspot-ratelimit-remaining': '0' });
    expect(hs.body).toMatchObject({ errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' });
    expect(vendorErrorResponse('google_ads', 'rate_limit', ctx)).toMatchObject({ status: 429, body: { error: { status: 'RESOURCE_EXHAUSTED' } } });
    expect(vendorErrorResponse('ga4', 'rate_limit', ctx)).toMatchObject({ status: 429, body: { error: { status: 'RESOURCE_EXHAUSTED' } } });
    const codes = new Set<number>();
    for (let n = 0; n < 5; n++) {
      const meta = vendorErrorResponse('meta_ads', 'rate_limit', { ...ctx, n });
      codes.add((meta.body as { error: { code: number } }).error.code);
    }
    expect([...codes].sort((a, b) => a - b)).toEqual([4, 17, 32, 613, 80004]);
  });

  it('shapes expired sessions per vendor', () => {
    expect(vendorErrorResponse('salesforce', 'expired_token', ctx)).toEqual({ status: 401, headers: {}, body: [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }] });
    expect(vendorErrorResponse('hubspot', 'expired_token', ctx)).toMatchObject({ status: 401, body: { category: 'EXPIRED_AUTHENTICATION' } });
    expect(vendorErrorResponse('meta_ads', 'expired_token', ctx)).toMatchObject({ body: { error: { code: 190 } } });
    expect(vendorErrorResponse('google_ads', 'expired_token', ctx)).toMatchObject({ status: 401, body: { error: { status: 'UNAUTHENTICATED' } } });
  });
});

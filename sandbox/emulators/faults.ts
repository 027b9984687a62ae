/**
 * Fault injection for the sandbox emulators.
 *
 * Two families:
 *  - transport faults, applied by the server around a route handler and keyed by (api, route):
 *    rate limits, 500/503, slow responses, timeouts, connection resets, truncated JSON and expired
 *    access tokens;
 *  - data faults, which are store mutations (malformed, modified, deleted records, mutations
 *    during a paged read, restated history). They are parsed here and applied by whoever owns
 *    the stores (sandbox/index.ts) through the {@link DataFaultTarget} interface.
 *
 * Everything is deterministic by seed: a probability draw for the n-th request of a route depends
 * only on (seed, rule, api, route, n), so concurrent traffic on other routes does not change it.
 *
 * String syntax (for `mpm sandbox start --faults SPEC`), rules separated by `;` or `,`:
 *
 *   seed=42
 *   <api>[.<route>]:<kind>[=<arg>][@<mode>]
 *
 *   api    salesforce | hubspot | google_ads | meta_ads | ga4 | oauth | *
 *   route  a route name registered by an emulator (e.g. query, search) or * (default)
 *   kind   transport: rate_limit[=retryAfterSeconds, default 1] | server_error | unavailable |
 *                     slow[=ms, default 2000] | timeout[=ms, default: hang until the client
 *                     gives up] | reset | truncate | expired_token
 *          data:      malform[=count] | modify[=count] | delete[=count] | mutate_during_paging[=page]
 *                     | restate[=days]  (count defaults to 1, page to 1, days to 7)
 *   mode   p=<0..1> (probability) | every=<n> (every n-th matching request) | first=<n> (the
 *          first n matching requests). Requests are counted per api.route, so `*:reset@first=1`
 *          resets the first request of every route. Default: first=1. Data faults ignore the mode.
 *
 * Example: `seed=7;salesforce.query:rate_limit@every=5;hubspot.search:slow=1500@p=0.2;
 *           *:reset@first=1;salesforce:delete=3`
 */
import type { ApiName } from './http.ts';
import { keyedUniform } from './prng.ts';

export const TRANSPORT_FAULT_KINDS = [
  'rate_limit',
  'server_error',
  'unavailable',
  'slow',
  'timeout',
  'reset',
  'truncate',
  'expired_token',
] as const;
export type TransportFaultKind = (typeof TRANSPORT_FAULT_KINDS)[number];

export const DATA_FAULT_KINDS = ['malform', 'modify', 'delete', 'mutate_during_paging', 'restate'] as const;
export type DataFaultKind = (typeof DATA_FAULT_KINDS)[number];

const API_NAMES: readonly ApiName[] = ['salesforce', 'hubspot', 'google_ads', 'meta_ads', 'ga4', 'oauth'];

export type FaultMode =
  | { kind: 'probability'; p: number }
  | { kind: 'every'; n: number }
  | { kind: 'first'; n: number };

export interface TransportFaultRule {
  /** `*` matches every API. */
  api: ApiName | '*';
  /** `*` matches every route of the API. */
  route: string;
  fault: TransportFaultKind;
  /** Default `{ kind: 'first', n: 1 }`. */
  mode?: FaultMode;
  /** rate_limit: Retry-After seconds (default 1). slow: delay ms (default 2000). timeout: hang ms
   * before the server itself drops the socket (default: never, the client must give up). */
  arg?: number;
}

export interface DataFaultRule {
  api: ApiName;
  fault: DataFaultKind;
  /** malform/modify/delete: how many records (default 1); mutate_during_paging: after which page
   * (default 1); restate: how many trailing days (default 7). */
  arg?: number;
}

export interface FaultSpec {
  /** Default 1. */
  seed?: number;
  transport?: TransportFaultRule[];
  data?: DataFaultRule[];
}

export class FaultSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultSpecError';
  }
}

function parseMode(text: string): FaultMode {
  const [key, raw] = text.split('=');
  const value = Number(raw);
  if (raw === undefined || !Number.isFinite(value)) throw new FaultSpecError(`bad fault mode '${text}'`);
  switch (key) {
    case 'p':
      if (value < 0 || value > 1) throw new FaultSpecError(`probability out of [0,1] in '${text}'`);
      return { kind: 'probability', p: value };
    case 'every':
      if (!Number.isInteger(value) || value < 1) throw new FaultSpecError(`every needs an integer >= 1 in '${text}'`);
      return { kind: 'every', n: value };
    case 'first':
      if (!Number.isInteger(value) || value < 0) throw new FaultSpecError(`first needs an integer >= 0 in '${text}'`);
      return { kind: 'first', n: value };
    default:
      throw new FaultSpecError(`unknown fault mode '${text}' (use p=, every= or first=)`);
  }
}

function isTransportKind(kind: string): kind is TransportFaultKind {
  return (TRANSPORT_FAULT_KINDS as readonly string[]).includes(kind);
}
function isDataKind(kind: string): kind is DataFaultKind {
  return (DATA_FAULT_KINDS as readonly string[]).includes(kind);
}
function isApiName(name: string): name is ApiName {
  return (API_NAMES as readonly string[]).includes(name);
}

/** Parses the `--faults` string syntax documented at the top of this file. */
export function parseFaultSpec(text: string): FaultSpec {
  const spec: FaultSpec = { seed: 1, transport: [], data: [] };
  for (const rawPart of text.split(/[;,]/)) {
    const part = rawPart.trim();
    if (part === '') continue;
    if (part.startsWith('seed=')) {
      const seed = Number(part.slice(5));
      if (!Number.isInteger(seed)) throw new FaultSpecError(`bad seed in '${part}'`);
      spec.seed = seed;
      continue;
    }
    const colon = part.indexOf(':');
    if (colon < 0) throw new FaultSpecError(`fault rule '${part}' needs '<api>[.<route>]:<kind>'`);
    const target = part.slice(0, colon);
    const dot = target.indexOf('.');
    const api = dot < 0 ? target : target.slice(0, dot);
    const route = dot < 0 ? '*' : target.slice(dot + 1);
    let rest = part.slice(colon + 1);
    let mode: FaultMode | undefined;
    const at = rest.indexOf('@');
    if (at >= 0) {
      mode = parseMode(rest.slice(at + 1));
      rest = rest.slice(0, at);
    }
    const eq = rest.indexOf('=');
    const kind = eq < 0 ? rest : rest.slice(0, eq);
    let arg: number | undefined;
    if (eq >= 0) {
      arg = Number(rest.slice(eq + 1));
      if (!Number.isFinite(arg) || arg < 0) throw new FaultSpecError(`bad fault argument in '${part}'`);
    }
    if (api !== '*' && !isApiName(api)) throw new FaultSpecError(`unknown api '${api}' in '${part}'`);
    if (isTransportKind(kind)) {
      spec.transport?.push({ api, route: route === '' ? '*' : route, fault: kind, mode, arg });
    } else if (isDataKind(kind)) {
      if (api === '*') throw new FaultSpecError(`data fault '${part}' needs a specific api`);
      spec.data?.push({ api, fault: kind, arg });
    } else {
      throw new FaultSpecError(`unknown fault kind '${kind}' in '${part}'`);
    }
  }
  return spec;
}

/** What the server must do for one request. */
export type FaultDecision =
  | { kind: 'respond'; fault: TransportFaultKind; status: number; headers: Record<string, string>; body: unknown }
  | { kind: 'delay'; fault: 'slow'; ms: number }
  | { kind: 'hang'; fault: 'timeout'; ms: number | null }
  | { kind: 'reset'; fault: 'reset' }
  | { kind: 'truncate'; fault: 'truncate' };

export interface RouteStats {
  requests: number;
  faults: Partial<Record<TransportFaultKind, number>>;
}

export interface FaultStats {
  /** Keyed `api.route`. */
  routes: Record<string, RouteStats>;
  totalRequests: number;
  totalFaults: Partial<Record<TransportFaultKind, number>>;
}

/** One request as the injector sees it. */
export interface FaultRequestInfo {
  api: ApiName;
  route: string;
  /** The bearer/access token the request carries, if any (used by expired_token). */
  token?: string;
}

function correlationId(seed: number, n: number): string {
  const hex = (x: number) => Math.floor(x * 0xffffffff).toString(16).padStart(8, '0');
  const a = hex(keyedUniform(seed, `cid-a-${n}`));
  const b = hex(keyedUniform(seed, `cid-b-${n}`));
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-a${a.slice(1, 4)}-${b}${a.slice(0, 4)}`;
}

/** Meta's throttling error codes, rotated deterministically.
 * Source: Meta "Graph API - Rate Limiting" and "Marketing API - Rate Limiting" pages. */
const META_THROTTLE = [
  { code: 4, message: 'Application request limit reached' },
  { code: 17, message: 'User request limit reached' },
  { code: 32, message: 'Page request limit reached' },
  { code: 613, message: 'Calls to this api have exceeded the rate limit.' },
  { code: 80004, message: 'There have been too many calls to this ad-account. Wait a bit and try again.' },
] as const;

/**
 * Vendor-shaped error responses. Where a vendor answers with a status other than the generic one
 * it is kept (Salesforce signals the org API limit with 403 REQUEST_LIMIT_EXCEEDED, Graph API
 * throttling and OAuth errors come back as 400 with an error code), so connectors are tested
 * against what the vendor really sends.
 */
export function vendorErrorResponse(
  api: ApiName,
  fault: 'rate_limit' | 'server_error' | 'unavailable' | 'expired_token',
  ctx: { retryAfterSeconds: number; seed: number; n: number },
): { status: number; headers: Record<string, string>; body: unknown } {
  const retry = String(ctx.retryAfterSeconds);
  const cid = correlationId(ctx.seed, ctx.n);
  switch (api) {
    case 'salesforce':
      // Salesforce REST API Developer Guide, "Status Codes and Error Responses".
      if (fault === 'rate_limit') {
        return {
          status: 403,
          headers: { 'retry-after': retry },
          body: [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }],
        };
      }
      if (fault === 'expired_token') {
        return { status: 401, headers: {}, body: [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }] };
      }
      if (fault === 'unavailable') {
        return { status: 503, headers: {}, body: [{ message: 'Server is unavailable', errorCode: 'SERVER_UNAVAILABLE' }] };
      }
      return {
        status: 500,
        headers: {},
        body: [{ message: `An unexpected error occurred. Please include this ErrorId if you contact support: ${ctx.n}-${cid.slice(0, 8)}`, errorCode: 'UNKNOWN_EXCEPTION' }],
      };
    case 'hubspot':
      // HubSpot "API usage guidelines and limits" and "Error handling" pages.
      if (fault === 'rate_limit') {
        return {
          status: 429,
          headers: {
            'retry-after': retry,
            'x-hubspot-ratelimit-max': '100',
            'x-hubspot-ratelimit-remaining': '0',
            'x-hubspot-ratelimit-interval-milliseconds': '10000',
          },
          body: {
            status: 'error',
            message: 'You have reached your ten_secondly_rolling limit.',
            errorType: 'RATE_LIMIT',
            correlationId: cid,
            policyName: 'TEN_SECONDLY_ROLLING',
            groupName: 'publicapi:private-app-api-calls-ten-secondly:0',
          },
        };
      }
      if (fault === 'expired_token') {
        return {
          status: 401,
          headers: {},
          body: {
            status: 'error',
            message: 'The OAuth token used to make this call expired 1 second(s) ago.',
            correlationId: cid,
            category: 'EXPIRED_AUTHENTICATION',
          },
        };
      }
      return {
        status: fault === 'unavailable' ? 503 : 500,
        headers: {},
        body: {
          status: 'error',
          message: fault === 'unavailable' ? 'Service Unavailable' : 'internal error',
          correlationId: cid,
          category: fault === 'unavailable' ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_ERROR',
        },
      };
    case 'meta_ads': {
      const fbtrace_id = `A${cid.replace(/-/g, '').slice(0, 22)}`;
      if (fault === 'rate_limit') {
        const pick = META_THROTTLE[ctx.n % META_THROTTLE.length] ?? META_THROTTLE[0];
        return {
          status: 400,
          headers: { 'retry-after': retry },
          body: { error: { message: `(#${pick.code}) ${pick.message}`, type: 'OAuthException', is_transient: true, code: pick.code, fbtrace_id } },
        };
      }
      if (fault === 'expired_token') {
        return {
          status: 400,
          headers: { 'www-authenticate': 'OAuth "Facebook Platform" "invalid_token" "Error validating access token"' },
          body: { error: { message: 'Error validating access token: Session has expired.', type: 'OAuthException', code: 190, error_subcode: 463, fbtrace_id } },
        };
      }
      return {
        status: fault === 'unavailable' ? 503 : 500,
        headers: {},
        body: {
          error: fault === 'unavailable'
            ? { message: 'Service temporarily unavailable', type: 'OAuthException', is_transient: true, code: 2, fbtrace_id }
            : { message: 'An unknown error occurred', type: 'OAuthException', is_transient: true, code: 1, fbtrace_id },
        },
      };
    }
    case 'google_ads':
    case 'ga4':
    case 'oauth':
      // google.rpc.Status JSON mapping, as the Google Ads and GA4 Data REST APIs return it.
      if (fault === 'rate_limit') {
        return {
          status: 429,
          headers: { 'retry-after': retry },
          body: {
            error: {
              code: 429,
              message: api === 'ga4'
                ? 'Exhausted property tokens per hour for a project per property. These quota tokens will return in under an hour.'
                : 'Resource has been exhausted (e.g. check quota).',
              status: 'RESOURCE_EXHAUSTED',
            },
          },
        };
      }
      if (fault === 'expired_token') {
        return {
          status: 401,
          headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
          body: {
            error: {
              code: 401,
              message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
              status: 'UNAUTHENTICATED',
            },
          },
        };
      }
      return {
        status: fault === 'unavailable' ? 503 : 500,
        headers: {},
        body: {
          error: fault === 'unavailable'
            ? { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' }
            : { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' },
        },
      };
  }
}

function modeFires(mode: FaultMode, n: number, draw: () => number): boolean {
  switch (mode.kind) {
    case 'probability':
      return draw() < mode.p;
    case 'every':
      return n % mode.n === 0;
    case 'first':
      return n <= mode.n;
  }
}

/**
 * Decides, per request, whether and which transport fault to inject; counts requests and faults.
 * Rules are evaluated in order; the first that fires wins.
 */
export class FaultInjector {
  readonly seed: number;
  readonly rules: readonly TransportFaultRule[];
  readonly dataRules: readonly DataFaultRule[];
  private readonly routeCounts = new Map<string, RouteStats>();
  /** Matching requests per (rule, api, route): modes count per route, so traffic on one route
   * never shifts another route's schedule. */
  private readonly ruleCounts = new Map<string, number>();
  private readonly expiredTokens = new Set<string>();
  private totalRequests = 0;

  constructor(spec: FaultSpec | string = {}) {
    const parsed = typeof spec === 'string' ? parseFaultSpec(spec) : spec;
    this.seed = parsed.seed ?? 1;
    this.rules = parsed.transport ?? [];
    this.dataRules = parsed.data ?? [];
  }

  /** True once an expired_token fault has been injected for this token. */
  isExpired(token: string): boolean {
    return this.expiredTokens.has(token);
  }

  private routeStats(api: ApiName, route: string): RouteStats {
    const key = `${api}.${route}`;
    let stats = this.routeCounts.get(key);
    if (!stats) {
      stats = { requests: 0, faults: {} };
      this.routeCounts.set(key, stats);
    }
    return stats;
  }

  private count(stats: RouteStats, fault: TransportFaultKind): void {
    stats.faults[fault] = (stats.faults[fault] ?? 0) + 1;
  }

  /** Called once per request that matched a route. Returns null when no fault applies. */
  decide(info: FaultRequestInfo): FaultDecision | null {
    this.totalRequests++;
    const stats = this.routeStats(info.api, info.route);
    stats.requests++;
    const n = stats.requests;

    // A token expired earlier stays dead: the client has to refresh, as with a real expiry.
    if (info.token !== undefined && this.expiredTokens.has(info.token)) {
      this.count(stats, 'expired_token');
      const res = vendorErrorResponse(info.api, 'expired_token', { retryAfterSeconds: 0, seed: this.seed, n });
      return { kind: 'respond', fault: 'expired_token', ...res };
    }

    // Every matching rule counts the request (so `every=N` means every N-th request even when
    // another rule fired on some of them); the first rule that fires wins.
    let winner: TransportFaultRule | undefined;
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i] as TransportFaultRule;
      if (rule.api !== '*' && rule.api !== info.api) continue;
      if (rule.route !== '*' && rule.route !== info.route) continue;
      if (rule.fault === 'expired_token' && info.token === undefined) continue;
      const countKey = `${i}|${info.api}|${info.route}`;
      const ruleN = (this.ruleCounts.get(countKey) ?? 0) + 1;
      this.ruleCounts.set(countKey, ruleN);
      const mode = rule.mode ?? { kind: 'first', n: 1 };
      const fires = modeFires(mode, ruleN, () => keyedUniform(this.seed, `${i}|${info.api}|${info.route}|${ruleN}`));
      if (fires && !winner) winner = rule;
    }
    if (winner) {
      const rule = winner;
      this.count(stats, rule.fault);
      switch (rule.fault) {
        case 'rate_limit':
        case 'server_error':
        case 'unavailable': {
          const res = vendorErrorResponse(info.api, rule.fault, { retryAfterSeconds: rule.arg ?? 1, seed: this.seed, n });
          return { kind: 'respond', fault: rule.fault, ...res };
        }
        case 'expired_token': {
          this.expiredTokens.add(info.token as string);
          const res = vendorErrorResponse(info.api, 'expired_token', { retryAfterSeconds: 0, seed: this.seed, n });
          return { kind: 'respond', fault: 'expired_token', ...res };
        }
        case 'slow':
          return { kind: 'delay', fault: 'slow', ms: rule.arg ?? 2000 };
        case 'timeout':
          return { kind: 'hang', fault: 'timeout', ms: rule.arg ?? null };
        case 'reset':
          return { kind: 'reset', fault: 'reset' };
        case 'truncate':
          return { kind: 'truncate', fault: 'truncate' };
      }
    }
    return null;
  }

  /** Counts a request that matched no route (404), so totals reflect all traffic. */
  countUnrouted(): void {
    this.totalRequests++;
  }

  stats(): FaultStats {
    const routes: Record<string, RouteStats> = {};
    const totalFaults: Partial<Record<TransportFaultKind, number>> = {};
    for (const [key, value] of this.routeCounts) {
      routes[key] = { requests: value.requests, faults: { ...value.faults } };
      for (const [kind, count] of Object.entries(value.faults) as [TransportFaultKind, number][]) {
        totalFaults[kind] = (totalFaults[kind] ?? 0) + count;
      }
    }
    return { routes, totalRequests: this.totalRequests, totalFaults };
  }
}

/**
 * Stores that accept data faults implement this (all methods deterministic given `rand`).
 * Methods a store does not support are left out; sandbox/index.ts skips those rules.
 */
export interface DataFaultTarget {
  /** Breaks `count` records: missing required fields, wrong types. Returns the ids touched. */
  malformRandom?(count: number, rand: () => number): string[];
  /** Modifies `count` records (bumping their modification stamps). */
  modifyRandom?(count: number, rand: () => number): string[];
  /** Deletes/archives `count` records. */
  deleteRandom?(count: number, rand: () => number): string[];
  /** After page `page` of the next paged read is served, modifies a record of that read. */
  mutateDuringPaging?(page: number, rand: () => number): void;
  /** Restates the trailing `days` of history (ads stores). */
  restate?(days: number, rand: () => number): void;
}

/**
 * GA4 Data API (v1beta) emulator over the world's one property:
 * - `POST /v1beta/properties/{id}:runReport` (see report.ts for the request/response subset),
 *   with `propertyQuota` in the answer when `returnPropertyQuota` is true and 429 RESOURCE_EXHAUSTED
 *   once a token quota is used up (quota.ts);
 * - `GET /v1beta/properties/{id}/metadata` (getMetadata: the dimensions and metrics available);
 * - the Google OAuth token endpoint (shared implementation with the Google Ads emulator: both
 *   accept each other's tokens, so in the sandbox whichever module serves `/token` first is fine).
 *
 * Errors are google.rpc.Status JSON (`{ error: { code, message, status } }`), as the Data API's
 * REST surface answers (cloud.google.com/apis/design/errors).
 */
import { EmuHttpError } from '../http.ts';
import type { EmuRequest, EmuResponse, RouteDef } from '../http.ts';
import { GoogleOAuth, bearerToken } from '../google_ads/oauth.ts';
import type { GoogleOAuthOptions } from '../google_ads/oauth.ts';
import type { World } from '../../world/types.ts';
import { Ga4Quota } from './quota.ts';
import type { Ga4QuotaLimits } from './quota.ts';
import { Ga4RequestError, metadata, runReport } from './report.ts';
import { Ga4Store } from './store.ts';

export { Ga4Store, UnknownGa4RowError, rowKey } from './store.ts';
export type { Ga4DayRow, Ga4Metrics, Ga4MalformKind, Ga4RowKey } from './store.ts';
export { Ga4Quota, STANDARD_PROPERTY_QUOTA } from './quota.ts';
export type { Ga4QuotaLimits, PropertyQuotaJson, QuotaStatus } from './quota.ts';
export { DIMENSIONS, METRICS, MAX_LIMIT, DEFAULT_LIMIT } from './report.ts';

export interface Ga4EmulatorOptions {
  /** Above this many rows in one request's result, the tail is folded into "(other)". Default 50,000. */
  otherRowLimit?: number;
  /** Property quota limits. Default: a standard property ({@link STANDARD_PROPERTY_QUOTA}). */
  quota?: Partial<Ga4QuotaLimits>;
  /** Tokens a runReport costs. Default: 1 per started 30 days of range plus 1 per 10,000 rows scanned ("most requests consume fewer than 10 tokens"). */
  tokenCost?: (r: { days: number; scanned: number; returned: number }) => number;
  /** OAuth credentials; see {@link GoogleOAuthOptions}. Default derived from the seed. */
  oauth?: GoogleOAuthOptions;
  /** Serve `POST /token` from this module. Default true. */
  serveTokenEndpoint?: boolean;
  /** Clock (epoch ms): token expiry, quota windows, "today". Default Date.now. */
  now?: () => number;
}

export interface Ga4Emulator {
  routes: RouteDef[];
  store: Ga4Store;
  quota: Ga4Quota;
  oauth: GoogleOAuth;
  env(origin: string): Record<string, string>;
}

function googleError(status: number, rpcStatus: string, message: string): EmuHttpError {
  return new EmuHttpError(status, { error: { code: status, message, status: rpcStatus } });
}

function dayInZone(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}

export function createGa4Emulator(world: World, opts: Ga4EmulatorOptions = {}): Ga4Emulator {
  const now = opts.now ?? Date.now;
  const store = new Ga4Store(world);
  const oauth = new GoogleOAuth(world.seed, { now, ...opts.oauth });
  const quota = new Ga4Quota(opts.quota ?? {}, now);
  const otherRowLimit = opts.otherRowLimit ?? 50_000;
  const tokenCost = opts.tokenCost ?? ((r) => Math.ceil(r.days / 30) + Math.floor(r.scanned / 10_000));

  const authorize = (req: EmuRequest): void => {
    const state = oauth.check(bearerToken(req));
    if (state !== 'ok') {
      throw googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.');
    }
    if (req.params.propertyId !== store.property.id) {
      throw googleError(403, 'PERMISSION_DENIED', 'User does not have sufficient permissions for this property. To learn more about Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.');
    }
  };

  const report = (req: EmuRequest): EmuResponse => {
    authorize(req);
    const body = req.json<unknown>();
    const exhausted = quota.exhausted();
    if (exhausted) {
      quota.refused++;
      throw googleError(429, 'RESOURCE_EXHAUSTED', exhausted);
    }
    let result: ReturnType<typeof runReport>;
    try {
      result = runReport(store, body, { otherRowLimit, today: dayInZone(now(), store.property.timeZone) });
    } catch (err) {
      if (err instanceof Ga4RequestError) throw googleError(400, 'INVALID_ARGUMENT', err.message);
      throw err;
    }
    const returned = Array.isArray(result.body.rows) ? result.body.rows.length : 0;
    const state = quota.consume(Math.max(1, tokenCost({ days: result.days, scanned: result.scanned, returned })));
    const wantsQuota = (body as { returnPropertyQuota?: unknown }).returnPropertyQuota === true;
    const out = wantsQuota ? { ...result.body, propertyQuota: state } : result.body;
    return { status: 200, body: out };
  };

  const getMetadata = (req: EmuRequest): EmuResponse => {
    authorize(req);
    return { status: 200, body: metadata(store.property.id) };
  };

  const routes: RouteDef[] = [
    { api: 'ga4', route: 'runReport', method: 'POST', pattern: /^\/v1beta\/properties\/(?<propertyId>[^/:]+):runReport$/, handler: report },
    { api: 'ga4', route: 'getMetadata', method: 'GET', pattern: /^\/v1beta\/properties\/(?<propertyId>[^/:]+)\/metadata$/, handler: getMetadata },
  ];
  if (opts.serveTokenEndpoint ?? true) routes.unshift(oauth.tokenRoute());

  return {
    routes,
    store,
    quota,
    oauth,
    env: (origin: string) => ({
      ...oauth.env(origin),
      GA4_BASE_URL: origin,
      GA4_PROPERTY_ID: store.property.id,
    }),
  };
}

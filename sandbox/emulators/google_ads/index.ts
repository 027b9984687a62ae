/**
 * Google Ads API (REST) emulator: the OAuth token endpoint, `googleAds:searchStream` and
 * `googleAds:search` over the world's Google Ads customers.
 *
 * Wire formats:
 * - searchStream: `POST /vNN/customers/{customerId}/googleAds:searchStream`, body `{ query }`;
 *   answer a JSON array of SearchGoogleAdsStreamResponse batches `{ results[], fieldMask,
 *   requestId }` (Google Ads API reference, "SearchGoogleAdsStreamResponse";
 *   https://developers.google.com/google-ads/api/reference/rpc/v21/SearchGoogleAdsStreamResponse).
 * - search: `POST /vNN/customers/{customerId}/googleAds:search`, body `{ query, pageToken?,
 *   returnTotalResultsCount? }`; answer `{ results[], fieldMask, nextPageToken?,
 *   totalResultsCount?, requestId }` with a fixed page size of 10,000 rows (v17+ reject
 *   page_size: RequestError PAGE_SIZE_NOT_SUPPORTED).
 * - Headers (Google Ads API "API call structure"): `Authorization: Bearer`, `developer-token`
 *   (RequestError DEVELOPER_TOKEN_PARAMETER_MISSING when absent) and `login-customer-id` (the
 *   manager; AuthorizationError USER_PERMISSION_DENIED when a client account is reached without it).
 * - Errors: google.rpc.Status with a GoogleAdsFailure in `details` (Google Ads API reference,
 *   "GoogleAdsFailure": `errors[] { errorCode { <kind>Error: ENUM }, message }`, `requestId`).
 */
import { EmuHttpError } from '../http.ts';
import type { EmuRequest, EmuResponse, RouteDef } from '../http.ts';
import { fnv1a } from '../prng.ts';
import type { World } from '../../world/types.ts';
import { GaqlError } from './gaql.ts';
import { GoogleOAuth, bearerToken } from './oauth.ts';
import type { GoogleOAuthOptions } from './oauth.ts';
import { prepareQuery, runQuery } from './query.ts';
import { GoogleAdsStore } from './store.ts';
import type { GoogleAdsStoreOptions } from './store.ts';

export { GoogleAdsStore, UnknownAdRowError } from './store.ts';
export type { AdMetrics, GoogleAdsCampaign, GoogleAdsCustomer, GoogleAdsDay, GoogleAdsMalformKind, GoogleAdsStoreOptions } from './store.ts';
export { GoogleOAuth, GOOGLE_TOKEN_PATH } from './oauth.ts';
export type { GoogleOAuthOptions } from './oauth.ts';
export { parseGaql, GaqlError, toJsonPath } from './gaql.ts';
export type { GaqlQuery, GaqlCondition, GaqlOperator, GaqlOrder } from './gaql.ts';

export interface GoogleAdsEmulatorOptions extends GoogleAdsStoreOptions {
  /** The developer-token header value accepted. Default derived from the world seed (22 chars). */
  developerToken?: string;
  /** Rows per searchStream batch. Default 10,000 (the API's batch size). */
  batchSize?: number;
  /** Rows per `googleAds:search` page. Default 10,000 (fixed by the API since v17). */
  searchPageSize?: number;
  /** Require login-customer-id (the manager) for client accounts. Default true. */
  requireLoginCustomerId?: boolean;
  /** OAuth credentials and clock; see {@link GoogleOAuthOptions}. Default derived from the seed. */
  oauth?: GoogleOAuthOptions;
  /** Serve the `POST /token` route from this module. Default true. */
  serveTokenEndpoint?: boolean;
}

export interface GoogleAdsEmulator {
  routes: RouteDef[];
  store: GoogleAdsStore;
  oauth: GoogleOAuth;
  developerToken: string;
  env(origin: string): Record<string, string>;
  rateLimitError(retryAfterSeconds: number): EmuResponse;
}

/** The API version the failure `@type` names when the request path has none. */
const DEFAULT_VERSION = 'v21';

/** A google.rpc.Status body carrying a GoogleAdsFailure. */
export function googleAdsError(
  status: number,
  rpcStatus: string,
  message: string,
  errors: { errorCode: Record<string, string>; message: string; details?: unknown }[],
  requestId: string,
  version = DEFAULT_VERSION,
): EmuResponse {
  return {
    status,
    body: {
      error: {
        code: status,
        message,
        status: rpcStatus,
        details: [{ '@type': `type.googleapis.com/google.ads.googleads.${version}.errors.GoogleAdsFailure`, errors, requestId }],
      },
    },
  };
}

/**
 * The API's answer to an exhausted rate quota (Google Ads API "Rate limits" / QuotaError
 * RESOURCE_EXHAUSTED with QuotaErrorDetails{rateScope, rateName, retryDelay}).
 */
export function rateLimitError(retryAfterSeconds: number): EmuResponse {
  const res = googleAdsError(
    429,
    'RESOURCE_EXHAUSTED',
    'Resource has been exhausted (e.g. check quota).',
    [
      {
        errorCode: { quotaError: 'RESOURCE_EXHAUSTED' },
        message: `Too many requests. Retry in ${retryAfterSeconds} seconds.`,
        details: { quotaErrorDetails: { rateScope: 'ACCOUNT', rateName: 'Number of operations for basic access', retryDelay: `${retryAfterSeconds}s` } },
      },
    ],
    `quota${retryAfterSeconds}`,
  );
  return { ...res, headers: { 'retry-after': String(retryAfterSeconds) } };
}

export function createGoogleAdsEmulator(world: World, opts: GoogleAdsEmulatorOptions = {}): GoogleAdsEmulator {
  const store = new GoogleAdsStore(world, opts);
  const oauth = new GoogleOAuth(world.seed, opts.oauth);
  const developerToken = opts.developerToken ?? `emuDevTok${(fnv1a(`google-ads-dev|${world.seed}`) >>> 0).toString(36).padStart(7, '0')}abcdef`.slice(0, 22);
  const batchSize = opts.batchSize ?? 10_000;
  const pageSize = opts.searchPageSize ?? 10_000;
  const requireLogin = opts.requireLoginCustomerId ?? true;
  let requestCounter = 0;

  const nextRequestId = (): string => {
    requestCounter++;
    return (fnv1a(`gads|${world.seed}|${requestCounter}`).toString(36) + requestCounter.toString(36)).padStart(22, 'x').slice(-22);
  };

  /** Header, auth and customer checks shared by search and searchStream. Returns the request id. */
  const authorize = (req: EmuRequest): { requestId: string; version: string; customerId: string } => {
    const requestId = nextRequestId();
    const version = req.params.version ?? DEFAULT_VERSION;
    const customerId = req.params.customerId ?? '';
    const fail = (status: number, rpc: string, message: string, errorCode: Record<string, string>, detail = message): never => {
      const res = googleAdsError(status, rpc, message, [{ errorCode, message: detail }], requestId, version);
      throw new EmuHttpError(res.status, res.body, { 'request-id': requestId });
    };
    const tokenState = oauth.check(bearerToken(req));
    if (tokenState === 'missing') {
      throw new EmuHttpError(401, {
        error: {
          code: 401,
          message: 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
          status: 'UNAUTHENTICATED',
        },
      });
    }
    if (tokenState !== 'ok') {
      fail(401, 'UNAUTHENTICATED', 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.', {
        authenticationError: tokenState === 'expired' ? 'OAUTH_TOKEN_EXPIRED' : 'OAUTH_TOKEN_INVALID',
      }, tokenState === 'expired' ? 'OAuth token in the header has expired.' : 'OAuth token in the header is not valid.');
    }
    const devToken = req.headers['developer-token'];
    if (!devToken) {
      fail(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', { requestError: 'DEVELOPER_TOKEN_PARAMETER_MISSING' }, 'The developer-token parameter is required for all requests.');
    }
    if (devToken !== developerToken) {
      fail(403, 'PERMISSION_DENIED', 'The caller does not have permission', { authorizationError: 'DEVELOPER_TOKEN_PROHIBITED' }, 'Developer token is not allowed with project.');
    }
    if (!/^\d{10}$/.test(customerId)) {
      fail(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', { requestError: 'INVALID_CUSTOMER_ID' }, 'Invalid customer ID (use 10 digits without dashes).');
    }
    const login = req.headers['login-customer-id'];
    if (login !== undefined && !/^\d{10}$/.test(login)) {
      fail(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', { headerError: 'INVALID_LOGIN_CUSTOMER_ID' }, 'The login customer ID could not be validated (use 10 digits without dashes).');
    }
    const customer = store.customer(customerId);
    const viaManager = login === store.managerCustomerId;
    const allowed = customer !== undefined && (customer.manager ? login === undefined || viaManager : viaManager || (!requireLogin && (login === undefined || login === customerId)));
    if (!allowed) {
      fail(403, 'PERMISSION_DENIED', 'The caller does not have permission', { authorizationError: 'USER_PERMISSION_DENIED' },
        "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header. See https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid");
    }
    return { requestId, version, customerId };
  };

  const readQuery = (req: EmuRequest, ctx: { requestId: string; version: string }): { query: string; body: Record<string, unknown> } => {
    const body = req.json<Record<string, unknown>>();
    const query = typeof body === 'object' && body !== null ? body.query : undefined;
    if (typeof query !== 'string' || query.trim() === '') {
      const res = googleAdsError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [{ errorCode: { requestError: 'REQUIRED_FIELD_MISSING' }, message: 'Required field was not specified: query.' }], ctx.requestId, ctx.version);
      throw new EmuHttpError(res.status, res.body);
    }
    return { query, body };
  };

  const execute = (query: string, customerId: string, ctx: { requestId: string; version: string }) => {
    try {
      const prepared = prepareQuery(query);
      return { prepared, rows: runQuery(store, customerId, prepared) };
    } catch (err) {
      if (err instanceof GaqlError) {
        const res = googleAdsError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [{ errorCode: { queryError: err.code }, message: err.message }], ctx.requestId, ctx.version);
        throw new EmuHttpError(res.status, res.body, { 'request-id': ctx.requestId });
      }
      throw err;
    }
  };

  const searchStream = (req: EmuRequest): EmuResponse => {
    const ctx = authorize(req);
    const { query } = readQuery(req, ctx);
    const { prepared, rows } = execute(query, ctx.customerId, ctx);
    const batches: Record<string, unknown>[] = [];
    for (let i = 0; i < rows.length; i += batchSize) {
      batches.push({ results: rows.slice(i, i + batchSize), fieldMask: prepared.fieldMask, requestId: ctx.requestId });
    }
    if (batches.length === 0) batches.push({ fieldMask: prepared.fieldMask, requestId: ctx.requestId });
    return { status: 200, headers: { 'request-id': ctx.requestId }, body: batches };
  };

  const search = (req: EmuRequest): EmuResponse => {
    const ctx = authorize(req);
    const { query, body } = readQuery(req, ctx);
    if (body.pageSize !== undefined) {
      const res = googleAdsError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [{ errorCode: { requestError: 'PAGE_SIZE_NOT_SUPPORTED' }, message: 'Setting the page size is not supported. Search responses will have fixed page size of 10000 rows.' }], ctx.requestId, ctx.version);
      throw new EmuHttpError(res.status, res.body);
    }
    const { prepared, rows } = execute(query, ctx.customerId, ctx);
    const queryHash = fnv1a(`${ctx.customerId}|${query}`).toString(36);
    let offset = 0;
    if (typeof body.pageToken === 'string' && body.pageToken !== '') {
      const m = /^(\w+)\.(\d+)$/.exec(Buffer.from(body.pageToken, 'base64url').toString('utf8'));
      if (!m || m[1] !== queryHash) {
        const res = googleAdsError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [{ errorCode: { requestError: 'INVALID_PAGE_TOKEN' }, message: 'Page token is invalid.' }], ctx.requestId, ctx.version);
        throw new EmuHttpError(res.status, res.body);
      }
      offset = Number(m[2]);
    }
    const page = rows.slice(offset, offset + pageSize);
    const out: Record<string, unknown> = { results: page, fieldMask: prepared.fieldMask, requestId: ctx.requestId };
    if (page.length === 0) delete out.results;
    if (offset + pageSize < rows.length) out.nextPageToken = Buffer.from(`${queryHash}.${offset + pageSize}`, 'utf8').toString('base64url');
    if (body.returnTotalResultsCount === true) out.totalResultsCount = String(rows.length);
    return { status: 200, headers: { 'request-id': ctx.requestId }, body: out };
  };

  const routes: RouteDef[] = [
    {
      api: 'google_ads',
      route: 'searchStream',
      method: 'POST',
      pattern: /^\/(?<version>v\d+)\/customers\/(?<customerId>[^/]+)\/googleAds:searchStream$/,
      handler: searchStream,
    },
    {
      api: 'google_ads',
      route: 'search',
      method: 'POST',
      pattern: /^\/(?<version>v\d+)\/customers\/(?<customerId>[^/]+)\/googleAds:search$/,
      handler: search,
    },
  ];
  if (opts.serveTokenEndpoint ?? true) routes.unshift(oauth.tokenRoute());

  return {
    routes,
    store,
    oauth,
    developerToken,
    env: (origin: string) => ({
      GOOGLE_ADS_BASE_URL: origin,
      ...oauth.env(origin),
      GOOGLE_ADS_DEVELOPER_TOKEN: developerToken,
      GOOGLE_ADS_CUSTOMER_ID: store.customers.filter((c) => !c.manager).map((c) => c.id).join(','),
      GOOGLE_ADS_LOGIN_CUSTOMER_ID: store.managerCustomerId,
    }),
    rateLimitError,
  };
}

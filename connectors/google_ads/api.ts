import { z } from 'zod';
import { HttpClient, parseRetryAfter, type HttpResponse } from '../core/http.ts';
import { AuthError, RateLimitError, RequestError, SchemaError } from '../core/errors/index.ts';
import { createGoogleAuth, type GoogleAuthSettings } from '../google_auth/index.ts';
import { scrub } from '../../pipeline/secrets.ts';

/**
 * The Google Ads REST API, searchStream only. There is no googleapis client for Google Ads, so
 * requests go through the shared HttpClient with an OAuth2 bearer token.
 *
 * Route: POST {baseUrl}/{version}/customers/{customerId}/googleAds:searchStream, body { query }
 * (developers.google.com/google-ads/api/rest/common/search "Search and SearchStream" and
 * developers.google.com/google-ads/api/rest/auth "Authorization" for the developer-token and
 * login-customer-id headers). The response is a JSON array of SearchGoogleAdsStreamResponse
 * batches { results[], fieldMask, requestId, queryResourceConsumption }
 * (developers.google.com/google-ads/api/reference/rpc/v26/SearchGoogleAdsStreamResponse); row
 * fields are the lowerCamelCase JSON names of the GAQL snake_case fields and int64 values are
 * JSON strings (proto3 JSON mapping).
 */

export const GOOGLE_ADS_SCOPE = 'https://www.googleapis.com/auth/adwords';

export interface GoogleAdsApiSettings extends GoogleAuthSettings {
  baseUrl: string;
  apiVersion: string;
  developerToken: string;
  loginCustomerId?: string | undefined;
  timeoutMs: number;
  maxRetries: number;
  maxRetryWaitMs: number;
}

const batchSchema = z.looseObject({
  results: z.array(z.unknown()).optional(),
  fieldMask: z.string().optional(),
  requestId: z.string().optional(),
});
export type SearchStreamBatch = z.infer<typeof batchSchema>;
const streamResponse = z.array(batchSchema);

/** The GoogleAdsFailure inside an error body (developers.google.com/google-ads/api/docs/best-practices/error-types). */
const errorBody = z.looseObject({
  error: z.looseObject({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z
      .array(
        z.looseObject({
          errors: z
            .array(
              z.looseObject({
                errorCode: z.record(z.string(), z.unknown()).optional(),
                message: z.string().optional(),
                details: z.looseObject({ quotaErrorDetails: z.looseObject({ retryDelay: z.string().optional(), rateName: z.string().optional() }).optional() }).optional(),
              }),
            )
            .optional(),
        }),
      )
      .optional(),
  }),
});

/** "30s" / "1.5s" (protobuf Duration JSON) -> milliseconds. */
export function parseDuration(value: string | undefined): number | undefined {
  const m = value ? /^(\d+(?:\.\d+)?)s$/.exec(value.trim()) : null;
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

/** Reads a Google Ads error body: its status, first error code and messages, and any retry delay. */
export function describeAdsError(response: Pick<HttpResponse, 'data' | 'status'>): { status: string | undefined; codes: string[]; message: string; retryAfterMs: number | undefined } {
  const parsed = errorBody.safeParse(response.data);
  if (!parsed.success) return { status: undefined, codes: [], message: typeof response.data === 'string' ? response.data.slice(0, 300) : `HTTP ${response.status}`, retryAfterMs: undefined };
  const { error } = parsed.data;
  const errors = (error.details ?? []).flatMap((d) => d.errors ?? []);
  const codes = errors.flatMap((e) => Object.entries(e.errorCode ?? {}).map(([k, v]) => `${k}.${String(v)}`));
  const messages = errors.map((e) => e.message).filter((m): m is string => typeof m === 'string');
  const retryAfterMs = errors.map((e) => parseDuration(e.details?.quotaErrorDetails?.retryDelay)).find((v) => v !== undefined);
  return { status: error.status, codes, message: (messages.length ? messages.join('; ') : error.message) ?? `HTTP ${response.status}`, retryAfterMs };
}

export class GoogleAdsApi {
  readonly http: HttpClient;

  constructor(settings: GoogleAdsApiSettings, signal?: AbortSignal) {
    const auth = createGoogleAuth(settings, [GOOGLE_ADS_SCOPE]);
    const headers: Record<string, string> = { 'developer-token': settings.developerToken };
    if (settings.loginCustomerId) headers['login-customer-id'] = settings.loginCustomerId;
    this.http = new HttpClient({
      api: 'Google Ads',
      baseUrl: `${settings.baseUrl.replace(/\/+$/, '')}/${settings.apiVersion}/`,
      timeoutMs: settings.timeoutMs,
      maxRetries: settings.maxRetries,
      maxRetryAfterMs: settings.maxRetryWaitMs,
      auth: auth.http,
      headers,
      ...(signal ? { signal } : {}),
      classify: (response) => {
        if (response.status < 300) return undefined;
        const info = describeAdsError(response);
        const detail = scrub(`${info.status ?? `HTTP ${response.status}`}${info.codes.length ? ` [${info.codes.join(', ')}]` : ''}: ${info.message}`);
        // Quota errors carry their back-off in quotaErrorDetails.retryDelay; a proxy or front end may send Retry-After instead.
        if (response.status === 429 || info.status === 'RESOURCE_EXHAUSTED') {
          const wait = info.retryAfterMs ?? parseRetryAfter(response.headers.get('retry-after')) ?? 30_000;
          return new RateLimitError(`Google Ads: quota exhausted (${detail}), retry after ${Math.ceil(wait / 1000)} s`, wait);
        }
        if (response.status === 401) return new AuthError(`Google Ads: authentication failed: ${detail}`);
        if (response.status === 403) return new AuthError(`Google Ads: permission denied (check the developer token, customer id and login-customer-id): ${detail}`);
        if (response.status === 400 || response.status === 404) return new RequestError(`Google Ads: request refused: ${detail}`, response.status);
        return undefined; // the generic rules (5xx retried, ...)
      },
    });
  }

  /** Runs one GAQL query for one customer; returns the batches as sent. */
  async searchStream(customerId: string, query: string): Promise<SearchStreamBatch[]> {
    const data = await this.http.json({ method: 'POST', url: `customers/${customerId}/googleAds:searchStream`, body: { query } });
    // An empty result may come back as [] or as an empty body.
    if (data === null) return [];
    const parsed = streamResponse.safeParse(data);
    if (!parsed.success) throw new SchemaError(`Google Ads: searchStream for customer ${customerId} did not return an array of result batches`, '(response)');
    return parsed.data;
  }
}

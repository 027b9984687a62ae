import { createSign } from 'node:crypto';
import fs from 'node:fs';
import { OAuth2Client } from 'google-auth-library';
import { z } from 'zod';
import type { HttpAuth } from '../core/http.ts';
import { AuthError, ConfigError, TransientError } from '../core/errors/index.ts';
import { registerSecret, scrub } from '../../pipeline/secrets.ts';

/**
 * Google OAuth2 for the google_ads and ga4 connectors, on google-auth-library's OAuth2Client:
 * - a refresh token with its OAuth client id/secret (installed-app or web flow), or
 * - a key file (GOOGLE_APPLICATION_CREDENTIALS): a service account key, or an `authorized_user`
 *   file as written by `gcloud auth application-default login`.
 * The token endpoint is configurable (proxies, the sandbox): OAuth2Client takes it as
 * `endpoints.oauth2TokenUrl`. google-auth-library's own service-account client (JWT) always posts to
 * https://oauth2.googleapis.com/token, so service accounts are signed here (RFC 7523 JWT bearer
 * grant, as documented in developers.google.com/identity/protocols/oauth2/service-account
 * "Preparing to make an authorized API call: HTTP/REST") and exchanged at the configured endpoint.
 */

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** Settings shared by every Google connector; spread into each connector's config schema. */
export const googleAuthFields = {
  /** OAuth client id (with clientSecret and refreshToken). Default: none. */
  clientId: z.string().trim().min(1).optional(),
  /** OAuth client secret. Default: none. */
  clientSecret: z.string().trim().min(1).optional(),
  /** Long-lived refresh token of a user with access to the accounts/properties. Default: none. */
  refreshToken: z.string().trim().min(1).optional(),
  /** Path of a service-account key or authorized_user JSON file, instead of the three above. Default: none. */
  credentialsFile: z.string().trim().min(1).optional(),
  /** OAuth2 token endpoint. Default https://oauth2.googleapis.com/token. */
  oauthUrl: z.url({ protocol: /^https?$/ }).default(GOOGLE_TOKEN_URL),
};

export interface GoogleAuthSettings {
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  refreshToken?: string | undefined;
  credentialsFile?: string | undefined;
  oauthUrl: string;
}

/** For a connector schema's superRefine: exactly one credential kind, complete. */
export function checkGoogleAuth(settings: Omit<GoogleAuthSettings, 'oauthUrl'>, ctx: z.RefinementCtx): void {
  const oauthParts = [settings.clientId, settings.clientSecret, settings.refreshToken].filter((v) => v !== undefined).length;
  if (settings.credentialsFile !== undefined) {
    if (oauthParts > 0) ctx.addIssue({ code: 'custom', path: ['credentialsFile'], message: 'set either credentialsFile or clientId/clientSecret/refreshToken, not both' });
    return;
  }
  if (oauthParts < 3) {
    const missing = (['clientId', 'clientSecret', 'refreshToken'] as const).filter((k) => settings[k] === undefined);
    ctx.addIssue({
      code: 'custom',
      path: [missing[0] ?? 'clientId'],
      message: `Google credentials are incomplete: missing ${missing.join(', ')} (or set credentialsFile / GOOGLE_APPLICATION_CREDENTIALS)`,
    });
  }
}

/** The GOOGLE_* variables every Google connector documents. */
export const googleAuthEnvDocs = [
  { name: 'GOOGLE_CLIENT_ID', description: 'OAuth client id' },
  { name: 'GOOGLE_CLIENT_SECRET', description: 'OAuth client secret', secret: true },
  { name: 'GOOGLE_REFRESH_TOKEN', description: 'OAuth refresh token of a user with access', secret: true },
  { name: 'GOOGLE_APPLICATION_CREDENTIALS', description: 'Service-account key (or authorized_user) JSON file, instead of the three above' },
  { name: 'GOOGLE_OAUTH_TOKEN_URL', description: 'OAuth2 token endpoint (default https://oauth2.googleapis.com/token)' },
] as const;

/** Auth settings from the environment (only the variables that are set). */
export function googleAuthFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (key: string, value: string | undefined) => {
    if (value !== undefined && value.trim() !== '') out[key] = value.trim();
  };
  set('clientId', env.GOOGLE_CLIENT_ID);
  set('clientSecret', env.GOOGLE_CLIENT_SECRET);
  set('refreshToken', env.GOOGLE_REFRESH_TOKEN);
  // A refresh token in the environment wins over ambient application-default credentials.
  if (!out.refreshToken) set('credentialsFile', env.GOOGLE_APPLICATION_CREDENTIALS);
  set('oauthUrl', env.GOOGLE_OAUTH_TOKEN_URL);
  return out;
}

const serviceAccountKey = z.looseObject({
  type: z.literal('service_account'),
  client_email: z.string().min(1),
  private_key: z.string().min(1),
  private_key_id: z.string().optional(),
});
const authorizedUserKey = z.looseObject({
  type: z.literal('authorized_user'),
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
  refresh_token: z.string().min(1),
});
const keyFile = z.discriminatedUnion('type', [serviceAccountKey, authorizedUserKey]);

const tokenResponse = z.looseObject({ access_token: z.string().min(1), expires_in: z.number().optional() });

function base64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

/** Signs a service-account assertion and exchanges it for an access token at `tokenUrl`. */
async function serviceAccountToken(key: z.infer<typeof serviceAccountKey>, scopes: readonly string[], tokenUrl: string): Promise<{ access_token: string; expiry_date: number }> {
  const iat = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...(key.private_key_id ? { kid: key.private_key_id } : {}) }));
  const claims = base64url(JSON.stringify({ iss: key.client_email, scope: scopes.join(' '), aud: tokenUrl, iat, exp: iat + 3600 }));
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key.private_key);
  const assertion = `${header}.${claims}.${base64url(signature)}`;
  let res: Response;
  try {
    res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
    });
  } catch (err) {
    throw new TransientError(`Google OAuth: token endpoint unreachable: ${scrub(err instanceof Error ? err.message : String(err))}`, undefined, { cause: err });
  }
  const text = await res.text();
  if (res.status >= 500 || res.status === 429) throw new TransientError(`Google OAuth: token endpoint answered HTTP ${res.status}`, res.status);
  if (res.status !== 200) throw new AuthError(`Google OAuth: service-account token refused (HTTP ${res.status}): ${scrub(text.slice(0, 300))}`);
  const parsed = tokenResponse.safeParse(JSON.parse(text));
  if (!parsed.success) throw new AuthError('Google OAuth: token endpoint answered without an access_token');
  registerSecret(parsed.data.access_token);
  return { access_token: parsed.data.access_token, expiry_date: Date.now() + (parsed.data.expires_in ?? 3600) * 1000 };
}

export interface GoogleAuth {
  /** The OAuth2 client (for googleapis SDKs: pass as `auth`). Refreshes itself once on a 401. */
  client: OAuth2Client;
  /** Bearer header provider with a forced refresh, for the shared HttpClient. */
  http: HttpAuth;
}

/** Maps a failure of the token endpoint (a gaxios error from OAuth2Client) to our error classes. */
export function mapTokenError(err: unknown): Error {
  if (err instanceof AuthError || err instanceof TransientError || err instanceof ConfigError) return err;
  const e = err as { status?: unknown; response?: { status?: unknown; data?: unknown }; message?: unknown };
  const status = typeof e.response?.status === 'number' ? e.response.status : typeof e.status === 'number' ? e.status : undefined;
  const data = e.response?.data as { error?: unknown; error_description?: unknown } | undefined;
  const reason = [data?.error, data?.error_description].filter((v) => typeof v === 'string').join(': ') || (typeof e.message === 'string' ? e.message : String(err));
  if (status === undefined || status >= 500 || status === 429) return new TransientError(`Google OAuth: token refresh failed: ${scrub(reason)}`, status, { cause: err });
  return new AuthError(`Google OAuth: token refresh refused (HTTP ${status}): ${scrub(reason)}; check the client id/secret and refresh token`, { cause: err });
}

/** Builds the OAuth2 client for a connection's settings. Reads the key file, if any, now. */
export function createGoogleAuth(settings: GoogleAuthSettings, scopes: readonly string[]): GoogleAuth {
  const endpoints = { oauth2TokenUrl: settings.oauthUrl };
  let client: OAuth2Client;
  let reset: () => void;
  if (settings.credentialsFile !== undefined) {
    let parsed: z.infer<typeof keyFile>;
    try {
      const result = keyFile.safeParse(JSON.parse(fs.readFileSync(settings.credentialsFile, 'utf8')));
      if (!result.success) throw new Error(`not a service_account or authorized_user key file (${result.error.issues[0]?.message ?? 'invalid'})`);
      parsed = result.data;
    } catch (err) {
      throw new ConfigError(`credentialsFile ${settings.credentialsFile}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (parsed.type === 'authorized_user') {
      registerSecret(parsed.client_secret);
      registerSecret(parsed.refresh_token);
      client = new OAuth2Client({ clientId: parsed.client_id, clientSecret: parsed.client_secret, endpoints, forceRefreshOnFailure: true });
      const refreshToken = parsed.refresh_token;
      reset = () => client.setCredentials({ refresh_token: refreshToken });
    } else {
      const key = parsed;
      registerSecret(key.private_key);
      client = new OAuth2Client({ endpoints, forceRefreshOnFailure: true });
      client.refreshHandler = () => serviceAccountToken(key, scopes, settings.oauthUrl);
      reset = () => client.setCredentials({});
    }
  } else {
    if (!settings.clientId || !settings.clientSecret || !settings.refreshToken) {
      throw new ConfigError('Google credentials: set clientId, clientSecret and refreshToken, or credentialsFile');
    }
    registerSecret(settings.clientSecret);
    registerSecret(settings.refreshToken);
    client = new OAuth2Client({ clientId: settings.clientId, clientSecret: settings.clientSecret, endpoints, forceRefreshOnFailure: true });
    const refreshToken = settings.refreshToken;
    reset = () => client.setCredentials({ refresh_token: refreshToken });
  }
  reset();
  client.on('tokens', (tokens) => registerSecret(tokens.access_token));

  const http: HttpAuth = {
    async headers() {
      let token: string | null | undefined;
      try {
        token = (await client.getAccessToken()).token;
      } catch (err) {
        throw mapTokenError(err);
      }
      if (!token) throw new AuthError('Google OAuth: no access token was issued');
      registerSecret(token);
      return { authorization: `Bearer ${token}` };
    },
    async refresh() {
      // Drops the cached access token; the next headers() call fetches a new one.
      reset();
    },
  };
  return { client, http };
}

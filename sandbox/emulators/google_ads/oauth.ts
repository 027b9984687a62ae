/**
 * The Google OAuth 2.0 token endpoint, shared by the Google Ads and GA4 emulators.
 *
 * Wire format (Google Identity, "Using OAuth 2.0 for Web Server Applications: Refreshing an access
 * token" and "Using OAuth 2.0 for Server to Server Applications"): `POST /token` with an
 * application/x-www-form-urlencoded body, either
 *   grant_type=refresh_token&client_id=..&client_secret=..&refresh_token=..   or
 *   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>
 * answered with `{ access_token, expires_in, scope, token_type: 'Bearer' }`; failures are
 * `{ error, error_description }` (400 invalid_grant / invalid_request, 401 invalid_client).
 *
 * Access tokens are self-validating (an HMAC-like FNV signature over the expiry), so the GA4 and
 * Google Ads emulators accept each other's tokens without sharing any state: both derive the same
 * secret from the world seed.
 */
import { fnv1a } from '../prng.ts';
import type { EmuRequest, EmuResponse, RouteDef } from '../http.ts';

export const GOOGLE_TOKEN_PATH = '/token';

export interface GoogleOAuthOptions {
  /** OAuth client id. Default derived from the seed (`<digits>-emu.apps.googleusercontent.com`). */
  clientId?: string;
  /** OAuth client secret. Default derived from the seed (`GOCSPX-...`). */
  clientSecret?: string;
  /** The refresh token the emulator accepts. Default derived from the seed (`1//0...`). */
  refreshToken?: string;
  /** Lifetime of issued access tokens in seconds. Default 3599 (what Google answers). */
  tokenTtlSeconds?: number;
  /** Clock in epoch milliseconds, for expiry. Default `Date.now`. */
  now?: () => number;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function b64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** Credentials and token checks of the emulated Google identity platform. */
export class GoogleOAuth {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
  readonly tokenTtlSeconds: number;
  private readonly now: () => number;
  private readonly secret: string;
  private issued = 0;

  constructor(seed: number, opts: GoogleOAuthOptions = {}) {
    const a = fnv1a(`google-oauth-client|${seed}`);
    const b = fnv1a(`google-oauth-secret|${seed}`);
    const c = fnv1a(`google-oauth-refresh|${seed}`);
    this.clientId = opts.clientId ?? `${String(a).padStart(10, '0')}-emu.apps.googleusercontent.com`;
    this.clientSecret = opts.clientSecret ?? `GOCSPX-emu${hex(b)}${hex(fnv1a(hex(b)))}`;
    this.refreshToken = opts.refreshToken ?? `1//0emu${hex(c)}${hex(fnv1a(hex(c)))}`;
    this.tokenTtlSeconds = opts.tokenTtlSeconds ?? 3599;
    this.now = opts.now ?? Date.now;
    this.secret = `${this.clientSecret}|${seed}`;
  }

  private sign(payload: string): string {
    return hex(fnv1a(`${this.secret}|${payload}`)) + hex(fnv1a(`${payload}|${this.secret}`));
  }

  /** Issues a new access token (as the token endpoint would). */
  issue(scope = 'https://www.googleapis.com/auth/adwords'): { access_token: string; expires_in: number; scope: string; token_type: 'Bearer' } {
    this.issued++;
    const exp = Math.floor(this.now() / 1000) + this.tokenTtlSeconds;
    const payload = b64url(JSON.stringify({ exp, n: this.issued }));
    return { access_token: `ya29.emu.${payload}.${this.sign(payload)}`, expires_in: this.tokenTtlSeconds, scope, token_type: 'Bearer' };
  }

  /** 'ok', or why the token is refused. */
  check(token: string | undefined): 'ok' | 'missing' | 'invalid' | 'expired' {
    if (!token) return 'missing';
    const m = /^ya29\.emu\.([A-Za-z0-9_-]+)\.([0-9a-f]{16})$/.exec(token);
    if (!m || !m[1] || this.sign(m[1]) !== m[2]) return 'invalid';
    let exp: unknown;
    try {
      exp = (JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    } catch {
      return 'invalid';
    }
    if (typeof exp !== 'number') return 'invalid';
    return exp * 1000 > this.now() ? 'ok' : 'expired';
  }

  /** Handles `POST /token`. */
  handleToken(req: EmuRequest): EmuResponse {
    const form = req.form();
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      if (form.get('client_id') !== this.clientId || form.get('client_secret') !== this.clientSecret) {
        return { status: 401, body: { error: 'invalid_client', error_description: 'The OAuth client was not found.' } };
      }
      if (form.get('refresh_token') !== this.refreshToken) {
        return { status: 400, body: { error: 'invalid_grant', error_description: 'Bad Request' } };
      }
      return { status: 200, headers: { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate' }, body: this.issue() };
    }
    if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      // The emulator cannot check the service account's RSA signature (it has no public key), so it
      // checks the JWT's structure and claims only: iss, scope, aud and a future exp.
      const claims = decodeJwtClaims(form.get('assertion') ?? '');
      if (!claims || typeof claims.iss !== 'string' || typeof claims.scope !== 'string' || typeof claims.exp !== 'number') {
        return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } };
      }
      if (claims.exp * 1000 < this.now()) {
        return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.' } };
      }
      return { status: 200, body: this.issue(claims.scope) };
    }
    return { status: 400, body: { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${grant ?? ''}` } };
  }

  /** The token route (fault key `oauth.token`). */
  tokenRoute(): RouteDef {
    return {
      api: 'oauth',
      route: 'token',
      method: 'POST',
      pattern: /^\/token$/,
      handler: (req) => this.handleToken(req),
    };
  }

  /** Environment variables a Google connector needs to obtain tokens here. */
  env(origin: string): Record<string, string> {
    return {
      GOOGLE_OAUTH_TOKEN_URL: `${origin}${GOOGLE_TOKEN_PATH}`,
      GOOGLE_CLIENT_ID: this.clientId,
      GOOGLE_CLIENT_SECRET: this.clientSecret,
      GOOGLE_REFRESH_TOKEN: this.refreshToken,
    };
  }
}

function decodeJwtClaims(jwt: string): { iss?: unknown; scope?: unknown; exp?: unknown } | null {
  const parts = jwt.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null ? (claims as { iss?: unknown; scope?: unknown; exp?: unknown }) : null;
  } catch {
    return null;
  }
}

/** Pulls the bearer token out of an Authorization header. */
export function bearerToken(req: EmuRequest): string | undefined {
  const auth = req.headers['authorization'];
  const m = auth ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  return m?.[1];
}

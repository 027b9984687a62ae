import { createVerify, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nock from 'nock';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorDefinition } from '../core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { GOOGLE_ADS_SCOPE, GoogleAdsApi } from '../google_ads/api.ts';
import { googleAdsConnector, type GoogleAdsConfig } from '../google_ads/index.ts';
import { GA4_SCOPE, Ga4Api } from '../ga4/api.ts';
import { ga4Connector, type Ga4Config } from '../ga4/index.ts';
import { googleAuthFromEnv } from './index.ts';

/**
 * Google credentials files (GOOGLE_APPLICATION_CREDENTIALS / credentialsFile) end to end against a
 * nock token endpoint and searchStream: a service-account key is exchanged by an RFC 7523 JWT-bearer
 * grant (developers.google.com/identity/protocols/oauth2/service-account, "HTTP/REST"), an
 * authorized_user file by a refresh-token grant; the token issued is the bearer of the API call.
 */

const TOKEN_URL = 'https://oauth.example.test/token';
const API = 'https://ads.example.test';
const CUSTOMER = '1234567890';
const CLIENT_EMAIL = 'mpm-sync@acme-ads.iam.gserviceaccount.com';

// A throwaway key pair: the private half goes into the key file, the public half checks the JWT.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });

let dir: string;
function keyFile(name: string, content: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(content));
  return file;
}

/** The token endpoint: records each form posted and answers with a fresh access token. */
function tokenEndpoint(): { forms: URLSearchParams[] } {
  const seen = { forms: [] as URLSearchParams[] };
  nock(new URL(TOKEN_URL).origin)
    .persist()
    .post('/token')
    .reply((_uri, body) => {
      seen.forms.push(new URLSearchParams(String(body)));
      return [200, { access_token: `ya29.issued-${seen.forms.length}`, expires_in: 3599, token_type: 'Bearer' }];
    });
  return seen;
}

/** searchStream for CUSTOMER: records the authorization header of each call. */
function searchStream(): { auth: Array<string | undefined> } {
  const seen = { auth: [] as Array<string | undefined> };
  nock(API)
    .persist()
    .post(`/v26/customers/${CUSTOMER}/googleAds:searchStream`)
    .reply(function () {
      seen.auth.push(this.req.headers.authorization as string | undefined);
      return [200, [{ results: [{ customer: { id: CUSTOMER, currencyCode: 'EUR', timeZone: 'Europe/Berlin' } }], fieldMask: 'customer.id', requestId: 'r1' }]];
    });
  return seen;
}

/** A google_ads connection configured by the environment alone, as a single-connection deployment is. */
function adsFromEnv(env: NodeJS.ProcessEnv): GoogleAdsConfig {
  const settings = googleAdsConnector.fromEnv({ GOOGLE_ADS_CUSTOMER_ID: CUSTOMER, GOOGLE_ADS_DEVELOPER_TOKEN: 'dev-token', GOOGLE_ADS_BASE_URL: API, GOOGLE_OAUTH_TOKEN_URL: TOKEN_URL, ...env });
  if (!settings) throw new Error('google_ads did not configure from the environment');
  return buildConnection('google_ads', googleAdsConnector as ConnectorDefinition<unknown>, { ...settings, maxRetries: 0 }, 'env').config as GoogleAdsConfig;
}

function decodeSegment(segment: string | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-google-auth-'));
  nock.disableNetConnect();
});
afterEach(() => nock.cleanAll());
afterAll(() => {
  nock.enableNetConnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('google auth: credentials files', () => {
  it('exchanges a service-account key for a token with a JWT-bearer grant signed by the key (scope, aud, iss), and searchStream carries that token', async () => {
    const file = keyFile('service-account.json', {
      type: 'service_account',
      project_id: 'acme-ads',
      private_key_id: 'key-id-1',
      private_key: privateKey,
      client_email: CLIENT_EMAIL,
      client_id: '1234567890123456789',
      token_uri: 'https://oauth2.googleapis.com/token',
    });
    const token = tokenEndpoint();
    const api = searchStream();
    const config = adsFromEnv({ GOOGLE_APPLICATION_CREDENTIALS: file });
    expect(config.credentialsFile).toBe(file);

    const before = Math.floor(Date.now() / 1000);
    const batches = await new GoogleAdsApi(config).searchStream(CUSTOMER, 'SELECT customer.id FROM customer');
    expect(batches[0]?.requestId).toBe('r1');

    expect(token.forms).toHaveLength(1);
    const form = token.forms[0]!;
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const [header, claims, signature] = (form.get('assertion') ?? '').split('.');
    expect(createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(publicKey, Buffer.from(signature ?? '', 'base64url'))).toBe(true);
    // Signed by another key, the same assertion does not verify: the check above is not vacuous.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    expect(createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(other, Buffer.from(signature ?? '', 'base64url'))).toBe(false);
    expect(decodeSegment(header)).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'key-id-1' });
    const jwt = decodeSegment(claims);
    // aud is the endpoint the assertion is posted to (the configured one, not the key file's token_uri).
    expect(jwt).toMatchObject({ iss: CLIENT_EMAIL, scope: GOOGLE_ADS_SCOPE, aud: TOKEN_URL });
    expect(jwt.iat).toBeGreaterThanOrEqual(before);
    expect(jwt.exp).toBe((jwt.iat as number) + 3600);

    expect(api.auth).toEqual(['Bearer ya29.issued-1']);
  });

  it('signs a new assertion when searchStream answers 401, and retries with the new token', async () => {
    const file = keyFile('service-account-401.json', { type: 'service_account', private_key: privateKey, client_email: CLIENT_EMAIL });
    const token = tokenEndpoint();
    const seen: Array<string | undefined> = [];
    nock(API)
      .post(`/v26/customers/${CUSTOMER}/googleAds:searchStream`)
      .reply(function () {
        seen.push(this.req.headers.authorization as string | undefined);
        return [401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } }];
      })
      .post(`/v26/customers/${CUSTOMER}/googleAds:searchStream`)
      .reply(function () {
        seen.push(this.req.headers.authorization as string | undefined);
        return [200, []];
      });
    await new GoogleAdsApi(adsFromEnv({ GOOGLE_APPLICATION_CREDENTIALS: file })).searchStream(CUSTOMER, 'SELECT customer.id FROM customer');
    expect(token.forms.map((f) => f.get('grant_type'))).toEqual(['urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:jwt-bearer']);
    // No kid header without private_key_id.
    expect(decodeSegment(token.forms[0]?.get('assertion')?.split('.')[0])).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(seen).toEqual(['Bearer ya29.issued-1', 'Bearer ya29.issued-2']);
  });

  it('signs the GA4 scope for the ga4 connector, and its Data API request carries the token', async () => {
    const file = keyFile('service-account-ga4.json', { type: 'service_account', private_key: privateKey, client_email: CLIENT_EMAIL });
    const token = tokenEndpoint();
    const GA4 = 'https://analyticsdata.example.test';
    const seen: Array<string | undefined> = [];
    nock(GA4)
      .get('/v1beta/properties/314159265/metadata')
      .reply(function () {
        seen.push(this.req.headers.authorization as string | undefined);
        return [200, { name: 'properties/314159265/metadata', dimensions: [{ apiName: 'date' }], metrics: [{ apiName: 'sessions', type: 'TYPE_INTEGER' }] }];
      });
    const settings = ga4Connector.fromEnv({ GA4_PROPERTY_ID: '314159265', GA4_BASE_URL: GA4, GOOGLE_APPLICATION_CREDENTIALS: file, GOOGLE_OAUTH_TOKEN_URL: TOKEN_URL });
    const config = buildConnection('ga4', ga4Connector as ConnectorDefinition<unknown>, { ...settings, maxRetries: 0 }, 'env').config as Ga4Config;
    const api = new Ga4Api(config, { signal: new AbortController().signal, now: () => new Date(), log: pino({ level: 'silent' }) });
    expect((await api.metadata('314159265')).metrics).toEqual([{ apiName: 'sessions', type: 'TYPE_INTEGER' }]);
    const [header, claims, signature] = (token.forms[0]?.get('assertion') ?? '').split('.');
    expect(createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(publicKey, Buffer.from(signature ?? '', 'base64url'))).toBe(true);
    expect(decodeSegment(claims)).toMatchObject({ iss: CLIENT_EMAIL, scope: GA4_SCOPE, aud: TOKEN_URL });
    expect(seen).toEqual(['Bearer ya29.issued-1']);
  });

  it('exchanges an authorized_user file (gcloud application-default credentials) with a refresh-token grant, and searchStream carries that token', async () => {
    const file = keyFile('authorized-user.json', { type: 'authorized_user', client_id: 'adc-client.apps.googleusercontent.com', client_secret: 'adc-secret', refresh_token: '1//adc-refresh', quota_project_id: 'acme-ads' });
    const token = tokenEndpoint();
    const api = searchStream();
    await new GoogleAdsApi(adsFromEnv({ GOOGLE_APPLICATION_CREDENTIALS: file })).searchStream(CUSTOMER, 'SELECT customer.id FROM customer');
    expect(token.forms).toHaveLength(1);
    expect(Object.fromEntries(token.forms[0]!)).toMatchObject({ grant_type: 'refresh_token', client_id: 'adc-client.apps.googleusercontent.com', client_secret: 'adc-secret', refresh_token: '1//adc-refresh' });
    expect(api.auth).toEqual(['Bearer ya29.issued-1']);
  });

  it('names the file and the problem when the credentials file is not a usable key', () => {
    const bad = keyFile('bad.json', { type: 'external_account', audience: 'x' });
    expect(() => new GoogleAdsApi(adsFromEnv({ GOOGLE_APPLICATION_CREDENTIALS: bad }))).toThrow(new RegExp(`credentialsFile ${bad}: not a service_account or authorized_user key file`));
    const missing = path.join(dir, 'missing.json');
    expect(() => new GoogleAdsApi(adsFromEnv({ GOOGLE_APPLICATION_CREDENTIALS: missing }))).toThrow(new RegExp(`credentialsFile ${missing}: .*ENOENT`));
  });
});

describe('google auth: environment', () => {
  it('maps GOOGLE_* variables to settings; GOOGLE_REFRESH_TOKEN wins over GOOGLE_APPLICATION_CREDENTIALS', () => {
    const oauth = { GOOGLE_CLIENT_ID: ' id ', GOOGLE_CLIENT_SECRET: 'secret', GOOGLE_REFRESH_TOKEN: 'refresh' };
    expect(googleAuthFromEnv({ ...oauth, GOOGLE_APPLICATION_CREDENTIALS: '/keys/sa.json', GOOGLE_OAUTH_TOKEN_URL: TOKEN_URL })).toEqual({ clientId: 'id', clientSecret: 'secret', refreshToken: 'refresh', oauthUrl: TOKEN_URL });
    expect(googleAuthFromEnv({ GOOGLE_APPLICATION_CREDENTIALS: '/keys/sa.json' })).toEqual({ credentialsFile: '/keys/sa.json' });
    // A blank refresh token is no refresh token: the key file applies.
    expect(googleAuthFromEnv({ GOOGLE_REFRESH_TOKEN: '  ', GOOGLE_APPLICATION_CREDENTIALS: '/keys/sa.json' })).toEqual({ credentialsFile: '/keys/sa.json' });
    expect(googleAuthFromEnv({})).toEqual({});
  });

  it('uses the refresh token, not the key file, when both are in the environment', async () => {
    const file = keyFile('ambient.json', { type: 'service_account', private_key: privateKey, client_email: CLIENT_EMAIL });
    const token = tokenEndpoint();
    const api = searchStream();
    const config = adsFromEnv({ GOOGLE_CLIENT_ID: 'id', GOOGLE_CLIENT_SECRET: 'secret', GOOGLE_REFRESH_TOKEN: 'refresh', GOOGLE_APPLICATION_CREDENTIALS: file });
    expect(config.credentialsFile).toBeUndefined();
    await new GoogleAdsApi(config).searchStream(CUSTOMER, 'SELECT customer.id FROM customer');
    expect(token.forms.map((f) => [f.get('grant_type'), f.get('refresh_token')])).toEqual([['refresh_token', 'refresh']]);
    expect(api.auth).toEqual(['Bearer ya29.issued-1']);
  });
});

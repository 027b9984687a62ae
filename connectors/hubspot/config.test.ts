import { describe, expect, it } from 'vitest';
import type { ConnectorDefinition } from '../core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { HUBSPOT_ENV, hubspotConfigSchema, hubspotFromEnv } from './config.ts';
import { hubspotConnector } from './index.ts';

/** The single env-configured HubSpot connection: the HUBSPOT_* variables the README documents. */

const fromEnv = (env: NodeJS.ProcessEnv) => buildConnection('hubspot', hubspotConnector as ConnectorDefinition<unknown>, hubspotFromEnv(env) ?? {}, 'env').config;

describe('hubspotFromEnv', () => {
  it('documents exactly the variables it reads', () => {
    expect(HUBSPOT_ENV.map((v) => v.name)).toEqual(['HUBSPOT_ACCESS_TOKEN', 'HUBSPOT_BASE_URL', 'HUBSPOT_CLIENT_ID', 'HUBSPOT_CLIENT_SECRET', 'HUBSPOT_REFRESH_TOKEN', 'HUBSPOT_TOKEN_URL']);
    expect(hubspotConnector.fromEnv).toBe(hubspotFromEnv);
    expect(HUBSPOT_ENV.filter((v) => 'secret' in v && v.secret).map((v) => v.name)).toEqual(['HUBSPOT_ACCESS_TOKEN', 'HUBSPOT_CLIENT_SECRET', 'HUBSPOT_REFRESH_TOKEN']);
  });

  it('configures nothing without a token', () => {
    expect(hubspotFromEnv({})).toBeUndefined();
    expect(hubspotFromEnv({ HUBSPOT_BASE_URL: 'http://127.0.0.1:4010', HUBSPOT_CLIENT_ID: 'client', HUBSPOT_CLIENT_SECRET: 'secret' })).toBeUndefined();
    // A blank token (an empty or whitespace-only line in an .env file) is no token.
    expect(hubspotFromEnv({ HUBSPOT_ACCESS_TOKEN: '', HUBSPOT_REFRESH_TOKEN: '   ' })).toBeUndefined();
  });

  it('maps a private-app token and base URL, with the schema defaults for the rest', () => {
    expect(hubspotFromEnv({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-abc', HUBSPOT_BASE_URL: 'http://127.0.0.1:4010' })).toEqual({ accessToken: 'pat-na1-abc', baseUrl: 'http://127.0.0.1:4010' });
    expect(fromEnv({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-abc' })).toEqual(hubspotConfigSchema.parse({ accessToken: 'pat-na1-abc', baseUrl: 'https://api.hubapi.com' }));
    // Values are trimmed (a trailing space or CR from an .env file is not part of the token).
    expect(hubspotFromEnv({ HUBSPOT_ACCESS_TOKEN: ' pat-na1-abc\r', HUBSPOT_BASE_URL: ' https://proxy.example/hubspot ' })).toEqual({ accessToken: 'pat-na1-abc', baseUrl: 'https://proxy.example/hubspot' });
  });

  it('maps an OAuth app (client id, secret, refresh token, token URL); client credentials count only with a refresh token', () => {
    const oauth = { HUBSPOT_CLIENT_ID: 'client-1', HUBSPOT_CLIENT_SECRET: 'secret-1', HUBSPOT_REFRESH_TOKEN: 'refresh-1', HUBSPOT_TOKEN_URL: 'https://auth.example/oauth/v1/token' };
    expect(hubspotFromEnv(oauth)).toEqual({ clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'refresh-1', tokenUrl: 'https://auth.example/oauth/v1/token' });
    expect(fromEnv({ ...oauth, HUBSPOT_ACCESS_TOKEN: 'CJSP5qf1-current' })).toMatchObject({ accessToken: 'CJSP5qf1-current', clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'refresh-1', tokenUrl: 'https://auth.example/oauth/v1/token' });
    // With a private-app token only, stray OAuth client settings are not half an OAuth config.
    expect(hubspotFromEnv({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-abc', HUBSPOT_CLIENT_ID: 'client-1' })).toEqual({ accessToken: 'pat-na1-abc' });
  });

  it('names what is missing or wrong', () => {
    expect(() => fromEnv({ HUBSPOT_REFRESH_TOKEN: 'refresh-1', HUBSPOT_CLIENT_ID: 'client-1' })).toThrow(/connection hubspot \(hubspot\): .*refreshToken: OAuth needs all of clientId, clientSecret and refreshToken/);
    expect(() => fromEnv({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-abc', HUBSPOT_BASE_URL: 'api.hubapi.com' })).toThrow(/baseUrl/);
  });
});

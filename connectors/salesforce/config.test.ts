import { describe, expect, it } from 'vitest';
import { SALESFORCE_ENV, salesforceConfigSchema, salesforceSettingsFromEnv } from './config.ts';

/** The single-connection environment variables (README, "salesforce") and the settings they become. */

const FULL_ENV = {
  SALESFORCE_INSTANCE_URL: 'https://acme.my.salesforce.com',
  SALESFORCE_LOGIN_URL: 'https://test.salesforce.com',
  SALESFORCE_ACCESS_TOKEN: '00DD0000000K1zR!AQ4AQFpYwkaJ',
  SALESFORCE_REFRESH_TOKEN: '5Aep861TSESvWeug_configured',
  SALESFORCE_CLIENT_ID: '3MVG9lKcPoNINVBIPJjdw1J9LLM82HnFVVX19KY1uA5mu0',
  SALESFORCE_CLIENT_SECRET: '1955279925675241571',
  SALESFORCE_API_VERSION: '61.0',
};

describe('salesforceSettingsFromEnv', () => {
  it('maps every SALESFORCE_* variable to its setting', () => {
    expect(salesforceSettingsFromEnv({ ...FULL_ENV, HUBSPOT_ACCESS_TOKEN: 'pat-na1-x', PATH: '/usr/bin' })).toEqual({
      instanceUrl: 'https://acme.my.salesforce.com',
      loginUrl: 'https://test.salesforce.com',
      accessToken: '00DD0000000K1zR!AQ4AQFpYwkaJ',
      refreshToken: '5Aep861TSESvWeug_configured',
      clientId: '3MVG9lKcPoNINVBIPJjdw1J9LLM82HnFVVX19KY1uA5mu0',
      clientSecret: '1955279925675241571',
      apiVersion: '61.0',
    });
    // The documented list (mpm env / README) names exactly the variables that are read.
    expect(SALESFORCE_ENV.map((v) => v.name).sort()).toEqual(Object.keys(FULL_ENV).sort());
    expect(SALESFORCE_ENV.filter((v) => 'secret' in v && v.secret).map((v) => v.name).sort()).toEqual(['SALESFORCE_ACCESS_TOKEN', 'SALESFORCE_CLIENT_SECRET', 'SALESFORCE_REFRESH_TOKEN']);
  });

  it('yields settings the config schema accepts, with its defaults for what is not set', () => {
    const cfg = salesforceConfigSchema.parse(salesforceSettingsFromEnv({ SALESFORCE_INSTANCE_URL: FULL_ENV.SALESFORCE_INSTANCE_URL, SALESFORCE_ACCESS_TOKEN: FULL_ENV.SALESFORCE_ACCESS_TOKEN }));
    expect(cfg).toMatchObject({ instanceUrl: 'https://acme.my.salesforce.com', accessToken: FULL_ENV.SALESFORCE_ACCESS_TOKEN, loginUrl: 'https://login.salesforce.com', apiVersion: '62.0' });
    const cc = salesforceConfigSchema.parse(
      salesforceSettingsFromEnv({ SALESFORCE_LOGIN_URL: 'https://acme.my.salesforce.com', SALESFORCE_CLIENT_ID: FULL_ENV.SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET: FULL_ENV.SALESFORCE_CLIENT_SECRET }),
    );
    expect(cc).toMatchObject({ loginUrl: 'https://acme.my.salesforce.com', clientId: FULL_ENV.SALESFORCE_CLIENT_ID, clientSecret: FULL_ENV.SALESFORCE_CLIENT_SECRET });
    expect(cc.accessToken).toBeUndefined();
  });

  it('ignores empty variables and gives no connection without any credential', () => {
    expect(salesforceSettingsFromEnv({})).toBeUndefined();
    expect(salesforceSettingsFromEnv({ SALESFORCE_INSTANCE_URL: FULL_ENV.SALESFORCE_INSTANCE_URL, SALESFORCE_API_VERSION: '61.0' })).toBeUndefined();
    expect(salesforceSettingsFromEnv({ SALESFORCE_ACCESS_TOKEN: '', SALESFORCE_REFRESH_TOKEN: '', SALESFORCE_CLIENT_ID: '' })).toBeUndefined();
    expect(salesforceSettingsFromEnv({ SALESFORCE_ACCESS_TOKEN: 'tok123456', SALESFORCE_INSTANCE_URL: 'https://acme.my.salesforce.com', SALESFORCE_API_VERSION: '', SALESFORCE_LOGIN_URL: '' })).toEqual({
      accessToken: 'tok123456',
      instanceUrl: 'https://acme.my.salesforce.com',
    });
  });

  it('leaves bad values to the schema, whose errors name the setting', () => {
    const bad = salesforceConfigSchema.safeParse(salesforceSettingsFromEnv({ ...FULL_ENV, SALESFORCE_API_VERSION: 'v61', SALESFORCE_LOGIN_URL: 'test.salesforce.com' }));
    expect(bad.success).toBe(false);
    const issues = bad.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues).toContain("apiVersion: must look like '62.0'");
    expect(issues.some((m) => m.startsWith('loginUrl:'))).toBe(true);
  });
});

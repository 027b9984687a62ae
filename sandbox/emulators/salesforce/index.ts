/**
 * Salesforce emulator: REST query/queryAll/queryMore, describe, limits, Bulk API 2.0 query jobs
 * and the OAuth token endpoint, over an in-memory org projected from the world.
 */
import type { RouteDef } from '../http.ts';
import type { World } from '../../world/types.ts';
import { projectWorldToSalesforce } from './projection.ts';
import { SalesforceApiState, salesforceRoutes } from './routes.ts';
import type { SalesforceRouteOptions } from './routes.ts';
import { SalesforceStore } from './store.ts';

export { SalesforceStore } from './store.ts';
export type { SfRecord, SfValue, PageHook, PageHookContext } from './store.ts';
export { SalesforceApiState } from './routes.ts';
export { parseSoql, SoqlSyntaxError } from './soql.ts';
export type { SoqlQuery } from './soql.ts';
export { SF_OBJECTS } from './schema.ts';
export type { SfObjectName } from './schema.ts';
export { makeSfId, to18 } from './ids.ts';

export interface SalesforceEmulatorOptions extends SalesforceRouteOptions {
  /** API version put in env (SALESFORCE_API_VERSION). Default '62.0'. Every vNN.N is served. */
  apiVersion?: string;
  /** Clock for modification stamps and date literals; default Date.now. */
  now?: () => number;
}

export interface SalesforceEmulator {
  routes: RouteDef[];
  store: SalesforceStore;
  /** Tokens, API usage, cursors and bulk jobs; tests use it to expire tokens or fail a job. */
  state: SalesforceApiState;
  env(origin: string): Record<string, string>;
}

/** `world` may be null for an empty org (tests insert their own records). */
export function createSalesforceEmulator(world: World | null, opts: SalesforceEmulatorOptions = {}): SalesforceEmulator {
  const store = new SalesforceStore(opts.now ? { now: opts.now } : {});
  if (world) projectWorldToSalesforce(world, store);
  const state = new SalesforceApiState(opts);
  const apiVersion = opts.apiVersion ?? '62.0';
  return {
    routes: salesforceRoutes(store, state),
    store,
    state,
    env: (origin) => ({
      SALESFORCE_INSTANCE_URL: origin,
      SALESFORCE_LOGIN_URL: origin,
      SALESFORCE_ACCESS_TOKEN: state.initialAccessToken,
      SALESFORCE_REFRESH_TOKEN: state.initialRefreshToken,
      SALESFORCE_CLIENT_ID: state.clientId,
      SALESFORCE_CLIENT_SECRET: state.clientSecret,
      SALESFORCE_API_VERSION: apiVersion,
    }),
  };
}

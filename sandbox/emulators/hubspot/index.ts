/**
 * HubSpot emulator: CRM v3 objects (list/read/batch read/search), associations v4, pipelines,
 * properties, legacy email events, forms and form submissions, OAuth refresh, with HubSpot's
 * rate limits, over an in-memory portal projected from the world.
 */
import type { RouteDef } from '../http.ts';
import type { World } from '../../world/types.ts';
import { projectWorldToHubSpot } from './projection.ts';
import { HubSpotApiState, hubspotRoutes } from './routes.ts';
import type { HubSpotRouteOptions } from './routes.ts';
import { HubSpotStore } from './store.ts';

export { HubSpotStore, HS_OBJECT_TYPES, HS_PROPERTIES } from './store.ts';
export type { HsObject, HsObjectType, HsEmailEvent, HsForm, HsFormSubmission, HsPageHook, HsPageHookContext } from './store.ts';
export { HubSpotApiState, DEAL_STAGES } from './routes.ts';
export { HubSpotRateLimiter } from './ratelimit.ts';
export type { HubSpotRateLimitOptions } from './ratelimit.ts';

export interface HubSpotEmulatorOptions extends HubSpotRouteOptions {
  /** Clock for modification stamps and rate-limit windows; default Date.now. */
  now?: () => number;
}

export interface HubSpotEmulator {
  routes: RouteDef[];
  store: HubSpotStore;
  /** Tokens and the rate limiter; tests use it to expire tokens. */
  state: HubSpotApiState;
  env(origin: string): Record<string, string>;
}

/** `world` may be null for an empty portal (tests insert their own objects). */
export function createHubSpotEmulator(world: World | null, opts: HubSpotEmulatorOptions = {}): HubSpotEmulator {
  const now = opts.now ?? Date.now;
  const store = new HubSpotStore({ now });
  if (world) projectWorldToHubSpot(world, store);
  const state = new HubSpotApiState(opts, now);
  return {
    routes: hubspotRoutes(store, state),
    store,
    state,
    env: (origin) => ({
      HUBSPOT_BASE_URL: origin,
      HUBSPOT_ACCESS_TOKEN: state.initialAccessToken,
      // Extra (not required by the brief): OAuth app credentials for /oauth/v1/token refresh.
      HUBSPOT_CLIENT_ID: state.clientId,
      HUBSPOT_CLIENT_SECRET: state.clientSecret,
      HUBSPOT_REFRESH_TOKEN: state.initialRefreshToken,
    }),
  };
}

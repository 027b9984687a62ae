/**
 * Public surface of the sandbox emulators: the server, fault injection and the vendor factories.
 */
import type { RouteDef } from './http.ts';

export { startEmulatorServer, requestToken, BodyParseError } from './server.ts';
export type { EmulatorServer, EmulatorServerOptions } from './server.ts';
export { FaultInjector, parseFaultSpec, vendorErrorResponse, FaultSpecError, TRANSPORT_FAULT_KINDS, DATA_FAULT_KINDS } from './faults.ts';
export type {
  FaultSpec,
  FaultMode,
  FaultStats,
  RouteStats,
  TransportFaultKind,
  TransportFaultRule,
  DataFaultKind,
  DataFaultRule,
  DataFaultTarget,
  FaultDecision,
} from './faults.ts';
export { EmuHttpError } from './http.ts';
export type { ApiName, EmuRequest, EmuResponse, Handler, RouteDef, Router } from './http.ts';
export { mulberry32, fnv1a, keyedUniform, pickDistinct } from './prng.ts';
export { createSalesforceEmulator } from './salesforce/index.ts';
export type { SalesforceEmulator, SalesforceEmulatorOptions } from './salesforce/index.ts';
export { createHubSpotEmulator } from './hubspot/index.ts';
export type { HubSpotEmulator, HubSpotEmulatorOptions } from './hubspot/index.ts';
export { createGoogleAdsEmulator } from './google_ads/index.ts';
export type { GoogleAdsEmulator, GoogleAdsEmulatorOptions } from './google_ads/index.ts';
export { createMetaAdsEmulator } from './meta_ads/index.ts';
export type { MetaAdsEmulator, MetaAdsEmulatorOptions } from './meta_ads/index.ts';
export { createGa4Emulator } from './ga4/index.ts';
export type { Ga4Emulator, Ga4EmulatorOptions } from './ga4/index.ts';

/** The shape every vendor emulator factory returns: `create<Vendor>Emulator(world, opts)`. */
export interface EmulatorModule<Store = unknown> {
  routes: RouteDef[];
  store: Store;
  /** Environment variables that point a connector at the emulator, with tokens it accepts. */
  env(origin: string): Record<string, string>;
}

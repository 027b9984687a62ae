/**
 * The sandbox: a seeded synthetic marketing world served by local HTTP emulators of every vendor
 * API, with optional fault injection. `mpm sandbox start` calls {@link startSandbox} and prints
 * `env` as NAME=value lines.
 */
import { FaultInjector, parseFaultSpec } from './emulators/faults.ts';
import type { DataFaultRule, DataFaultTarget, FaultSpec, FaultStats } from './emulators/faults.ts';
import type { ApiName, RouteDef } from './emulators/http.ts';
import { createGa4Emulator } from './emulators/ga4/index.ts';
import type { Ga4Store } from './emulators/ga4/index.ts';
import { createGoogleAdsEmulator } from './emulators/google_ads/index.ts';
import type { GoogleAdsStore } from './emulators/google_ads/index.ts';
import { createHubSpotEmulator } from './emulators/hubspot/index.ts';
import type { HubSpotStore } from './emulators/hubspot/index.ts';
import type { EmulatorModule } from './emulators/index.ts';
import { createMetaAdsEmulator } from './emulators/meta_ads/index.ts';
import type { MetaAdsStore } from './emulators/meta_ads/index.ts';
import { fnv1a, mulberry32 } from './emulators/prng.ts';
import { createSalesforceEmulator } from './emulators/salesforce/index.ts';
import type { SalesforceStore } from './emulators/salesforce/index.ts';
import { startEmulatorServer } from './emulators/server.ts';
import { generateWorld } from './world/index.ts';
import type { World, WorldScale } from './world/types.ts';

export interface SandboxOptions {
  /** World seed. Default: the world's default (42). */
  seed?: number;
  /** World size. Default: the world's default ('demo'). */
  scale?: WorldScale;
  /** Last world date (YYYY-MM-DD). Default: the world's default. */
  endDate?: string;
  /** Fault spec (string syntax of sandbox/emulators/faults.ts, or an object). Default: none. */
  faults?: string | FaultSpec;
  /** Port of the emulator server. Default 0 (a free port). */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** Clock for the emulators' modification stamps and rate limits. Default Date.now. */
  now?: () => number;
}

export interface SandboxStores {
  salesforce: SalesforceStore;
  hubspot: HubSpotStore;
  google_ads: GoogleAdsStore;
  meta_ads: MetaAdsStore;
  ga4: Ga4Store;
}

export interface Sandbox {
  /** Origin of the emulator server, e.g. `http://127.0.0.1:43123`. */
  url: string;
  /** Environment variables pointing every connector at the emulators. */
  env: Record<string, string>;
  world: World;
  stores: SandboxStores;
  faults: FaultInjector;
  /** Data-fault rules applied at start and the record ids they touched. */
  dataFaultsApplied: { rule: DataFaultRule; ids: string[] }[];
  /** Vendor APIs that are served. */
  apis: ApiName[];
  stats(): FaultStats;
  stop(): Promise<void>;
}

/** A store's data-fault surface: its `faultTarget()` when it has one (the ad stores), else the
 * store itself (the CRM stores implement {@link DataFaultTarget} directly). */
function asDataFaultTarget(store: unknown): DataFaultTarget | null {
  if (typeof store !== 'object' || store === null) return null;
  const withTarget = store as { faultTarget?: unknown };
  if (typeof withTarget.faultTarget === 'function') {
    const target: unknown = (withTarget.faultTarget as () => unknown).call(store);
    return typeof target === 'object' && target !== null ? (target as DataFaultTarget) : null;
  }
  return store as DataFaultTarget;
}

function applyDataFault(target: DataFaultTarget, rule: DataFaultRule, rand: () => number): string[] | null {
  const arg = rule.arg;
  switch (rule.fault) {
    case 'malform':
      return target.malformRandom ? target.malformRandom(arg ?? 1, rand) : null;
    case 'modify':
      return target.modifyRandom ? target.modifyRandom(arg ?? 1, rand) : null;
    case 'delete':
      return target.deleteRandom ? target.deleteRandom(arg ?? 1, rand) : null;
    case 'mutate_during_paging':
      if (!target.mutateDuringPaging) return null;
      target.mutateDuringPaging(arg ?? 1, rand);
      return [];
    case 'restate':
      if (!target.restate) return null;
      target.restate(arg ?? 7, rand);
      return [];
  }
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const world = generateWorld({
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.scale !== undefined ? { scale: opts.scale } : {}),
    ...(opts.endDate !== undefined ? { endDate: opts.endDate } : {}),
  });
  const spec: FaultSpec = typeof opts.faults === 'string' ? parseFaultSpec(opts.faults) : (opts.faults ?? {});
  const faults = new FaultInjector(spec);
  const clock = opts.now ? { now: opts.now } : {};

  const salesforce = createSalesforceEmulator(world, clock);
  const hubspot = createHubSpotEmulator(world, clock);
  const googleAds = createGoogleAdsEmulator(world);
  const metaAds = createMetaAdsEmulator(world, clock);
  const ga4 = createGa4Emulator(world, clock);
  const modules: { api: ApiName; module: EmulatorModule }[] = [
    { api: 'salesforce', module: salesforce },
    { api: 'hubspot', module: hubspot },
    { api: 'google_ads', module: googleAds },
    { api: 'meta_ads', module: metaAds },
    { api: 'ga4', module: ga4 },
  ];
  const stores: SandboxStores = { salesforce: salesforce.store, hubspot: hubspot.store, google_ads: googleAds.store, meta_ads: metaAds.store, ga4: ga4.store };

  // Data faults: deterministic by (seed, rule position).
  const dataFaultsApplied: { rule: DataFaultRule; ids: string[] }[] = [];
  (spec.data ?? []).forEach((rule, i) => {
    const target = asDataFaultTarget(stores[rule.api as keyof SandboxStores]);
    if (!target) return;
    const rand = mulberry32(((spec.seed ?? 1) ^ fnv1a(`data|${i}|${rule.api}|${rule.fault}`)) >>> 0);
    const ids = applyDataFault(target, rule, rand);
    if (ids !== null) dataFaultsApplied.push({ rule, ids });
  });

  const routes: RouteDef[] = modules.flatMap((m) => m.module.routes);
  const server = await startEmulatorServer({
    routes,
    faults,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
  });
  const env: Record<string, string> = {};
  for (const m of modules) Object.assign(env, m.module.env(server.origin));

  return {
    url: server.origin,
    env,
    world,
    stores,
    faults,
    dataFaultsApplied,
    apis: modules.map((m) => m.api),
    stats: () => server.stats(),
    stop: () => server.close(),
  };
}

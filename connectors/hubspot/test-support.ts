import { rawTableName } from '../core/connector.ts';
import type { Warehouse } from '../../warehouse/db.ts';
import { connectorKit, silentLog } from '../../test/helpers/connector-kit.ts';
import { tableHash } from '../../test/helpers/warehouse.ts';
import { hubspotConnector } from './index.ts';

/** Helpers shared by the HubSpot test files (not a test itself). */

export { silentLog };

export const HUBSPOT_STREAMS = hubspotConnector.streams.map((s) => s.name);
export const HUBSPOT_RAW_TABLES = HUBSPOT_STREAMS.map((s) => rawTableName('hubspot', s));
export const HUBSPOT_CORE_TABLES = [
  'core.fct_opportunity',
  'core.fct_opportunity_stage_history',
  'core.bridge_opportunity_person',
  'core.dim_account',
  'core.dim_person',
  'core.fct_touchpoint',
];

const kit = connectorKit(hubspotConnector);
export const ensureHubSpotRawTables = kit.ensureRawTables;
export const hsConnection = kit.connection;
export const hsStream = kit.stream;
export const syncHubSpot = kit.sync;
export const hsCheckpoint = kit.checkpoint;

export async function hashTables(warehouse: Warehouse, tables: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tables) out[t] = await tableHash(warehouse, t);
  return out;
}

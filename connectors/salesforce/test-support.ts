import { connectorKit, silentLog } from '../../test/helpers/connector-kit.ts';
import { salesforceConnector } from './index.ts';

/** Helpers shared by the Salesforce test files (not a test itself). */

export { silentLog };

const kit = connectorKit(salesforceConnector);
export const ensureSalesforceRawTables = kit.ensureRawTables;
export const sfConnection = kit.connection;
export const streamNamed = kit.stream;
export const syncStream = kit.sync;
export const storedCheckpoint = kit.checkpoint;

/**
 * Test helper run as a child process: opens the embedded warehouse under argv[2] (MPM_DATA_DIR),
 * migrates it, prints "open", then waits to be killed (never closing it).
 */
import { prepareWarehouse } from '../../pipeline/setup.ts';
import { openWarehouse } from '../../warehouse/db.ts';

const warehouse = await openWarehouse({ dataDir: process.argv[2]! });
await prepareWarehouse(warehouse.knex);
process.stdout.write('open\n');
setInterval(() => undefined, 1 << 30);

/**
 * Test helper run as a child process: takes the lock of stream argv[3] of connection argv[2] on
 * the warehouse at DATABASE_URL, prints "locked", then waits to be killed (never releasing it).
 */
import { lockStream } from '../../pipeline/stream-lock.ts';
import { openWarehouse } from '../../warehouse/db.ts';

const warehouse = await openWarehouse({ databaseUrl: process.env.DATABASE_URL! });
await lockStream(warehouse, process.argv[2]!, process.argv[3]!);
process.stdout.write('locked\n');
setInterval(() => undefined, 1 << 30);

import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { runSync } from '../pipeline/sync.ts';
import { createTestWarehouse } from './helpers/warehouse.ts';
import { fixtureConnection } from './helpers/fixture-connector.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe('loader memory', () => {
  let warehouse: Awaited<ReturnType<typeof createTestWarehouse>>;
  beforeAll(async () => {
    warehouse = await createTestWarehouse('postgres');
  });
  afterAll(async () => {
    await warehouse?.drop();
  });

  it('stays flat over a 1M-record stream (pages are streamed, never accumulated)', { timeout: 600_000 }, async () => {
    const connection = await fixtureConnection(warehouse, { pages: 100, pageSize: 10_000 });
    const samples: number[] = [];
    const result = await runSync({
      warehouse,
      connection,
      stream: connection.connector.streams[0]!,
      mode: 'full',
      log: pino({ level: 'silent' }),
      onPage: ({ pages }) => {
        if (pages % 10 === 0) samples.push(heapMb());
      },
    });
    expect(result.status).toBe('success');
    expect(result.counts.read).toBe(1_000_000);
    expect(Number((await warehouse.knex('core.fct_ad_spend_daily').count({ n: '*' }).first())!.n)).toBe(1_000_000);
    // Heap after page 10 vs the rest: a loader that kept records would grow by hundreds of MB.
    const baseline = samples[0]!;
    const peak = Math.max(...samples);
    expect(samples).toHaveLength(10);
    expect(peak - baseline).toBeLessThan(48);
  });
});

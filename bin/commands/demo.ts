import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { csvConnector } from '../../connectors/csv/index.ts';
import type { ConnectorDefinition } from '../../connectors/core/connector.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { runSync } from '../../pipeline/sync.ts';
import { formatResult } from './sync.ts';
import { say, type Runtime } from '../runtime.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SAMPLE_CSV = path.resolve(here, '../../connectors/csv/sample/offline-spend.csv');

export function register(program: Command, rt: Runtime): void {
  program
    .command('demo')
    .description('run the pipeline offline on bundled sample data into the warehouse (embedded, or DATABASE_URL when set)')
    .action(async () => {
      const warehouse = await rt.warehouse();
      say(`warehouse: ${warehouse.kind} (${warehouse.location})`);
      say('');
      say('stage 1/1: sync');
      // Stages still to be wired in (each says so instead of pretending): sandbox emulators of
      // Salesforce, HubSpot, Google Ads, Meta Ads and GA4; transform and marts.
      const connection = buildConnection('csv', csvConnector as ConnectorDefinition<unknown>, { path: SAMPLE_CSV }, 'env');
      let failed = false;
      for (const stream of connection.connector.streams) {
        const result = await runSync({ warehouse, connection, stream, mode: 'incremental', log: rt.log });
        say(`  ${formatResult(result)}`);
        if (result.status !== 'success') failed = true;
      }
      say('');
      say('what landed:');
      const knex = warehouse.knex;
      const tables = ['raw.csv__spend', 'core.dim_campaign', 'core.fct_ad_spend_daily'];
      for (const table of tables) {
        const row = (await knex(table).count({ n: '*' }).first()) as { n: number | string };
        say(`  ${table.padEnd(28)} ${String(Number(row.n)).padStart(8)} rows`);
      }
      const spend = (await knex.raw(`
        SELECT channel_hint AS channel, currency, sum(spend)::numeric(14,2)::text AS spend, min(date) AS first_day, max(date) AS last_day
        FROM core.fct_ad_spend_daily WHERE connection_id = 'csv' AND NOT is_deleted
        GROUP BY 1, 2 ORDER BY 1, 2`)).rows as Array<{ channel: string; currency: string; spend: string; first_day: string; last_day: string }>;
      say('');
      say('offline spend by channel (csv):');
      for (const s of spend) say(`  ${s.channel.padEnd(14)} ${s.currency} ${s.spend.padStart(12)}   ${s.first_day} .. ${s.last_day}`);
      say('');
      say('not yet part of the demo: the sandbox vendor emulators and the transform stage (attribution, KPI marts).');
      if (failed) process.exitCode = 1;
    });
}

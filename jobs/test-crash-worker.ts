/**
 * Worker entry script of the crash-safety test (jobs/crash.test.ts), not a test itself: runs the
 * real job worker against the test's warehouse, Redis prefix and sandbox, and kills itself with
 * SIGKILL at one chosen point, observed from the outside of our code:
 *   fetch:N     response headers of the Nth searchStream request arrived (mid-page: not stored yet)
 *   core:N      the Nth write to a core table is sent to Postgres (the page's raw upsert ran in the
 *               same, still open transaction): observed at the pg driver, like an APM agent would
 *   page:N      the Nth page was committed (its 'page stored' log line) before the next one
 *   finished:N  the Nth run was recorded finished, before the chunk was marked and the job acked
 * Environment: CRASH_DATABASE_URL, REDIS_URL, MPM_* job settings, CRASH_SETTINGS (Google Ads
 * connection settings as JSON), CRASH_AT (empty: run until SIGTERM), CRASH_LOG (log file).
 */
import diagnostics from 'node:diagnostics_channel';
import pg from 'pg';
import { destination, pino } from 'pino';
import { googleAdsConnector } from '../connectors/google_ads/index.ts';
import { buildConnection } from '../pipeline/config/connections.ts';
import { openWarehouse } from '../warehouse/db.ts';
import { jobsSettings } from './settings.ts';
import { startWorker } from './worker.ts';

const crashAt = /^(fetch|core|page|finished):(\d+)$/.exec(process.env.CRASH_AT ?? '');
const counts = { fetch: 0, core: 0, page: 0, finished: 0 };
function reached(kind: keyof typeof counts): void {
  counts[kind]++;
  if (crashAt && crashAt[1] === kind && counts[kind] === Number(crashAt[2])) process.kill(process.pid, 'SIGKILL');
}

// undici (global fetch) publishes this when a response's headers arrive, before its body is read.
diagnostics.subscribe('undici:request:headers', (message) => {
  const { request } = message as { request: { path?: string } };
  if (request.path?.includes('searchStream')) reached('fetch');
});

// The pg driver sees every statement, whichever way the loader sends it (INSERT or COPY).
const CORE_WRITE = /\b(?:INSERT INTO|COPY)\s+"?core"?\."?\w/i;
const query = pg.Client.prototype.query as (this: pg.Client, ...args: unknown[]) => unknown;
pg.Client.prototype.query = function observed(this: pg.Client, ...args: unknown[]) {
  const first = args[0];
  const text = typeof first === 'string' ? first : first && typeof first === 'object' && 'text' in first ? String((first as { text: unknown }).text) : '';
  if (CORE_WRITE.test(text)) reached('core');
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

const log = pino(
  {
    level: 'debug',
    hooks: {
      logMethod(args, method) {
        const msg = args.find((a): a is string => typeof a === 'string');
        if (msg === 'page stored') reached('page');
        if (msg === 'sync finished') reached('finished');
        return method.apply(this, args);
      },
    },
  },
  destination({ dest: process.env.CRASH_LOG ?? '/dev/null', sync: true }),
);

const settingsJson = process.env.CRASH_SETTINGS;
const databaseUrl = process.env.CRASH_DATABASE_URL;
if (!settingsJson || !databaseUrl) throw new Error('CRASH_SETTINGS and CRASH_DATABASE_URL are required');
const connection = buildConnection('google_ads', googleAdsConnector as Parameters<typeof buildConnection>[1], JSON.parse(settingsJson) as Record<string, unknown>, 'file');
const warehouse = await openWarehouse({ databaseUrl });
const handle = await startWorker({
  settings: jobsSettings(process.env.REDIS_URL, 'the crash test worker'),
  config: { file: undefined, connections: [connection], sections: {} },
  warehouse,
  log,
  schedules: false,
});
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void handle
    .close()
    .then(() => warehouse.close())
    .then(() => process.exit(0));
});

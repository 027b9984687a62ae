import http from 'node:http';
import type { Knex } from 'knex';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PageCounts } from '../pipeline/loader.ts';
import type { JobQueues } from './queues.ts';

/** The worker's Prometheus metrics (served on /metrics). */
export class JobMetrics {
  readonly registry = new Registry();
  readonly syncRuns: Counter<'connection' | 'stream' | 'mode' | 'status'>;
  readonly rows: Counter<'connection' | 'stream' | 'outcome'>;
  readonly duration: Histogram<'connection' | 'stream' | 'mode'>;
  readonly rateLimitWaits: Counter<'queue'>;
  readonly rateLimitWaitSeconds: Counter<'queue'>;

  constructor(queues: JobQueues, knex: Knex) {
    collectDefaultMetrics({ register: this.registry, prefix: 'mpm_process_' });
    this.syncRuns = new Counter({ name: 'mpm_sync_runs_total', help: 'Sync runs finished by this worker, by status (success, partial, failed, cancelled, skipped)', labelNames: ['connection', 'stream', 'mode', 'status'], registers: [this.registry] });
    this.rows = new Counter({ name: 'mpm_sync_rows_total', help: 'Vendor records stored by this worker, by outcome (read, inserted, updated, unchanged, quarantined, deleted)', labelNames: ['connection', 'stream', 'outcome'], registers: [this.registry] });
    this.duration = new Histogram({ name: 'mpm_sync_duration_seconds', help: 'Duration of sync runs', labelNames: ['connection', 'stream', 'mode'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers: [this.registry] });
    this.rateLimitWaits = new Counter({ name: 'mpm_rate_limit_waits_total', help: 'Times a vendor 429 paused a sync queue', labelNames: ['queue'], registers: [this.registry] });
    this.rateLimitWaitSeconds = new Counter({ name: 'mpm_rate_limit_wait_seconds_total', help: 'Seconds sync queues were paused by vendor 429s (Retry-After)', labelNames: ['queue'], registers: [this.registry] });
    new Gauge({
      name: 'mpm_queue_jobs',
      help: 'Jobs per queue and state (waiting, active, delayed, failed, prioritized, waiting-children)',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const q of await queues.discover()) {
          const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children');
          for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
        }
      },
    });
    new Gauge({
      name: 'mpm_stream_freshness_seconds',
      help: 'Seconds since the last successful sync of each connection stream',
      labelNames: ['connection', 'stream'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = (await knex.raw(`SELECT connection, stream, extract(epoch FROM now() - max(finished_at))::float8 AS age FROM meta.sync_runs WHERE status = 'success' GROUP BY connection, stream`)).rows as Array<{ connection: string; stream: string; age: number }>;
        for (const r of rows) this.set({ connection: r.connection, stream: r.stream }, Number(r.age));
      },
    });
  }

  recordRun(labels: { connection: string; stream: string; mode: string }, status: string, seconds: number, counts?: PageCounts): void {
    this.syncRuns.inc({ ...labels, status });
    if (seconds > 0) this.duration.observe(labels, seconds);
    if (counts) {
      for (const [outcome, n] of Object.entries(counts)) if (n > 0) this.rows.inc({ connection: labels.connection, stream: labels.stream, outcome }, n);
    }
  }

  /** Serves /metrics; port 0 picks a free one. */
  async serve(port: number, host = '0.0.0.0'): Promise<{ port: number; close(): Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('see /metrics\n');
        return;
      }
      this.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body))
        .catch((err: unknown) => res.writeHead(500).end(String(err instanceof Error ? err.message : err)));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    return {
      port: typeof address === 'object' && address ? address.port : port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}

import type { Knex } from 'knex';
import { getBackfill, type BackfillRow, type ChunkRow } from './backfill.ts';

export interface BackfillProgress {
  backfill: BackfillRow;
  chunks: ChunkRow[];
  chunksTotal: number;
  chunksFinished: number;
  /** Vendor records read: finished chunks plus the live count of running ones. */
  rows: number;
}

export async function backfillProgress(knex: Knex, id: string): Promise<BackfillProgress> {
  const { backfill, chunks } = await getBackfill(knex, id);
  const live = (await knex.raw(
    `SELECT coalesce(sum(r.rows_read), 0)::bigint AS n
     FROM meta.backfill_chunks c
     JOIN meta.sync_runs r ON r.connection = ? AND r.stream = c.stream AND r.mode = 'backfill'
      AND r.window_from = c.chunk_from AND r.window_to = c.chunk_to AND r.status = 'running'
     WHERE c.backfill_id = ? AND c.status IN ('running', 'pending')`,
    [backfill.connection, id],
  )).rows[0] as { n: string | number };
  const finished = chunks.filter((c) => c.status !== 'pending' && c.status !== 'running');
  return {
    backfill,
    chunks,
    chunksTotal: chunks.length,
    chunksFinished: finished.length,
    rows: finished.reduce((n, c) => n + c.rowsRead, 0) + Number(live.n),
  };
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h ? `${h}:` : ''}${String(m).padStart(h ? 2 : 1, '0')}:${String(r).padStart(2, '0')}`;
}

/**
 * One progress line: bar, chunks, rows, rate and ETA (from the chunk rate so far). `elapsedMs`
 * is the time since this watcher started, `rowsAtStart`/`chunksAtStart` what was done then.
 */
export function formatProgress(p: BackfillProgress, elapsedMs: number, start: { rows: number; chunks: number }, width = 24): string {
  const share = p.chunksTotal ? p.chunksFinished / p.chunksTotal : 1;
  const filled = Math.round(share * width);
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? (p.rows - start.rows) / seconds : 0;
  const chunkRate = seconds > 0 ? (p.chunksFinished - start.chunks) / seconds : 0;
  const eta = chunkRate > 0 ? (p.chunksTotal - p.chunksFinished) / chunkRate : Number.NaN;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.chunksFinished}/${p.chunksTotal} chunks  ${p.rows.toLocaleString('en-US')} rows  ${Math.round(rate).toLocaleString('en-US')} rows/s  ETA ${p.backfill.status === 'running' ? clock(eta) : '0:00'}  ${p.backfill.status}`;
}

/** Renders progress on a stream: rewritten in place on a TTY, one line per change otherwise. */
export class ProgressPrinter {
  private readonly started = Date.now();
  private start?: { rows: number; chunks: number };
  private last = '';

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly knex: Knex,
    private readonly id: string,
  ) {}

  async update(): Promise<BackfillProgress> {
    const p = await backfillProgress(this.knex, this.id);
    this.start ??= { rows: p.rows, chunks: p.chunksFinished };
    const line = formatProgress(p, Date.now() - this.started, this.start);
    if (this.out.isTTY) this.out.write(`\r${line}\u001b[K`);
    else if (line.replace(/\d+ rows\/s.*$/, '') !== this.last.replace(/\d+ rows\/s.*$/, '')) this.out.write(`${line}\n`);
    this.last = line;
    return p;
  }

  done(): void {
    if (this.out.isTTY) this.out.write('\n');
  }
}

import type { Knex } from 'knex';
import type { NormalizeContext, WindowSweep } from '../connectors/core/connector.ts';
import { rawTableName } from '../connectors/core/connector.ts';
import { sqlLiteral } from '../warehouse/sql.ts';
import { emptyCounts, preparePage, storePrepared, type AnyStream, type LoadPageInput, type PageCounts, type PreparedPage } from './loader.ts';

/**
 * Window sweeps: deletes by absence for date-partitioned streams that re-read whole days (the ad
 * platforms' and GA4's restatement lookbacks). A campaign-day whose spend was restated to nothing,
 * or a GA4 row that vanished once the data settled, is simply no longer returned; without a sweep
 * it would keep its earlier values in raw and core.
 *
 * The connector marks the page that finishes a range of days of one scope (an ad account, a
 * property) with `sweep` (connectors/core/connector.ts). The sync runner notes the record keys of
 * every page it prepares (WindowSweeper.note); on a sweep page, in that page's transaction, the
 * stored raw records of that scope and those days whose keys the run did not read since the
 * previous sweep are flagged `_deleted`, and their core rows, normalized again from the stored
 * payload, `is_deleted`.
 *
 * Crash safety: the keys live in memory only, and a connector sets `sweep` only on the page whose
 * checkpoint says the range is done. A run that stops halfway through a range has swept nothing
 * and its checkpoint still points before the range, so the next run reads the range again from
 * its first day, and only then sweeps: rows not reached yet are never deleted. Keys noted since
 * the previous sweep that lie outside the range (a retried attempt's rows) only keep rows, never
 * delete them.
 */

export interface SweepRequest extends WindowSweep {
  /** Record keys read since the previous sweep. */
  keep: string[];
}

/** Notes the record keys of each prepared page of a run (only for streams that declare windowSweep). */
export class WindowSweeper {
  private keys = new Set<string>();

  private constructor(private readonly stream: AnyStream) {}

  static of(stream: AnyStream): WindowSweeper {
    return new WindowSweeper(stream);
  }

  /** Notes the page's keys; when the page finishes a range, returns the sweep to run with it and starts over. */
  note(prepared: Pick<PreparedPage, 'validKeys' | 'quarantine'>, sweep: WindowSweep | undefined): SweepRequest | undefined {
    if (!this.stream.windowSweep) {
      if (sweep) throw new Error(`stream ${this.stream.name} sent a window sweep but declares no windowSweep`);
      return undefined;
    }
    for (const key of prepared.validKeys) this.keys.add(key);
    for (const q of prepared.quarantine) this.keys.add(q.recordKey);
    if (!sweep) return undefined;
    const request = { ...sweep, keep: [...this.keys] };
    this.keys = new Set();
    return request;
  }
}

/** `payload #>> '{a,b}'`: the text at a dot path ('dimensionValues.0.value') of the payload. */
const payloadAt = (path: string): string => `(payload #>> ${sqlLiteral(`{${path.split('.').join(',')}}`)})`;

/**
 * The index a sweep reads through: connection, scope and day, as expressions over the payload (the
 * same text as in sweepWindow's WHERE, so the planner matches them). Without it each sweep would
 * scan every stored record of the connection. Created with the stream's raw table.
 */
export async function ensureSweepIndex(knex: Knex, connector: string, stream: Pick<AnyStream, 'name' | 'windowSweep'>): Promise<void> {
  const spec = stream.windowSweep;
  if (!spec) return;
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS ${connector}__${stream.name}_sweep_idx ON ${rawTableName(connector, stream.name)} (connection_id, ${payloadAt(spec.scopePath)}, ${payloadAt(spec.dayPath)})`,
  );
}

/**
 * Flags the records of the swept range that were not read again, inside the page's transaction:
 * raw `_deleted`, core `is_deleted` (the rows keep their last values), open quarantine entries of
 * those records resolved. Returns the counts to add to the run (rows_deleted is incremented here).
 */
export async function sweepWindow(
  trx: Knex.Transaction,
  input: Pick<LoadPageInput, 'kind' | 'connectionId' | 'connector' | 'stream' | 'runId'>,
  normalizeContext: NormalizeContext<unknown>,
  request: SweepRequest,
): Promise<PageCounts> {
  const { stream } = input;
  const spec = stream.windowSweep;
  if (!spec) throw new Error(`stream ${stream.name} sent a window sweep but declares no windowSweep`);
  const result = (await trx.raw(
    `UPDATE ${rawTableName(input.connector, stream.name)}
        SET _deleted = true, _run_id = ?, _synced_at = now()
      WHERE connection_id = ? AND NOT _deleted
        AND ${payloadAt(spec.scopePath)} = ?
        AND ${payloadAt(spec.dayPath)} BETWEEN ? AND ?
        AND NOT (record_id = ANY(?::text[]))
      RETURNING record_id, payload`,
    [input.runId, input.connectionId, request.scope, request.from, request.to, request.keep],
  )) as { rows: Array<{ record_id: string; payload: unknown }> };
  const vanished = result.rows;
  if (vanished.length === 0) return emptyCounts();

  // The stored payload, normalized again as a deleted record, names the core rows it produced.
  // A payload that no longer validates produced none: its raw flag is all there is to set.
  const tombstones = preparePage({ ...stream, isDeleted: () => true }, vanished.map((r) => r.payload), normalizeContext);
  await storePrepared(
    trx,
    { ...input, hasOpenQuarantine: true },
    { raw: [], core: tombstones.core, quarantine: [], validKeys: vanished.map((r) => r.record_id) },
  );
  if (input.runId !== null) await trx('meta.sync_runs').where({ id: input.runId }).increment({ rows_deleted: vanished.length });
  return { ...emptyCounts(), deleted: vanished.length };
}

import type { Knex } from 'knex';

/**
 * Change detection of the incremental transform. A core row is new to the transform when its
 * _synced_at (the start of the transaction that last changed it, set by the loader) is at or after
 * the previous run's watermark; a hard-deleted one when meta.transform_deletions (filled by the
 * triggers of migration 0007) holds it. The keys of those rows go into temporary tables, which
 * the transform widens to everything they feed (pipeline/transform/index.ts).
 */
export interface ChangeSets {
  /** Keys found in all (opportunities named by a changed contact-role link included): 0 when no core row changed. */
  total: number;
  people: number;
  touchpoints: number;
  campaigns: number;
  opportunities: number;
  stageHistory: number;
  spend: number;
  traffic: number;
}

interface Source {
  table: string;
  /** Temporary table the keys go to. */
  into: string;
  /** Key columns (in the core table, and in old_row of a deletion) and their SQL types. */
  key: ReadonlyArray<readonly [column: string, type: string]>;
}

const SOURCES: Record<Exclude<keyof ChangeSets, 'total'> | 'bridge', Source> = {
  people: { table: 'core.dim_person', into: 'inc_person', key: [['connection_id', 'text'], ['person_id', 'text']] },
  touchpoints: { table: 'core.fct_touchpoint', into: 'inc_touch', key: [['connection_id', 'text'], ['touchpoint_id', 'text']] },
  campaigns: { table: 'core.dim_campaign', into: 'inc_campaign', key: [['connection_id', 'text'], ['campaign_id', 'text']] },
  opportunities: { table: 'core.fct_opportunity', into: 'inc_opp', key: [['connection_id', 'text'], ['opportunity_id', 'text']] },
  bridge: { table: 'core.bridge_opportunity_person', into: 'inc_opp', key: [['connection_id', 'text'], ['opportunity_id', 'text']] },
  stageHistory: { table: 'core.fct_opportunity_stage_history', into: 'inc_history_opp', key: [['connection_id', 'text'], ['opportunity_id', 'text']] },
  spend: { table: 'core.fct_ad_spend_daily', into: 'inc_spend', key: [['connection_id', 'text'], ['campaign_id', 'text'], ['date', 'date']] },
  traffic: {
    table: 'core.fct_web_traffic_daily', into: 'inc_traffic',
    key: [['connection_id', 'text'], ['property_id', 'text'], ['date', 'date'], ['source', 'text'], ['medium', 'text'], ['campaign', 'text']],
  },
};

/**
 * Creates the inc_* temporary tables (dropped at commit) with the keys of the core rows changed
 * or deleted since `watermark`, plus the empty accumulators the transform fills (inc_pkey). Returns
 * the counts, or the reason the run must be full instead.
 */
export async function detectChanges(trx: Knex.Transaction, watermark: string): Promise<ChangeSets | string> {
  const marker = (await trx.raw(
    `SELECT table_name FROM meta.transform_deletions WHERE deleted_at >= ? AND (old_row IS NULL OR table_name = 'core.fx_rate_daily') LIMIT 1`,
    [watermark],
  )).rows[0] as { table_name: string } | undefined;
  if (marker) return `${marker.table_name} was truncated or had rows deleted`;
  const fx = (await trx.raw(`SELECT 1 FROM core.fx_rate_daily WHERE _synced_at >= ? LIMIT 1`, [watermark])).rows.length;
  if (fx > 0) return 'FX rates changed (every amount in the reporting currency may move)';

  const created = new Set<string>();
  const counts: Partial<ChangeSets> = { total: 0 };
  for (const [name, source] of Object.entries(SOURCES) as Array<[keyof typeof SOURCES, Source]>) {
    const cols = source.key.map(([c]) => c);
    if (!created.has(source.into)) {
      await trx.raw(`CREATE TEMP TABLE ${source.into} (${source.key.map(([c, t]) => `${c} ${t}`).join(', ')}) ON COMMIT DROP`);
      created.add(source.into);
    }
    const added = (await trx.raw(
      `INSERT INTO ${source.into} (${cols.join(', ')})
       SELECT ${cols.join(', ')} FROM ${source.table} WHERE _synced_at >= ?::timestamptz
       UNION
       SELECT ${source.key.map(([c, t]) => `(old_row->>'${c}')::${t}`).join(', ')} FROM meta.transform_deletions WHERE table_name = ? AND deleted_at >= ?::timestamptz`,
      [watermark, source.table, watermark],
    )).rowCount ?? 0;
    counts.total! += added;
    if (name !== 'bridge') counts[name] = added;
    await trx.raw(`ANALYZE ${source.into}`);
  }
  await trx.raw('CREATE TEMP TABLE inc_pkey (person_key text) ON COMMIT DROP');
  return counts as ChangeSets;
}

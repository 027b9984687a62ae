import { z } from 'zod';
import { defineConnector, defineStream, type ConnectorDefinition, type Page, type StreamDefinition } from '../../connectors/core/connector.ts';
import type { Connection } from '../../pipeline/config/connections.ts';
import { buildConnection } from '../../pipeline/config/connections.ts';
import { rawTableName } from '../../connectors/core/connector.ts';
import { ensureRawTable } from '../../warehouse/migrate.ts';
import type { Warehouse } from '../../warehouse/db.ts';

/**
 * A deterministic in-process connector for exercising the loader and runner: it is a connector
 * like any other (the contract is an extension point), producing `pages` pages of `pageSize` spend
 * records, with optional invalid and deleted ones. Not a stub of mpm code: the real loader,
 * runner, database and checkpoints all run.
 */
export const fixtureConfig = z.object({
  pages: z.number().int().positive(),
  pageSize: z.number().int().positive(),
  /** Every Nth record is invalid (spend is not a number). 0: none. */
  invalidEvery: z.number().int().nonnegative().default(0),
  /** Every Nth record is marked deleted by the vendor. 0: none. */
  deletedEvery: z.number().int().nonnegative().default(0),
  /** Added to every spend, to simulate restated values. */
  spendBump: z.number().default(0),
});
export type FixtureConfig = z.infer<typeof fixtureConfig>;

const record = z.looseObject({
  id: z.string(),
  day: z.string(),
  campaign: z.string(),
  spend: z.number(),
  clicks: z.number().int(),
  removed: z.boolean().optional(),
});

/** The 700 days the fixture cycles through, made once: the records stand for a vendor's, whose cost is not the loader's. */
const DAYS = Array.from({ length: 700 }, (_, d) => new Date(Date.UTC(2025, 0, 1) + d * 86_400_000).toISOString().slice(0, 10));

/**
 * Record i of the fixture, built as one object literal with its keys always in the same order, as
 * JSON.parse() builds a vendor's records (objects assembled by spreads cost the loader extra work
 * that no real source would cause).
 */
export function fixtureRecord(i: number, config: FixtureConfig): Record<string, unknown> {
  const day = DAYS[i % 700]!;
  const campaign = `c${Math.floor(i / 700)}`;
  const id = `${campaign}|${day}`;
  const clicks = i % 97;
  if (config.invalidEvery && (i + 1) % config.invalidEvery === 0) return { id, day, campaign, clicks, spend: 'not-a-number' };
  const spend = Math.round(((i % 1000) * 1.37 + config.spendBump) * 100) / 100;
  if (config.deletedEvery && (i + 1) % config.deletedEvery === 0) return { id, day, campaign, clicks, spend, removed: true };
  return { id, day, campaign, clicks, spend };
}

const spend = defineStream<FixtureConfig>()({
  name: 'spend',
  description: 'synthetic spend rows for loader tests',
  primaryKey: ['id'],
  cursorField: 'index',
  pageSize: 1000,
  recordSchema: record,
  checkpointSchema: z.object({ page: z.number().int() }),
  targets: ['core.fct_ad_spend_daily'],
  isDeleted: (r) => r.removed === true,
  async *read(ctx, checkpoint): AsyncIterable<Page<{ page: number }>> {
    const { pages, pageSize } = ctx.config;
    for (let page = (checkpoint?.page ?? 0) + 1; page <= pages; page++) {
      const records = [];
      for (let j = 0; j < pageSize; j++) records.push(fixtureRecord((page - 1) * pageSize + j, ctx.config));
      yield { records, checkpoint: { page } };
    }
  },
  normalize: (r) => ({
    'core.fct_ad_spend_daily': [
      { campaign_id: r.campaign, date: r.day, currency: 'USD', spend: r.spend, impressions: r.clicks * 10, clicks: r.clicks, conversions: 0, conversion_value: 0 },
    ],
  }),
});

export const fixtureConnector = defineConnector<FixtureConfig>({
  name: 'fixture',
  description: 'test-only synthetic connector',
  configSchema: fixtureConfig,
  env: [],
  fromEnv: () => undefined,
  streams: [spend],
});

export async function fixtureConnection(warehouse: Warehouse, settings: z.input<typeof fixtureConfig>, id = 'fixture'): Promise<Connection> {
  await ensureRawTable(warehouse.knex, rawTableName('fixture', 'spend'), 'fixture spend');
  return buildConnection(id, fixtureConnector as ConnectorDefinition<unknown>, settings, 'file');
}

/**
 * A connection of a config-less, test-only connector made of `streams`, with the streams' raw
 * tables created. `id` defaults to the connector's name.
 */
export async function testConnection(
  warehouse: Warehouse,
  // Streams of any record and checkpoint shape.
  connector: { name: string; description: string; streams: ReadonlyArray<StreamDefinition<Record<string, never>, any, any>> },
  id = connector.name,
): Promise<Connection> {
  const definition = defineConnector<Record<string, never>>({ ...connector, configSchema: z.object({}), env: [], fromEnv: () => undefined });
  for (const s of definition.streams) await ensureRawTable(warehouse.knex, rawTableName(definition.name, s.name), `${definition.name} ${s.name}: ${s.description}`);
  return buildConnection(id, definition as ConnectorDefinition<unknown>, {}, 'file');
}

import { z } from 'zod';

/**
 * The row contract of every core table: what a connector's normalize() may write, column by
 * column, with the SQL type the loader casts to. The DDL lives in the migrations (forward-only);
 * test/warehouse.test.ts checks that these definitions and the catalog agree.
 */
export type SqlType = 'text' | 'numeric' | 'bigint' | 'date' | 'timestamptz' | 'boolean' | 'jsonb';

export interface Column<T extends z.ZodType = z.ZodType> {
  sql: SqlType;
  schema: T;
}

const DECIMAL = /^-?\d+(\.\d+)?$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const decimalValue = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v.trim();
  if (!DECIMAL.test(s) && !/^-?\d+(\.\d+)?e[+-]?\d+$/i.test(s)) {
    ctx.addIssue({ code: 'custom', message: `expected a decimal number, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return s;
});
const dayValue = z.string().refine((s) => DAY.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)), 'expected a YYYY-MM-DD date');
const instantValue = z.union([z.string(), z.date()]).transform((v, ctx) => {
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime())) {
    ctx.addIssue({ code: 'custom', message: `expected a timestamp, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return d.toISOString();
});

/** Column builders: required ones reject null/undefined, optional ones store NULL. */
export const col = {
  text: () => ({ sql: 'text', schema: z.string().nullish() }) satisfies Column,
  textReq: () => ({ sql: 'text', schema: z.string().min(1) }) satisfies Column,
  decimal: () => ({ sql: 'numeric', schema: decimalValue.nullish() }) satisfies Column,
  decimalReq: () => ({ sql: 'numeric', schema: decimalValue }) satisfies Column,
  int: () => ({ sql: 'bigint', schema: z.number().int().nullish() }) satisfies Column,
  intReq: () => ({ sql: 'bigint', schema: z.number().int() }) satisfies Column,
  date: () => ({ sql: 'date', schema: dayValue.nullish() }) satisfies Column,
  dateReq: () => ({ sql: 'date', schema: dayValue }) satisfies Column,
  timestamp: () => ({ sql: 'timestamptz', schema: instantValue.nullish() }) satisfies Column,
  timestampReq: () => ({ sql: 'timestamptz', schema: instantValue }) satisfies Column,
  bool: () => ({ sql: 'boolean', schema: z.boolean().nullish() }) satisfies Column,
  boolReq: () => ({ sql: 'boolean', schema: z.boolean() }) satisfies Column,
  /** boolean NOT NULL DEFAULT false: absent means false. */
  flag: () => ({ sql: 'boolean', schema: z.boolean().nullish().transform((v) => v ?? false) }) satisfies Column,
  json: () => ({ sql: 'jsonb', schema: z.record(z.string(), z.unknown()).nullish().transform((v) => v ?? {}) }) satisfies Column,
};

export interface CoreTableDef<C extends Record<string, Column>> {
  name: string;
  /** Primary key columns, connection_id first. */
  key: readonly string[];
  /** Columns normalize() writes. connection_id, source_system, _run_id and _synced_at are the loader's. */
  columns: C;
}

function table<C extends Record<string, Column>>(name: string, key: readonly string[], columns: C): CoreTableDef<C> {
  return { name, key, columns };
}

const isDeleted = { is_deleted: col.flag() };

export const coreTables = {
  'core.dim_campaign': table('core.dim_campaign', ['connection_id', 'campaign_id'], {
    campaign_id: col.textReq(),
    account_id: col.text(),
    name: col.text(),
    status: col.text(),
    campaign_type: col.text(),
    channel_hint: col.text(),
    parent_campaign_id: col.text(),
    currency: col.text(),
    time_zone: col.text(),
    start_date: col.date(),
    end_date: col.date(),
    budgeted_cost: col.decimal(),
    actual_cost: col.decimal(),
    utm_source: col.text(),
    utm_medium: col.text(),
    utm_campaign: col.text(),
    created_at: col.timestamp(),
    updated_at: col.timestamp(),
    ...isDeleted,
  }),
  'core.fct_ad_spend_daily': table('core.fct_ad_spend_daily', ['connection_id', 'campaign_id', 'date'], {
    campaign_id: col.textReq(),
    date: col.dateReq(),
    account_id: col.text(),
    campaign_name: col.text(),
    channel_hint: col.text(),
    currency: col.textReq(),
    spend: col.decimalReq(),
    impressions: col.intReq(),
    clicks: col.intReq(),
    conversions: col.decimalReq(),
    conversion_value: col.decimalReq(),
    ...isDeleted,
  }),
  'core.fct_web_traffic_daily': table(
    'core.fct_web_traffic_daily',
    ['connection_id', 'property_id', 'date', 'source', 'medium', 'campaign'],
    {
      property_id: col.textReq(),
      date: col.dateReq(),
      source: col.textReq(),
      medium: col.textReq(),
      campaign: col.textReq(),
      default_channel_group: col.text(),
      sessions: col.intReq(),
      engaged_sessions: col.intReq(),
      key_events: col.decimalReq(),
      total_users: col.intReq(),
      extra: col.json(),
      ...isDeleted,
    },
  ),
  'core.dim_account': table('core.dim_account', ['connection_id', 'account_id'], {
    account_id: col.textReq(),
    name: col.text(),
    domain: col.text(),
    industry: col.text(),
    country: col.text(),
    created_at: col.timestamp(),
    updated_at: col.timestamp(),
    ...isDeleted,
  }),
  'core.dim_person': table('core.dim_person', ['connection_id', 'person_id'], {
    person_id: col.textReq(),
    person_type: { sql: 'text', schema: z.enum(['lead', 'contact']) },
    email: col.text(),
    first_name: col.text(),
    last_name: col.text(),
    title: col.text(),
    company: col.text(),
    account_id: col.text(),
    lead_source: col.text(),
    lead_status: col.text(),
    lifecycle_stage: col.text(),
    original_source: col.text(),
    original_source_detail_1: col.text(),
    original_source_detail_2: col.text(),
    utm_source: col.text(),
    utm_medium: col.text(),
    utm_campaign: col.text(),
    utm_content: col.text(),
    utm_term: col.text(),
    created_at: col.timestamp(),
    lead_at: col.timestamp(),
    mql_at: col.timestamp(),
    sql_at: col.timestamp(),
    opportunity_at: col.timestamp(),
    customer_at: col.timestamp(),
    is_converted: col.flag(),
    converted_at: col.timestamp(),
    converted_contact_id: col.text(),
    converted_account_id: col.text(),
    converted_opportunity_id: col.text(),
    updated_at: col.timestamp(),
    ...isDeleted,
  }),
  'core.fct_touchpoint': table('core.fct_touchpoint', ['connection_id', 'touchpoint_id'], {
    touchpoint_id: col.textReq(),
    person_id: col.textReq(),
    occurred_at: col.timestampReq(),
    touch_type: col.textReq(),
    campaign_id: col.text(),
    ad_campaign_id: col.text(),
    utm_source: col.text(),
    utm_medium: col.text(),
    utm_campaign: col.text(),
    utm_content: col.text(),
    utm_term: col.text(),
    landing_page: col.text(),
    referrer: col.text(),
    status: col.text(),
    responded: col.bool(),
    ...isDeleted,
  }),
  'core.fct_opportunity': table('core.fct_opportunity', ['connection_id', 'opportunity_id'], {
    opportunity_id: col.textReq(),
    account_id: col.text(),
    name: col.text(),
    pipeline: col.text(),
    stage: col.text(),
    opportunity_type: col.text(),
    lead_source: col.text(),
    primary_campaign_id: col.text(),
    amount: col.decimal(),
    currency: col.text(),
    probability: col.decimal(),
    is_closed: col.flag(),
    is_won: col.flag(),
    created_at: col.timestamp(),
    close_date: col.date(),
    closed_at: col.timestamp(),
    updated_at: col.timestamp(),
    ...isDeleted,
  }),
  'core.fct_opportunity_stage_history': table(
    'core.fct_opportunity_stage_history',
    ['connection_id', 'history_id'],
    {
      history_id: col.textReq(),
      opportunity_id: col.textReq(),
      stage: col.textReq(),
      entered_at: col.timestampReq(),
      amount: col.decimal(),
      currency: col.text(),
      probability: col.decimal(),
      close_date: col.date(),
      ...isDeleted,
    },
  ),
  'core.bridge_opportunity_person': table(
    'core.bridge_opportunity_person',
    ['connection_id', 'opportunity_id', 'person_id'],
    {
      opportunity_id: col.textReq(),
      person_id: col.textReq(),
      role: col.text(),
      is_primary: col.flag(),
      ...isDeleted,
    },
  ),
} as const;

export type CoreTableName = keyof typeof coreTables;

type ColumnsOf<N extends CoreTableName> = (typeof coreTables)[N]['columns'];

/** What normalize() may hand over for table N (input side: decimals may be numbers, instants Dates). */
type SchemaOf<C> = C extends { schema: infer S extends z.ZodType } ? S : never;

export type CoreRowInput<N extends CoreTableName> = {
  [K in keyof ColumnsOf<N>]?: z.input<SchemaOf<ColumnsOf<N>[K]>>;
};

/** The row after validation, as the loader writes it. */
export type CoreRow<N extends CoreTableName> = {
  [K in keyof ColumnsOf<N>]: z.output<SchemaOf<ColumnsOf<N>[K]>>;
};

/** Rows a stream's normalize() returns, by target table. */
export type CoreRows = { [N in CoreTableName]?: Array<CoreRowInput<N>> };

const rowSchemas = new Map<string, z.ZodObject>();

/** The zod schema of one core row (strict: an unknown column is a bug in the connector). */
export function coreRowSchema(name: CoreTableName): z.ZodObject {
  let schema = rowSchemas.get(name);
  if (!schema) {
    const shape: Record<string, z.ZodType> = {};
    for (const [column, def] of Object.entries(coreTables[name].columns)) shape[column] = def.schema;
    schema = z.strictObject(shape);
    rowSchemas.set(name, schema);
  }
  return schema;
}

export function isCoreTableName(name: string): name is CoreTableName {
  return Object.hasOwn(coreTables, name);
}

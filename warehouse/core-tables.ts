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
  /**
   * The schema's fast path: the parsed value, or INVALID when the value is not one it accepts at
   * a glance (then the zod schema decides and words the error). It accepts a subset of what
   * `schema` accepts and returns the same output for it; test/core-rows.test.ts compares the two.
   */
  fast?: (value: unknown) => unknown;
}

/** What a column's fast path returns for a value it leaves to zod. */
export const INVALID: unique symbol = Symbol('invalid');

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
const isDay = (s: string) => DAY.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`));
const dayValue = z.string().refine(isDay, 'expected a YYYY-MM-DD date');
const instantValue = z.union([z.string(), z.date()]).transform((v, ctx) => {
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime())) {
    ctx.addIssue({ code: 'custom', message: `expected a timestamp, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return d.toISOString();
});

// Fast paths (see Column.fast). A page holds few distinct days, so valid ones are remembered.
const knownDays = new Set<string>();
const nullish = (v: unknown) => v === null || v === undefined;
const fast = {
  text: (v: unknown) => (nullish(v) || typeof v === 'string' ? v : INVALID),
  textReq: (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : INVALID),
  decimal: (v: unknown) => {
    // String() of a finite number always matches DECIMAL or its exponent form.
    if (typeof v === 'number') return Number.isFinite(v) ? String(v) : INVALID;
    if (typeof v === 'string') {
      const s = v.trim();
      return DECIMAL.test(s) ? s : INVALID;
    }
    return INVALID;
  },
  int: (v: unknown) => (Number.isSafeInteger(v) ? v : INVALID),
  date: (v: unknown) => {
    if (typeof v !== 'string') return INVALID;
    if (knownDays.has(v)) return v;
    if (!isDay(v)) return INVALID;
    if (knownDays.size > 100_000) knownDays.clear();
    knownDays.add(v);
    return v;
  },
  timestamp: (v: unknown) => {
    if (typeof v !== 'string' && !(v instanceof Date)) return INVALID;
    const d = v instanceof Date ? v : new Date(v);
    return Number.isNaN(d.getTime()) ? INVALID : d.toISOString();
  },
  bool: (v: unknown) => (nullish(v) || typeof v === 'boolean' ? v : INVALID),
  flag: (v: unknown) => (typeof v === 'boolean' ? v : nullish(v) ? false : INVALID),
  json: (v: unknown) => {
    if (nullish(v)) return {};
    if (typeof v !== 'object' || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) return INVALID;
    return { ...(v as Record<string, unknown>) };
  },
};
const orNullish = (f: (v: unknown) => unknown) => (v: unknown) => (nullish(v) ? v : f(v));

/** Column builders: required ones reject null/undefined, optional ones store NULL. */
export const col = {
  text: () => ({ sql: 'text', schema: z.string().nullish(), fast: fast.text }) satisfies Column,
  textReq: () => ({ sql: 'text', schema: z.string().min(1), fast: fast.textReq }) satisfies Column,
  decimal: () => ({ sql: 'numeric', schema: decimalValue.nullish(), fast: orNullish(fast.decimal) }) satisfies Column,
  decimalReq: () => ({ sql: 'numeric', schema: decimalValue, fast: fast.decimal }) satisfies Column,
  int: () => ({ sql: 'bigint', schema: z.number().int().nullish(), fast: orNullish(fast.int) }) satisfies Column,
  intReq: () => ({ sql: 'bigint', schema: z.number().int(), fast: fast.int }) satisfies Column,
  date: () => ({ sql: 'date', schema: dayValue.nullish(), fast: orNullish(fast.date) }) satisfies Column,
  dateReq: () => ({ sql: 'date', schema: dayValue, fast: fast.date }) satisfies Column,
  timestamp: () => ({ sql: 'timestamptz', schema: instantValue.nullish(), fast: orNullish(fast.timestamp) }) satisfies Column,
  timestampReq: () => ({ sql: 'timestamptz', schema: instantValue, fast: fast.timestamp }) satisfies Column,
  bool: () => ({ sql: 'boolean', schema: z.boolean().nullish(), fast: fast.bool }) satisfies Column,
  boolReq: () => ({ sql: 'boolean', schema: z.boolean(), fast: (v: unknown) => (typeof v === 'boolean' ? v : INVALID) }) satisfies Column,
  /** boolean NOT NULL DEFAULT false: absent means false. */
  flag: () => ({ sql: 'boolean', schema: z.boolean().nullish().transform((v) => v ?? false), fast: fast.flag }) satisfies Column,
  json: () => ({ sql: 'jsonb', schema: z.record(z.string(), z.unknown()).nullish().transform((v) => v ?? {}), fast: fast.json }) satisfies Column,
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
    /** NULL when only `email` identifies the person (linked by the transform). */
    person_id: col.text(),
    email: col.text(),
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

export type RowParser = (row: unknown) => z.ZodSafeParseResult<Record<string, unknown>>;
const rowParsers = new Map<string, RowParser>();

/**
 * coreRowSchema(name).safeParse, with the columns' fast paths first: a row every fast path accepts
 * is parsed without zod (the loader validates every normalized row, and zod's general machinery
 * was most of a page's preparation time); any other row goes through zod, so its errors are zod's.
 */
export function coreRowParser(name: CoreTableName): RowParser {
  let parser = rowParsers.get(name);
  if (parser) return parser;
  const schema = coreRowSchema(name);
  const columns = Object.entries(coreTables[name].columns as Record<string, Column>).map(([column, def]) => {
    const check = def.fast ?? ((v: unknown) => {
      const r = def.schema.safeParse(v);
      return r.success ? r.data : INVALID;
    });
    // What an absent column becomes: INVALID (required), undefined (left out) or a default.
    return { column, check, absent: check(undefined) };
  });
  const known = new Set(columns.map((c) => c.column));
  const slow: RowParser = (row) => schema.safeParse(row) as z.ZodSafeParseResult<Record<string, unknown>>;
  parser = (row) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) return slow(row);
    const input = row as Record<string, unknown>;
    for (const key in input) if (!known.has(key)) return slow(row);
    const out: Record<string, unknown> = {};
    for (const { column, check, absent } of columns) {
      if (Object.hasOwn(input, column)) {
        const value = check(input[column]);
        if (value === INVALID) return slow(row);
        out[column] = value;
      } else if (absent === INVALID) {
        return slow(row);
      } else if (absent !== undefined) {
        out[column] = check(undefined); // anew: a default may be an object the row then owns
      }
    }
    return { success: true, data: out };
  };
  rowParsers.set(name, parser);
  return parser;
}

export function isCoreTableName(name: string): name is CoreTableName {
  return Object.hasOwn(coreTables, name);
}

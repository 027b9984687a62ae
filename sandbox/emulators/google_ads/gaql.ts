/**
 * A parser for the subset of the Google Ads Query Language the emulator serves.
 *
 * Grammar (Google Ads API "Google Ads Query Language grammar"):
 *   SELECT field (, field)* FROM resource
 *   [WHERE condition (AND condition)*]
 *   [ORDER BY field [ASC|DESC] (, field [ASC|DESC])*]
 *   [LIMIT n]
 *   condition := field (= | != | > | >= | < | <=) value
 *              | field [NOT] IN (value, ...)
 *              | field BETWEEN value AND value
 * Values are single- or double-quoted strings, numbers or bare enum constants (ENABLED).
 * Anything outside the subset fails with a {@link GaqlError} carrying the QueryError enum name
 * the real API uses (Google Ads API reference, "QueryErrorEnum.QueryError").
 */

export type GaqlOperator = '=' | '!=' | '>' | '>=' | '<' | '<=' | 'IN' | 'NOT IN' | 'BETWEEN';

export interface GaqlCondition {
  field: string;
  op: GaqlOperator;
  /** One value, or the list for IN / NOT IN, or [low, high] for BETWEEN. */
  values: string[];
}

export interface GaqlOrder {
  field: string;
  desc: boolean;
}

export interface GaqlQuery {
  select: string[];
  from: string;
  where: GaqlCondition[];
  orderBy: GaqlOrder[];
  limit: number | null;
}

/** A query the API rejects; `code` is the QueryError enum name. */
export class GaqlError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GaqlError';
  }
}

type Token =
  | { kind: 'word'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'number'; text: string }
  | { kind: 'punct'; text: string };

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const ch = query[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      let text = '';
      while (j < query.length && query[j] !== ch) {
        if (query[j] === '\\' && j + 1 < query.length) {
          text += query[j + 1];
          j += 2;
          continue;
        }
        if (query[j] === '\n') throw new GaqlError('PROHIBITED_NEWLINE_IN_STRING', 'Newlines are not allowed in string literals.');
        text += query[j];
        j++;
      }
      if (j >= query.length) throw new GaqlError('UNEXPECTED_END_OF_QUERY', 'Unterminated string literal.');
      tokens.push({ kind: 'string', text });
      i = j + 1;
      continue;
    }
    const two = query.slice(i, i + 2);
    if (two === '>=' || two === '<=' || two === '!=') {
      tokens.push({ kind: 'punct', text: two });
      i += 2;
      continue;
    }
    if ('=<>(),'.includes(ch)) {
      tokens.push({ kind: 'punct', text: ch });
      i++;
      continue;
    }
    const num = /^-?\d+(\.\d+)?/.exec(query.slice(i));
    if (num && !/[A-Za-z_]/.test(query[i + num[0].length] ?? '')) {
      tokens.push({ kind: 'number', text: num[0] });
      i += num[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(query.slice(i));
    if (word) {
      tokens.push({ kind: 'word', text: word[0] });
      i += word[0].length;
      continue;
    }
    throw new GaqlError('BAD_SYMBOL', `Error in query: unexpected input ${ch}.`);
  }
  return tokens;
}

class Cursor {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  peek(): Token | undefined {
    return this.tokens[this.pos];
  }
  next(): Token {
    const t = this.tokens[this.pos];
    if (!t) throw new GaqlError('UNEXPECTED_END_OF_QUERY', 'Error in query: unexpected end of query.');
    this.pos++;
    return t;
  }
  done(): boolean {
    return this.pos >= this.tokens.length;
  }
  isKeyword(kw: string): boolean {
    const t = this.peek();
    return t?.kind === 'word' && t.text.toUpperCase() === kw;
  }
  expectKeyword(kw: string, code: string): void {
    if (!this.isKeyword(kw)) throw new GaqlError(code, `Error in query: expected ${kw}.`);
    this.pos++;
  }
  isPunct(p: string): boolean {
    const t = this.peek();
    return t?.kind === 'punct' && t.text === p;
  }
}

const FIELD_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

function parseField(cur: Cursor): string {
  const t = cur.next();
  if (t.kind !== 'word' || !FIELD_RE.test(t.text)) {
    throw new GaqlError('BAD_FIELD_NAME', `Error in query: invalid field name '${t.text}'.`);
  }
  return t.text;
}

function parseValue(cur: Cursor): string {
  const t = cur.next();
  if (t.kind === 'string' || t.kind === 'number') return t.text;
  if (t.kind === 'word' && /^[A-Z][A-Z0-9_]*$/.test(t.text)) return t.text;
  throw new GaqlError('BAD_VALUE', `Error in query: invalid value '${t.text}'.`);
}

function parseCondition(cur: Cursor): GaqlCondition {
  const field = parseField(cur);
  if (cur.isKeyword('NOT')) {
    cur.next();
    cur.expectKeyword('IN', 'BAD_OPERATOR');
    return { field, op: 'NOT IN', values: parseList(cur) };
  }
  if (cur.isKeyword('IN')) {
    cur.next();
    return { field, op: 'IN', values: parseList(cur) };
  }
  if (cur.isKeyword('BETWEEN')) {
    cur.next();
    const low = parseValue(cur);
    cur.expectKeyword('AND', 'EXPECTED_VALUE_WITH_BETWEEN_OPERATOR');
    const high = parseValue(cur);
    return { field, op: 'BETWEEN', values: [low, high] };
  }
  const t = cur.next();
  if (t.kind !== 'punct' || !['=', '!=', '>', '>=', '<', '<='].includes(t.text)) {
    throw new GaqlError('BAD_OPERATOR', `Error in query: unsupported operator '${t.text}'.`);
  }
  return { field, op: t.text as GaqlOperator, values: [parseValue(cur)] };
}

function parseList(cur: Cursor): string[] {
  if (!cur.isPunct('(')) throw new GaqlError('EXPECTED_LIST', 'Error in query: expected a list after IN.');
  cur.next();
  const values: string[] = [];
  if (cur.isPunct(')')) throw new GaqlError('PROHIBITED_EMPTY_LIST_IN_CONDITION', 'Empty lists are not allowed in conditions.');
  for (;;) {
    values.push(parseValue(cur));
    const t = cur.next();
    if (t.kind === 'punct' && t.text === ')') break;
    if (t.kind !== 'punct' || t.text !== ',') throw new GaqlError('EXPECTED_LIST', 'Error in query: malformed list.');
  }
  return values;
}

/** Parses a GAQL query (syntax only; field validity is checked by the caller's schema). */
export function parseGaql(query: string): GaqlQuery {
  const cur = new Cursor(tokenize(query));
  cur.expectKeyword('SELECT', 'EXPECTED_SELECT');
  const select: string[] = [parseField(cur)];
  while (cur.isPunct(',')) {
    cur.next();
    select.push(parseField(cur));
  }
  cur.expectKeyword('FROM', 'EXPECTED_FROM');
  const fromTok = cur.next();
  if (fromTok.kind !== 'word' || !/^[a-z_]+$/.test(fromTok.text)) {
    throw new GaqlError('BAD_RESOURCE_TYPE_IN_FROM_CLAUSE', `Error in query: bad resource '${fromTok.text}' in FROM clause.`);
  }
  const where: GaqlCondition[] = [];
  if (cur.isKeyword('WHERE')) {
    cur.next();
    where.push(parseCondition(cur));
    while (cur.isKeyword('AND')) {
      cur.next();
      where.push(parseCondition(cur));
    }
  }
  const orderBy: GaqlOrder[] = [];
  if (cur.isKeyword('ORDER')) {
    cur.next();
    cur.expectKeyword('BY', 'EXPECTED_BY');
    for (;;) {
      const field = parseField(cur);
      let desc = false;
      if (cur.isKeyword('DESC')) {
        cur.next();
        desc = true;
      } else if (cur.isKeyword('ASC')) {
        cur.next();
      }
      orderBy.push({ field, desc });
      if (!cur.isPunct(',')) break;
      cur.next();
    }
  }
  let limit: number | null = null;
  if (cur.isKeyword('LIMIT')) {
    cur.next();
    const t = cur.next();
    const n = Number(t.text);
    if (t.kind !== 'number' || !Number.isInteger(n) || n <= 0) {
      throw new GaqlError('BAD_LIMIT_VALUE', `Error in query: bad LIMIT value '${t.text}'.`);
    }
    limit = n;
  }
  if (!cur.done()) {
    throw new GaqlError('UNEXPECTED_INPUT', `Error in query: unexpected input ${cur.next().text}.`);
  }
  return { select, from: fromTok.text, where, orderBy, limit };
}

/** `metrics.cost_micros` -> `metrics.costMicros` (the REST JSON field path). */
export function toJsonPath(field: string): string {
  return field
    .split('.')
    .map((part) => part.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
    .join('.');
}

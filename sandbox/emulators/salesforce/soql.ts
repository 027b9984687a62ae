/**
 * A SOQL subset: enough for sync connectors.
 *
 *   SELECT field[, field...] | COUNT()
 *   FROM Object
 *   [WHERE cond]       cond := cond OR cond | cond AND cond | NOT cond | ( cond )
 *                            | field op literal | field [NOT] IN (literal, ...) | field LIKE 'x%'
 *                      op   := = | != | <> | < | <= | > | >=
 *                      literal := 'string' | number | true | false | null | 2024-01-31
 *                               | 2024-01-31T10:00:00Z (also .000Z / +00:00 / +0000)
 *                               | TODAY | YESTERDAY | LAST_N_DAYS:n | N_DAYS_AGO:n
 *   [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
 *   [LIMIT n] [OFFSET n]
 *
 * Syntax follows the "SOQL and SOSL Reference" (SELECT, WHERE, comparison operators, date
 * formats and date literals). Keywords are case-insensitive, as are field and object names.
 */

export type SoqlLiteral =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' }
  | { kind: 'date'; value: string }
  | { kind: 'datetime'; value: string }
  | { kind: 'dateLiteral'; name: 'TODAY' | 'YESTERDAY' | 'LAST_N_DAYS' | 'N_DAYS_AGO'; n: number };

export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE';

export type SoqlCondition =
  | { kind: 'and' | 'or'; left: SoqlCondition; right: SoqlCondition }
  | { kind: 'not'; inner: SoqlCondition }
  | { kind: 'compare'; field: string; op: ComparisonOp; value: SoqlLiteral }
  | { kind: 'in'; field: string; negated: boolean; values: SoqlLiteral[] };

export interface SoqlOrder {
  field: string;
  direction: 'ASC' | 'DESC';
  nulls: 'FIRST' | 'LAST';
}

export interface SoqlQuery {
  /** Field names as written; empty with `count` set. */
  fields: string[];
  count: boolean;
  object: string;
  where: SoqlCondition | null;
  orderBy: SoqlOrder[];
  limit: number | null;
  offset: number | null;
}

/** MALFORMED_QUERY in Salesforce terms. */
export class SoqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'SoqlSyntaxError';
  }
}

type Token =
  | { t: 'ident'; v: string; pos: number }
  | { t: 'string'; v: string; pos: number }
  | { t: 'number'; v: string; pos: number }
  | { t: 'datetime'; v: string; pos: number }
  | { t: 'date'; v: string; pos: number }
  | { t: 'op'; v: string; pos: number }
  | { t: 'punct'; v: '(' | ')' | ',' | ':'; pos: number }
  | { t: 'eof'; v: ''; pos: number };

const DATETIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}(?![\dT])/;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = text.slice(i);
    const dt = DATETIME_RE.exec(rest);
    if (dt) {
      out.push({ t: 'datetime', v: dt[0], pos: i });
      i += dt[0].length;
      continue;
    }
    const d = DATE_RE.exec(rest);
    if (d) {
      out.push({ t: 'date', v: d[0], pos: i });
      i += d[0].length;
      continue;
    }
    if (c === "'") {
      let j = i + 1;
      let v = '';
      while (j < text.length && text[j] !== "'") {
        if (text[j] === '\\' && j + 1 < text.length) {
          const e = text[j + 1] as string;
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          j += 2;
        } else {
          v += text[j];
          j++;
        }
      }
      if (j >= text.length) throw new SoqlSyntaxError('unterminated string literal', i);
      out.push({ t: 'string', v, pos: i });
      i = j + 1;
      continue;
    }
    const num = /^-?\d+(\.\d+)?/.exec(rest);
    if (num) {
      out.push({ t: 'number', v: num[0], pos: i });
      i += num[0].length;
      continue;
    }
    const op = /^(<=|>=|!=|<>|=|<|>)/.exec(rest);
    if (op) {
      out.push({ t: 'op', v: op[0] === '<>' ? '!=' : op[0], pos: i });
      i += op[0].length;
      continue;
    }
    if (c === '(' || c === ')' || c === ',' || c === ':') {
      out.push({ t: 'punct', v: c, pos: i });
      i++;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(rest);
    if (id) {
      out.push({ t: 'ident', v: id[0], pos: i });
      i += id[0].length;
      continue;
    }
    throw new SoqlSyntaxError(`unexpected character '${c}'`, i);
  }
  out.push({ t: 'eof', v: '', pos: text.length });
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i] as Token;
  }
  private next(): Token {
    const t = this.peek();
    if (t.t !== 'eof') this.i++;
    return t;
  }
  private isKeyword(word: string): boolean {
    const t = this.peek();
    return t.t === 'ident' && t.v.toUpperCase() === word;
  }
  private expectKeyword(word: string): void {
    const t = this.next();
    if (t.t !== 'ident' || t.v.toUpperCase() !== word) throw new SoqlSyntaxError(`expecting '${word}', found '${t.v}'`, t.pos);
  }
  private expectPunct(p: string): void {
    const t = this.next();
    if (t.t !== 'punct' || t.v !== p) throw new SoqlSyntaxError(`expecting '${p}', found '${t.v}'`, t.pos);
  }
  private ident(): string {
    const t = this.next();
    if (t.t !== 'ident') throw new SoqlSyntaxError(`expecting a field name, found '${t.v}'`, t.pos);
    return t.v;
  }
  private integer(): number {
    const t = this.next();
    if (t.t !== 'number' || !/^\d+$/.test(t.v)) throw new SoqlSyntaxError(`expecting an integer, found '${t.v}'`, t.pos);
    return Number(t.v);
  }

  parse(): SoqlQuery {
    this.expectKeyword('SELECT');
    const fields: string[] = [];
    let count = false;
    if (this.isKeyword('COUNT')) {
      this.next();
      this.expectPunct('(');
      this.expectPunct(')');
      count = true;
    } else {
      fields.push(this.ident());
      while (this.peek().t === 'punct' && this.peek().v === ',') {
        this.next();
        fields.push(this.ident());
      }
    }
    this.expectKeyword('FROM');
    const object = this.ident();
    let where: SoqlCondition | null = null;
    if (this.isKeyword('WHERE')) {
      this.next();
      where = this.orExpr();
    }
    const orderBy: SoqlOrder[] = [];
    if (this.isKeyword('ORDER')) {
      this.next();
      this.expectKeyword('BY');
      for (;;) {
        const field = this.ident();
        let direction: 'ASC' | 'DESC' = 'ASC';
        if (this.isKeyword('ASC')) this.next();
        else if (this.isKeyword('DESC')) {
          this.next();
          direction = 'DESC';
        }
        // Salesforce default: nulls first for ASC, last for DESC.
        let nulls: 'FIRST' | 'LAST' = direction === 'ASC' ? 'FIRST' : 'LAST';
        if (this.isKeyword('NULLS')) {
          this.next();
          if (this.isKeyword('FIRST')) nulls = 'FIRST';
          else if (this.isKeyword('LAST')) nulls = 'LAST';
          else throw new SoqlSyntaxError('expecting FIRST or LAST', this.peek().pos);
          this.next();
        }
        orderBy.push({ field, direction, nulls });
        if (this.peek().t === 'punct' && this.peek().v === ',') {
          this.next();
          continue;
        }
        break;
      }
    }
    let limit: number | null = null;
    let offset: number | null = null;
    if (this.isKeyword('LIMIT')) {
      this.next();
      limit = this.integer();
    }
    if (this.isKeyword('OFFSET')) {
      this.next();
      offset = this.integer();
    }
    const end = this.peek();
    if (end.t !== 'eof') throw new SoqlSyntaxError(`unexpected token: '${end.v}'`, end.pos);
    return { fields, count, object, where, orderBy, limit, offset };
  }

  private orExpr(): SoqlCondition {
    let left = this.andExpr();
    while (this.isKeyword('OR')) {
      this.next();
      left = { kind: 'or', left, right: this.andExpr() };
    }
    return left;
  }
  private andExpr(): SoqlCondition {
    let left = this.unary();
    while (this.isKeyword('AND')) {
      this.next();
      left = { kind: 'and', left, right: this.unary() };
    }
    return left;
  }
  private unary(): SoqlCondition {
    if (this.isKeyword('NOT')) {
      this.next();
      return { kind: 'not', inner: this.unary() };
    }
    const t = this.peek();
    if (t.t === 'punct' && t.v === '(') {
      this.next();
      const inner = this.orExpr();
      this.expectPunct(')');
      return inner;
    }
    return this.comparison();
  }
  private comparison(): SoqlCondition {
    const field = this.ident();
    if (this.isKeyword('IN') || this.isKeyword('NOT')) {
      const negated = this.isKeyword('NOT');
      if (negated) {
        this.next();
        if (!this.isKeyword('IN')) throw new SoqlSyntaxError("expecting 'IN'", this.peek().pos);
      }
      this.next();
      this.expectPunct('(');
      const values = [this.literal()];
      while (this.peek().t === 'punct' && this.peek().v === ',') {
        this.next();
        values.push(this.literal());
      }
      this.expectPunct(')');
      return { kind: 'in', field, negated, values };
    }
    if (this.isKeyword('LIKE')) {
      this.next();
      return { kind: 'compare', field, op: 'LIKE', value: this.literal() };
    }
    const op = this.next();
    if (op.t !== 'op') throw new SoqlSyntaxError(`unexpected token: '${op.v}'`, op.pos);
    return { kind: 'compare', field, op: op.v as ComparisonOp, value: this.literal() };
  }
  private literal(): SoqlLiteral {
    const t = this.next();
    switch (t.t) {
      case 'string':
        return { kind: 'string', value: t.v };
      case 'number':
        return { kind: 'number', value: Number(t.v) };
      case 'date':
        return { kind: 'date', value: t.v };
      case 'datetime':
        return { kind: 'datetime', value: t.v };
      case 'ident': {
        const up = t.v.toUpperCase();
        if (up === 'TRUE' || up === 'FALSE') return { kind: 'boolean', value: up === 'TRUE' };
        if (up === 'NULL') return { kind: 'null' };
        if (up === 'TODAY' || up === 'YESTERDAY') return { kind: 'dateLiteral', name: up, n: 0 };
        if (up === 'LAST_N_DAYS' || up === 'N_DAYS_AGO') {
          this.expectPunct(':');
          return { kind: 'dateLiteral', name: up, n: this.integer() };
        }
        throw new SoqlSyntaxError(`unexpected token: '${t.v}'`, t.pos);
      }
      default:
        throw new SoqlSyntaxError(`expecting a value, found '${t.v}'`, t.pos);
    }
  }
}

export function parseSoql(text: string): SoqlQuery {
  return new Parser(tokenize(text)).parse();
}

/** Every field name a query references (select list, where, order by). */
export function referencedFields(q: SoqlQuery): string[] {
  const out = [...q.fields, ...q.orderBy.map((o) => o.field)];
  const walk = (c: SoqlCondition | null): void => {
    if (!c) return;
    switch (c.kind) {
      case 'and':
      case 'or':
        walk(c.left);
        walk(c.right);
        break;
      case 'not':
        walk(c.inner);
        break;
      default:
        out.push(c.field);
    }
  };
  walk(q.where);
  return out;
}

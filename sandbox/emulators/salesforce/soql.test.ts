import { describe, expect, it } from 'vitest';
import { parseSoql, SoqlSyntaxError } from './soql.ts';
import { SalesforceStore, SoqlFieldError, SoqlObjectError } from './store.ts';

describe('parseSoql', () => {
  it('parses fields, object, nested where, order by and limit', () => {
    const q = parseSoql(
      "SELECT Id, SystemModstamp FROM Opportunity WHERE (SystemModstamp = 2024-01-01T00:00:00.000+0000 AND Id > '0065g0000000001AAA') OR SystemModstamp > 2024-01-01T00:00:00Z ORDER BY SystemModstamp ASC, Id DESC NULLS FIRST LIMIT 10 OFFSET 5",
    );
    expect(q.fields).toEqual(['Id', 'SystemModstamp']);
    expect(q.object).toBe('Opportunity');
    expect(q.where?.kind).toBe('or');
    expect(q.orderBy).toEqual([
      { field: 'SystemModstamp', direction: 'ASC', nulls: 'FIRST' },
      { field: 'Id', direction: 'DESC', nulls: 'FIRST' },
    ]);
    expect(q.limit).toBe(10);
    expect(q.offset).toBe(5);
  });

  it('binds AND tighter than OR', () => {
    const q = parseSoql("select Id from Lead where IsConverted = true or Status = 'x' and LeadSource = 'y'");
    expect(q.where).toMatchObject({ kind: 'or', left: { kind: 'compare', field: 'IsConverted' }, right: { kind: 'and' } });
  });

  it('parses IN, NOT IN, LIKE, null, date literals and COUNT()', () => {
    const q = parseSoql(
      "SELECT COUNT() FROM Lead WHERE Id IN ('00Q1', '00Q2') AND Status NOT IN ('a') AND Email LIKE '%@x.com' AND ConvertedDate != null AND CreatedDate = LAST_N_DAYS:30 AND ConvertedDate >= 2024-05-01",
    );
    expect(q.count).toBe(true);
    expect(JSON.stringify(q.where)).toContain('"negated":true');
    expect(JSON.stringify(q.where)).toContain('"name":"LAST_N_DAYS","n":30');
    expect(JSON.stringify(q.where)).toContain('{"kind":"date","value":"2024-05-01"}');
  });

  it('rejects malformed queries with a position', () => {
    expect(() => parseSoql('SELECT FROM Lead')).toThrow(SoqlSyntaxError);
    expect(() => parseSoql("SELECT Id FROM Lead WHERE Name = 'x")).toThrow(/unterminated/);
    expect(() => parseSoql('SELECT Id FROM Lead LIMIT')).toThrow(SoqlSyntaxError);
    expect(() => parseSoql('SELECT Id FROM Lead garbage')).toThrow(/unexpected token/);
  });
});

describe('SOQL evaluation', () => {
  const store = new SalesforceStore({ now: () => Date.parse('2024-06-15T12:00:00Z') });
  const t = (iso: string) => iso.replace('Z', '+0000');
  store.load('Lead', { Id: '00Q5g0000000000001', LastName: 'A', Company: 'X', Status: 'Open', IsConverted: false, CreatedDate: t('2024-06-01T00:00:00.000Z'), LastModifiedDate: t('2024-06-01T00:00:00.000Z'), SystemModstamp: t('2024-06-01T00:00:00.000Z') });
  store.load('Lead', { Id: '00Q5g0000000000002', LastName: 'b', Company: 'X', Status: 'Qualified', IsConverted: true, ConvertedDate: '2024-06-10', CreatedDate: t('2024-06-01T00:00:00.000Z'), LastModifiedDate: t('2024-06-01T00:00:00.000Z'), SystemModstamp: t('2024-06-01T00:00:00.000Z') });
  store.load('Lead', { Id: '00Q5g0000000000003', LastName: 'C', Company: 'Y', Status: 'Open', IsConverted: false, CreatedDate: t('2024-06-14T00:00:00.000Z'), LastModifiedDate: t('2024-06-14T00:00:00.000Z'), SystemModstamp: t('2024-06-14T00:00:00.000Z'), IsDeleted: true });
  const ids = (soql: string, all = false) => store.select(parseSoql(soql), all).records.map((r) => String(r['Id']).slice(-1));

  it('pages by (stamp = t AND Id > last) OR stamp > t', () => {
    expect(ids("SELECT Id FROM Lead WHERE (SystemModstamp = 2024-06-01T00:00:00Z AND Id > '00Q5g0000000000001') OR SystemModstamp > 2024-06-01T00:00:00Z ORDER BY SystemModstamp, Id", true)).toEqual(['2', '3']);
  });

  it('hides deleted rows unless queryAll', () => {
    expect(ids('SELECT Id FROM Lead')).toEqual(['1', '2']);
    expect(ids('SELECT Id FROM Lead WHERE IsDeleted = true', true)).toEqual(['3']);
  });

  it('compares strings case-insensitively and sorts', () => {
    expect(ids("SELECT Id FROM Lead WHERE Status = 'open'")).toEqual(['1']);
    expect(ids('SELECT Id FROM Lead ORDER BY LastName DESC', true)).toEqual(['3', '2', '1']);
    expect(ids("SELECT Id FROM Lead WHERE LastName LIKE 'b%'")).toEqual(['2']);
  });

  it('handles booleans, null, IN, dates and relative date literals', () => {
    expect(ids('SELECT Id FROM Lead WHERE IsConverted = true')).toEqual(['2']);
    expect(ids('SELECT Id FROM Lead WHERE ConvertedDate = null')).toEqual(['1']);
    expect(ids("SELECT Id FROM Lead WHERE Id NOT IN ('00Q5g0000000000001')")).toEqual(['2']);
    expect(ids('SELECT Id FROM Lead WHERE ConvertedDate > 2024-06-09')).toEqual(['2']);
    expect(ids('SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:3', true)).toEqual(['3']);
    expect(ids('SELECT Id FROM Lead WHERE NOT (IsConverted = true) LIMIT 1')).toEqual(['1']);
  });

  it('rejects unknown objects, fields and mistyped literals', () => {
    expect(() => store.select(parseSoql('SELECT Id FROM Foo'), false)).toThrow(SoqlObjectError);
    expect(() => store.select(parseSoql('SELECT Bogus FROM Lead'), false)).toThrow(SoqlFieldError);
    expect(() => store.select(parseSoql("SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01'"), false)).toThrow(/dateTime/);
    expect(() => store.select(parseSoql('SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-01'), false)).toThrow(SoqlFieldError);
  });
});

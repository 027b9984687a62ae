import { describe, expect, it } from 'vitest';
import { GaqlError, parseGaql, toJsonPath } from './gaql.ts';
import { prepareQuery } from './query.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof GaqlError) return err.code;
    throw err;
  }
  throw new Error('expected a GaqlError');
}

describe('parseGaql', () => {
  it('parses select, from, where with BETWEEN / IN / comparison, order by and limit', () => {
    const q = parseGaql(`
      SELECT campaign.id, campaign.name, metrics.cost_micros, segments.date
      FROM campaign
      WHERE segments.date BETWEEN '2026-10-01' AND "2026-10-07"
        AND campaign.id IN (123, 456)
        AND campaign.status = ENABLED
        AND metrics.impressions >= 10
      ORDER BY segments.date DESC, campaign.id
      LIMIT 50`);
    expect(q.select).toEqual(['campaign.id', 'campaign.name', 'metrics.cost_micros', 'segments.date']);
    expect(q.from).toBe('campaign');
    expect(q.where).toEqual([
      { field: 'segments.date', op: 'BETWEEN', values: ['2026-10-01', '2026-10-07'] },
      { field: 'campaign.id', op: 'IN', values: ['123', '456'] },
      { field: 'campaign.status', op: '=', values: ['ENABLED'] },
      { field: 'metrics.impressions', op: '>=', values: ['10'] },
    ]);
    expect(q.orderBy).toEqual([
      { field: 'segments.date', desc: true },
      { field: 'campaign.id', desc: false },
    ]);
    expect(q.limit).toBe(50);
  });

  it('accepts lower-case keywords, NOT IN, != and <=', () => {
    const q = parseGaql("select customer.id from customer where segments.date >= '2026-01-01' and segments.date <= '2026-01-31' and customer.id != 1 and customer.id not in (2, 3)");
    expect(q.where.map((c) => c.op)).toEqual(['>=', '<=', '!=', 'NOT IN']);
  });

  it('rejects malformed queries with the QueryError enum names', () => {
    expect(codeOf(() => parseGaql('campaign.id FROM campaign'))).toBe('EXPECTED_SELECT');
    expect(codeOf(() => parseGaql('SELECT campaign.id campaign'))).toBe('EXPECTED_FROM');
    expect(codeOf(() => parseGaql('SELECT campaign.id FROM campaign WHERE'))).toBe('UNEXPECTED_END_OF_QUERY');
    expect(codeOf(() => parseGaql("SELECT campaign.id FROM campaign WHERE campaign.name LIKE 'x'"))).toBe('BAD_OPERATOR');
    expect(codeOf(() => parseGaql('SELECT campaign.id FROM campaign WHERE campaign.id IN ()'))).toBe('PROHIBITED_EMPTY_LIST_IN_CONDITION');
    expect(codeOf(() => parseGaql('SELECT campaign.id FROM campaign LIMIT 0'))).toBe('BAD_LIMIT_VALUE');
    expect(codeOf(() => parseGaql("SELECT campaign.id FROM campaign WHERE campaign.name = 'open"))).toBe('UNEXPECTED_END_OF_QUERY');
    expect(codeOf(() => parseGaql('SELECT campaign.id FROM campaign extra'))).toBe('UNEXPECTED_INPUT');
    expect(codeOf(() => parseGaql('SELECT Campaign FROM campaign'))).toBe('BAD_FIELD_NAME');
  });

  it('maps snake_case GAQL fields to lowerCamelCase JSON paths', () => {
    expect(toJsonPath('metrics.cost_micros')).toBe('metrics.costMicros');
    expect(toJsonPath('campaign.advertising_channel_type')).toBe('campaign.advertisingChannelType');
    expect(toJsonPath('segments.date')).toBe('segments.date');
  });
});

describe('prepareQuery (schema checks)', () => {
  it('rejects unknown fields, fields of another resource and a segmented query without a finite date range', () => {
    expect(codeOf(() => prepareQuery('SELECT campaign.foo FROM campaign'))).toBe('UNRECOGNIZED_FIELD');
    expect(codeOf(() => prepareQuery('SELECT campaign.id FROM customer'))).toBe('PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE');
    expect(codeOf(() => prepareQuery('SELECT ad_group.id FROM ad_group'))).toBe('BAD_RESOURCE_TYPE_IN_FROM_CLAUSE');
    expect(codeOf(() => prepareQuery("SELECT segments.date FROM campaign WHERE segments.date >= '2026-01-01'"))).toBe('EXPECTED_FILTERS_ON_DATE_RANGE');
    expect(codeOf(() => prepareQuery("SELECT segments.date FROM campaign WHERE segments.date = '2026-02-30x'"))).toBe('BAD_VALUE');
  });

  it('builds the fieldMask in select order with JSON names', () => {
    const p = prepareQuery("SELECT campaign.id, metrics.conversions_value, segments.date FROM campaign WHERE segments.date = '2026-10-01'");
    expect(p.fieldMask).toBe('campaign.id,metrics.conversionsValue,segments.date');
  });
});

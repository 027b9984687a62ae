import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { parseGoals, periodBounds } from './goals.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpm-goals-'));
const csv = (name: string, text: string) => {
  fs.writeFileSync(path.join(dir, name), text);
  return { file: name };
};

describe('goals', () => {
  it('reads a CSV as spreadsheets save it: a byte-order mark, headers in any case, empty cells for defaults', () => {
    const goals = parseGoals(csv('excel.csv', '\ufeffID,Metric,Period,Target,Channel,Model,Split\r\nleads_2026,leads,2026,4000,,,\r\npaid_q4,pipeline,2026-Q4,900000,Paid Search,linear,even\r\n'), dir);
    expect(goals).toEqual([
      { id: 'leads_2026', metric: 'leads', period: '2026', target: 4000, model: 'w_shaped', split: 'seasonal' },
      { id: 'paid_q4', metric: 'pipeline', period: '2026-Q4', target: 900000, channel: 'Paid Search', model: 'linear', split: 'even' },
    ]);
  });

  it.each([
    [{ file: 'missing.csv' }, /goals\.file: .*missing\.csv does not exist/],
    [[{ id: 'a', metric: 'leads', period: '2026', target: 1 }, { id: 'a', metric: 'leads', period: '2026', target: 2 }], /goals\[1\]: id a is used twice/],
    [[{ id: 'a', metric: 'leads', period: '2026-Q5', target: 1 }], /goals\[0\]: period: must be a year/],
    [[{ id: 'a', metric: 'clicks', period: '2026', target: 1 }], /goals\[0\]: metric: /],
    [[{ id: 'A-1', metric: 'leads', period: '2026', target: 1 }], /goals\[0\]: id: must be snake_case/],
    ['leads', /goals: must be a list of goals or \{ file: <csv> \}/],
  ])('rejects %j naming what is wrong', (section, message) => {
    expect(() => parseGoals(section, dir)).toThrow(ConfigError);
    expect(() => parseGoals(section, dir)).toThrow(message);
  });

  it('bounds years and quarters', () => {
    const q = periodBounds('2026-Q4');
    expect([q.start.toISOString().slice(0, 10), q.end.toISOString().slice(0, 10), q.months.length]).toEqual(['2026-10-01', '2026-12-31', 3]);
    const y = periodBounds('2024');
    expect([y.start.toISOString().slice(0, 10), y.end.toISOString().slice(0, 10), y.months.length]).toEqual(['2024-01-01', '2024-12-31', 12]);
  });
});

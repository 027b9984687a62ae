import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { parseTransformConfig } from './config.ts';

describe('transform config', () => {
  it('fills every default when the section is absent', () => {
    expect(parseTransformConfig(undefined)).toEqual({
      channelRules: [], replaceDefaultChannelRules: false, lookbackDays: 90, conversionEvent: 'opportunity_created', timeDecayHalfLifeDays: 7,
      customWeights: { first: 0, lead: 0, opportunity: 0, won: 0, rest: 1 }, directChannels: ['Direct'], markovOrder: 1, reportingCurrency: 'USD',
    });
  });

  it('keeps the default of a custom weight left out', () => {
    expect(parseTransformConfig({ customWeights: { first: 1 } }).customWeights).toEqual({ first: 1, lead: 0, opportunity: 0, won: 0, rest: 1 });
  });

  it.each([
    [{ asOf: '2026-02-30' }, /asOf: must be a date YYYY-MM-DD/],
    [{ reportingCurrency: 'usd' }, /reportingCurrency: must be an ISO 4217 code/],
    [{ markovOrder: 4 }, /markovOrder: /],
    [{ customWeights: { first: -1 } }, /customWeights\.first: /],
    [{ lookbackDays: 0 }, /lookbackDays: /],
    [{ conversionEvent: 'won' }, /conversionEvent: /],
    [{ channelRules: [{ channel: 'X', medium: { regex: '' } }] }, /channelRules\.0\.medium/],
    [{ lookbackdays: 30 }, /unrecognized key.*lookbackdays/i],
    [{ replaceDefaultChannelRules: true }, /replaceDefaultChannelRules: needs at least one rule in channelRules/],
  ])('rejects %j naming the field', (section, message) => {
    expect(() => parseTransformConfig(section)).toThrow(ConfigError);
    expect(() => parseTransformConfig(section)).toThrow(message);
  });
});

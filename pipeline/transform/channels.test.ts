import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import { createTestWarehouse, WAREHOUSE_KINDS } from '../../test/helpers/warehouse.ts';
import { channelFunctionSql, effectiveRules } from './channels.ts';
import { parseTransformConfig } from './config.ts';
import { runTransform } from './index.ts';

type TestWarehouse = Awaited<ReturnType<typeof createTestWarehouse>>;
type Case = [source: string | null, medium: string | null, campaign: string | null, hint: string | null, channel: string];

/** The default rules: GA4's default channel grouping, close enough for B2B marketing data. */
const DEFAULT_CASES: Case[] = [
  ['google', 'cpc', 'brand', null, 'Paid Search'],
  ['Google', 'CPC', null, null, 'Paid Search'], // case-insensitive
  ['bing', 'ppc', null, null, 'Paid Search'],
  [null, null, null, 'search', 'Paid Search'], // an ad platform's campaign type
  ['facebook', 'cpc', null, null, 'Paid Social'], // a social source before a search medium
  ['linkedin', 'paid_social', null, null, 'Paid Social'],
  ['instagram', 'paid', null, null, 'Paid Social'],
  ['google', 'organic', null, null, 'Organic Search'],
  ['duckduckgo', null, null, null, 'Organic Search'],
  ['(direct)', '(none)', null, null, 'Direct'],
  ['newsletter', 'email', null, null, 'Email'],
  [null, null, null, 'email_click', 'Email'],
  ['partner.example', 'referral', null, null, 'Referral'],
  [null, null, null, 'webinar', 'Events'],
  [null, 'webinar', null, null, 'Events'],
  ['adnetwork', 'cpm', null, null, 'Display'],
  ['tiktok', 'organic_social', null, null, 'Other'],
  [null, null, null, null, 'Other'],
];

describe.each(WAREHOUSE_KINDS)('channel grouping on %s', (kind) => {
  let warehouse: TestWarehouse;
  beforeAll(async () => {
    warehouse = await createTestWarehouse(kind);
  }, 120_000);
  afterAll(async () => {
    await warehouse?.drop();
  });

  const channels = async (config: unknown, cases: Case[]) => {
    await warehouse.knex.raw(channelFunctionSql(effectiveRules(parseTransformConfig(config))));
    const out: string[] = [];
    for (const [source, medium, campaign, hint] of cases) {
      out.push(((await warehouse.knex.raw('SELECT staging.channel_of(?::text, ?::text, ?::text, ?::text) AS c', [source, medium, campaign, hint])).rows[0] as { c: string }).c);
    }
    return out;
  };

  it('groups sources, mediums and hints by the default rules', async () => {
    expect(await channels(undefined, DEFAULT_CASES)).toEqual(DEFAULT_CASES.map((c) => c[4]));
  });

  it('puts configured rules first (first match wins), or alone; regexes match case-insensitively with their escapes intact', async () => {
    const rules = [
      { channel: 'Partners', source: ['partnerstack'] },
      // \S: no whitespace (lowercasing the pattern would have made it \s).
      { channel: 'Affiliates', medium: { regex: '^AFF\\S*$' } },
      { channel: 'ABM', campaign: 'abm-q3', medium: 'cpc' },
    ];
    const cases: Case[] = [
      ['partnerstack', 'referral', null, null, 'Partners'],
      ['x', 'affiliate', null, null, 'Affiliates'],
      ['x', 'Aff_Network', null, null, 'Affiliates'],
      ['x', 'aff network', null, null, 'Other'],
      ['google', 'cpc', 'ABM-Q3', null, 'ABM'],
      ['google', 'cpc', 'brand', null, 'Paid Search'],
    ];
    expect(await channels({ channelRules: rules }, cases)).toEqual(cases.map((c) => c[4]));
    // Alone: everything else falls to Other.
    expect(await channels({ channelRules: rules, replaceDefaultChannelRules: true }, cases)).toEqual(['Partners', 'Affiliates', 'Affiliates', 'Other', 'ABM', 'Other']);
  });

  it('rejects direct channels the rules never give, naming them', async () => {
    const log = pino({ level: 'silent' });
    await expect(runTransform({ warehouse, log, config: { directChannels: ['Direct', 'direct'] } }))
      .rejects.toThrow(/directChannels\.1: "direct" is not a channel of the grouping rules \(Direct, Display, /);
    const only = { channelRules: [{ channel: 'Dark Social', source: 'whatsapp' }], replaceDefaultChannelRules: true };
    await expect(runTransform({ warehouse, log, config: { ...only, directChannels: ['Direct'] } }))
      .rejects.toThrow(/directChannels\.0: "Direct" is not a channel of the grouping rules \(Dark Social, Other\)/);
    // The default (Direct) is not checked: rules without a Direct channel have nothing to skip.
    expect((await runTransform({ warehouse, log, config: only })).mode).toBe('full');
  });

  it('rejects a rule whose regex does not compile, naming the rule, before the transform starts', async () => {
    const state = async () => (await warehouse.knex.raw(`SELECT finished_at::text AS t FROM meta.transform_state`)).rows as Array<{ t: string }>;
    const before = await state();
    const run = runTransform({ warehouse, log: pino({ level: 'silent' }), config: { channelRules: [{ channel: 'Ok', source: 'a' }, { channel: 'Bad', medium: { regex: 'paid(' } }] } });
    await expect(run).rejects.toThrow(ConfigError);
    await expect(run).rejects.toThrow(/channelRules\.1\.medium: "paid\(" is not a valid regular expression \(.*parenthes/);
    expect(await state()).toEqual(before); // no run started
  });
});

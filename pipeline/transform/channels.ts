import type { Knex } from 'knex';
import { ConfigError } from '../../connectors/core/errors/index.ts';
import type { ChannelRule, Matcher, TransformConfig } from './config.ts';
import { sqlLiteral } from '../../warehouse/sql.ts';

/**
 * Channel grouping: an ordered rule set over source / medium / campaign and a vendor hint, close to
 * GA4's default channel grouping (support.google.com/analytics/answer/9756891), compiled into one
 * SQL function, staging.channel_of(source, medium, campaign, hint), so touchpoints, spend and
 * traffic get their channel from the same rules and meet on the same key.
 */
const SEARCH_SOURCES = ['google', 'bing', 'yahoo', 'duckduckgo', 'baidu', 'yandex', 'ecosia', 'naver', 'search'];
const SOCIAL_SOURCES = ['facebook', 'fb', 'instagram', 'ig', 'linkedin', 'twitter', 'x', 't.co', 'reddit', 'tiktok', 'youtube', 'meta', 'pinterest'];
const PAID_MEDIUM = '^(.*cp.*|ppc|retargeting|paid.*)$';

export const DEFAULT_CHANNEL_RULES: readonly ChannelRule[] = [
  { channel: 'Direct', source: ['(direct)', 'direct'], medium: ['(none)', '(not set)', 'none', ''] },
  { channel: 'Events', hint: ['event', 'events', 'event_attended', 'webinar', 'webinar_attended', 'seminar / conference', 'conference', 'trade show', 'tradeshow'] },
  { channel: 'Events', medium: ['event', 'events', 'webinar', 'conference', 'tradeshow', 'trade_show', 'field'] },
  { channel: 'Email', hint: ['email', 'email_click', 'email_open', 'e-mail'] },
  { channel: 'Email', medium: ['email', 'e-mail', 'e_mail', 'e mail', 'newsletter'] },
  { channel: 'Email', source: ['email', 'e-mail', 'e_mail', 'e mail', 'newsletter', 'hubspot_email'] },
  { channel: 'Paid Search', hint: ['search', 'paid search', 'paid_search'] },
  { channel: 'Display', hint: ['display', 'banner'] },
  { channel: 'Display', medium: ['display', 'banner', 'expandable', 'interstitial', 'cpm'] },
  { channel: 'Paid Social', hint: ['paid social', 'paid_social', 'meta_ads'] },
  { channel: 'Paid Social', medium: ['paid_social', 'paidsocial', 'paid-social', 'social_paid'] },
  { channel: 'Paid Social', source: SOCIAL_SOURCES, medium: { regex: PAID_MEDIUM } },
  { channel: 'Paid Search', source: SEARCH_SOURCES, medium: { regex: PAID_MEDIUM } },
  { channel: 'Paid Search', medium: ['cpc', 'ppc', 'paidsearch', 'paid_search', 'sem'] },
  { channel: 'Organic Search', medium: ['organic'] },
  { channel: 'Organic Search', source: SEARCH_SOURCES },
  { channel: 'Referral', medium: ['referral', 'link', 'app'] },
  { channel: 'Referral', hint: ['referral', 'partner', 'partners', 'referral program'] },
];

export const CHANNEL_FALLBACK = 'Other';

/** The fields a rule matches on, each with its parameter of staging.channel_of. */
const MATCHED_FIELDS = [['source', 'src'], ['medium', 'med'], ['campaign', 'camp'], ['hint', 'hint']] as const;

function condition(column: string, matcher: Matcher): string {
  const value = `lower(coalesce(${column}, ''))`;
  if (typeof matcher === 'string') return `${value} = ${sqlLiteral(matcher.toLowerCase())}`;
  if (Array.isArray(matcher)) return `${value} IN (${matcher.map((m) => sqlLiteral(m.toLowerCase())).join(', ')})`;
  // Case-insensitive by the operator, not by lowercasing the pattern (that would turn \S into \s).
  return `${value} ~* ${sqlLiteral(matcher.regex)}`;
}

/** Every channel the rules can give (theirs and the fallback). */
export function channelsOf(config: Pick<TransformConfig, 'channelRules' | 'replaceDefaultChannelRules'>): string[] {
  return [...new Set([...effectiveRules(config).map((r) => r.channel), CHANNEL_FALLBACK])].sort();
}

/**
 * Configured directChannels must name channels the rules give: a typo would make last_non_direct
 * skip nothing. (The default, Direct, is not checked: rules that replace the defaults without a
 * Direct channel simply have nothing to skip.)
 */
export function checkDirectChannels(section: unknown, config: TransformConfig): void {
  if (typeof section !== 'object' || section === null || !('directChannels' in section)) return;
  const known = channelsOf(config);
  for (const [i, channel] of config.directChannels.entries()) {
    if (!known.includes(channel)) throw new ConfigError(`transform: directChannels.${i}: ${JSON.stringify(channel)} is not a channel of the grouping rules (${known.join(', ')})`);
  }
}

/**
 * Checks every regex of the configured channel rules with the warehouse's own regex engine (the one
 * that runs them), so a typo is a config error naming the rule before the transform starts, not a
 * failure halfway through it.
 */
export async function checkChannelRegexes(knex: Knex, rules: readonly ChannelRule[]): Promise<void> {
  for (const [i, rule] of rules.entries()) {
    for (const [field] of MATCHED_FIELDS) {
      const matcher = rule[field];
      if (matcher === undefined || typeof matcher === 'string' || Array.isArray(matcher)) continue;
      try {
        await knex.raw(`SELECT '' ~* ? AS ok`, [matcher.regex]);
      } catch (err) {
        throw new ConfigError(`transform: channelRules.${i}.${field}: ${JSON.stringify(matcher.regex)} is not a valid regular expression (${(err as Error).message.replace(/^.*?invalid regular expression: /, '')})`);
      }
    }
  }
}

export function effectiveRules(config: Pick<TransformConfig, 'channelRules' | 'replaceDefaultChannelRules'>): readonly ChannelRule[] {
  return config.replaceDefaultChannelRules ? config.channelRules : [...config.channelRules, ...DEFAULT_CHANNEL_RULES];
}

/** CREATE OR REPLACE of staging.channel_of from the rules (first match wins, else 'Other'). */
export function channelFunctionSql(rules: readonly ChannelRule[]): string {
  const branches = rules.map((rule) => {
    const parts = MATCHED_FIELDS.flatMap(([field, param]) => (rule[field] !== undefined ? [condition(param, rule[field])] : []));
    return `WHEN ${parts.length ? parts.join(' AND ') : 'true'} THEN ${sqlLiteral(rule.channel)}`;
  });
  return `CREATE OR REPLACE FUNCTION staging.channel_of(src text, med text, camp text, hint text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
      SELECT CASE ${branches.join('\n        ')} ELSE ${sqlLiteral(CHANNEL_FALLBACK)} END
    $fn$`;
}

import { z } from 'zod';
import { dayString } from '../../connectors/core/dates.ts';
import { ConfigError } from '../../connectors/core/errors/index.ts';

/**
 * The `transform` section of mpm.config.json / .yaml. Every field has a default, so an absent
 * section means the defaults below.
 */
const matcher = z.union([
  z.string().min(1),
  z.array(z.string().min(1)).min(1),
  z.strictObject({ regex: z.string().min(1) }),
]);
export type Matcher = z.infer<typeof matcher>;

export const channelRuleSchema = z.strictObject({
  /** Channel name assigned when the rule matches. */
  channel: z.string().min(1),
  /** Conditions, all of which must hold (case-insensitive). A string or list matches exactly; { regex } matches a Postgres (POSIX) regex. */
  source: matcher.optional(),
  medium: matcher.optional(),
  campaign: matcher.optional(),
  /** The vendor hint: touch type (email_click, event_attended...), campaign type or the CSV channel column. */
  hint: matcher.optional(),
});
export type ChannelRule = z.infer<typeof channelRuleSchema>;

const weights = z.strictObject({
  first: z.number().nonnegative().default(0),
  lead: z.number().nonnegative().default(0),
  opportunity: z.number().nonnegative().default(0),
  won: z.number().nonnegative().default(0),
  rest: z.number().nonnegative().default(1),
});

export const transformConfigSchema = z
  .strictObject({
    /** Ordered channel rules; the first match wins, then the default rules. Default: none (defaults only). */
    channelRules: z.array(channelRuleSchema).default([]),
    /** Replace the default rules instead of putting channelRules in front of them. Default false. */
    replaceDefaultChannelRules: z.boolean().default(false),
    /** Touches older than this many days before the opportunity was created are not credited. Default 90. */
    lookbackDays: z.number().int().positive().max(3650).default(90),
    /** Touches up to this event count: opportunity_created (pipeline view) or closed_won (touches until the deal closed). Default opportunity_created. */
    conversionEvent: z.enum(['opportunity_created', 'closed_won']).default('opportunity_created'),
    /** time_decay half-life in days, measured back from the conversion. Default 7. */
    timeDecayHalfLifeDays: z.number().positive().default(7),
    /** Position weights of the `custom` model. Default: all on "the rest", which is then every touch (= linear). */
    customWeights: weights.default({ first: 0, lead: 0, opportunity: 0, won: 0, rest: 1 }),
    /** Channels last_non_direct skips. Default ['Direct']. */
    directChannels: z.array(z.string().min(1)).default(['Direct']),
    /** Markov chain order (1 to 3). Default 1. */
    markovOrder: z.number().int().min(1).max(3).default(1),
    /** Day goal pacing is measured at (YYYY-MM-DD). Default: the latest day with data. */
    asOf: dayString.optional(),
    /** Currency every mart amount is reported in (ISO 4217). Default USD. */
    reportingCurrency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD').default('USD'),
  })
  .refine((c) => !c.replaceDefaultChannelRules || c.channelRules.length > 0, {
    path: ['replaceDefaultChannelRules'],
    message: 'needs at least one rule in channelRules (with none, every touch and spend row would be Other)',
  })
  .default({
    channelRules: [],
    replaceDefaultChannelRules: false,
    lookbackDays: 90,
    conversionEvent: 'opportunity_created',
    timeDecayHalfLifeDays: 7,
    customWeights: { first: 0, lead: 0, opportunity: 0, won: 0, rest: 1 },
    directChannels: ['Direct'],
    markovOrder: 1,
    reportingCurrency: 'USD',
  });
export type TransformConfig = z.infer<typeof transformConfigSchema>;

export function parseTransformConfig(section: unknown): TransformConfig {
  const result = transformConfigSchema.safeParse(section);
  if (result.success) return result.data;
  throw new ConfigError(`transform: ${result.error.issues.map((i) => `${i.path.join('.') || '(section)'}: ${i.message}`).join('; ')}`);
}

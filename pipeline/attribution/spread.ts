/**
 * Channel credit -> touchpoint credit for one opportunity's path.
 *
 * The channel credits (e.g. Markov or Shapley shares, or fractribution's per-path fractions)
 * are restricted to the channels present in the path and renormalised to sum to 1; each
 * channel's share is then split EQUALLY over that channel's touches in the path. The touches'
 * credits sum to 1. A channel missing from `channelCredit` counts as 0. When every channel in
 * the path has 0 credit, `fallback` decides: 'last_touch' (default, as fractribution) gives 1
 * to the last touch, 'linear' splits 1 equally over all touches. An empty path gives [].
 */
import { z } from 'zod';
import { orderTouches, type Touch } from './rules.ts';
import { sortedCredit, type ChannelCredit, type TouchCredit } from './types.ts';

/** Thrown when a channel credit is negative or not finite. */
export class InvalidChannelCreditError extends Error {
  override readonly name = 'InvalidChannelCreditError';
}

export const SpreadOptionsSchema = z.object({
  /** What to do when the path's channels all have 0 credit. Default 'last_touch'. */
  fallback: z.enum(['last_touch', 'linear']).default('last_touch'),
});
export type SpreadOptions = z.input<typeof SpreadOptionsSchema>;

/** A touch as spread needs it; the rule-model Touch fits. Ordered by (at, id). */
export type SpreadTouch = Pick<Touch, 'id' | 'at' | 'channel'>;

export function spreadChannelCredit(
  touches: readonly SpreadTouch[],
  channelCredit: ChannelCredit,
  options: SpreadOptions = {},
): TouchCredit[] {
  const opts = SpreadOptionsSchema.parse(options);
  const ordered = orderTouches(
    touches.map((t) => ({ ...t, isLeadCreation: false, isOppCreation: false, isClosedWon: false })),
  );
  const n = ordered.length;
  if (n === 0) return [];
  const touchesPerChannel = new Map<string, number>();
  for (const t of ordered) touchesPerChannel.set(t.channel, (touchesPerChannel.get(t.channel) ?? 0) + 1);
  let sum = 0;
  for (const channel of touchesPerChannel.keys()) {
    const c = channelCredit[channel] ?? 0;
    if (!Number.isFinite(c) || c < 0) throw new InvalidChannelCreditError(`credit of ${channel} must be finite and >= 0`);
    sum += c;
  }
  return ordered.map((t, i) => {
    let credit: number;
    if (sum > 0) credit = (channelCredit[t.channel] ?? 0) / sum / touchesPerChannel.get(t.channel)!;
    else if (opts.fallback === 'linear') credit = 1 / n;
    else credit = i === n - 1 ? 1 : 0;
    return { id: t.id, channel: t.channel, credit };
  });
}

/** Adds touch credits up per channel (e.g. to compare rule-model output with channel-level marts). */
export function sumByChannel(credits: readonly TouchCredit[]): ChannelCredit {
  const totals = new Map<string, number>();
  for (const c of credits) totals.set(c.channel, (totals.get(c.channel) ?? 0) + c.credit);
  return sortedCredit(totals);
}

/**
 * Measures a model's channel credits against a ground truth (e.g. the sandbox's known causal
 * shares). Both sides are turned into shares of their own total first, so counts, values and
 * shares can be compared alike; a side whose total is 0 has all shares 0.
 *
 *   error(c)                  = share_model(c) - share_truth(c)   (signed, over the union of channels)
 *   totalAbsoluteShareError   = sum over c of |error(c)|           (0 = perfect, at most 2)
 *   maxAbsoluteShareError     = max over c of |error(c)|
 */
import { sortedCredit, type ChannelCredit } from './types.ts';

/** Thrown when a credit or truth value is negative or not finite. */
export class InvalidCreditError extends Error {
  override readonly name = 'InvalidCreditError';
}

export type TruthComparison = {
  perChannel: Record<string, { model: number; truth: number; error: number }>;
  totalAbsoluteShareError: number;
  maxAbsoluteShareError: number;
};

function toShares(credits: ChannelCredit, what: string): Map<string, number> {
  let sum = 0;
  for (const [c, v] of Object.entries(credits)) {
    if (!Number.isFinite(v) || v < 0) throw new InvalidCreditError(`${what} of ${c} must be finite and >= 0`);
    sum += v;
  }
  return new Map(Object.entries(credits).map(([c, v]) => [c, sum > 0 ? v / sum : 0]));
}

export function compareToTruth(credits: ChannelCredit, truth: ChannelCredit): TruthComparison {
  const model = toShares(credits, 'credit');
  const real = toShares(truth, 'truth');
  const channels = new Set([...model.keys(), ...real.keys()]);
  const rows = sortedCredit([...channels].map((c) => [c, 0]));
  const perChannel: TruthComparison['perChannel'] = {};
  let total = 0;
  let max = 0;
  for (const c of Object.keys(rows)) {
    const m = model.get(c) ?? 0;
    const t = real.get(c) ?? 0;
    const error = m - t;
    perChannel[c] = { model: m, truth: t, error };
    total += Math.abs(error);
    max = Math.max(max, Math.abs(error));
  }
  return { perChannel, totalAbsoluteShareError: total, maxAbsoluteShareError: max };
}

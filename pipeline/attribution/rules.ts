/**
 * REFERENCE implementation of the rule-based attribution models over one opportunity's
 * touches. The warehouse computes these in SQL; this file is the test oracle for that SQL and
 * the executable statement of the rules. README.md in this folder states the same rules in
 * prose; keep the two in step.
 *
 * Every model returns one TouchCredit per touch, in (at, id) order, summing to 1 (none for an
 * empty path).
 */
import { z } from 'zod';
import { compareCodeUnits, type TouchCredit } from './types.ts';

/** One touch of one opportunity's path. `at` is epoch milliseconds. */
export type Touch = {
  id: string;
  at: number;
  channel: string;
  /** Marks the first touch explicitly (e.g. the person's first touch); see README. */
  isFirst?: boolean;
  isLeadCreation: boolean;
  isOppCreation: boolean;
  isClosedWon: boolean;
};

export type RuleModel =
  | 'first_touch'
  | 'last_touch'
  | 'last_non_direct'
  | 'linear'
  | 'time_decay'
  | 'u_shaped'
  | 'w_shaped'
  | 'full_path'
  | 'custom';

export const RULE_MODELS: readonly RuleModel[] = [
  'first_touch',
  'last_touch',
  'last_non_direct',
  'linear',
  'time_decay',
  'u_shaped',
  'w_shaped',
  'full_path',
  'custom',
];

/** Thrown for a touch with an empty or duplicate id, or a non-finite time. */
export class InvalidTouchError extends Error {
  override readonly name = 'InvalidTouchError';
}

/** Weights of the position-based models, before renormalisation. */
export const PositionWeightsSchema = z.object({
  first: z.number().min(0).default(0),
  lead: z.number().min(0).default(0),
  opportunity: z.number().min(0).default(0),
  won: z.number().min(0).default(0),
  rest: z.number().min(0).default(0),
});
export type PositionWeights = z.output<typeof PositionWeightsSchema>;

export const RuleConfigSchema = z.object({
  /** time_decay half-life in days. Default 7. */
  halfLifeDays: z.number().positive().default(7),
  /** time_decay conversion time (epoch ms). Default: the latest touch's `at`. */
  conversionAt: z.number().optional(),
  /** last_non_direct: channels treated as direct (exact, case-sensitive match). Default ['Direct']. */
  directChannels: z.array(z.string()).default(['Direct']),
  /** custom: position weights. Default all 0 except rest = 1: every touch is in the rest, so linear. */
  custom: PositionWeightsSchema.default({ first: 0, lead: 0, opportunity: 0, won: 0, rest: 1 }),
});
export type RuleConfig = z.input<typeof RuleConfigSchema>;

export const U_SHAPED: PositionWeights = { first: 0.4, lead: 0.4, opportunity: 0, won: 0, rest: 0.2 };
export const W_SHAPED: PositionWeights = { first: 0.3, lead: 0.3, opportunity: 0.3, won: 0, rest: 0.1 };
export const FULL_PATH: PositionWeights = { first: 0.225, lead: 0.225, opportunity: 0.225, won: 0.225, rest: 0.1 };

const DAY_MS = 86_400_000;

/** Validates touches and returns them sorted by (at, id), ids compared by code units. */
export function orderTouches(touches: readonly Touch[]): Touch[] {
  const ids = new Set<string>();
  for (const t of touches) {
    if (typeof t.id !== 'string' || t.id.length === 0) throw new InvalidTouchError('touch id must be a non-empty string');
    if (ids.has(t.id)) throw new InvalidTouchError(`duplicate touch id ${t.id}`);
    ids.add(t.id);
    if (!Number.isFinite(t.at)) throw new InvalidTouchError(`touch ${t.id}: at must be a finite number`);
  }
  return [...touches].sort((a, b) => a.at - b.at || compareCodeUnits(a.id, b.id));
}

/** Index (in (at, id) order) of each key moment, or undefined when missing. */
export type KeyMoments = { first?: number; lead?: number; opportunity?: number; won?: number };

/**
 * first: the earliest touch with isFirst === true, else the earliest touch.
 * lead / opportunity / won: the earliest touch carrying that flag (one is expected).
 */
export function keyMoments(ordered: readonly Touch[]): KeyMoments {
  const earliest = (pred: (t: Touch) => boolean): number | undefined => {
    const i = ordered.findIndex(pred);
    return i >= 0 ? i : undefined;
  };
  const flaggedFirst = earliest((t) => t.isFirst === true);
  return {
    first: flaggedFirst ?? (ordered.length > 0 ? 0 : undefined),
    lead: earliest((t) => t.isLeadCreation),
    opportunity: earliest((t) => t.isOppCreation),
    won: earliest((t) => t.isClosedWon),
  };
}

/**
 * Which touches share the `rest` weight:
 * - 'non_key': every touch carrying none of the model's key moments (moments with weight > 0
 *   that are present);
 * - 'between_first_and_lead': touches strictly between the first and lead-creation touches
 *   (none when lead creation is missing or coincides with first).
 */
export type RestScope = 'non_key' | 'between_first_and_lead';

/**
 * Position-based weights with the renormalisation rule: a missing key moment's weight goes to
 * nobody; coinciding key moments add up on their touch; with no rest touches the rest weight
 * is dropped; then everything is divided by the sum. A sum of 0 (a `custom` model whose positive
 * weights all fall on missing moments, with rest weight 0) gives every touch an equal share.
 */
export function positionBased(ordered: readonly Touch[], weights: PositionWeights, restScope: RestScope): number[] {
  const raw = new Array<number>(ordered.length).fill(0);
  if (ordered.length === 0) return raw;
  const m = keyMoments(ordered);
  const isKey = new Array<boolean>(ordered.length).fill(false);
  const place = (index: number | undefined, w: number) => {
    if (index === undefined || !(w > 0)) return;
    raw[index] = raw[index]! + w;
    isKey[index] = true;
  };
  place(m.first, weights.first);
  place(m.lead, weights.lead);
  place(m.opportunity, weights.opportunity);
  place(m.won, weights.won);
  let rest: number[] = [];
  if (restScope === 'non_key') {
    rest = ordered.map((_, i) => i).filter((i) => !isKey[i]);
  } else if (m.first !== undefined && m.lead !== undefined) {
    const lo = Math.min(m.first, m.lead);
    const hi = Math.max(m.first, m.lead);
    for (let i = lo + 1; i < hi; i++) rest.push(i);
  }
  if (weights.rest > 0 && rest.length > 0) {
    const each = weights.rest / rest.length;
    for (const i of rest) raw[i] = raw[i]! + each;
  }
  return normalise(raw);
}

function normalise(raw: number[]): number[] {
  let sum = 0;
  for (const w of raw) sum += w;
  return sum > 0 ? raw.map((w) => w / sum) : raw.map(() => 1 / raw.length);
}

function single(n: number, index: number): number[] {
  const out = new Array<number>(n).fill(0);
  if (n > 0) out[index] = 1;
  return out;
}

/**
 * time_decay: weight 2^(-(conversionAt - at) / halfLife), normalised. Ages below 0 (touches
 * after conversionAt) count as 0. Weights are computed relative to the youngest touch, which
 * leaves the normalised result unchanged and keeps very old paths from underflowing to 0.
 */
function timeDecay(ordered: readonly Touch[], halfLifeDays: number, conversionAt: number | undefined): number[] {
  if (ordered.length === 0) return [];
  const conv = conversionAt ?? ordered[ordered.length - 1]!.at;
  const ages = ordered.map((t) => Math.max(0, conv - t.at));
  let youngest = Infinity;
  for (const a of ages) youngest = Math.min(youngest, a);
  const halfLifeMs = halfLifeDays * DAY_MS;
  return normalise(ages.map((a) => Math.pow(2, -(a - youngest) / halfLifeMs)));
}

function lastNonDirect(ordered: readonly Touch[], direct: readonly string[]): number[] {
  let idx = ordered.length - 1;
  for (let i = ordered.length - 1; i >= 0; i--) {
    if (!direct.includes(ordered[i]!.channel)) {
      idx = i;
      break;
    }
  }
  return single(ordered.length, idx);
}

/** Credits of `model` for one opportunity's touches, in (at, id) order; see README.md. */
export function attributeTouches(model: RuleModel, touches: readonly Touch[], config: RuleConfig = {}): TouchCredit[] {
  const cfg = RuleConfigSchema.parse(config);
  const ordered = orderTouches(touches);
  const n = ordered.length;
  let credits: number[];
  switch (model) {
    case 'first_touch':
      credits = single(n, keyMoments(ordered).first ?? 0);
      break;
    case 'last_touch':
      credits = single(n, n - 1);
      break;
    case 'last_non_direct':
      credits = lastNonDirect(ordered, cfg.directChannels);
      break;
    case 'linear':
      credits = ordered.map(() => 1 / n);
      break;
    case 'time_decay':
      credits = timeDecay(ordered, cfg.halfLifeDays, cfg.conversionAt);
      break;
    case 'u_shaped':
      credits = positionBased(ordered, U_SHAPED, 'between_first_and_lead');
      break;
    case 'w_shaped':
      credits = positionBased(ordered, W_SHAPED, 'non_key');
      break;
    case 'full_path':
      credits = positionBased(ordered, FULL_PATH, 'non_key');
      break;
    case 'custom':
      credits = positionBased(ordered, cfg.custom, 'non_key');
      break;
  }
  return ordered.map((t, i) => ({ id: t.id, channel: t.channel, credit: credits[i]! }));
}

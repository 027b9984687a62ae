/**
 * HubSpot's API limits as the emulator enforces them: a rolling per-10-second burst budget, a
 * lower per-second budget on the CRM search endpoints, and a daily cap. Responses carry the
 * X-HubSpot-RateLimit-* headers; requests over budget get HubSpot's 429 body.
 * Source: HubSpot "API usage guidelines and limits" (developers.hubspot.com/docs/guides/apps/
 * api-usage/usage-details) and the CRM search guide ("Limitations").
 */
import { fnv1a } from '../prng.ts';

export interface HubSpotRateLimitOptions {
  /** Requests per rolling 10 seconds. Default 100. */
  perTenSeconds?: number;
  /** Search requests per rolling second. Default 5. */
  searchPerSecond?: number;
  /** Requests per day (the emulator's lifetime). Default 250000. */
  daily?: number;
}

export type RateDecision =
  | { ok: true; headers: Record<string, string> }
  | { ok: false; status: 429; headers: Record<string, string>; body: Record<string, unknown> };

export class HubSpotRateLimiter {
  readonly perTenSeconds: number;
  readonly searchPerSecond: number;
  readonly daily: number;
  private readonly window: number[] = [];
  private readonly searchWindow: number[] = [];
  private dailyUsed = 0;
  private rejected = 0;

  constructor(
    opts: HubSpotRateLimitOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.perTenSeconds = opts.perTenSeconds ?? 100;
    this.searchPerSecond = opts.searchPerSecond ?? 5;
    this.daily = opts.daily ?? 250_000;
  }

  /** Counts one request (unless rejected) and returns the headers or the 429. */
  check(isSearch: boolean): RateDecision {
    const t = this.now();
    while (this.window.length > 0 && (this.window[0] as number) <= t - 10_000) this.window.shift();
    while (this.searchWindow.length > 0 && (this.searchWindow[0] as number) <= t - 1_000) this.searchWindow.shift();
    const headers = (remaining: number): Record<string, string> => ({
      'x-hubspot-ratelimit-max': String(this.perTenSeconds),
      'x-hubspot-ratelimit-remaining': String(Math.max(0, remaining)),
      'x-hubspot-ratelimit-interval-milliseconds': '10000',
      'x-hubspot-ratelimit-daily': String(this.daily),
      'x-hubspot-ratelimit-daily-remaining': String(Math.max(0, this.daily - this.dailyUsed)),
    });
    const reject = (policyName: string, message: string, retryAfterMs: number): RateDecision => {
      this.rejected++;
      return {
        ok: false,
        status: 429,
        headers: { ...headers(this.perTenSeconds - this.window.length), 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
        body: {
          status: 'error',
          message,
          errorType: 'RATE_LIMIT',
          correlationId: correlation(this.rejected),
          policyName,
          groupName: 'publicapi:private-app-api-calls',
        },
      };
    };
    if (this.dailyUsed >= this.daily) return reject('DAILY', 'You have reached your daily limit.', 3_600_000);
    if (this.window.length >= this.perTenSeconds) {
      return reject('TEN_SECONDLY_ROLLING', 'You have reached your ten_secondly_rolling limit.', (this.window[0] as number) + 10_000 - t);
    }
    if (isSearch && this.searchWindow.length >= this.searchPerSecond) {
      return reject('SECONDLY', 'You have reached your secondly limit.', (this.searchWindow[0] as number) + 1_000 - t);
    }
    this.window.push(t);
    if (isSearch) this.searchWindow.push(t);
    this.dailyUsed++;
    return { ok: true, headers: headers(this.perTenSeconds - this.window.length) };
  }

  get rejectedCount(): number {
    return this.rejected;
  }
}

function correlation(n: number): string {
  const h = fnv1a(`rl-${n}`).toString(16).padStart(8, '0');
  const g = fnv1a(`rl2-${n}`).toString(16).padStart(8, '0');
  return `${h}-${g.slice(0, 4)}-4${g.slice(5, 8)}-8${h.slice(1, 4)}-${g}${h.slice(0, 4)}`;
}

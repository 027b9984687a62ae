/**
 * Property quotas of the GA4 Data API, as runReport reports them with returnPropertyQuota
 * (developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/PropertyQuota and
 * .../data/v1/quotas): tokens per property per day (standard: 200,000) and per hour (40,000), tokens
 * per project per property per hour (35 %: 14,000), concurrent requests (10), server errors per
 * project per hour (10), potentially thresholded requests per hour (120). "An API request consumes a
 * single number of tokens, and that number is deducted from all of the hourly, daily, and per project
 * hourly quotas." Daily quotas refresh at midnight Pacific time, hourly ones on the hour.
 * When any quota is exhausted every request to the property answers 429 RESOURCE_EXHAUSTED.
 */

export interface Ga4QuotaLimits {
  tokensPerDay: number;
  tokensPerHour: number;
  tokensPerProjectPerHour: number;
  concurrentRequests: number;
  serverErrorsPerProjectPerHour: number;
  potentiallyThresholdedRequestsPerHour: number;
}

/** A standard (non-360) property. */
export const STANDARD_PROPERTY_QUOTA: Ga4QuotaLimits = {
  tokensPerDay: 200_000,
  tokensPerHour: 40_000,
  tokensPerProjectPerHour: 14_000,
  concurrentRequests: 10,
  serverErrorsPerProjectPerHour: 10,
  potentiallyThresholdedRequestsPerHour: 120,
};

export interface QuotaStatus {
  consumed: number;
  remaining: number;
}

export type PropertyQuotaJson = Record<keyof Ga4QuotaLimits, QuotaStatus>;

/** The Pacific-time calendar day of an instant (the daily quota's window). */
function pacificDay(ms: number): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Los_Angeles', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}

export class Ga4Quota {
  readonly limits: Ga4QuotaLimits;
  private day = '';
  private hour = -1;
  private usedDay = 0;
  private usedHour = 0;
  /** Requests answered with 429 because a quota was exhausted. */
  refused = 0;

  constructor(
    limits: Partial<Ga4QuotaLimits>,
    private readonly now: () => number,
  ) {
    this.limits = { ...STANDARD_PROPERTY_QUOTA, ...limits };
  }

  private roll(): void {
    const t = this.now();
    const day = pacificDay(t);
    const hour = Math.floor(t / 3_600_000);
    if (day !== this.day) {
      this.day = day;
      this.usedDay = 0;
    }
    if (hour !== this.hour) {
      this.hour = hour;
      this.usedHour = 0;
    }
  }

  /** Which token quota is exhausted now, if any (the message the API sends). */
  exhausted(): string | undefined {
    this.roll();
    if (this.usedDay >= this.limits.tokensPerDay) return 'Exhausted property tokens per day. These quota tokens will return at midnight Pacific time.';
    if (this.usedHour >= this.limits.tokensPerHour) return 'Exhausted property tokens per hour. These quota tokens will return in under an hour.';
    if (this.usedHour >= this.limits.tokensPerProjectPerHour) return 'Exhausted property tokens per hour for a project per property. These quota tokens will return in under an hour.';
    return undefined;
  }

  /** Deducts a request's tokens from every token quota; returns the state "including this request". */
  consume(tokens: number): PropertyQuotaJson {
    this.roll();
    this.usedDay += tokens;
    this.usedHour += tokens;
    return this.status(tokens);
  }

  /** Sets what was already used in the current windows (tests: start near exhaustion). */
  setUsed(used: { day?: number; hour?: number }): void {
    this.roll();
    if (used.day !== undefined) this.usedDay = used.day;
    if (used.hour !== undefined) this.usedHour = used.hour;
  }

  used(): { day: number; hour: number } {
    this.roll();
    return { day: this.usedDay, hour: this.usedHour };
  }

  private status(consumed: number): PropertyQuotaJson {
    const left = (limit: number, used: number) => Math.max(0, limit - used);
    return {
      tokensPerDay: { consumed, remaining: left(this.limits.tokensPerDay, this.usedDay) },
      tokensPerHour: { consumed, remaining: left(this.limits.tokensPerHour, this.usedHour) },
      // Requests are answered one at a time here, so none is ever concurrent with another.
      concurrentRequests: { consumed: 0, remaining: this.limits.concurrentRequests },
      serverErrorsPerProjectPerHour: { consumed: 0, remaining: this.limits.serverErrorsPerProjectPerHour },
      potentiallyThresholdedRequestsPerHour: { consumed: 0, remaining: this.limits.potentiallyThresholdedRequestsPerHour },
      tokensPerProjectPerHour: { consumed, remaining: left(this.limits.tokensPerProjectPerHour, this.usedHour) },
    };
  }
}

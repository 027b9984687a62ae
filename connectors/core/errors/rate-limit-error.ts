import { MpmError } from './mpm-error.ts';

/**
 * The vendor asked us to slow down for longer than a request may wait in place. The job system
 * waits `retryAfterMs` (the vendor's Retry-After when it sent one) without burning an attempt.
 */
export class RateLimitError extends MpmError {
  readonly retryable = true;

  constructor(
    message: string,
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

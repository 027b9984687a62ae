import { MpmError } from './mpm-error.ts';

/**
 * A vendor budget (daily API calls, property tokens) is close to exhaustion by the share the
 * configuration allows. The run stops cleanly at its last stored page and is recorded `partial`.
 */
export class UsageLimitError extends MpmError {
  readonly retryable = false;

  constructor(
    message: string,
    /** When the budget is expected to allow work again, if the vendor says. */
    readonly resumeAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

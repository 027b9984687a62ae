import { MpmError } from './mpm-error.ts';

/**
 * A vendor response whose envelope does not have the documented shape (not a single bad record:
 * those are quarantined). Retrying the same request gives the same answer, so it is not retried.
 */
export class SchemaError extends MpmError {
  readonly retryable = false;

  constructor(
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

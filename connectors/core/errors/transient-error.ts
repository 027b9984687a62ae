import { MpmError } from './mpm-error.ts';

/** A failure another attempt may not see: 5xx, a reset connection, a timeout, a truncated body. */
export class TransientError extends MpmError {
  readonly retryable = true;

  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

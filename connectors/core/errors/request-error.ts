import { MpmError } from './mpm-error.ts';

/**
 * The vendor refused the request itself (4xx other than 401/408/429): a bad query, an unknown
 * field or id. The same request would fail again, so it is not retried.
 */
export class RequestError extends MpmError {
  readonly retryable = false;

  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

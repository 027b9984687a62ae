import { RequestError } from '../core/errors/index.ts';

/**
 * Meta refused or failed a report because it covers too much data ("Please reduce the amount of
 * data you're asking for", code 100 / subcode 1487534, or an async run that ended 'Job Failed' or
 * stalled). Retrying the same range cannot help; the reader splits the range in half.
 */
export class ReduceDataError extends RequestError {
  constructor(
    message: string,
    /** Why: the sync call was refused, the async run failed, or it stalled. */
    readonly reason: 'refused' | 'failed' | 'stalled',
    options?: { cause?: unknown },
  ) {
    super(message, 400, options);
  }
}

import { MpmError } from './mpm-error.ts';

/** Credentials were refused (after a token refresh, if one was possible). Not retried. */
export class AuthError extends MpmError {
  readonly retryable = false;
}

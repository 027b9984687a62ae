import { MpmError } from './mpm-error.ts';

/** Bad configuration or usage: fix the setting it names; retrying cannot help. Exit code 2. */
export class ConfigError extends MpmError {
  readonly retryable = false;
  override readonly exitCode = 2;
}

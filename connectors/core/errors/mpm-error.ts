/**
 * Base of every error mpm raises on purpose. `retryable` tells the job system whether another
 * attempt can help; `exitCode` is what the CLI exits with when this error ends a command.
 */
export abstract class MpmError extends Error {
  abstract readonly retryable: boolean;
  readonly exitCode: number = 1;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

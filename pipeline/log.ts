import { pino, destination, stdSerializers, type DestinationStream, type Logger } from 'pino';
import { REDACT_PATHS, scrub } from './secrets.ts';

export type { Logger };

/**
 * Error serializer: pino's standard one, with secrets masked in message and stack. A value that is
 * not an error (a message string logged as `err`) is logged as it is, scrubbed: the serializer
 * must never throw, or the log line is lost.
 */
function errSerializer(err: unknown): unknown {
  if (typeof err === 'string') return scrub(err);
  if (!(err instanceof Error)) return err;
  const out = stdSerializers.err(err);
  if (typeof out.message === 'string') out.message = scrub(out.message);
  if (typeof out.stack === 'string') out.stack = scrub(out.stack);
  return out;
}

/** JSON logs on stderr (stdout is for human output; `dest` for tests), every secret path redacted. */
export function createLogger(level: string, dest: DestinationStream = destination({ dest: 2, sync: true })): Logger {
  return pino(
    {
      level,
      base: { app: 'mpm' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      serializers: { err: errSerializer, error: errSerializer },
      hooks: {
        // Messages can embed URLs or vendor error text that carry a token.
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>;
          method.apply(this, scrubbed);
        },
      },
    },
    dest,
  );
}

import { pino, destination, stdSerializers, type Logger } from 'pino';
import { REDACT_PATHS, scrub } from './secrets.ts';

export type { Logger };

/** Error serializer: pino's standard one, with secrets masked in message and stack. */
function errSerializer(err: Error) {
  const out = stdSerializers.err(err);
  out.message = scrub(out.message);
  if (out.stack) out.stack = scrub(out.stack);
  return out;
}

/** JSON logs on stderr (stdout is for human output), every secret path redacted. */
export function createLogger(level: string): Logger {
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
    destination({ dest: 2, sync: true }),
  );
}

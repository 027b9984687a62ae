import { describe, expect, it } from 'vitest';
import { createLogger } from './log.ts';

/** A logger writing into an array of parsed JSON lines. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', { write: (msg: string) => void lines.push(JSON.parse(msg) as Record<string, unknown>) });
  return { log, lines };
}

describe('logger', () => {
  it('logs errors with secrets masked in message and stack', () => {
    const { log, lines } = capture();
    log.error({ err: new Error('refresh failed: https://x.example/token?refresh_token=r3fr3sh&a=1') }, 'token refresh');
    const err = lines[0]!.err as { type: string; message: string; stack: string };
    expect(err.type).toBe('Error');
    expect(err.message).toBe('refresh failed: https://x.example/token?refresh_token=[REDACTED]&a=1');
    expect(err.stack).not.toContain('r3fr3sh');
  });

  it('keeps the line when err is not an error (a message string, undefined, an object)', () => {
    const { log, lines } = capture();
    log.warn({ err: 'job failed: password=hunter2' }, 'a string');
    log.warn({ err: undefined }, 'undefined');
    log.warn({ err: { code: 42 } }, 'an object');
    expect(lines.map((l) => [l.msg, l.err])).toEqual([
      ['a string', 'job failed: password=[REDACTED]'],
      ['undefined', undefined],
      ['an object', { code: 42 }],
    ]);
  });
});

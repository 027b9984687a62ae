import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, RateLimitError, RequestError, TransientError } from './errors/index.ts';
import { HttpClient, parseRetryAfter } from './http.ts';

const base = 'https://api.vendor.test';
const fast = { api: 'vendor', baseUrl: base, backoffBaseMs: 1, backoffMaxMs: 5, random: () => 0.5 };

beforeAll(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
});

describe('HttpClient', () => {
  it('retries 5xx and connection resets with backoff, then returns the body', async () => {
    nock(base).get('/v1/items').reply(503, 'busy').get('/v1/items').replyWithError({ code: 'ECONNRESET', message: 'socket hang up' }).get('/v1/items').reply(200, { items: [1, 2] });
    const client = new HttpClient(fast);
    await expect(client.json({ url: '/v1/items' })).resolves.toEqual({ items: [1, 2] });
    expect(client.requests).toBe(3);
  });

  it('retries a truncated JSON body', async () => {
    nock(base).get('/x').reply(200, '{"items": [1, 2').get('/x').reply(200, { ok: true });
    await expect(new HttpClient(fast).json({ url: '/x' })).resolves.toEqual({ ok: true });
  });

  it('gives up after maxRetries with a TransientError', async () => {
    nock(base).get('/x').times(3).reply(500, 'boom');
    const client = new HttpClient({ ...fast, maxRetries: 2 });
    await expect(client.json({ url: '/x' })).rejects.toBeInstanceOf(TransientError);
    expect(client.requests).toBe(3);
  });

  it('waits a short Retry-After in place and raises RateLimitError for a long one', async () => {
    nock(base).get('/x').reply(429, 'slow down', { 'Retry-After': '0' }).get('/x').reply(200, { ok: 1 });
    await expect(new HttpClient(fast).json({ url: '/x' })).resolves.toEqual({ ok: 1 });

    nock(base).get('/y').reply(429, 'slow down', { 'Retry-After': '120' });
    const err = await new HttpClient({ ...fast, maxRetryAfterMs: 1000 }).json({ url: '/y' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfterMs).toBe(120_000);
  });

  it('refreshes the token once on 401 and retries with the new one', async () => {
    let token = 'old-token-123';
    nock(base).get('/me').matchHeader('authorization', 'Bearer old-token-123').reply(401, { error: 'expired' });
    nock(base).get('/me').matchHeader('authorization', 'Bearer new-token-456').reply(200, { me: 'ok' });
    const client = new HttpClient({
      ...fast,
      auth: {
        headers: () => ({ authorization: `Bearer ${token}` }),
        refresh: async () => {
          token = 'new-token-456';
        },
      },
    });
    await expect(client.json({ url: '/me' })).resolves.toEqual({ me: 'ok' });
  });

  it('raises AuthError when the refreshed token is refused too, without leaking it', async () => {
    nock(base).get('/me').times(2).reply(401, 'bad token supersecret-abcdef in Bearer supersecret-abcdef');
    const client = new HttpClient({ ...fast, auth: { headers: () => ({ authorization: 'Bearer supersecret-abcdef' }), refresh: async () => undefined } });
    const err = (await client.json({ url: '/me' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).not.toContain('supersecret-abcdef');
    expect(err.message).toContain('bad token [REDACTED] in Bearer [REDACTED]');
  });

  it('fails at once when the credential provider refuses, without retrying', async () => {
    let calls = 0;
    const client = new HttpClient({
      ...fast,
      maxRetries: 5,
      auth: {
        headers: () => {
          calls++;
          throw new AuthError('vendor: refresh token revoked (invalid_grant): re-authorize the connection');
        },
      },
    });
    const err = (await client.json({ url: '/me' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(AuthError);
    expect(calls).toBe(1);
  });

  it('does not retry a request the vendor refuses', async () => {
    nock(base).get('/bad').reply(400, { error: 'unknown field foo' });
    const client = new HttpClient(fast);
    const err = await client.json({ url: '/bad' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).status).toBe(400);
    expect(client.requests).toBe(1);
  });

  it('times out a hanging request and retries it', async () => {
    nock(base).get('/slow').delay(500).reply(200, { late: true }).get('/slow').reply(200, { fast: true });
    await expect(new HttpClient({ ...fast, timeoutMs: 50 }).json({ url: '/slow' })).resolves.toEqual({ fast: true });
  });

  it('lets a vendor classifier turn a 400 body into a rate limit', async () => {
    nock(base).get('/insights').reply(400, { error: { code: 17, message: 'User request limit reached' } }).get('/insights').reply(200, { data: [] });
    const client = new HttpClient({
      ...fast,
      classify: (res) => ((res.data as { error?: { code?: number } } | null)?.error?.code === 17 ? new RateLimitError('limit', 0) : undefined),
    });
    await expect(client.json({ url: '/insights' })).resolves.toEqual({ data: [] });
  });

  it('parses Retry-After seconds and HTTP dates', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

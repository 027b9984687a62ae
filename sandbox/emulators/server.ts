/**
 * One node:http server that plays every vendor API of the sandbox.
 *
 * Route modules register {@link RouteDef}s; the server matches method + path pattern in
 * registration order, reads the body, asks the {@link FaultInjector} whether to inject a
 * transport fault for (api, route), and otherwise runs the handler.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EmuHttpError } from './http.ts';
import type { ApiName, EmuRequest, EmuResponse, RouteDef, Router } from './http.ts';
import { FaultInjector } from './faults.ts';
import type { FaultStats } from './faults.ts';

export interface EmulatorServerOptions {
  /** Routes to serve; more can be added later with `add`. Default none. */
  routes?: RouteDef[];
  /** Fault injector; default one with no rules (only counts requests). */
  faults?: FaultInjector;
  /** Port; default 0 (a free port). */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Called with unexpected handler errors; default writes them to stderr. */
  onError?: (err: unknown, req: { method: string; path: string }) => void;
}

export interface EmulatorServer extends Router {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  readonly port: number;
  readonly faults: FaultInjector;
  stats(): FaultStats;
  close(): Promise<void>;
}

export class BodyParseError extends EmuHttpError {
  constructor(message: string) {
    super(400, { error: 'bad_request', message });
    this.name = 'BodyParseError';
  }
}

/** Guesses which vendor an unrouted path belongs to, so even a 404 looks like the vendor's. */
function apiForPath(path: string): ApiName | null {
  if (path.startsWith('/services/')) return 'salesforce';
  if (/^\/(crm|email|form-integrations|marketing|oauth\/v1)\//.test(path)) return 'hubspot';
  if (/^\/v\d+(\.\d+)?\/(act_|\d)/.test(path)) return 'meta_ads';
  if (/^\/v1(beta|alpha)?\/properties/.test(path)) return 'ga4';
  if (/^\/v\d+\/customers/.test(path)) return 'google_ads';
  return null;
}

function notFoundResponse(path: string): EmuResponse {
  switch (apiForPath(path)) {
    case 'salesforce':
      return { status: 404, body: [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }] };
    case 'hubspot':
      return { status: 404, body: { status: 'error', message: `Unable to route ${path}`, category: 'OBJECT_NOT_FOUND' } };
    case 'meta_ads':
      return {
        status: 400,
        body: { error: { message: 'Unknown path components', type: 'OAuthException', code: 2500 } },
      };
    default:
      return { status: 404, body: { error: { code: 404, message: `Requested entity was not found: ${path}`, status: 'NOT_FOUND' } } };
  }
}

function internalErrorResponse(api: ApiName, message: string): EmuResponse {
  switch (api) {
    case 'salesforce':
      return { status: 500, body: [{ errorCode: 'UNKNOWN_EXCEPTION', message }] };
    case 'hubspot':
      return { status: 500, body: { status: 'error', message, category: 'INTERNAL_ERROR' } };
    case 'meta_ads':
      return { status: 500, body: { error: { message, type: 'OAuthException', code: 1 } } };
    default:
      return { status: 500, body: { error: { code: 500, message, status: 'INTERNAL' } } };
  }
}

/** The access token of a request: `Authorization: Bearer`, else `access_token` (Graph API style). */
export function requestToken(headers: Record<string, string | undefined>, query: URLSearchParams): string | undefined {
  const auth = headers['authorization'];
  if (auth) {
    const m = /^(?:Bearer|OAuth)\s+(.+)$/i.exec(auth.trim());
    if (m?.[1]) return m[1];
  }
  return query.get('access_token') ?? undefined;
}

function encodeBody(res: EmuResponse): { bytes: Buffer; contentType: string | null } {
  const body = res.body;
  if (body === undefined || body === null) return { bytes: Buffer.alloc(0), contentType: null };
  if (Buffer.isBuffer(body)) return { bytes: body, contentType: 'application/octet-stream' };
  if (typeof body === 'string') return { bytes: Buffer.from(body, 'utf8'), contentType: 'text/plain; charset=utf-8' };
  return { bytes: Buffer.from(JSON.stringify(body), 'utf8'), contentType: 'application/json;charset=UTF-8' };
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function lowerHeaders(req: http.IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function startEmulatorServer(opts: EmulatorServerOptions = {}): Promise<EmulatorServer> {
  const routes: RouteDef[] = [...(opts.routes ?? [])];
  const faults = opts.faults ?? new FaultInjector();
  const host = opts.host ?? '127.0.0.1';
  const onError = opts.onError ?? ((err: unknown, r: { method: string; path: string }) => {
    process.stderr.write(`[emulator] ${r.method} ${r.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  });
  const sockets = new Set<Socket>();
  const hangs = new Set<() => void>();
  let origin = '';

  const send = (res: http.ServerResponse, out: EmuResponse, truncate = false): void => {
    const { bytes, contentType } = encodeBody(out);
    const headers: Record<string, string> = {};
    if (contentType) headers['content-type'] = contentType;
    for (const [k, v] of Object.entries(out.headers ?? {})) headers[k.toLowerCase()] = v;
    // A truncated body carries a consistent Content-Length, so the client sees broken JSON
    // rather than a transport error.
    const payload = truncate ? bytes.subarray(0, Math.max(1, Math.floor(bytes.length / 2))) : bytes;
    headers['content-length'] = String(payload.length);
    res.writeHead(out.status, headers);
    res.end(payload);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', origin);
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    const body = await readBody(req);
    let route: RouteDef | undefined;
    let match: RegExpExecArray | null = null;
    for (const def of routes) {
      if (def.method !== method) continue;
      match = def.pattern.exec(path);
      if (match) {
        route = def;
        break;
      }
    }
    if (!route || !match) {
      faults.countUnrouted();
      send(res, notFoundResponse(path));
      return;
    }
    const headers = lowerHeaders(req);
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(match.groups ?? {})) if (v !== undefined) params[k] = decodeURIComponent(v);
    const emuReq: EmuRequest = {
      method,
      path,
      query: url.searchParams,
      headers,
      body,
      params,
      origin,
      json<T = unknown>(): T {
        try {
          return JSON.parse(body.toString('utf8')) as T;
        } catch {
          throw new BodyParseError('Request body is not valid JSON');
        }
      },
      form(): URLSearchParams {
        return new URLSearchParams(body.toString('utf8'));
      },
    };

    const decision = faults.decide({ api: route.api, route: route.route, token: requestToken(headers, url.searchParams) });
    let truncate = false;
    if (decision) {
      switch (decision.kind) {
        case 'respond':
          send(res, { status: decision.status, headers: decision.headers, body: decision.body });
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'hang':
          await new Promise<void>((resolve) => {
            const release = () => {
              hangs.delete(release);
              resolve();
            };
            hangs.add(release);
            req.socket.once('close', release);
            if (decision.ms !== null) setTimeout(release, decision.ms).unref();
          });
          req.socket.destroy();
          return;
        case 'delay':
          await delay(decision.ms);
          break;
        case 'truncate':
          truncate = true;
          break;
      }
    }

    let out: EmuResponse;
    try {
      out = await route.handler(emuReq);
    } catch (err) {
      if (err instanceof EmuHttpError) {
        out = { status: err.status, headers: err.headers, body: err.body };
      } else {
        onError(err, { method, path });
        out = internalErrorResponse(route.api, err instanceof Error ? err.message : String(err));
      }
    }
    if (res.destroyed) return;
    send(res, out, truncate);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      onError(err, { method: req.method ?? '?', path: req.url ?? '?' });
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'emulator failure' }));
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://${host}:${port}`;

  return {
    origin,
    port,
    faults,
    add(def: RouteDef) {
      routes.push(def);
    },
    stats: () => faults.stats(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const release of [...hangs]) release();
        for (const s of sockets) s.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

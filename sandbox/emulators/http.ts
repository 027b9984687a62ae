/**
 * The contract between the emulator server and the per-vendor route modules.
 *
 * Route modules (sandbox/emulators/<vendor>/routes.ts) are plain functions of a request; the
 * server (sandbox/emulators/server.ts) owns the socket, body parsing, auth checks it is asked to
 * make, and fault injection. Faults are applied by the server around a handler, keyed by the
 * `api` and `route` names a module registers, so handlers never deal with faults themselves.
 */

/** The vendor APIs the sandbox plays. Used as fault keys and in logs. */
export type ApiName = 'salesforce' | 'hubspot' | 'google_ads' | 'meta_ads' | 'ga4' | 'oauth';

export interface EmuRequest {
  method: string;
  /** Path without the query string, e.g. `/services/data/v62.0/query`. */
  path: string;
  query: URLSearchParams;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
  body: Buffer;
  /** Parses the body as JSON; throws EmuHttpError(400) when it is not. */
  json<T = unknown>(): T;
  /** Parses an application/x-www-form-urlencoded body. */
  form(): URLSearchParams;
  /** Named groups of the matched route pattern. */
  params: Record<string, string>;
  /** The server's own origin, e.g. `http://127.0.0.1:43123`, for absolute URLs in responses. */
  origin: string;
}

export interface EmuResponse {
  status: number;
  headers?: Record<string, string>;
  /** A string or Buffer is sent as is; anything else is sent as JSON. */
  body?: unknown;
}

export type Handler = (req: EmuRequest) => EmuResponse | Promise<EmuResponse>;

export interface RouteDef {
  api: ApiName;
  /** Stable route name used by fault specs, e.g. `query`, `search`, `searchStream`. */
  route: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Matched against the path; named groups become `req.params`. */
  pattern: RegExp;
  handler: Handler;
}

export interface Router {
  add(def: RouteDef): void;
}

/** Thrown by handlers to answer with a vendor-shaped error body. */
export class EmuHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
    this.name = 'EmuHttpError';
  }
}

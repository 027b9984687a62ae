import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { createBullBoard } from '@bull-board/api';
import type { IServerAdapter } from '@bull-board/api/dist/types.js';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import { ConfigError } from '../connectors/core/errors/index.ts';
import type { JobQueues } from './queues.ts';

export interface UiOptions {
  /** Port. Default 3100 (0: any free port). */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** Basic auth; required unless host is a loopback address. */
  user?: string | undefined;
  password?: string | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Bull Board for every mpm queue under the prefix, behind basic auth. */
export async function startUi(queues: JobQueues, options: UiOptions = {}): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 3100;
  const hasAuth = Boolean(options.user && options.password);
  if ((options.user && !options.password) || (!options.user && options.password)) throw new ConfigError('mpm ui: set both the user and the password (MPM_UI_USER and MPM_UI_PASSWORD, or ui.user and ui.password in the config file)');
  if (!hasAuth && !LOOPBACK.has(host)) {
    throw new ConfigError(`mpm ui: refusing to listen on ${host} without credentials: set MPM_UI_USER and MPM_UI_PASSWORD (or ui.user / ui.password in the config file), or bind to 127.0.0.1`);
  }
  const adapter = new ExpressAdapter();
  adapter.setBasePath('/');
  const board = createBullBoard({ queues: [], // @bull-board/express 9.10.1 nests its own @bull-board/api 9.10.1 next to our 9.10.2: same runtime
    // shape, but TypeScript sees two declarations of the same private field.
    serverAdapter: adapter as unknown as IServerAdapter, options: { uiConfig: { boardTitle: 'mpm jobs' } } });
  const refresh = async () => {
    const found = await queues.discover();
    board.replaceQueues(found.map((q) => new BullMQAdapter(q)));
  };
  await refresh();
  const app = express();
  if (hasAuth) {
    const expected = `${options.user}:${options.password}`;
    app.use((req, res, next) => {
      const header = req.headers.authorization ?? '';
      const given = header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString('utf8') : '';
      if (given && sameText(given, expected)) return next();
      res.setHeader('WWW-Authenticate', 'Basic realm="mpm"').status(401).send('authentication required\n');
    });
  }
  // Queues created after start (a new connector) appear on the next page load.
  app.use((_req, _res, next) => {
    refresh().then(() => next(), next);
  });
  app.use('/', adapter.getRouter() as express.Router);
  const server = await new Promise<http.Server>((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}/`,
    port: actual,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

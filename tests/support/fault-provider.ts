import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

/**
 * How the fault provider answers:
 * - `healthy`: proxies every request to the real provider (`upstream`);
 * - `reset`: accepts the connection and request, then destroys the socket (a connection error);
 * - `slow`: waits `slowMs` before proxying (a service slower than its caller's timeout);
 * - `held`: waits until `release()` before proxying (a call kept in flight for as long as a test needs);
 * - `http-500`: HTTP 500 with a plain-text body;
 * - `http-503`: HTTP 503 with a JSON error body (an overloaded service);
 * - `invalid-json`: HTTP 200, `content-type: application/json`, a body that is not JSON;
 * - `not-graphql`: HTTP 200 with JSON that is not a GraphQL response;
 * - `wrong-shape`: HTTP 200 with the well-formed JSON given as `json` (default `{}`), for answers of the wrong shape;
 * - `graphql-error`: proxies to the real provider, then, in its GraphQL answer, nulls the value at each of
 *   `errorPaths` (response-key paths in `data`, e.g. `['personInfo', 'profession']`) and adds a GraphQL error on
 *   that path, HTTP status unchanged (200): one field of an otherwise good answer failed.
 * `down()` stops listening altogether, so connections are refused; `up()` listens again on the same port.
 */
export type FaultMode =
  | 'healthy'
  | 'reset'
  | 'slow'
  | 'held'
  | 'http-500'
  | 'http-503'
  | 'invalid-json'
  | 'not-graphql'
  | 'wrong-shape'
  | 'graphql-error';

export interface FaultProvider {
  /** Base URL, to put in PROVIDER_URL_<KEY> (or PDP_URL, CONSENT_ENGINE_URL). */
  readonly url: string;
  readonly mode: FaultMode;
  /** `path`: only requests whose path starts with it get the fault; the others are proxied (default: all). */
  setMode(
    mode: FaultMode,
    options?: { slowMs?: number; json?: unknown; path?: string; errorPaths?: (string | number)[][] },
  ): void;
  /** Requests that reached this server (in any mode) whose path starts with `pathPrefix` (default /graphql). */
  requests(pathPrefix?: string): number;
  /** Requests (path prefix as for `requests`) whose caller hung up while `slow` or `held` kept them waiting. */
  abandoned(pathPrefix?: string): number;
  /** Lets every `held` request through to the upstream and switches to `healthy`. */
  release(): void;
  resetCounts(): void;
  /** Stops listening: connections are refused until `up()`. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'proxy-connection',
  'te',
  'trailer',
]);

/**
 * A real loopback HTTP server standing in front of a real provider (or the PDP or CE), switchable
 * between healthy (a transparent proxy) and the ways such services fail. Counts the requests that
 * reach it and those whose caller gave up waiting.
 */
export async function startFaultProvider(options: { upstream: string }): Promise<FaultProvider> {
  const upstream = options.upstream.replace(/\/+$/, '');
  let currentMode: FaultMode = 'healthy';
  let slowMs = 1_000;
  let wrongShape: unknown = {};
  let errorPaths: (string | number)[][] = [];
  let faultPath = '/';
  let held: (() => void)[] = [];
  const counts: string[] = [];
  const abandoned: string[] = [];

  /** Resolves true once `until` calls its argument, false (counted as abandoned) if the caller hangs up first. */
  const waitUnlessAbandoned = (req: IncomingMessage, res: ServerResponse, until: (go: () => void) => void) =>
    new Promise<boolean>((resolve) => {
      let settled = false;
      res.once('close', () => {
        if (settled) return;
        settled = true;
        abandoned.push(req.url ?? '/');
        resolve(false);
      });
      until(() => {
        if (settled) return;
        settled = true;
        resolve(!res.destroyed);
      });
    });

  /** The GraphQL answer with an error on each of `errorPaths`, the value there nulled. */
  const withFieldErrors = (text: Buffer): Buffer => {
    const answer = JSON.parse(text.toString('utf8')) as { data?: unknown; errors?: unknown[] };
    const errors = [...(answer.errors ?? [])];
    for (const path of errorPaths) {
      let parent = answer.data as Record<string | number, unknown> | null | undefined;
      for (const key of path.slice(0, -1)) parent = parent?.[key] as typeof parent;
      if (parent && typeof parent === 'object') parent[path.at(-1)!] = null;
      errors.push({ message: 'fault provider: this field failed', path, extensions: { code: 'INTERNAL' } });
    }
    return Buffer.from(JSON.stringify({ ...answer, errors }));
  };

  const proxy = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    transform: (text: Buffer) => Buffer = (text) => text,
  ) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const answer = await request(`${upstream}${req.url ?? '/'}`, {
      method: (req.method ?? 'GET') as 'GET',
      headers,
      body: body.length ? body : undefined,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = transform(Buffer.from(await answer.body.arrayBuffer()));
    const contentType = answer.headers['content-type'];
    res.writeHead(answer.statusCode, {
      ...(contentType ? { 'content-type': String(contentType) } : {}),
      'content-length': text.length,
    });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    counts.push(req.url ?? '/');
    const mode = (req.url ?? '/').startsWith(faultPath) ? currentMode : 'healthy';
    if (mode === 'reset') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    switch (mode) {
      case 'http-500':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
        return;
      case 'http-503':
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end('{"error":{"code":"UNAVAILABLE","message":"service overloaded, try again later"}}');
        return;
      case 'wrong-shape':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(wrongShape));
        return;
      case 'invalid-json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"data": {"person": {"fullName": ');
        return;
      case 'not-graphql':
        res.writeHead(200, { 'content-type': 'application/json' }).end('["not", "a", "graphql", "response"]');
        return;
      case 'slow': {
        const waited = await waitUnlessAbandoned(req, res, (go) => {
          const timer = setTimeout(go, slowMs);
          res.once('close', () => clearTimeout(timer));
        });
        if (waited) await proxy(req, res, body);
        return;
      }
      case 'held': {
        const released = await waitUnlessAbandoned(req, res, (go) => held.push(go));
        if (released) await proxy(req, res, body);
        return;
      }
      case 'healthy':
        await proxy(req, res, body);
        return;
      case 'graphql-error':
        await proxy(req, res, body, withFieldErrors);
        return;
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault provider: ${err.message}`);
      } else res.destroy();
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      if (server.listening) return resolve();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const close = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return currentMode;
    },
    setMode: (next, opts = {}) => {
      currentMode = next;
      faultPath = opts.path ?? '/';
      if (opts.slowMs !== undefined) slowMs = opts.slowMs;
      if (opts.json !== undefined) wrongShape = opts.json;
      if (opts.errorPaths !== undefined) errorPaths = opts.errorPaths;
    },
    requests: (pathPrefix = '/graphql') => counts.filter((path) => path.startsWith(pathPrefix)).length,
    abandoned: (pathPrefix = '/graphql') => abandoned.filter((path) => path.startsWith(pathPrefix)).length,
    release: () => {
      currentMode = 'healthy';
      const waiting = held;
      held = [];
      for (const go of waiting) go();
    },
    resetCounts: () => {
      counts.length = 0;
      abandoned.length = 0;
    },
    down: close,
    up: () => listen(port),
    stop: close,
  };
}

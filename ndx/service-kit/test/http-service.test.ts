import { spawn } from 'node:child_process';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  createHttpService,
  createLogger,
  createPool,
  httpJson,
  isDatabaseReachable,
  NotFoundError,
  parseInput,
} from '../src/index.ts';
import { startEmbeddedPostgres } from '../src/embedded-postgres.ts';
import { freePort, randomSecret, testLogger } from '../testing/index.ts';
import { z } from 'zod';

describe('readiness follows the database', () => {
  it('/ready turns 503 when the database stops and 200 again when it is back', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'ndx-ready-'));
    await chmod(parent, 0o755);
    const port = await freePort();
    const password = randomSecret();
    const options = { dataDir: join(parent, 'data'), port, superuserPassword: password };
    let server = await startEmbeddedPostgres(options);
    const pool = createPool(server.adminUrl, testLogger(), { connectionTimeoutMs: 1_000 });
    const app = createHttpService({
      name: 'ready-test',
      logger: testLogger(),
      readinessChecks: { database: () => isDatabaseReachable(pool, 1_000) },
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      let response = await fetch(`${address}/ready`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: 'ready', checks: { database: true } });

      await server.stop();
      response = await fetch(`${address}/ready`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'unready', checks: { database: false } });
      expect((await fetch(`${address}/health`)).status).toBe(200);

      server = await startEmbeddedPostgres(options);
      response = await fetch(`${address}/ready`);
      expect(response.status).toBe(200);
    } finally {
      await app.close();
      await pool.end();
      await server.stop();
      await rm(parent, { recursive: true, force: true });
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM lets an in-flight request finish, then the process exits 0 and the port closes', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'slow-service.ts')], {
      env: { ...process.env, PORT: String(port), SLOW_MS: '1500', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      // The service's own log says when it listens and when it has the request: no guessing with sleeps.
      const logged = logLines(child.stdout);
      await logged.first((line) => line.msg === 'slow-service listening');
      const base = `http://127.0.0.1:${port}`;
      const inFlight = fetch(`${base}/slow`).then((r) => r.json());
      await logged.first((line) => line.msg === 'slow request received');
      child.kill('SIGTERM');
      expect(await inFlight).toEqual({ finished: true });
      expect(await exited).toBe(0);
      await expect(fetch(`${base}/health`)).rejects.toThrow();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

/**
 * JSON log lines of a child's stdout; `first` resolves with the first line (seen or to come) that
 * matches, and rejects if the output ends without one.
 */
function logLines(stdout: Readable) {
  const lines: Record<string, unknown>[] = [];
  let ended = false;
  const waiting: {
    match: (line: Record<string, unknown>) => boolean;
    resolve: () => void;
    reject: (err: Error) => void;
  }[] = [];
  const reader = createInterface({ input: stdout });
  reader.on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(line);
    for (const waiter of waiting.filter((w) => w.match(line))) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  reader.on('close', () => {
    ended = true;
    for (const waiter of waiting.splice(0)) waiter.reject(new Error('the output ended without the line'));
  });
  return {
    first: (match: (line: Record<string, unknown>) => boolean) =>
      new Promise<void>((resolve, reject) => {
        if (lines.some(match)) resolve();
        else if (ended) reject(new Error('the output ended without the line'));
        else waiting.push({ match, resolve, reject });
      }),
  };
}

describe('trace context', () => {
  it('a traceparent received is answered, logged on every line and passed on to the next service', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const downstream = createHttpService({ name: 'downstream', logger: testLogger() });
    downstream.get('/echo', async (request) => ({ traceparent: request.headers.traceparent }));
    const downstreamUrl = await downstream.listen({ port: 0, host: '127.0.0.1' });

    // request lines are at debug (none at info)
    const logger = createLogger('upstream', { level: 'debug', destination: sink });
    const upstream = createHttpService({ name: 'upstream', logger });
    upstream.get('/call', async (request) => {
      request.log.info('calling downstream');
      return httpJson(`${downstreamUrl}/echo`, { timeoutMs: 2_000 });
    });
    const upstreamUrl = await upstream.listen({ port: 0, host: '127.0.0.1' });
    try {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const response = await fetch(`${upstreamUrl}/call`, {
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      });
      expect(response.headers.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      const body = (await response.json()) as { traceparent: string };
      expect(body.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      expect(body.traceparent).not.toContain('00f067aa0ba902b7');
      const requestLines = lines.filter(
        (l) => l.msg === 'calling downstream' || l.msg === 'request completed',
      );
      expect(requestLines.length).toBeGreaterThanOrEqual(2);
      for (const line of requestLines) expect(line.traceId).toBe(traceId);
      for (const line of lines) expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await upstream.close();
      await downstream.close();
    }
  });

  it('a malformed traceparent starts a new trace instead of failing', async () => {
    const app = createHttpService({ name: 'trace-test', logger: testLogger() });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const response = await fetch(`${url}/health`, { headers: { traceparent: 'not-a-trace' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    } finally {
      await app.close();
    }
  });
});

describe('errors and metrics', () => {
  it('maps NdxErrors and bad input to their status and a stable code', async () => {
    const app = createHttpService({ name: 'errors-test', logger: testLogger() });
    app.get('/missing', async () => {
      throw new NotFoundError('no such thing');
    });
    app.post('/things', async (request) => parseInput(z.object({ name: z.string().min(1) }), request.body));
    app.get('/boom', async () => {
      throw new Error('secret internal detail');
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const missing = await fetch(`${url}/missing`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such thing' } });

      const bad = await fetch(`${url}/things`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":""}',
      });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({
        error: { code: 'BAD_REQUEST', details: { issues: [{ path: 'name' }] } },
      });

      const malformed = await fetch(`${url}/things`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":',
      });
      expect(malformed.status).toBe(400);
      expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');

      const boom = await fetch(`${url}/boom`);
      expect(boom.status).toBe(500);
      const boomBody = await boom.text();
      expect(boomBody).not.toContain('secret internal detail');
      expect(JSON.parse(boomBody)).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });

      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(
        /http_requests_total\{method="GET",route="\/missing",status_code="404",service="errors-test"\} 1/,
      );
      expect(metrics).toMatch(/http_request_duration_seconds_bucket\{.*route="\/boom".*\}/);
    } finally {
      await app.close();
    }
  });
});

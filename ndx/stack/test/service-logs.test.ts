/**
 * Where the services' log lines go under the launcher: each service writes its whole log to its own file
 * (LOG_FILE); the launcher's console gets only warnings and errors, so ./init.sh shows problems, not a line per
 * request. A kit service of the test's own (fixtures/logging-service.ts) run with the launcher's spawn, and the
 * real launcher starting a real service (drp-api) on the test run's PostgreSQL.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, postgresAdminUrl } from '@ndx/service-kit/testing';
import { startStack } from '../src/launcher.ts';
import { spawnNodeProcess, stopProcess, waitUntilReady } from '../src/processes.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'ndx-logs-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function logLines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Polls until check() passes (the file is written asynchronously), or fails with check's last error. */
async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function runFixture(logLevel: string | undefined, options: { toFile: boolean } = { toFile: true }) {
  const port = await freePort();
  const logFile = join(folder, `logging-service-${logLevel ?? 'default'}-${options.toFile}.log`);
  const consoleLines: string[] = [];
  const proc = spawnNodeProcess({
    name: 'logging-service',
    script: join(import.meta.dirname, 'fixtures', 'logging-service.ts'),
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      ...(options.toFile ? { LOG_FILE: logFile } : {}),
      ...(logLevel ? { LOG_LEVEL: logLevel } : {}),
    },
    onLine: (line) => consoleLines.push(line),
    consoleLevel: 40,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(`${url}/ok`, proc, 30_000);
  for (let i = 0; i < 5; i++) expect((await fetch(`${url}/ok`)).status).toBe(200);
  expect((await fetch(`${url}/fail`)).status).toBe(500);
  return { proc, logFile, consoleLines };
}

describe('service logs under the launcher', () => {
  it('at the default level a request writes no line anywhere, and an error reaches the console and the file', async () => {
    const { proc, logFile, consoleLines } = await runFixture(undefined);
    try {
      await eventually(async () => {
        expect(consoleLines).toEqual([
          expect.stringMatching(
            /^logging-service\s+\| ERROR request failed \(the fixture failed on purpose\)$/,
          ),
        ]);
      });
      await eventually(async () => {
        const lines = await logLines(logFile);
        // start-up lines (Fastify's and the kit's), then the error; not one line for the six requests
        expect(lines.map((l) => l.msg)).toEqual([
          expect.stringMatching(/^Server listening at http:\/\/127\.0\.0\.1:\d+$/),
          'logging-service listening',
          'request failed',
        ]);
        expect(lines.map((l) => l.level)).toEqual([30, 30, 50]);
      });
    } finally {
      await stopProcess(proc);
    }
  });

  it('at debug every request has a line in the service’s file, and still none on the console', async () => {
    const { proc, logFile, consoleLines } = await runFixture('debug');
    try {
      await eventually(async () => {
        const requests = (await logLines(logFile)).filter((l) => l.msg === 'request completed');
        expect(requests.map((l) => (l.req as { url: string }).url)).toEqual([
          '/ok', // the launcher's readiness poll
          '/ok',
          '/ok',
          '/ok',
          '/ok',
          '/ok',
          '/fail',
        ]);
      });
      expect(consoleLines).toHaveLength(1);
      expect(consoleLines[0]).toMatch(/\| ERROR request failed/);
    } finally {
      await stopProcess(proc);
    }
  });

  it('relays only warnings and errors of a service that writes its whole log to its output', async () => {
    const { proc, consoleLines } = await runFixture('debug', { toFile: false });
    try {
      await eventually(async () => {
        expect(consoleLines.filter((l) => l.includes('ERROR request failed'))).toHaveLength(1);
      });
      expect(proc.recentOutput.length).toBe(1);
      expect(consoleLines).toEqual([expect.stringMatching(/^logging-service\s+\| ERROR request failed/)]);
    } finally {
      await stopProcess(proc);
    }
  });

  it('the launcher gives a real service its own log file and relays none of its request lines', async () => {
    const consoleLines: string[] = [];
    const progress: string[] = [];
    const dataDir = join(folder, 'stack');
    process.env.SEED_CITIZENS = '50';
    const stack = await startStack({
      repoRoot,
      dataDir,
      secretsFile: join(folder, 'secrets.json'),
      portOffset: 30_000 + Math.floor(Math.random() * 5_000),
      databaseUrl: postgresAdminUrl(),
      only: ['drp-api'],
      logLevel: 'debug',
      print: (line) => progress.push(line),
      printServiceLog: (line) => consoleLines.push(line),
    });
    try {
      const url = stack.context.url('drp-api');
      for (let i = 0; i < 3; i++) expect((await fetch(`${url}/health`)).status).toBe(200);
      const logFile = join(dataDir, 'logs', 'drp-api.log');
      await eventually(async () => {
        const lines = await logLines(logFile);
        const health = lines.filter(
          (l) => l.msg === 'request completed' && (l.req as { url: string }).url === '/health',
        );
        expect(health).toHaveLength(3);
        expect(lines.every((l) => l.service === 'drp-api' && typeof l.traceId === 'string')).toBe(true);
      });
      expect(progress).toContain(`ready    ${'drp-api'.padEnd(22)} ${url}`);
      expect(consoleLines).toEqual([]);
    } finally {
      await stack.stop();
    }
  }, 120_000);
});

import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { services } from '@ndx/stack';
import { stackPortOffset } from './support/port-offset.ts';

const repoRoot = resolve(import.meta.dirname, '..');

function portIsOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** Whether a listener could bind the port now (as the launcher checks it). */
function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/**
 * A random port offset from min (see stackPortOffset) at which no service port (nor PostgreSQL's) is in use, so a test
 * stack started by another test file at the same time cannot make this one fail for the wrong port.
 */
async function freeOffset(min: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = stackPortOffset(min, 10);
    const ports = [5432, ...services.map((s) => s.defaultPort)].map((p) => p + offset);
    const free = await Promise.all(ports.map(canListen));
    if (!free.includes(false)) return offset;
  }
  throw new Error(`no free port offset from ${min}`);
}

describe('./init.sh', () => {
  it('brings every service to ready, and Ctrl-C leaves no process and no open port behind', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ndx-init-'));
    await chmod(dataDir, 0o755);
    const offset = await freeOffset(19_000);
    const child = spawn('./init.sh', ['--quiet'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        NDX_PORT_OFFSET: String(offset),
        NDX_DATA_DIR: join(dataDir, 'data'),
        NDX_SECRETS_FILE: join(dataDir, 'secrets.json'),
        SEED_CITIZENS: '2000',
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((done) => child.once('exit', done));
    try {
      const deadline = Date.now() + 240_000;
      while (!output.includes('all services ready')) {
        if (child.exitCode !== null) throw new Error(`init.sh exited early:\n${output}`);
        if (Date.now() > deadline) throw new Error(`init.sh not ready in time:\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      for (const service of services) {
        expect(output).toContain(`ready    ${service.name}`);
        const response = await fetch(`http://127.0.0.1:${service.defaultPort + offset}/ready`);
        expect(response.status, `${service.name} /ready`).toBe(200);
      }
      const metrics = await (await fetch(`http://127.0.0.1:${4000 + offset}/metrics`)).text();
      expect(metrics).toContain('http_requests_total');
      const oeLog = (await readFile(join(dataDir, 'data', 'logs', 'orchestration-engine.log'), 'utf8'))
        .trim()
        .split('\n');
      expect(oeLog.length).toBeGreaterThan(0);
      for (const line of oeLog)
        expect(JSON.parse(line)).toMatchObject({
          service: 'orchestration-engine',
          traceId: expect.any(String),
        });

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      for (const service of services) {
        expect(await portIsOpen(service.defaultPort + offset), `${service.name} port still open`).toBe(false);
      }
      expect(await portIsOpen(5432 + offset), 'PostgreSQL port still open').toBe(false);
      const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.includes(dataDir));
      expect(leftovers).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 300_000);

  it('a port already in use stops the start with a message naming the service and the port', async () => {
    const offset = await freeOffset(21_000);
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(8082 + offset, '127.0.0.1', done));
    try {
      const result = spawnSync('./init.sh', ['--quiet'], {
        cwd: repoRoot,
        env: { ...process.env, NDX_PORT_OFFSET: String(offset), DATABASE_URL: '' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(
        `port ${8082 + offset} is already in use; policy-decision-point needs it`,
      );
    } finally {
      taken.close();
    }
  });

  it('--help documents the options', () => {
    const help = execFileSync('./init.sh', ['--help'], { cwd: repoRoot, encoding: 'utf8' });
    expect(help).toMatch(/--reset/);
    expect(help).toMatch(/--docker/);
    expect(help).toMatch(/DATABASE_URL/);
  });
});

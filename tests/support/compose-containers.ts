import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import type { StartedNetwork, StartedTestContainer } from 'testcontainers';
import { startWaves } from '@ndx/stack';
import type { ComposeEnv } from '@ndx/stack/compose-env';
import { repoRoot } from './test-stack.ts';

/**
 * docker-compose.yml's services started with testcontainers (GenericContainer and Network): testcontainers'
 * own compose support drives `docker compose` v2, which Debian 12 does not ship (its docker-compose is 1.29).
 * What is read from the compose file: image, user, entrypoint, working_dir, volumes (bind mounts), healthcheck,
 * network aliases, published ports (exposed on random host ports here), depends_on (start order) and profiles
 * (a service in a profile is left out, as `docker compose up` leaves it). The env comes from composeEnv, the
 * function that writes the compose stack's env files.
 */

/** Set on every container the containers test starts (its network is named NETWORK_PREFIX…), so a run can clear what a killed run left. */
export const TEST_LABEL = 'org.ndx.test';
const TEST_LABEL_VALUE = 'containers';
const NETWORK_PREFIX = 'ndx-containers-test-';

interface ComposeService {
  image?: string;
  user?: string;
  entrypoint?: string[];
  working_dir?: string;
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  depends_on?: Record<string, unknown>;
  /** Compose starts a stopped container again under unless-stopped, always or on-failure. */
  restart?: string;
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number };
  networks?: { default?: { aliases?: string[] } };
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
}

/** A Docker engine that answers `docker info` within 15 s, or the reason there is none. */
export function dockerEngine(): { available: true } | { available: false; reason: string } {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    timeout: 15_000,
    encoding: 'utf8',
  });
  if (info.error) return { available: false, reason: `no docker client (${info.error.message})` };
  if (info.status !== 0)
    return { available: false, reason: info.stderr.trim().split('\n')[0] ?? 'docker info failed' };
  return { available: true };
}

/** Runs a command to completion within timeoutMs; rejects with its output when it fails. */
export function run(
  command: string,
  args: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
) {
  return new Promise<string>((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: repoRoot, env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
          : resolve(stdout),
    );
  });
}

/** Removes containers and networks a previous containers test left behind (a killed run cannot clean up). */
export async function removeLeftovers(): Promise<void> {
  const ids = (
    await run('docker', ['ps', '-aq', '--filter', `label=${TEST_LABEL}=${TEST_LABEL_VALUE}`], 30_000)
  )
    .split('\n')
    .filter(Boolean);
  if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids], 60_000);
  const networks = (
    await run('docker', ['network', 'ls', '-q', '--filter', `name=${NETWORK_PREFIX}`], 30_000)
  )
    .split('\n')
    .filter(Boolean);
  if (networks.length) await run('docker', ['network', 'rm', ...networks], 60_000);
}

export function readComposeFile(file = join(repoRoot, 'docker-compose.yml')): ComposeFile {
  return parse(readFileSync(file, 'utf8'), { merge: true }) as ComposeFile;
}

/** The services `docker compose up` starts (no profile), in start waves: each depends only on earlier waves. */
export function composeStartWaves(compose: ComposeFile): string[][] {
  const started = Object.entries(compose.services)
    .filter(([, spec]) => !spec.profiles?.length)
    .map(([name, spec]) => ({ name, dependsOn: Object.keys(spec.depends_on ?? {}) }));
  return startWaves(started).map((wave) => wave.map((s) => s.name));
}

/** `${NAME:-default}` in a compose value, resolved from the environment as compose does. */
function interpolate(value: string): string {
  return value.replace(
    /\$\{(\w+):-([^}]*)\}/g,
    (_, name: string, fallback: string) => process.env[name] || fallback,
  );
}

/** "2s" / "500ms" / "1m" in milliseconds. */
function duration(value: string | undefined, fallbackMs: number): number {
  const match = value ? /^(\d+)(ms|s|m)$/.exec(value) : null;
  if (!match) return fallbackMs;
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

export interface StartedService {
  name: string;
  container: StartedTestContainer;
  /** The host URL of a port the compose file publishes (random host port here). */
  url: (containerPort: number) => string;
}

/**
 * Starts one container of a compose service on the network, waits until its health check passes (the compose
 * file's or the image's HEALTHCHECK) and returns it. Called twice for one service, it starts a second replica, as
 * `--scale` does (same aliases: the network's DNS answers with both).
 */
export async function startComposeService(
  compose: ComposeFile,
  name: string,
  env: ComposeEnv,
  network: StartedNetwork,
  startupTimeoutMs: number,
): Promise<StartedService> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const spec = compose.services[name];
  if (!spec?.image) throw new Error(`docker-compose.yml: service ${name} has no image`);
  let container = new GenericContainer(interpolate(spec.image))
    .withPullPolicy({ shouldPull: () => false })
    .withNetwork(network)
    .withNetworkAliases(name, ...(spec.networks?.default?.aliases ?? []))
    .withEnvironment(env[name as keyof ComposeEnv] ?? {})
    .withLabels({ [TEST_LABEL]: TEST_LABEL_VALUE, 'org.ndx.service': name })
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(startupTimeoutMs);
  if (spec.user) container = container.withUser(spec.user);
  if (spec.entrypoint) container = container.withEntrypoint(spec.entrypoint);
  if (spec.working_dir) container = container.withWorkingDir(spec.working_dir);
  const binds = (spec.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([source]) => source!.startsWith('.') || isAbsolute(source!))
    .map(([source, target, mode]) => ({
      source: isAbsolute(source!) ? source! : join(repoRoot, source!),
      target: target!,
      mode: (mode === 'ro' ? 'ro' : 'rw') as 'ro' | 'rw',
    }));
  if (binds.length) container = container.withBindMounts(binds);
  if (spec.healthcheck) {
    const [kind, ...rest] = spec.healthcheck.test;
    container = container.withHealthCheck({
      test: kind === 'CMD-SHELL' ? ['CMD-SHELL', rest.join(' ')] : ['CMD', ...rest],
      interval: duration(spec.healthcheck.interval, 5000),
      timeout: duration(spec.healthcheck.timeout, 10_000),
      retries: spec.healthcheck.retries ?? 5,
    });
  }
  const published = (spec.ports ?? []).map((p) => Number(interpolate(p).split(':').pop()));
  if (published.length) container = container.withExposedPorts(...published);
  // The container's last lines, for the error when it never becomes healthy (testcontainers removes it then).
  const tail: string[] = [];
  container = container.withLogConsumer((stream) =>
    stream.on('data', (chunk: Buffer) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    }),
  );
  let started: StartedTestContainer;
  try {
    started = await container.start();
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}\n--- ${name}'s last log lines\n${tail.join('\n')}`, {
      cause: err,
    });
  }
  return {
    name,
    container: started,
    url: (port) => `http://127.0.0.1:${started.getMappedPort(port)}`,
  };
}

/** Starts the test's network (named with a known prefix, so leftovers can be found). */
export async function startNetwork(): Promise<StartedNetwork> {
  const { Network } = await import('testcontainers');
  const name = `${NETWORK_PREFIX}${Date.now().toString(36)}`;
  return new Network({ nextUuid: () => name }).start();
}

/** The last lines of a container's log, for a failure message. */
export async function logTail(container: StartedTestContainer | string, lines = 30): Promise<string> {
  const id = typeof container === 'string' ? container : container.getId();
  return run('docker', ['logs', '--tail', String(lines), id], 30_000).catch((err: Error) => err.message);
}

/**
 * The state, health probes and log tail of this test's containers of one service that failed to start (the
 * container testcontainers gave up on has no StartedTestContainer to ask).
 */
export async function failedServiceReport(name: string, lines = 30): Promise<string> {
  const ids = (
    await run(
      'docker',
      [
        'ps',
        '-aq',
        '--filter',
        `label=${TEST_LABEL}=${TEST_LABEL_VALUE}`,
        '--filter',
        `label=org.ndx.service=${name}`,
      ],
      30_000,
    ).catch(() => '')
  )
    .split('\n')
    .filter(Boolean);
  const reports = await Promise.all(
    ids.map(async (id) => {
      const state = await run('docker', ['inspect', '--format', '{{json .State}}', id], 30_000).catch(
        (err: Error) => err.message,
      );
      return `--- ${name} (FAILED) ${id}\nstate: ${state.trim()}\n${await logTail(id, lines)}`;
    }),
  );
  return reports.join('\n') || `--- ${name} (FAILED): no container of it is left`;
}

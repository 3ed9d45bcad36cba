import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createServer } from 'node:net';

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** The last lines the process wrote, for error reports. */
  recentOutput: string[];
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  name: string;
  script: string;
  cwd: string;
  env: Record<string, string>;
  /** Receives each output line worth showing (see consoleLevel), already prefixed with the process name. */
  onLine: (line: string) => void;
  /**
   * The least pino level (number: 40 warn) of a JSON log line passed to onLine; lines below it are dropped
   * (they are in the service's own log file). Other output (a crash's stack trace) always passes. Default: all.
   */
  consoleLevel?: number;
  /** Node.js options before the script (e.g. V8 heap sizing). */
  nodeArgs?: string[];
}

/** The pino log level of a JSON log line (30 info, 40 warn, 50 error), or undefined for any other output. */
export function logLevelOf(line: string): number | undefined {
  if (!line.startsWith('{"level":')) return undefined;
  const level = Number(/^\{"level":(\d+)/.exec(line)?.[1]);
  return Number.isFinite(level) ? level : undefined;
}

/** A pino JSON line shown on the console as `LEVEL message (error)`, anything else as written. */
export function consoleLine(line: string): string {
  if (logLevelOf(line) === undefined) return line;
  try {
    const entry = JSON.parse(line) as { level: number; msg?: string; err?: { message?: string } | string };
    const name = LEVEL_NAMES[entry.level] ?? String(entry.level);
    const err = typeof entry.err === 'string' ? entry.err : entry.err?.message;
    return `${name} ${entry.msg ?? ''}${err ? ` (${err})` : ''}`;
  } catch {
    return line;
  }
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Starts `node script` with its output prefixed by name, line by line. */
export function spawnNodeProcess(options: SpawnOptions): ManagedProcess {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const recentOutput: string[] = [];
  const prefix = options.name.padEnd(22) + '| ';
  const least = options.consoleLevel ?? 0;
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      const level = logLevelOf(line);
      if (level !== undefined && level < least) return;
      recentOutput.push(line);
      if (recentOutput.length > 30) recentOutput.shift();
      options.onLine(prefix + consoleLine(line));
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name: options.name, child, recentOutput, exited };
}

/** Sends SIGTERM, waits up to graceMs, then SIGKILL; resolves when the process is gone. */
export async function stopProcess(proc: ManagedProcess, graceMs = 15_000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Runs `node script` to completion; rejects with its last output when it fails. */
export async function runNodeScript(options: SpawnOptions): Promise<void> {
  const proc = spawnNodeProcess(options);
  const code = await proc.exited;
  if (code !== 0) {
    throw new Error(`${options.name} failed (exit ${code}):\n${proc.recentOutput.join('\n')}`);
  }
}

/** True when nothing listens on host:port. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Polls url until it answers 200; fails early if the process exits, or after timeoutMs. */
export async function waitUntilReady(
  url: string,
  proc: ManagedProcess | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc?.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`exited before it was ready:\n${proc?.recentOutput.join('\n') ?? ''}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `not ready after ${timeoutMs / 1000}s (${url}):\n${proc?.recentOutput.slice(-10).join('\n') ?? ''}`,
  );
}

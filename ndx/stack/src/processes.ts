import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
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
  /** Receives each output line, already prefixed with the process name. */
  onLine: (line: string) => void;
  /** Also appends every output line, as written, to this file. */
  logFile?: string;
  /** Node options placed before the script. */
  nodeArgs?: string[];
}

/** Starts `node script` with its output prefixed by name, line by line. */
export function spawnNodeProcess(options: SpawnOptions): ManagedProcess {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const recentOutput: string[] = [];
  const prefix = options.name.padEnd(22) + '| ';
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  if (log) child.once('exit', () => log.end());
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      recentOutput.push(line);
      if (recentOutput.length > 30) recentOutput.shift();
      log?.write(line + '\n');
      options.onLine(prefix + line);
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

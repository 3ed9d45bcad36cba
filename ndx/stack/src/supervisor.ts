import { readFile } from 'node:fs/promises';
import type { ManagedProcess } from './processes.ts';

/** How the local stack's launcher treats a service that exits on its own. */
export interface SupervisionOptions {
  /** Restarts allowed within windowMs before the supervisor gives up on a service (default 5). */
  maxRestarts?: number;
  /** The window crashes are counted in, ms (default 60,000). */
  windowMs?: number;
  /** Wait before the first restart, ms, doubled for each crash in the window, at most maxBackoffMs (default 500). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Lines of the service's log shown with a crash (default 15). */
  logLines?: number;
}

export interface Supervisor {
  /** Watches a started service; when it exits unasked it is reported and restarted (or given up on). */
  watch(proc: ManagedProcess): void;
  /** This process's exit is asked for (a test's killService): it is not a crash. */
  release(proc: ManagedProcess): void;
  /** The stack is stopping: exits from now on are expected, and pending restarts are cancelled. */
  stop(): void;
}

/**
 * The local stack's supervisor: a service that exits while the stack runs is said on the console (which one, its
 * exit code or signal, the last lines of its log) and started again after a backoff, until it crashed more than
 * maxRestarts times within windowMs; then the supervisor says so loudly and leaves it down (the rest keeps running,
 * and `ndx status` shows what is missing).
 */
export function createSupervisor(
  options: SupervisionOptions & {
    print: (line: string) => void;
    /** The service's own log file (LOG_FILE), for its last lines. */
    logFileOf: (name: string) => string | undefined;
    /** Starts the service again as the launcher first did; resolves when it is ready. */
    restart: (name: string) => Promise<void>;
  },
): Supervisor {
  const maxRestarts = options.maxRestarts ?? 5;
  const windowMs = options.windowMs ?? 60_000;
  const backoffMs = options.backoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const logLines = options.logLines ?? 15;
  const crashes = new Map<string, number[]>();
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;
  const released = new WeakSet<ManagedProcess>();

  const lastLines = async (proc: ManagedProcess): Promise<string[]> => {
    const file = options.logFileOf(proc.name);
    const fromFile = file
      ? await readFile(file, 'utf8')
          .then((text) => text.trimEnd().split('\n'))
          .catch(() => [] as string[])
      : [];
    // Its stderr (a crash's stack trace is not in the JSON log) after what the log file holds.
    return [...fromFile.slice(-logLines), ...proc.recentOutput.filter((l) => !l.startsWith('{'))].slice(
      -logLines,
    );
  };

  const onExit = async (proc: ManagedProcess, code: number | null) => {
    if (stopping || released.has(proc)) return;
    const how = proc.child.signalCode ? `signal ${proc.child.signalCode}` : `exit code ${code}`;
    const now = Date.now();
    const recent = (crashes.get(proc.name) ?? []).filter((at) => now - at < windowMs);
    recent.push(now);
    crashes.set(proc.name, recent);
    options.print(`CRASHED  ${proc.name} stopped unexpectedly (${how}); the last lines of its log:`);
    for (const line of await lastLines(proc)) options.print(`         ${proc.name} | ${line}`);
    if (recent.length > maxRestarts) {
      options.print(
        `GAVE UP  ${proc.name}: it crashed ${recent.length} times within ${Math.round(windowMs / 1000)} s; it stays down ` +
          '(the rest of the stack keeps running; fix the cause, then restart the stack)',
      );
      return;
    }
    const wait = Math.min(maxBackoffMs, backoffMs * 2 ** (recent.length - 1));
    options.print(
      `restart  ${proc.name} in ${wait} ms (crash ${recent.length} of at most ${maxRestarts} in ${Math.round(windowMs / 1000)} s)`,
    );
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopping) return;
      options.restart(proc.name).then(
        () => options.print(`restarted ${proc.name}: ready again`),
        (err: unknown) => options.print(`FAILED   ${proc.name} did not come back: ${(err as Error).message}`),
      );
    }, wait);
    timers.add(timer);
  };

  return {
    watch(proc) {
      void proc.exited.then((code) => onExit(proc, code));
    },
    release(proc) {
      released.add(proc);
    },
    stop() {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

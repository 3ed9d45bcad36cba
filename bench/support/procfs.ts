import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Linux clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every common kernel). */
const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  /** utime + stime in seconds. */
  cpu: number;
  /** cutime + cstime (children that exited and were waited for) in seconds. */
  childrenCpu: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces): field 3 (state) is at index 0.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(rest[n - 3]);
  return {
    ppid: field(4),
    cpu: (field(14) + field(15)) / TICKS_PER_SECOND,
    childrenCpu: (field(16) + field(17)) / TICKS_PER_SECOND,
  };
}

function statusKb(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** A process whose CPU and memory the benchmark reads: one pid, or a PostgreSQL server and its backends. */
export interface Tracked {
  name: string;
  /** CPU seconds used so far (user + system). */
  cpu(): number;
  /** Resident memory now, in MB (for PostgreSQL: the postmaster plus every backend, shared pages counted once per process). */
  rssMb(): number;
  /** Peak resident memory since start (VmHWM), in MB; for PostgreSQL the largest single process. */
  peakMb(): number;
}

export function trackPid(name: string, pid: number): Tracked {
  return {
    name,
    cpu: () => readStat(pid)?.cpu ?? NaN,
    rssMb: () => statusKb(pid, 'VmRSS') / 1024,
    peakMb: () => statusKb(pid, 'VmHWM') / 1024,
  };
}

/**
 * PostgreSQL: the postmaster (first line of postmaster.pid) and all its children, counted together. The list
 * of children is read from /proc when the CPU is read (before and after each window) and reused by the RSS
 * samples in between, so that sampling does not scan /proc while the load runs.
 */
export function trackPostgres(dataDir: string): Tracked {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const scanChildren = () =>
    readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number)
      .filter((pid) => readStat(pid)?.ppid === postmaster);
  let children = scanChildren();
  return {
    name: 'postgresql',
    cpu: () => {
      const main = readStat(postmaster);
      if (!main) return NaN;
      children = scanChildren();
      return main.cpu + main.childrenCpu + children.reduce((sum, pid) => sum + (readStat(pid)?.cpu ?? 0), 0);
    },
    rssMb: () => [postmaster, ...children].reduce((sum, pid) => sum + statusKb(pid, 'VmRSS'), 0) / 1024,
    peakMb: () => Math.max(...[postmaster, ...children].map((pid) => statusKb(pid, 'VmHWM'))) / 1024,
  };
}

/** This process (the load generator). */
export function trackSelf(): Tracked {
  return {
    name: 'load generator',
    cpu: () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    },
    rssMb: () => process.memoryUsage.rss() / 1024 / 1024,
    peakMb: () => statusKb(process.pid, 'VmHWM') / 1024,
  };
}

/** Samples VmRSS of every tracked process while `run` runs; returns the result and each one's maximum. */
export async function sampleRss<T>(
  tracked: readonly Tracked[],
  run: () => Promise<T>,
  everyMs = 500,
): Promise<{ result: T; maxRssMb: Record<string, number> }> {
  const maxRssMb: Record<string, number> = {};
  const sample = () => {
    for (const t of tracked) maxRssMb[t.name] = Math.max(maxRssMb[t.name] ?? 0, t.rssMb());
  };
  sample();
  const timer = setInterval(sample, everyMs);
  try {
    const result = await run();
    sample();
    return { result, maxRssMb };
  } finally {
    clearInterval(timer);
  }
}

/** CPU seconds each tracked process used while `run` ran. */
export async function measureCpu<T>(
  tracked: readonly Tracked[],
  run: () => Promise<T>,
): Promise<{ result: T; cpuSeconds: Record<string, number> }> {
  const before = tracked.map((t) => t.cpu());
  const result = await run();
  const cpuSeconds: Record<string, number> = {};
  tracked.forEach((t, i) => (cpuSeconds[t.name] = t.cpu() - before[i]!));
  return { result, cpuSeconds };
}

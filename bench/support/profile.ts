import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './stack.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  function: string;
  where: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  /** All sampled time, idle included. */
  sampledMs: number;
  /** Sampled time the process was not idle: the base of every share. */
  busyMs: number;
  self: { function: string; where: string; ms: number; share: number }[];
  inclusive: { function: string; where: string; ms: number; share: number }[];
  /** Self time by npm package (`~/name`), by our own source file, or by V8's pseudo-frame ((program), (garbage collector)). */
  byModule: { module: string; ms: number; share: number }[];
}

/** The newest .cpuprofile of `dir`. */
export async function newestProfile(dir: string, prefix = ''): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile') && f.startsWith(prefix)).sort();
  const file = files.at(-1);
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  return join(dir, file);
}

const where = (frame: ProfileNode['callFrame']) =>
  frame.url
    ? `${frame.url
        .replace(/^file:\/\//, '')
        .replace(/^.*\/node_modules\//, '~/')
        .replace(`${repoRoot}/`, '')}:${frame.lineNumber + 1}`
    : '';

const moduleOf = (frame: ProfileNode['callFrame']) => {
  if (!frame.url) return frame.functionName || '(native)';
  const path = frame.url.replace(/^file:\/\//, '');
  const pkg = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `~/${pkg[1]}`;
  if (path.startsWith('node:')) return path;
  return path.replace(`${repoRoot}/`, '');
};

/**
 * Self time, inclusive time (a function counted once per sample however often it recurs on the stack) and self
 * time by module, of one V8 CPU profile; the first `skipSeconds` of samples are left out.
 */
export async function summariseProfile(
  file: string,
  options: { top?: number; skipSeconds?: number } = {},
): Promise<ProfileSummary> {
  const top = options.top ?? 25;
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\u0000${where(n.callFrame)}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const modules = new Map<string, number>();
  let sampledUs = 0;
  let idleUs = 0;
  let elapsedUs = 0;
  const skipUs = (options.skipSeconds ?? 0) * 1e6;
  profile.samples.forEach((nodeId, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    elapsedUs += us;
    if (elapsedUs < skipUs) return;
    sampledUs += us;
    const node = byId.get(nodeId);
    if (!node) return;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      return;
    }
    const k = key(node);
    self.set(k, (self.get(k) ?? 0) + us);
    const m = moduleOf(node.callFrame);
    modules.set(m, (modules.get(m) ?? 0) + us);
    const seen = new Set<string>();
    for (let id: number | undefined = nodeId; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      const nk = key(n);
      if (seen.has(nk)) continue;
      seen.add(nk);
      inclusive.set(nk, (inclusive.get(nk) ?? 0) + us);
    }
  });
  const busyUs = sampledUs - idleUs;
  const rows = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => {
        const [fn, at] = k.split('\u0000') as [string, string];
        return { function: fn, where: at, ms: us / 1000, share: us / busyUs };
      });
  return {
    sampledMs: sampledUs / 1000,
    busyMs: busyUs / 1000,
    self: rows(self),
    inclusive: rows(inclusive).filter((r) => r.function !== '(root)'),
    byModule: [...modules]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, ms: us / 1000, share: us / busyUs })),
  };
}

/** The top `count` functions by self time in the newest .cpuprofile of `dir` (V8's --cpu-prof output). */
export async function topSelfTime(
  dir: string,
  count = 15,
  prefix = '',
): Promise<{ file: string; top: SelfTime[] }> {
  const file = await newestProfile(dir, prefix);
  const summary = await summariseProfile(file, { top: count });
  return {
    file,
    top: summary.self.map((f) => ({ function: f.function, where: f.where, selfMs: f.ms, share: f.share })),
  };
}

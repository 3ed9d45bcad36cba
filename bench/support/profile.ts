import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './stack.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
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

/** The top `count` functions by self time in the newest .cpuprofile of `dir` (V8's --cpu-prof output). */
export async function topSelfTime(dir: string, count = 15): Promise<{ file: string; top: SelfTime[] }> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const file = files.at(-1);
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((nodeId, i) => {
    const frame = byNode.get(nodeId)?.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    totalUs += us;
    if (!frame) return;
    const where = frame.url
      ? `${frame.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '~/')}:${frame.lineNumber + 1}`
      : '';
    const key = `${frame.functionName || '(anonymous)'}\u0000${where}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + us);
  });
  const top = [...selfUs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, us]) => {
      const [fn, where] = key.split('\u0000') as [string, string];
      return {
        function: fn,
        where: where.replace(`${repoRoot}/`, ''),
        selfMs: us / 1000,
        share: us / totalUs,
      };
    });
  return { file: join(dir, file), top };
}

import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The timing-sensitive stack files (project `stack-alone`) share vitest's last group, and its two workers, with the
 * packages' tests (vitest.config.ts); one-at-a-time.ts keeps them to one at a time. Spread among the packages' files,
 * each roughly after as much of them as its predecessor takes, they seldom wait for each other: one worker runs them
 * back to back while the other runs the packages' tests.
 */
const TIMING_SENSITIVE_PROJECT = 'stack-alone';
/** Their usual share of the time (seconds measured in CI), longest first; a file not listed counts as 30. */
const EXPECTED_SECONDS: Record<string, number> = {
  'tests/soak.test.ts': 110,
  'tests/faults-under-load.test.ts': 95,
  'tests/orchestration-faults.test.ts': 45,
  'tests/rate-limit.test.ts': 30,
};
const expected = (spec: TestSpecification) =>
  Object.entries(EXPECTED_SECONDS).find(([file]) => spec.moduleId.endsWith(file))?.[1] ?? 30;

/** The run's files in sorted order, with the timing-sensitive group's files spread as described above. */
export function spreadTimingSensitive(sorted: TestSpecification[]): TestSpecification[] {
  const group = sorted.find((s) => s.project.name === TIMING_SENSITIVE_PROJECT)?.project.config.sequence
    .groupOrder;
  if (group === undefined) return sorted;
  const inGroup = (s: TestSpecification) => s.project.config.sequence.groupOrder === group;
  const alone = sorted
    .filter((s) => s.project.name === TIMING_SENSITIVE_PROJECT)
    .sort((a, b) => expected(b) - expected(a));
  const others = sorted.filter((s) => inGroup(s) && s.project.name !== TIMING_SENSITIVE_PROJECT);
  const total = alone.reduce((sum, s) => sum + expected(s), 0);
  const spread: TestSpecification[] = [];
  let taken = 0;
  for (const spec of alone) {
    // Then the other worker's share while this one runs: the files until the next timing-sensitive one.
    const from = Math.round((taken / total) * others.length);
    taken += expected(spec);
    const until = spec === alone.at(-1) ? others.length : Math.round((taken / total) * others.length);
    spread.push(spec, ...others.slice(from, until));
  }
  return [...sorted.filter((s) => !inGroup(s)), ...spread];
}

export class TimingSensitiveSpread extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return spreadTimingSensitive(await super.sort(files));
  }
}

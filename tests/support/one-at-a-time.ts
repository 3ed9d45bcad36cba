import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/**
 * The timing-sensitive stack tests (load, faults, the soak) run one at a time across the test run's workers, while
 * the packages' tests use the other worker (vitest.config.ts, tests/support/sequencer.ts): a lock folder in the temp
 * directory, taken before the file's stack starts and given back after it stops (so two test runs on one machine
 * take turns too). A lock whose holder died is taken over. Call at the top of the file, before its own beforeAll and afterAll.
 */
export function runsOneAtATime(lockName = 'ndx-timing-sensitive-tests', maxWaitMs = 30 * 60_000): void {
  const lock = join(tmpdir(), `${lockName}.lock`);
  let held = false;
  beforeAll(async () => {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      try {
        await mkdir(lock);
        await writeFile(join(lock, 'pid'), String(process.pid));
        held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (await isAbandoned(lock)) await rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline)
        throw new Error(`waited ${maxWaitMs / 1000} s for ${lock}; is a test holding it?`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, maxWaitMs + 10_000);
  afterAll(async () => {
    if (held) await rm(lock, { recursive: true, force: true });
  });
}

/** True when the lock's holder is gone (or never wrote its pid within 10 s of taking it). */
async function isAbandoned(lock: string): Promise<boolean> {
  const pid = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
  if (!pid) {
    const taken = await stat(lock).catch(() => undefined);
    return taken !== undefined && Date.now() - taken.mtimeMs > 10_000;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * The local stack's supervision (as ./init.sh runs it): a service killed with SIGKILL is reported on the console
 * (which one, the signal, the last lines of its log) and restarted, and the exchange answers again; after more
 * crashes within the window than allowed the launcher gives up on it loudly and the rest keeps running; the
 * stack still stops cleanly. Waits are polls bounded only to catch a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/test-stack.ts';

const HANG_MS = 90_000;
const printed: string[] = [];
let t: TestStack;

const readyStatus = async (url: string) =>
  fetch(`${url}/ready`, { signal: AbortSignal.timeout(3_000) }).then(
    (r) => r.status,
    () => 0,
  );

beforeAll(async () => {
  t = await startTestStack({
    supervise: { maxRestarts: 1, windowMs: 10 * 60_000, backoffMs: 200 },
    // As ./init.sh logs: a service's start is in its log, so a crash report has lines to show.
    logLevel: 'info',
    print: (line) => printed.push(line),
  });
});

afterAll(async () => {
  await t?.stop();
});

describe('supervision of the local stack', () => {
  it('reports a killed service with its signal and last log lines, restarts it, and the exchange answers again', async () => {
    const before = t.stack.pid('policy-decision-point')!;
    process.kill(before, 'SIGKILL');
    await expect
      .poll(() => printed.some((l) => l.startsWith('restarted policy-decision-point')), {
        timeout: HANG_MS,
        interval: 250,
      })
      .toBe(true);
    expect(printed).toContain(
      'CRASHED  policy-decision-point stopped unexpectedly (signal SIGKILL); the last lines of its log:',
    );
    // Its log's last lines follow, prefixed with its name (the PDP logs its start at info).
    expect(printed.some((l) => l.startsWith('         policy-decision-point | {'))).toBe(true);
    expect(
      printed.some((l) => l.startsWith('restart  policy-decision-point in 200 ms (crash 1 of at most 1')),
    ).toBe(true);
    const after = t.stack.pid('policy-decision-point');
    expect(after).not.toBe(before);
    expect(await readyStatus(t.url('policy-decision-point'))).toBe(200);
    await expect
      .poll(() => readyStatus(t.url('orchestration-engine')), { timeout: HANG_MS, interval: 250 })
      .toBe(200);
  });

  it('gives up loudly after too many crashes in the window, and the rest of the stack keeps running', async () => {
    process.kill(t.stack.pid('policy-decision-point')!, 'SIGKILL');
    await expect
      .poll(() => printed.some((l) => l.startsWith('GAVE UP  policy-decision-point: it crashed 2 times')), {
        timeout: HANG_MS,
        interval: 250,
      })
      .toBe(true);
    // Not restarted: still down a while later; the others answer, and the OE says why it is not ready.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await readyStatus(t.url('policy-decision-point'))).toBe(0);
    expect(printed.filter((l) => l.startsWith('restarted policy-decision-point'))).toHaveLength(1);
    expect(await readyStatus(t.url('consent-engine'))).toBe(200);
    const oe = await fetch(`${t.url('orchestration-engine')}/ready`);
    expect(oe.status).toBe(503);
    expect(((await oe.json()) as { checks: Record<string, boolean> }).checks).toMatchObject({
      policyDecisionPoint: false,
    });
  });
});

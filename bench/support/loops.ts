/**
 * Load loops for the benchmark: a closed loop (N connections, each sends its next request when the
 * previous one has answered) for throughput, and an open loop (requests scheduled on a timer at a fixed
 * rate whatever the answers do) for latency without coordinated omission: each latency is measured from
 * the request's scheduled start, so a stall counts for every request it delayed.
 */

/** One request of a path; resolves true when the answer was the full, correct result. */
export type Call = () => Promise<boolean>;

export interface WindowResult {
  seconds: number;
  requests: number;
  failures: number;
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summarise(latencies: number[], failures: number, seconds: number): WindowResult {
  latencies.sort((a, b) => a - b);
  const ok = latencies.length;
  return {
    seconds,
    requests: ok + failures,
    failures,
    requestsPerSecond: ok / seconds,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    mean: ok ? latencies.reduce((a, b) => a + b, 0) / ok : NaN,
  };
}

async function timed(call: Call): Promise<boolean> {
  try {
    return await call();
  } catch {
    return false;
  }
}

/** `connections` clients in a closed loop for `seconds`; only successful requests count as throughput. */
export async function closedLoop(call: Call, connections: number, seconds: number): Promise<WindowResult> {
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  const deadline = started + seconds * 1_000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        if (await timed(call)) latencies.push(performance.now() - t0);
        else failures++;
      }
    }),
  );
  return summarise(latencies, failures, (performance.now() - started) / 1_000);
}

/**
 * A true open loop: request i is scheduled at start + i/rate and sent then (or as soon as the timer can),
 * however many are still unanswered; its latency runs from the scheduled instant to the answer.
 */
export async function openLoop(call: Call, rate: number, seconds: number): Promise<WindowResult> {
  const latencies: number[] = [];
  let failures = 0;
  const total = Math.max(1, Math.round(rate * seconds));
  const interval = 1_000 / rate;
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - started) / interval) + 1);
      while (sent < due) {
        const scheduled = started + sent * interval;
        sent++;
        const request = timed(call).then((ok) => {
          if (ok) latencies.push(performance.now() - scheduled);
          else failures++;
          inFlight.delete(request);
        });
        inFlight.add(request);
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(inFlight);
  return summarise(latencies, failures, (performance.now() - started) / 1_000);
}

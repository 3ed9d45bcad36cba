import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { PASSPORT_QUERY } from './consent-pool.ts';

/**
 * Steady load on the OE for the reliability tests (faults under load, soak): passport queries through undici
 * with a client-side timeout (a request past it is a failure, never waited for), in a closed loop (a fixed
 * number in flight) or an open, paced loop (requests started on a schedule, whatever the answers do).
 */

/** The leaves of the passport query (below personInfo) and the provider field behind each. */
export const PASSPORT_LEAVES: Record<string, string> = {
  fullName: 'drp person.fullName',
  name: 'rgd getPersonInfo.fullName',
  otherNames: 'drp person.otherNames',
  address: 'drp person.permanentAddress',
  profession: 'drp person.profession',
  dateOfBirth: 'rgd getPersonInfo.dateOfBirth',
  sex: 'rgd getPersonInfo.sex',
  'birthInfo.birthRegistrationNumber': 'rgd getPersonInfo.birthRegistrationNumber',
  'birthInfo.birthPlace': 'rgd getPersonInfo.birthPlace',
  'birthInfo.district': 'rgd getPersonInfo.district',
};

export interface LoadAnswer {
  nic: string;
  /** performance.now() when sent and when the answer was read (or the request failed). */
  started: number;
  finished: number;
  /** HTTP status; 0 when there was no answer (timeout or connection failure). */
  status: number;
  timedOut: boolean;
  /** Why there was no answer. */
  failure?: string;
  reference: string | null;
  /** Leaves (keys of PASSPORT_LEAVES) that hold a value. */
  released: string[];
  /** Error code by error path (below personInfo; '' for a request-level error). */
  errors: Record<string, string>;
}

/** A complete answer: HTTP 200, no error, every leaf released (the load's citizens have a value in each). */
export const isGood = (a: LoadAnswer) =>
  a.status === 200 &&
  Object.keys(a.errors).length === 0 &&
  a.released.length === Object.keys(PASSPORT_LEAVES).length;

export interface LoadClient {
  query(nic: string): Promise<LoadAnswer>;
  close(): Promise<void>;
}

/**
 * A token getter that fetches a new token when the one held is older than maxAgeMs (FUDI's tokens live 10
 * minutes; the long forms run longer), and keeps the old one while a new one cannot be had (FUDI down).
 */
export function freshToken(fetchToken: () => Promise<string>, maxAgeMs = 300_000): () => Promise<string> {
  let held: { token: string; at: number } | undefined;
  let renewing: Promise<void> | undefined;
  return async () => {
    if (!held) held = { token: await fetchToken(), at: performance.now() };
    else if (performance.now() - held.at > maxAgeMs && !renewing) {
      renewing = fetchToken()
        .then((token) => void (held = { token, at: performance.now() }))
        .catch(() => undefined)
        .finally(() => (renewing = undefined));
    }
    return held.token;
  };
}

export function loadClient(oeUrl: string, token: () => Promise<string>, timeoutMs: number): LoadClient {
  const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 10_000 });
  const body = (nic: string) => JSON.stringify({ query: PASSPORT_QUERY, variables: { nic } });
  return {
    async query(nic) {
      const started = performance.now();
      const base = { nic, started, reference: null, released: [], errors: {} };
      try {
        const response = await request(`${oeUrl}/graphql`, {
          method: 'POST',
          dispatcher,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}` },
          body: body(nic),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await response.body.text();
        const reference = response.headers['ndx-audit-reference'];
        return {
          ...base,
          ...parseAnswer(text),
          finished: performance.now(),
          status: response.statusCode,
          timedOut: false,
          reference: typeof reference === 'string' ? reference : null,
        };
      } catch (err) {
        const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
        return { ...base, finished: performance.now(), status: 0, timedOut, failure: (err as Error).message };
      }
    },
    close: () => dispatcher.close(),
  };
}

function parseAnswer(text: string): Pick<LoadAnswer, 'released' | 'errors'> {
  let body: {
    data?: { personInfo?: Record<string, unknown> | null } | null;
    errors?: { path?: (string | number)[]; extensions?: { code?: string } }[];
  };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return { released: [], errors: { '': 'NOT_JSON' } };
  }
  const person = body.data?.personInfo ?? null;
  const released = Object.keys(PASSPORT_LEAVES).filter((path) => {
    let value: unknown = person;
    for (const key of path.split('.')) value = (value as Record<string, unknown> | null)?.[key] ?? null;
    return value !== null;
  });
  const errors = Object.fromEntries(
    (body.errors ?? []).map((e) => [(e.path ?? []).slice(1).join('.'), e.extensions?.code ?? 'NO_CODE']),
  );
  return { released, errors };
}

/** `inFlight` loops, each sending the next query when its last answer is in, until stop() is true. */
export async function closedLoop(
  inFlight: number,
  send: () => Promise<LoadAnswer>,
  sink: LoadAnswer[],
  stop: () => boolean,
): Promise<void> {
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (!stop()) sink.push(await send());
    }),
  );
}

/**
 * Starts `perSecond` queries a second on a fixed schedule for durationMs (open loop: a slow answer does not
 * delay the next start), and resolves when every one has its answer.
 */
export async function pacedLoop(
  perSecond: number,
  durationMs: number,
  send: () => Promise<LoadAnswer>,
  sink: LoadAnswer[],
): Promise<void> {
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; ; i++) {
    const due = start + (i * 1000) / perSecond;
    if (due - start >= durationMs) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(send().then((a) => void sink.push(a)));
  }
  await Promise.all(pending);
}

/** Resident memory (kB) and open file descriptors of a process, from /proc; undefined once it is gone. */
export function processUsage(pid: number): { rssKb: number; fds: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
    return { rssKb, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** Round-robin over a list. */
export function roundRobin<T>(items: readonly T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length]!;
}

/** Prints a test's figures (the reliability tests report what they measured, as the long form's output). */
export function report(lines: string): void {
  // eslint-disable-next-line no-console -- the figures are the output the reliability runs are for
  console.log(lines);
}

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/** W3C trace context (https://www.w3.org/TR/trace-context/) carried through a request. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

const storage = new AsyncLocalStorage<TraceContext>();

/**
 * Random hex drawn from a pool filled 4 KB at a time: one call into the CSPRNG per 256 trace ids or 512 span
 * ids instead of one per id (an id is made for every request served and every call made).
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = POOL_BYTES;
function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

export function newTraceId(): string {
  return randomHex(16);
}

export function newSpanId(): string {
  return randomHex(8);
}

/** Reads a `traceparent` header; returns undefined for anything malformed (then a new trace starts). */
export function parseTraceparent(header: string | undefined): TraceContext | undefined {
  if (!header) return undefined;
  const match = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags] = match as unknown as [string, string, string, string, string];
  if (version === 'ff' || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`;
}

/** The context for a request that arrived with `header`: same trace, a new span of our own. */
export function continueTrace(header: string | undefined): TraceContext {
  const parent = parseTraceparent(header);
  return { traceId: parent?.traceId ?? newTraceId(), spanId: newSpanId(), sampled: parent?.sampled ?? true };
}

export function runWithTrace<T>(ctx: TraceContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentTrace(): TraceContext | undefined {
  return storage.getStore();
}

/** A `traceparent` to send on an outgoing call: the current trace with a fresh span id. */
export function outgoingTraceparent(): string {
  const ctx = currentTrace() ?? { traceId: newTraceId(), spanId: newSpanId(), sampled: true };
  return formatTraceparent({ ...ctx, spanId: newSpanId() });
}

import { createRequire } from 'node:module';

/** What autocannon reports (the parts the benchmarks print). */
export interface LoadResult {
  requests: { total: number; average: number };
  latency: { p50: number; p97_5: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface LoadOptions {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  /** Seconds; the run stops by itself. */
  duration: number;
}

/** autocannon (CommonJS, no type definitions of its own) with the types the benchmarks use. */
export const runLoad = createRequire(import.meta.url)('autocannon') as (
  options: LoadOptions,
) => Promise<LoadResult>;

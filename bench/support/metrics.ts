/** Prometheus text format: the histograms the benchmarks read from a service's /metrics. */

/** Histogram series of one metric: label value → cumulative bucket counts, sum and count. */
export interface Histogram {
  buckets: Map<number, number>;
  sum: number;
  count: number;
}

export function histograms(metrics: string, name: string, label: string): Map<string, Histogram> {
  const byLabel = new Map<string, Histogram>();
  const of = (key: string) => {
    let h = byLabel.get(key);
    if (!h) byLabel.set(key, (h = { buckets: new Map(), sum: 0, count: 0 }));
    return h;
  };
  for (const line of metrics.split('\n')) {
    const match = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || !match[1]!.startsWith(name)) continue;
    const labels = Object.fromEntries(
      [...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!] as const),
    );
    const key = labels[label];
    if (key === undefined) continue;
    const value = Number(match[3]);
    if (match[1] === `${name}_bucket`) of(key).buckets.set(Number(labels['le']), value);
    else if (match[1] === `${name}_sum`) of(key).sum = value;
    else if (match[1] === `${name}_count`) of(key).count = value;
  }
  return byLabel;
}

/** after − before, so the figures cover the load run only. */
export function delta(after: Histogram, before: Histogram | undefined): Histogram {
  const buckets = new Map<number, number>();
  for (const [le, n] of after.buckets) buckets.set(le, n - (before?.buckets.get(le) ?? 0));
  return { buckets, sum: after.sum - (before?.sum ?? 0), count: after.count - (before?.count ?? 0) };
}

/** Mean per label value of a histogram between two scrapes (ms), with the count of observations. */
export function meansBetween(
  before: string,
  after: string,
  name: string,
  label: string,
): Record<string, { count: number; meanMs: number }> {
  const start = histograms(before, name, label);
  const out: Record<string, { count: number; meanMs: number }> = {};
  for (const [key, series] of histograms(after, name, label)) {
    const h = delta(series, start.get(key));
    if (h.count > 0) out[key] = { count: h.count, meanMs: (h.sum / h.count) * 1000 };
  }
  return out;
}

/** The OE's memory as its own /metrics reports it (prom-client's process metrics), in MB. */
export interface MemoryBreakdown {
  rssMb: number;
  heapTotalMb: number;
  heapUsedMb: number;
  externalMb: number;
  /** V8 heap spaces: size reserved (total) per space. */
  spacesMb: Record<string, number>;
}

/** Reads the memory gauges of a service's /metrics text (NaN where one is missing). */
export function memoryBreakdown(metrics: string): MemoryBreakdown {
  const mb = (bytes: number) => bytes / 1_048_576;
  const plain = (name: string) => {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics);
    return match ? mb(Number(match[1])) : NaN;
  };
  const spacesMb: Record<string, number> = {};
  for (const match of metrics.matchAll(
    /^nodejs_heap_space_size_total_bytes\{[^}]*space="([^"]+)"[^}]*\} (\S+)$/gm,
  )) {
    spacesMb[match[1]!] = mb(Number(match[2]));
  }
  return {
    rssMb: plain('process_resident_memory_bytes'),
    heapTotalMb: plain('nodejs_heap_size_total_bytes'),
    heapUsedMb: plain('nodejs_heap_size_used_bytes'),
    externalMb: plain('nodejs_external_memory_bytes'),
    spacesMb,
  };
}

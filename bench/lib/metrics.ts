/** Prometheus text scraping of pg-sync's `GET /metrics`, histogram deltas and quantiles. */

/** One scrape: sample value by series (`name` or `name{label="v",...}`, as printed). */
export type Scrape = ReadonlyMap<string, number>;

/** Parses the Prometheus text exposition format (comments skipped). */
export function parseMetrics(text: string): Scrape {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    if (space <= 0) continue;
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Fetches and parses `{baseUrl}/metrics`. */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (!response.ok) throw new Error(`GET ${baseUrl}/metrics: ${response.status}`);
  return parseMetrics(await response.text());
}

/** A sample's value (0 when absent). */
export function sample(s: Scrape, series: string): number {
  return s.get(series) ?? 0;
}

/** Cumulative histogram buckets: upper bound (Infinity for +Inf) and count. */
export interface Histogram {
  readonly buckets: ReadonlyArray<{ le: number; count: number }>;
  readonly count: number;
  readonly sum: number;
}

/** Reads histogram `name` (without labels) from a scrape. */
export function histogram(s: Scrape, name: string): Histogram {
  const buckets: Array<{ le: number; count: number }> = [];
  const prefix = `${name}_bucket{le="`;
  for (const [series, value] of s) {
    if (!series.startsWith(prefix)) continue;
    const le = series.slice(prefix.length, series.indexOf('"', prefix.length));
    buckets.push({ le: le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), count: value });
  }
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, count: sample(s, `${name}_count`), sum: sample(s, `${name}_sum`) };
}

/** `after − before`, bucket by bucket (the observations made between two scrapes). */
export function histogramDelta(before: Histogram, after: Histogram): Histogram {
  const earlier = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (earlier.get(b.le) ?? 0) })),
    count: after.count - before.count,
    sum: after.sum - before.sum,
  };
}

/**
 * The q-quantile of a cumulative histogram by linear interpolation inside the bucket that holds
 * it (from the previous bound, 0 for the first); in the +Inf bucket, the largest finite bound.
 */
export function histogramQuantile(h: Histogram, q: number): number {
  const total = h.buckets.at(-1)?.count ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const { le, count } of h.buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return lower;
      if (count === below) return le;
      return lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** Quantiles of raw samples (nearest rank). */
export function quantiles(values: number[]): {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
} {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Polls `probe` every `intervalMs` until it returns true; returns the time (epoch ms) it did. */
export async function pollUntil(
  probe: () => Promise<boolean>,
  { timeoutMs, intervalMs = 25, what }: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resident set size of `pid` in MB (10^6 bytes; VmRSS from /proc). */
export async function rssMB(pid: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for ${pid}`);
  return (Number(kb[1]) * 1024) / 1e6;
}

/** At most `max` of `values`, sorted and evenly spaced by rank: enough to draw a distribution. */
export function evenSample(values: readonly number[], max = 2_000): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length <= max) return sorted;
  return Array.from(
    { length: max },
    (_, i) => sorted[Math.round((i * (sorted.length - 1)) / (max - 1))] as number,
  );
}

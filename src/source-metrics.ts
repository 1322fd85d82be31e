import type pg from "pg";
import { Gauge } from "prom-client";
import type { RunningBridge } from "./bridge/bridge-manager.js";
import type { Metrics } from "./metrics.js";
import { logBytes, logSizes } from "./storage/pg-log-stats.js";

/** What the per-source gauges read at scrape time. */
export interface SourceMetricsDeps {
  /** The bridges this process runs. */
  readonly bridges: { running(): RunningBridge[] };
  /** The open WatchWakes streams' backlogs. */
  readonly watch: {
    backlogs(): { readonly tenant: string; readonly sourceRef: string; readonly entries: bigint }[];
  };
  /** The state database (log sizes). */
  readonly pool: pg.Pool;
  /** Series each per-source gauge exposes at most (the largest values). Default all. */
  readonly maxSources?: number;
  /** Clock in epoch ms. Default Date.now. */
  readonly now?: () => number;
}

/** One per-source value of a scrape. */
interface SourceValue {
  readonly tenant: string;
  readonly sourceRef: string;
  readonly value: number;
}

/** The `max` entries with the largest values (all of them when they fit), and how many were left out. */
export function largest<T extends { readonly value: number }>(
  items: readonly T[],
  max: number,
): { kept: readonly T[]; omitted: number } {
  if (items.length <= max) return { kept: items, omitted: 0 };
  const kept = [...items].sort((a, b) => b.value - a.value).slice(0, max);
  return { kept, omitted: items.length - max };
}

/** Label names of every per-source series: bounded by the sources this process serves. */
const SOURCE_LABELS = ["tenant", "source_ref"] as const;

/**
 * Registers the gauges computed at scrape time, per source (labels `tenant`, `source_ref`):
 * replication lag (`pgsync_source_lag_seconds`, seconds since Electric last said the shape was up
 * to date, for sources this process's bridges run and that were up to date once), the watch
 * backlog (`pgsync_watch_backlog_entries`, log entries known to exist that the slowest open
 * stream on this process has not delivered), the log size per running source
 * (`pgsync_log_entries`, one index probe each) and in bytes (`pgsync_log_bytes`, the table).
 * Each scrape resets them, so stopped or deleted sources vanish. A failing query leaves its
 * gauge empty for that scrape rather than failing the scrape. Each per-source gauge exposes at
 * most `maxSources` series, those with the largest values (the most lagging, the largest
 * backlogs and logs); `pgsync_source_series_omitted{metric}` counts the sources left out.
 */
export function registerSourceMetrics(metrics: Metrics, deps: SourceMetricsDeps): void {
  const registers = [metrics.registry];
  const now = deps.now ?? Date.now;
  const max = deps.maxSources ?? Number.POSITIVE_INFINITY;
  /** Sources each per-source gauge left out, as its collection for this scrape finds them. */
  const omitted = new Map<string, Promise<number>>();
  /** A gauge of one value per source, of which the `max` largest are exposed. */
  const perSource = (name: string, help: string, values: () => SourceValue[] | Promise<SourceValue[]>) => {
    omitted.set(name, Promise.resolve(0));
    new Gauge({
      name,
      help,
      labelNames: SOURCE_LABELS,
      registers,
      collect() {
        const collected = (async () => {
          this.reset();
          const top = largest(await values(), max);
          for (const v of top.kept) this.set({ tenant: v.tenant, source_ref: v.sourceRef }, v.value);
          return top.omitted;
        })();
        omitted.set(name, collected);
        return collected.then(() => undefined);
      },
    });
  };
  perSource(
    "pgsync_source_lag_seconds",
    "Seconds since Electric last said the source's shape was up to date (bridges of this process)",
    () =>
      deps.bridges.running().flatMap((b) => {
        if (!b.upToDateAt || b.status.state === "STOPPED" || b.status.state === "IDLE") return [];
        const value = Math.max(0, (now() - b.upToDateAt.getTime()) / 1000);
        return [{ tenant: b.tenant, sourceRef: b.sourceRef, value }];
      }),
  );
  perSource(
    "pgsync_watch_backlog_entries",
    "Log entries known to exist that the slowest open WatchWakes stream of this process has not delivered",
    () =>
      deps.watch
        .backlogs()
        .map((b) => ({ tenant: b.tenant, sourceRef: b.sourceRef, value: Number(b.entries) })),
  );
  perSource(
    "pgsync_log_entries",
    "Entries in the log of each source this process's bridges run",
    async () => {
      const sizes = await logSizes(deps.pool, deps.bridges.running()).catch(() => []);
      return sizes.map((s) => ({ tenant: s.tenant, sourceRef: s.sourceRef, value: s.entries }));
    },
  );
  new Gauge({
    name: "pgsync_source_series_omitted",
    help: "Sources left out of each per-source gauge at this scrape (PGSYNC_METRICS_MAX_SOURCES)",
    labelNames: ["metric"],
    registers,
    // Collected after the per-source gauges have started theirs (registration order).
    async collect() {
      for (const [metric, n] of omitted) this.set({ metric }, await n.catch(() => 0));
    },
  });
  new Gauge({
    name: "pgsync_log_bytes",
    help: "Size of the change log table with its indexes, in bytes",
    registers,
    async collect() {
      const bytes = await logBytes(deps.pool).catch(() => undefined);
      if (bytes !== undefined) this.set(bytes);
    },
  });
}

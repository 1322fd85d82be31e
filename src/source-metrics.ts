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
  /** Clock in epoch ms. Default Date.now. */
  readonly now?: () => number;
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
 * gauge empty for that scrape rather than failing the scrape.
 */
export function registerSourceMetrics(metrics: Metrics, deps: SourceMetricsDeps): void {
  const registers = [metrics.registry];
  const now = deps.now ?? Date.now;
  new Gauge({
    name: "pgsync_source_lag_seconds",
    help: "Seconds since Electric last said the source's shape was up to date (bridges of this process)",
    labelNames: SOURCE_LABELS,
    registers,
    collect() {
      this.reset();
      for (const b of deps.bridges.running()) {
        if (!b.upToDateAt || b.status.state === "STOPPED" || b.status.state === "IDLE") continue;
        const labels = { tenant: b.tenant, source_ref: b.sourceRef };
        this.set(labels, Math.max(0, (now() - b.upToDateAt.getTime()) / 1000));
      }
    },
  });
  new Gauge({
    name: "pgsync_watch_backlog_entries",
    help: "Log entries known to exist that the slowest open WatchWakes stream of this process has not delivered",
    labelNames: SOURCE_LABELS,
    registers,
    collect() {
      this.reset();
      for (const b of deps.watch.backlogs()) {
        this.set({ tenant: b.tenant, source_ref: b.sourceRef }, Number(b.entries));
      }
    },
  });
  new Gauge({
    name: "pgsync_log_entries",
    help: "Entries in the log of each source this process's bridges run",
    labelNames: SOURCE_LABELS,
    registers,
    async collect() {
      this.reset();
      const sizes = await logSizes(deps.pool, deps.bridges.running()).catch(() => []);
      for (const s of sizes) this.set({ tenant: s.tenant, source_ref: s.sourceRef }, s.entries);
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

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { GapReason } from "./domain/change-log.js";
import { SOURCE_STATES, type SourceState } from "./domain/source.js";
import { BUILD_INFO } from "./version.js";

/** Every gap reason: `pgsync_gaps_logged_total{reason}` starts at 0 for each, so `rate()` sees them. */
export const GAP_REASONS: readonly GapReason[] = ["must-refetch", "retention", "source-reset"];

/** Every backoff kind (`pgsync_backoffs_total{kind}`), zero-initialised like the gap reasons. */
export const BACKOFF_KINDS = ["retryable"] as const;
/** A backoff kind. */
export type BackoffKind = (typeof BACKOFF_KINDS)[number];

/** Prometheus metrics of one pg-sync process, on a registry of its own (served at GET /metrics). */
export interface Metrics {
  readonly registry: Registry;
  /** Bridges by state. */
  readonly bridges: Gauge<"state">;
  /** Electric response batches received. */
  readonly electricBatches: Counter;
  /** Electric shape streams opened (one per bridge start or resume). */
  readonly electricStreams: Counter;
  /** Changes appended to the log. */
  readonly changesLogged: Counter;
  /** Gap entries logged, by reason (every {@link GAP_REASONS} value from 0). */
  readonly gapsLogged: Counter<"reason">;
  /** Cursor writes (one per committed batch at most). */
  readonly cursorWrites: Counter;
  /** Backoffs started, by error kind. */
  readonly backoffs: Counter<"kind">;
  /** Seconds from an Electric batch arriving to its commit. */
  readonly batchCommitSeconds: Histogram;
  /** Seconds from a log entry's commit notification to its wake frame being handed to the transport. */
  readonly wakeDispatchSeconds: Histogram;
  /** Wakes sent. */
  readonly wakesSent: Counter;
  /** Open WatchWakes streams. */
  readonly openStreams: Gauge;
  /** Snapshot pages read from Electric (snapshot starts and rebuilds). */
  readonly snapshotPages: Counter;
  /** Snapshot rows read from Electric: the progress of snapshots. */
  readonly snapshotRows: Counter;
  /** RPCs handled, by service, method and status code (`OK`, `INVALID_ARGUMENT`, …). */
  readonly rpcHandled: Counter<"service" | "method" | "code">;
  /** Seconds to handle a unary RPC, by service and method (streams are not timed: they last). */
  readonly rpcSeconds: Histogram<"service" | "method">;
}

/**
 * Creates the metrics; `withDefaults` adds the standard process and Node.js metrics under their
 * usual names (`process_*`, `nodejs_*`, no prefix, as stock dashboards expect), and
 * `pgsync_build_info{version,node_version}` is always 1.
 */
export function createMetrics({ withDefaults = true }: { withDefaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "pgsync_build_info",
    help: "The running build: version and Node.js version; always 1",
    labelNames: ["version", "node_version"],
    registers: [registry],
  }).set({ version: BUILD_INFO.version, node_version: BUILD_INFO.nodeVersion }, 1);
  const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
  const metrics: Metrics = {
    registry,
    bridges: new Gauge({
      name: "pgsync_bridges",
      help: "Bridges by state",
      labelNames: ["state"],
      registers: [registry],
    }),
    electricBatches: new Counter({
      name: "pgsync_electric_batches_total",
      help: "Electric response batches received",
      registers: [registry],
    }),
    electricStreams: new Counter({
      name: "pgsync_electric_streams_total",
      help: "Electric shape streams opened",
      registers: [registry],
    }),
    changesLogged: new Counter({
      name: "pgsync_changes_logged_total",
      help: "Changes appended to the log",
      registers: [registry],
    }),
    gapsLogged: new Counter({
      name: "pgsync_gaps_logged_total",
      help: "Gap entries logged",
      labelNames: ["reason"],
      registers: [registry],
    }),
    cursorWrites: new Counter({
      name: "pgsync_cursor_writes_total",
      help: "Cursor writes",
      registers: [registry],
    }),
    backoffs: new Counter({
      name: "pgsync_backoffs_total",
      help: "Bridge backoffs started",
      labelNames: ["kind"],
      registers: [registry],
    }),
    batchCommitSeconds: new Histogram({
      name: "pgsync_batch_commit_seconds",
      help: "Electric batch received to committed",
      buckets: latencyBuckets,
      registers: [registry],
    }),
    wakeDispatchSeconds: new Histogram({
      name: "pgsync_wake_dispatch_seconds",
      help: "Log commit notification received to wake frame handed to the transport",
      buckets: latencyBuckets,
      registers: [registry],
    }),
    wakesSent: new Counter({
      name: "pgsync_wakes_sent_total",
      help: "Wake frames sent",
      registers: [registry],
    }),
    openStreams: new Gauge({
      name: "pgsync_watch_streams",
      help: "Open WatchWakes streams",
      registers: [registry],
    }),
    snapshotPages: new Counter({
      name: "pgsync_snapshot_pages_total",
      help: "Snapshot pages read from Electric",
      registers: [registry],
    }),
    snapshotRows: new Counter({
      name: "pgsync_snapshot_rows_total",
      help: "Snapshot rows read from Electric",
      registers: [registry],
    }),
    rpcHandled: new Counter({
      name: "pgsync_rpc_handled_total",
      help: "RPCs handled, by service, method and status code",
      labelNames: ["service", "method", "code"],
      registers: [registry],
    }),
    rpcSeconds: new Histogram({
      name: "pgsync_rpc_handling_seconds",
      help: "Seconds to handle a unary RPC",
      labelNames: ["service", "method"],
      buckets: latencyBuckets,
      registers: [registry],
    }),
  };
  for (const state of SOURCE_STATES) metrics.bridges.set({ state }, 0);
  for (const reason of GAP_REASONS) metrics.gapsLogged.inc({ reason }, 0);
  for (const kind of BACKOFF_KINDS) metrics.backoffs.inc({ kind }, 0);
  return metrics;
}

/** Sets the bridge-state gauge from counts. */
export function setBridgeCounts(metrics: Metrics, counts: ReadonlyMap<SourceState, number>): void {
  for (const state of SOURCE_STATES) metrics.bridges.set({ state }, counts.get(state) ?? 0);
}

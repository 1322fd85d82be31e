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
  /** Log reads of streams and consumer groups, by where served from (`memory`: just committed here). */
  readonly logReads: Counter;
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

/** Buckets of the latency histograms, in seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Metric constructors bound to one registry: a name, its help and its label names. */
function metricsOn(registry: Registry) {
  const registers = [registry];
  return {
    counter: <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers }),
    gauge: <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Gauge<L>({ name, help, labelNames, registers }),
    histogram: <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Histogram<L>({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers }),
  };
}

/**
 * Creates the metrics; `withDefaults` adds the standard process and Node.js metrics under their
 * usual names (`process_*`, `nodejs_*`, no prefix, as stock dashboards expect), and
 * `pgsync_build_info{version,node_version}` is always 1.
 */
export function createMetrics({ withDefaults = true }: { withDefaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  const { counter, gauge, histogram } = metricsOn(registry);
  gauge("pgsync_build_info", "The running build: version and Node.js version; always 1", [
    "version",
    "node_version",
  ]).set({ version: BUILD_INFO.version, node_version: BUILD_INFO.nodeVersion }, 1);
  const metrics: Metrics = {
    registry,
    bridges: gauge("pgsync_bridges", "Bridges by state", ["state"]),
    electricBatches: counter("pgsync_electric_batches_total", "Electric response batches received"),
    electricStreams: counter("pgsync_electric_streams_total", "Electric shape streams opened"),
    changesLogged: counter("pgsync_changes_logged_total", "Changes appended to the log"),
    gapsLogged: counter("pgsync_gaps_logged_total", "Gap entries logged", ["reason"]),
    cursorWrites: counter("pgsync_cursor_writes_total", "Cursor writes"),
    backoffs: counter("pgsync_backoffs_total", "Bridge backoffs started", ["kind"]),
    batchCommitSeconds: histogram("pgsync_batch_commit_seconds", "Electric batch received to committed"),
    wakeDispatchSeconds: histogram(
      "pgsync_wake_dispatch_seconds",
      "Log commit notification received to wake frame handed to the transport",
    ),
    logReads: counter(
      "pgsync_log_reads_total",
      "Log reads of streams and consumer groups, by where served from",
      ["from"],
    ),
    wakesSent: counter("pgsync_wakes_sent_total", "Wake frames sent"),
    openStreams: gauge("pgsync_watch_streams", "Open WatchWakes streams"),
    snapshotPages: counter("pgsync_snapshot_pages_total", "Snapshot pages read from Electric"),
    snapshotRows: counter("pgsync_snapshot_rows_total", "Snapshot rows read from Electric"),
    rpcHandled: counter("pgsync_rpc_handled_total", "RPCs handled, by service, method and status code", [
      "service",
      "method",
      "code",
    ]),
    rpcSeconds: histogram("pgsync_rpc_handling_seconds", "Seconds to handle a unary RPC", [
      "service",
      "method",
    ]),
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

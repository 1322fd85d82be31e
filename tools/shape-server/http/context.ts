/** What the HTTP handlers share. */
import type pg from "pg";
import type { Logger } from "pino";
import type { UnavailableError } from "../errors.js";
import type { Progress } from "../replication/ingest.js";
import type { ShapeRegistry } from "../shapes/shape-registry.js";
import type { ShapeStore } from "../storage/shape-store.js";

/** Timing options of the HTTP layer. */
export interface HttpOptions {
  /** How long a live request is held. */
  readonly longPollTimeoutMs: number;
  /** Interval of SSE keep-alive comments. */
  readonly sseKeepaliveMs: number;
  /** Lifetime of an SSE connection. */
  readonly sseTimeoutMs: number;
  /** Enables `DELETE /v1/shape` and `/v1/test/*`. */
  readonly testControls: boolean;
}

/** The server state the handlers read. */
export interface ServerContext {
  /** Shapes. */
  readonly registry: ShapeRegistry;
  /** Storage. */
  readonly store: ShapeStore;
  /** Pool of snapshot transactions (subset snapshots run there: statement timeout, query role). */
  readonly snapshotPool: pg.Pool;
  /** Replication progress. */
  readonly progress: Progress;
  /** Options. */
  readonly options: HttpOptions;
  /** Logger. */
  readonly logger: Logger;
  /** Aborted when the server shuts down (held requests end). */
  readonly closing: AbortSignal;
  /** Replication is streaming. */
  isReady(): boolean;
  /** The 503 to answer while the test control "unavailable" is active, else null. */
  unavailable(): UnavailableError | null;
  /** Ingest counters and cumulative durations. */
  ingestTiming(): Readonly<Record<string, number>>;
  /** Answers 503 for `ms` (0 ends it). */
  setUnavailable(ms: number, retryAfterS: number): void;
}

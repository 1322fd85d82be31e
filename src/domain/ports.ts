/**
 * The domain's ports: the interfaces through which the domain reaches persistence, notifications,
 * shape endpoints and bridges. Adapters implement them (storage/ over Postgres, bridge/ over
 * Electric); tests implement them with fakes. The data types they carry stay with their concepts.
 */
import type { BridgeStatus } from "./bridge-state.js";
import type { BatchCommit, CommitResult, LogMode, StoredCursor } from "./change-log.js";
import type { LogBounds, LogEntry, LogEvent } from "./log-entry.js";
import type { SourceRecord, SourceState, UpsertSource } from "./source.js";
import type { CanonicalSourceOptions } from "./source-ref.js";

/** Persistence of cursors and the change log, scoped by tenant. */
export interface CursorStore {
  /** Takes ownership: bumps and returns the generation with the committed cursor; undefined if the source is gone. */
  claim(tenant: string, sourceRef: string, owner: string): Promise<StoredCursor | undefined>;
  /** Reads the cursor without claiming it. */
  get(tenant: string, sourceRef: string): Promise<StoredCursor | undefined>;
  /** Appends the batch's gap and changes with gap-free seqs and advances the cursor, in one transaction. */
  commit(batch: BatchCommit): Promise<CommitResult>;
  /** Persists the bridge state and last error. */
  setState(
    tenant: string,
    sourceRef: string,
    state: SourceState,
    lastError: string | undefined,
  ): Promise<void>;
}

/** How {@link ChangeLogReader.read} reads, and what it returns of each change. */
export interface LogReadOptions {
  /**
   * The source's incarnation. With it, entries this process has just committed may come from
   * memory instead of Postgres (storage/recent-log.ts), always with their bodies.
   */
  readonly incarnation?: string;
  /**
   * Default true. False: changes without their row images and Electric details (`value` is `{}`,
   * `oldValue` undefined, `offset` "", `txids` empty), cheaper to read and parse, for readers that
   * need only positions, keys and operations (the consumer-group materializer). Never for a reader
   * that sends changes on or splices a snapshot (which needs `txids`).
   */
  readonly bodies?: boolean;
}

/** Reads a source's log. */
export interface ChangeLogReader {
  /** Entries with seq > `afterSeq`, oldest first, at most `limit`. */
  read(
    tenant: string,
    sourceRef: string,
    afterSeq: bigint,
    limit: number,
    options?: LogReadOptions,
  ): Promise<LogEntry[]>;
  /** The log's bounds. */
  bounds(tenant: string, sourceRef: string): Promise<LogBounds>;
}

/** Announces log appends and source changes (Postgres LISTEN/NOTIFY across processes). */
export interface LogNotifier {
  /** Calls `listener` for events of (tenant, sourceRef) and for resyncs; returns the unsubscribe. */
  subscribe(tenant: string, sourceRef: string, listener: (event: LogEvent) => void): () => void;
}

/** Persistence of sources, always scoped by tenant. */
export interface SourceStore {
  /** Inserts the source, or refreshes `registeredAt` when it exists; `created` tells which. Safe under concurrency. */
  upsert(input: UpsertSource): Promise<{ record: SourceRecord; created: boolean }>;
  /** The tenant's source, or undefined. */
  get(tenant: string, sourceRef: string): Promise<SourceRecord | undefined>;
  /**
   * The tenant's sources ordered by ref, strictly after `afterRef`, at most `limit`; with
   * `maxBytes`, only as many as fit in that many bytes of options and URL (at least one).
   */
  list(
    tenant: string,
    options: { afterRef?: string; limit: number; maxBytes?: number },
  ): Promise<SourceRecord[]>;
  /** Number of sources the tenant has. */
  count(tenant: string): Promise<number>;
  /** Deletes the source with its cursor and log; false when it did not exist. */
  delete(tenant: string, sourceRef: string): Promise<boolean>;
  /** Every tenant's sources whose bridge should run at start (STARTING, LIVE, BACKING_OFF, STOPPED). */
  listResumable(): Promise<SourceRecord[]>;
  /** Records that a watcher watched the sources now. */
  touchWatched(tenant: string, sourceRefs: readonly string[]): Promise<void>;
  /** Every tenant's sources last registered and last watched before `cutoff` (one read, for the idle check). */
  listUnusedSince(cutoff: Date): Promise<{ tenant: string; sourceRef: string }[]>;
}

/** A fresh source's first cursor, as the shape endpoint gave it to the probe. */
export interface ProbedCursor {
  readonly shapeHandle: string;
  readonly shapeOffset: string;
  readonly logMode: LogMode;
}

/** Asks a shape endpoint for a source's shape; throws ShapeProbeFailedError when it cannot serve it. */
export type ShapeProber = (shapeUrl: string, options: CanonicalSourceOptions) => Promise<ProbedCursor>;

/** The registry's handle on the bridges (implemented by the bridge manager). */
export interface BridgeControl {
  /**
   * Starts the source's bridge unless it runs (a FAILED one is replaced). Idempotent. With
   * replicas it may resolve once this replica has had its chance to acquire the source's lease.
   */
  ensure(record: SourceRecord): void | Promise<void>;
  /** The in-memory view of the source's bridge when this process runs it. */
  view(
    tenant: string,
    sourceRef: string,
  ): { readonly status: BridgeStatus; readonly upToDateAt: Date | undefined } | undefined;
  /** Stops the source's bridge and forgets it. */
  remove(tenant: string, sourceRef: string): Promise<void>;
}

import { InvalidRequestError, QuotaExceededError, SourceNotFoundError } from "./errors.js";
import type { ChangeLogReader, LogNotifier } from "./ports.js";
import { decodeResumeToken } from "./resume-token.js";
import type { SnapshotSettings } from "./snapshot-feed.js";
import type { SourceRecord } from "./source.js";
import { sourceKey } from "./source-key.js";
import { isOperation, type Operation } from "./source-options.js";
import type { SourceRegistry } from "./source-registry.js";
import type { StartPosition, WatchOptions } from "./watch-frames.js";
import { type WatchLimits, WatchSession } from "./watch-session.js";

/** Limits and defaults of WatchWakes requests; documented in docs/api.md. */
export const WATCH_LIMITS = {
  maxSources: 100,
  maxDebounceMs: 3_600_000,
  maxWaitMs: 86_400_000,
  defaultMaxChangesPerWake: 500,
  maxChangesPerWake: 10_000,
  defaultHeartbeatMs: 15_000,
  minHeartbeatMs: 100,
  maxHeartbeatMs: 3_600_000,
} as const;

/** A WatchWakes request in domain terms (before validation). */
export interface WatchRequest {
  readonly sourceRefs: readonly string[];
  readonly ops: readonly (Operation | "unspecified")[];
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  readonly maxChangesPerWake: number;
  readonly heartbeatIntervalMs: number;
  readonly start: { readonly token: string } | { readonly position: StartPosition };
  /** After each gap, deliver a fresh snapshot (default false). */
  readonly rebuildAfterGap?: boolean;
}

/** Dependencies of {@link WatchService}. */
export interface WatchServiceDeps {
  readonly registry: SourceRegistry;
  readonly reader: ChangeLogReader;
  readonly notifier: LogNotifier;
  /** Keeps the sources' bridges running while watched; returns the release. */
  readonly retain: (record: SourceRecord) => () => void;
  /** Records that the sources were watched. */
  readonly touchWatched: (tenant: string, sourceRefs: readonly string[]) => Promise<void>;
  readonly limits: WatchLimits;
  /** Most open streams per tenant. */
  readonly maxStreamsPerTenant: number;
  readonly onDispatch?: (seconds: number) => void;
  /** How snapshots are read; without it, snapshot starts and rebuilds are refused. */
  readonly snapshots?: SnapshotSettings;
}

function checkRange(field: string, value: number, max: number): void {
  if (value > max) throw new InvalidRequestError(field, `must be at most ${max} (got ${value})`);
}

/** Validates a request into session options (field names as in the proto). */
export function validateWatchRequest(req: WatchRequest): WatchOptions {
  if (req.sourceRefs.length === 0) throw new InvalidRequestError("source_refs", "name at least one source");
  if (req.sourceRefs.length > WATCH_LIMITS.maxSources) {
    throw new InvalidRequestError(
      "source_refs",
      `at most ${WATCH_LIMITS.maxSources} sources per stream (got ${req.sourceRefs.length})`,
    );
  }
  const ops = new Set<Operation>();
  req.ops.forEach((op, i) => {
    if (!isOperation(op)) {
      throw new InvalidRequestError(
        `ops[${i}]`,
        "must be OPERATION_INSERT, OPERATION_UPDATE or OPERATION_DELETE",
      );
    }
    ops.add(op as Operation);
  });
  checkRange("debounce_ms", req.debounceMs, WATCH_LIMITS.maxDebounceMs);
  checkRange("max_wait_ms", req.maxWaitMs, WATCH_LIMITS.maxWaitMs);
  checkRange("max_changes_per_wake", req.maxChangesPerWake, WATCH_LIMITS.maxChangesPerWake);
  checkRange("heartbeat_interval_ms", req.heartbeatIntervalMs, WATCH_LIMITS.maxHeartbeatMs);
  if (req.heartbeatIntervalMs !== 0 && req.heartbeatIntervalMs < WATCH_LIMITS.minHeartbeatMs) {
    throw new InvalidRequestError(
      "heartbeat_interval_ms",
      `must be 0 (default) or at least ${WATCH_LIMITS.minHeartbeatMs}`,
    );
  }
  if ("token" in req.start) decodeResumeToken(req.start.token);
  return {
    ops,
    debounceMs: req.debounceMs,
    maxWaitMs: req.maxWaitMs,
    maxChangesPerWake: req.maxChangesPerWake || WATCH_LIMITS.defaultMaxChangesPerWake,
    heartbeatIntervalMs: req.heartbeatIntervalMs || WATCH_LIMITS.defaultHeartbeatMs,
    rebuildAfterGap: req.rebuildAfterGap ?? false,
    start: req.start,
  };
}

/** An open watch: its session and what to release when it ends. */
export interface OpenWatch {
  readonly session: WatchSession;
  /** Releases the stream's quota slot and its hold on the bridges. Idempotent. */
  close(): void;
}

/**
 * Opens WatchWakes streams: validates, checks every ref is the caller's (NOT_FOUND otherwise,
 * before anything is streamed), enforces the per-tenant stream quota, keeps the bridges running
 * while watched, and builds the session.
 */
export class WatchService {
  readonly #deps: WatchServiceDeps;
  readonly #open = new Map<string, number>();
  readonly #sessions = new Map<WatchSession, string>();

  constructor(deps: WatchServiceDeps) {
    this.#deps = deps;
  }

  /** Open streams of a tenant. */
  openStreams(tenant: string): number {
    return this.#open.get(tenant) ?? 0;
  }

  /**
   * Per (tenant, source) watched in this process, the largest backlog of any open stream: log
   * entries known to exist (read or announced) that the stream has not delivered. Cheap: no I/O.
   */
  backlogs(): { readonly tenant: string; readonly sourceRef: string; readonly entries: bigint }[] {
    const largest = new Map<string, { tenant: string; sourceRef: string; entries: bigint }>();
    for (const [session, tenant] of this.#sessions) {
      for (const { sourceRef, entries } of session.backlogs()) {
        const key = sourceKey(tenant, sourceRef);
        const seen = largest.get(key);
        if (!seen || entries > seen.entries) largest.set(key, { tenant, sourceRef, entries });
      }
    }
    return [...largest.values()];
  }

  /** Validates the request, checks access and quota, and opens the session (see the class). */
  async open(tenant: string, req: WatchRequest): Promise<OpenWatch> {
    const options = validateWatchRequest(req);
    const wantsSnapshot =
      options.rebuildAfterGap || ("position" in options.start && options.start.position === "snapshot");
    if (wantsSnapshot && !this.#deps.snapshots) {
      const field = options.rebuildAfterGap ? "rebuild_after_gap" : "start_position";
      throw new InvalidRequestError(field, "snapshots are not available on this server");
    }
    const refs = [...new Set(req.sourceRefs)];
    const sources: SourceRecord[] = [];
    for (const ref of refs) sources.push(await this.#deps.registry.get(tenant, ref));
    const open = this.#open.get(tenant) ?? 0;
    if (open >= this.#deps.maxStreamsPerTenant) {
      throw new QuotaExceededError(
        "streams_per_tenant",
        `tenant already has ${open} open WatchWakes streams (limit ${this.#deps.maxStreamsPerTenant}); close some first`,
      );
    }
    this.#open.set(tenant, open + 1);
    const releases = sources.map((s) => this.#deps.retain(s));
    await this.#deps.touchWatched(tenant, refs).catch(() => {});
    const session = new WatchSession({
      tenant,
      sources,
      reader: this.#deps.reader,
      notifier: this.#deps.notifier,
      // Only "not found" means deleted; any other error ends the stream rather than faking a deletion.
      getSource: (ref) =>
        this.#deps.registry.get(tenant, ref).catch((err: unknown) => {
          if (err instanceof SourceNotFoundError) return undefined;
          throw err;
        }),
      options,
      limits: this.#deps.limits,
      ...(this.#deps.onDispatch ? { onDispatch: this.#deps.onDispatch } : {}),
      ...(this.#deps.snapshots ? { snapshots: this.#deps.snapshots } : {}),
    });
    let closed = false;
    this.#sessions.set(session, tenant);
    return {
      session,
      close: () => {
        if (closed) return;
        closed = true;
        this.#sessions.delete(session);
        for (const release of releases) release();
        const n = (this.#open.get(tenant) ?? 1) - 1;
        if (n <= 0) this.#open.delete(tenant);
        else this.#open.set(tenant, n);
      },
    };
  }
}

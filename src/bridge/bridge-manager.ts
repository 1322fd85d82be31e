import type { Backoff } from "../domain/backoff.js";
import type { BridgeStatus } from "../domain/bridge-state.js";
import type { BridgeControl, CursorStore, SourceStore } from "../domain/ports.js";
import type { SourceRecord, SourceState } from "../domain/source.js";
import { sourceKey as keyOf } from "../domain/source-key.js";
import { StartGate } from "../domain/start-gate.js";
import type { Logger } from "../logger.js";
import { type Metrics, setBridgeCounts } from "../metrics.js";
import { DEFAULT_CONFIG } from "../settings.js";
import { Bridge } from "./bridge.js";
import { BRIDGE_START_CONCURRENCY, START_SLOT_MAX_MS } from "./bridge-deps.js";
import { ElectricAgents } from "./electric-agents.js";

/** Default idle TTL: a source nobody registered or watched for this long is stopped (IDLE). */
export const DEFAULT_IDLE_TTL_MS = DEFAULT_CONFIG.idleTtlMs;
/** Default interval of the idle check. */
export const DEFAULT_GC_INTERVAL_MS = DEFAULT_CONFIG.gcIntervalMs;

/** Dependencies of {@link BridgeManager}. */
export interface BridgeManagerDeps {
  readonly sources: SourceStore;
  readonly cursors: CursorStore;
  readonly backoff: Backoff;
  readonly owner: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Idle TTL; 0 disables idle stops. */
  readonly idleTtlMs: number;
  /** Interval of the idle check. */
  readonly gcIntervalMs: number;
  /** Fetch for Electric requests (tests). */
  readonly fetchClient?: typeof fetch;
  /**
   * Whether a stored shape URL is still allowed (`PGSYNC_ALLOWED_URLS`); a bridge whose URL is not
   * goes FAILED with a reason that says so. Default: every URL is allowed.
   */
  readonly isUrlAllowed?: (shapeUrl: string) => boolean;
  /** Clock (tests). Default Date.now. */
  readonly now?: () => number;
  /** replicas (issue 13): called after a bridge was fenced (a commit refused for a stale term) and dropped. */
  readonly onFenced?: (tenant: string, sourceRef: string) => void;
}

/** In-memory view of a running bridge. */
export interface BridgeView {
  readonly status: BridgeStatus;
  readonly upToDateAt: Date | undefined;
}

/** A running bridge as the metrics see it. */
export interface RunningBridge extends BridgeView {
  readonly tenant: string;
  readonly sourceRef: string;
  /** Newest log seq this bridge committed or claimed. */
  readonly headSeq: bigint;
}

/**
 * Owns the bridges of this process: exactly one per (tenant, source_ref), created synchronously
 * so concurrent registrations cannot start two; resumes every active source at start; stops
 * idle ones; stops and forgets deleted ones.
 */
export class BridgeManager implements BridgeControl {
  readonly #deps: BridgeManagerDeps;
  readonly #bridges = new Map<string, Bridge>();
  readonly #watchers = new Map<string, number>();
  readonly #counts = new Map<SourceState, number>();
  readonly #startGate = new StartGate(BRIDGE_START_CONCURRENCY, START_SLOT_MAX_MS);
  readonly #agents = new ElectricAgents();
  #gcTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: BridgeManagerDeps) {
    this.#deps = deps;
  }

  /**
   * Starts a bridge for `record` unless one is running; a FAILED or ended bridge is replaced.
   * `store` (replicas): the bridge's own cursor store, bound to the lease it runs under.
   */
  ensure(record: SourceRecord, store?: CursorStore): void {
    if (this.#stopped) return;
    const key = keyOf(record.tenant, record.sourceRef);
    const existing = this.#bridges.get(key);
    if (existing && !existing.ended) return;
    if (existing) this.#count(existing.status.state, -1);
    // The callbacks below live as long as the bridge: they capture the identity, not the record
    // (its dates and options would otherwise stay in memory per source).
    const { tenant, sourceRef } = record;
    const bridge = new Bridge({
      tenant,
      sourceRef,
      incarnation: record.incarnation,
      options: record.options,
      shapeUrl: record.shapeUrl,
      store: store ?? this.#deps.cursors,
      backoff: this.#deps.backoff,
      owner: this.#deps.owner,
      logger: this.#deps.logger,
      metrics: this.#deps.metrics,
      onStatus: (b, previous) => {
        if (this.#bridges.get(key) !== b) return;
        this.#count(previous.state, -1);
        this.#count(b.status.state, +1);
      },
      // replicas (issue 13): a fenced bridge leaves the counts (and GetCursor's view) at once.
      onFenced: (b) => {
        if (this.#bridges.get(key) === b) {
          this.#bridges.delete(key);
          this.#count(b.status.state, -1);
        }
        this.#deps.onFenced?.(tenant, sourceRef);
      },
      startGate: this.#startGate,
      fetchClient: this.#deps.fetchClient ?? this.#agents.fetchFor(key),
      ...(this.#deps.isUrlAllowed ? { isUrlAllowed: this.#deps.isUrlAllowed } : {}),
    });
    this.#bridges.set(key, bridge);
    this.#count(bridge.status.state, +1);
    bridge.start();
  }

  /** True when a bridge for the source is running (not ended). */
  isRunning(tenant: string, sourceRef: string): boolean {
    const bridge = this.#bridges.get(keyOf(tenant, sourceRef));
    return bridge !== undefined && !bridge.ended;
  }

  /** Stops the source's bridge and forgets it (before the source is deleted). */
  async remove(tenant: string, sourceRef: string): Promise<void> {
    const key = keyOf(tenant, sourceRef);
    const bridge = this.#bridges.get(key);
    if (!bridge) return;
    this.#bridges.delete(key);
    this.#count(bridge.status.state, -1);
    await bridge.stop("stop");
  }

  /** The running bridge's in-memory view, when this process runs it. */
  view(tenant: string, sourceRef: string): BridgeView | undefined {
    const bridge = this.#bridges.get(keyOf(tenant, sourceRef));
    return bridge ? { status: bridge.status, upToDateAt: bridge.upToDateAt } : undefined;
  }

  /** Every bridge this process runs (ended ones included), for per-source metrics. */
  running(): RunningBridge[] {
    return [...this.#bridges.values()].map((b) => ({
      tenant: b.tenant,
      sourceRef: b.sourceRef,
      status: b.status,
      upToDateAt: b.upToDateAt,
      headSeq: b.headSeq,
    }));
  }

  /**
   * A watcher holds the source: it is never stopped as idle, and it is (re)started through
   * `ensure` (replicas: the lease coordinator's, which runs it wherever its lease goes).
   */
  retain(record: SourceRecord, ensure: (record: SourceRecord) => void = (r) => this.ensure(r)): () => void {
    const key = keyOf(record.tenant, record.sourceRef);
    this.#watchers.set(key, (this.#watchers.get(key) ?? 0) + 1);
    if (record.state !== "FAILED") ensure(record);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.#watchers.get(key) ?? 1) - 1;
      if (n <= 0) this.#watchers.delete(key);
      else this.#watchers.set(key, n);
    };
  }

  /** Number of bridges per state. */
  counts(): ReadonlyMap<SourceState, number> {
    return this.#counts;
  }

  /** Number of bridges this process runs. */
  get size(): number {
    return this.#bridges.size;
  }

  /**
   * Resumes every source that was running (STARTING, LIVE, BACKING_OFF, STOPPED) unless `resume`
   * is false (replicas: leases decide what runs here), and starts the idle check.
   */
  async start(resume = true): Promise<number> {
    const records = resume ? await this.#deps.sources.listResumable() : [];
    for (const record of records) this.ensure(record);
    if (this.#deps.idleTtlMs > 0) {
      this.#gcTimer = setInterval(() => {
        this.collectIdle().catch((err: unknown) => {
          this.#deps.logger.warn({ err: { message: (err as Error).message } }, "idle check failed");
        });
      }, this.#deps.gcIntervalMs);
      this.#gcTimer.unref();
    }
    this.#deps.logger.info({ resumed: records.length }, "bridges resumed");
    return records.length;
  }

  /** Stops bridges whose source nobody registered or watched within the idle TTL and that have no watcher. */
  async collectIdle(): Promise<number> {
    const now = (this.#deps.now ?? Date.now)();
    // One read for every source (a read per bridge was 10,000 round trips a minute at 10,000).
    const unused = await this.#deps.sources.listUnusedSince(new Date(now - this.#deps.idleTtlMs));
    let stopped = 0;
    for (const { tenant, sourceRef } of unused) {
      const key = keyOf(tenant, sourceRef);
      const bridge = this.#bridges.get(key);
      if (!bridge || bridge.ended || (this.#watchers.get(key) ?? 0) > 0) continue;
      this.#bridges.delete(key);
      this.#count(bridge.status.state, -1);
      await bridge.stop("idle");
      stopped++;
      this.#deps.logger.info({ tenant: bridge.tenant, source_ref: bridge.sourceRef }, "idle source stopped");
    }
    return stopped;
  }

  /** Stops every bridge (shutdown): in-flight batches commit or are abandoned whole. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#gcTimer) clearInterval(this.#gcTimer);
    const bridges = [...this.#bridges.values()];
    this.#bridges.clear();
    await Promise.allSettled(bridges.map((b) => b.stop("stop")));
    await this.#agents.destroy();
    this.#counts.clear();
    setBridgeCounts(this.#deps.metrics, this.#counts);
  }

  #count(state: SourceState, delta: number): void {
    this.#counts.set(state, Math.max(0, (this.#counts.get(state) ?? 0) + delta));
    setBridgeCounts(this.#deps.metrics, this.#counts);
  }
}

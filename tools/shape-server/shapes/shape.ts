/**
 * One shape in memory: its definition and table, snapshot progress, log position, chunk
 * boundaries, a bounded tail of recent log entries, and the one shared notification its live
 * requests wait on.
 */
import { Notifier } from "../notifier.js";
import type { LogOffset } from "../offset.js";
import type { ChunkEnd } from "../storage/shape-store.js";
import { type SnapshotInfo, SnapshotVisibility } from "../xid.js";
import { buildElectricSchema } from "./electric-schema.js";
import { joinAsJson, keyPrefix, quotedColumns, snapshotHeaders } from "./messages.js";
import { definitionKey, type ShapeDefinition } from "./shape-definition.js";
import type { ColumnInfo, TableInfo } from "./table-info.js";

/** A transaction's messages for the shape, kept in memory. */
export interface TailEntry {
  /** Commit LSN. */
  readonly tx: bigint;
  /** Op offset of the last message. */
  readonly op: number;
  /** Messages' JSON separated by `\n`. */
  readonly body: string;
}

/** Where a read of the log after some transaction ends, and where its entries are. */
export interface LogRead {
  /** Last offset of the response, or null when there is nothing after the requested point. */
  readonly end: LogOffset | null;
  /** True when `end` is the shape's last offset. */
  readonly upToDate: boolean;
  /** The entries when they are in memory; null means "read them from storage". */
  readonly bodies: readonly string[] | null;
}

/** State of a snapshot chunk request. */
export interface ChunkAvailability {
  /** The chunk exists. */
  readonly exists: boolean;
  /** It is the snapshot's last chunk (then `snapshot-end` follows it). */
  readonly last: boolean;
}

/** Outcome of waiting for a live change. */
export type WaitOutcome = "changed" | "timeout" | "gone" | "aborted";

/** Shared memory budget of all shapes' tails. */
export interface TailBudget {
  /** Bytes a shape's tail may keep now. */
  perShapeBytes(): number;
}

/** Construction parameters of a {@link Shape}. */
export interface ShapeInit {
  readonly handle: string;
  readonly definition: ShapeDefinition;
  readonly table: TableInfo;
  readonly tailBudget: TailBudget;
}

/** In-memory state of one shape. */
export class Shape {
  /** Handle. */
  readonly handle: string;
  /** Definition. */
  readonly definition: ShapeDefinition;
  /** Canonical key of the definition. */
  readonly key: string;
  /** The table as it was when the shape was created. */
  readonly table: TableInfo;
  /** Selected columns, in table order. */
  readonly selected: readonly ColumnInfo[];
  /** The `electric-schema` header value. */
  readonly schemaHeader: string;
  /** Key prefix `"schema"."table"`. */
  readonly keyPrefix: string;
  /** Selected column names → JSON-quoted names. */
  readonly quotedSelected: ReadonlyMap<string, string>;
  /** Key columns that are selected → JSON-quoted names (the value of default-replica deletes). */
  readonly quotedKey: ReadonlyMap<string, string>;
  /** Serialised headers of snapshot rows. */
  readonly snapshotHeaders: string;
  /** Identity of the where evaluation (shapes with equal where and params share it). */
  readonly whereKey: string | null;

  readonly #tailBudget: TailBudget;
  #visibility: SnapshotVisibility | null = null;
  #snapshot: SnapshotInfo | null = null;
  #snapshotStarted: Promise<void>;
  #resolveStarted!: () => void;
  #rejectStarted!: (err: unknown) => void;
  #completedChunks = 0;
  #totalChunks: number | null = null;
  #snapshotError: unknown = null;
  readonly #snapshotProgress = new Notifier();

  #lastTx = 0n;
  #lastOp = 0;
  #chunkEnds: ChunkEnd[] = [];
  #bytesSinceChunkEnd = 0;

  #tail: TailEntry[] = [];
  #tailBytes = 0;
  /** Every entry with `tx > #tailFromTx` is in `#tail`. */
  #tailFromTx = 0n;
  #bodyCache = new Map<string, string>();
  #bodyBuilds = 0;

  readonly #changes = new Notifier();
  #gone = false;
  #waiters = 0;

  constructor(init: ShapeInit) {
    this.handle = init.handle;
    this.definition = init.definition;
    this.key = definitionKey(init.definition);
    this.table = init.table;
    this.#tailBudget = init.tailBudget;
    const wanted = init.definition.columns ? new Set(init.definition.columns) : null;
    this.selected = init.table.columns.filter((c) => !wanted || wanted.has(c.name));
    this.schemaHeader = buildElectricSchema(init.table, this.selected);
    this.keyPrefix = keyPrefix(init.table.relation);
    this.quotedSelected = quotedColumns(this.selected.map((c) => c.name));
    const selectedNames = new Set(this.selected.map((c) => c.name));
    this.quotedKey = quotedColumns(init.table.keyColumns.filter((c) => selectedNames.has(c)));
    this.snapshotHeaders = snapshotHeaders(init.table.relation);
    this.whereKey =
      init.definition.where === null ? null : JSON.stringify([init.definition.where, init.definition.params]);
    this.#snapshotStarted = new Promise((resolve, reject) => {
      this.#resolveStarted = resolve;
      this.#rejectStarted = reject;
    });
    this.#snapshotStarted.catch(() => {});
  }

  /** Restores a shape loaded from storage: snapshot complete, log up to (lastTx, lastOp). */
  restore(
    snapshot: SnapshotInfo,
    chunks: number,
    lastTx: bigint,
    lastOp: number,
    chunkEnds: ChunkEnd[],
  ): void {
    this.setSnapshotInfo(snapshot);
    this.#completedChunks = chunks;
    this.#totalChunks = chunks;
    this.#lastTx = lastTx;
    this.#lastOp = lastOp;
    this.#chunkEnds = chunkEnds;
    this.#tailFromTx = lastTx;
  }

  // ---- snapshot ---------------------------------------------------------------------------

  /** Records the snapshot's visibility data; replicated changes can be filtered from now on. */
  setSnapshotInfo(info: SnapshotInfo): void {
    this.#snapshot = info;
    this.#visibility = new SnapshotVisibility(info);
    this.#resolveStarted();
  }

  /** The snapshot's visibility data (after {@link snapshotStarted}). */
  get snapshotInfo(): SnapshotInfo {
    if (!this.#snapshot) throw new Error("snapshot has not started");
    return this.#snapshot;
  }

  /** Resolves once the snapshot transaction has started; rejects if it failed to. */
  snapshotStarted(): Promise<void> {
    return this.#snapshotStarted;
  }

  /** True once the snapshot's visibility data is known. */
  get snapshotKnown(): boolean {
    return this.#visibility !== null;
  }

  /** True when transaction `xid` is already part of the snapshot (and must be skipped). */
  isInSnapshot(xid: number): boolean {
    if (!this.#visibility) throw new Error("snapshot has not started");
    return this.#visibility.isVisible(xid);
  }

  /** Chunks `[0, completed)` are stored. */
  snapshotChunksStored(completed: number): void {
    this.#completedChunks = completed;
    this.#snapshotProgress.notify();
  }

  /** The snapshot is complete with `total` chunks. */
  snapshotDone(total: number): void {
    this.#completedChunks = total;
    this.#totalChunks = total;
    this.#snapshotProgress.notify();
  }

  /** The snapshot failed; chunk requests get the error. */
  snapshotFailed(err: unknown): void {
    this.#snapshotError = err;
    this.#rejectStarted(err);
    this.#snapshotProgress.notify();
  }

  /** True once the snapshot has been fully stored. */
  get snapshotComplete(): boolean {
    return this.#totalChunks !== null;
  }

  /** Waits until it is known whether snapshot chunk `chunk` exists and whether it is the last. */
  async awaitChunk(chunk: number): Promise<ChunkAvailability> {
    for (;;) {
      if (this.#snapshotError) throw this.#snapshotError;
      if (this.#gone) return { exists: false, last: false };
      const total = this.#totalChunks;
      if (total !== null) return { exists: chunk < total, last: chunk === total - 1 };
      if (chunk + 1 < this.#completedChunks) return { exists: true, last: false };
      await this.#snapshotProgress.wait();
    }
  }

  // ---- log --------------------------------------------------------------------------------

  /** Offset of the last log entry, or `0_inf` when the log is empty. */
  get lastOffset(): LogOffset {
    return this.#lastTx === 0n
      ? { tx: 0n, op: Number.POSITIVE_INFINITY }
      : { tx: this.#lastTx, op: this.#lastOp };
  }

  /** Commit LSN of the last log entry (0 when empty). */
  get lastTx(): bigint {
    return this.#lastTx;
  }

  /** Bytes logged since the last chunk boundary (the ingest decides boundaries from it). */
  get bytesSinceChunkEnd(): number {
    return this.#bytesSinceChunkEnd;
  }

  /** Number of response bodies built from the tail (shared by waiters of the same offset). */
  get bodyBuilds(): number {
    return this.#bodyBuilds;
  }

  /** Live requests currently held on this shape. */
  get waiters(): number {
    return this.#waiters;
  }

  /** Appends durably written entries (in order), wakes live requests. */
  appendCommitted(
    entries: readonly TailEntry[],
    chunkEnds: readonly ChunkEnd[],
    bytesSinceChunkEnd: number,
  ): void {
    if (entries.length === 0) return;
    for (const entry of entries) {
      this.#tail.push(entry);
      this.#tailBytes += entry.body.length;
    }
    const last = entries[entries.length - 1]!;
    this.#lastTx = last.tx;
    this.#lastOp = last.op;
    this.#chunkEnds.push(...chunkEnds);
    this.#bytesSinceChunkEnd = bytesSinceChunkEnd;
    this.#trimTail();
    this.#bodyCache.clear();
    this.#changes.notify();
  }

  #trimTail(): void {
    const budget = this.#tailBudget.perShapeBytes();
    if (this.#tailBytes <= budget) return;
    let drop = 0;
    let bytes = this.#tailBytes;
    while (drop < this.#tail.length && bytes > budget / 2) {
      const tx = this.#tail[drop]!.tx;
      while (drop < this.#tail.length && this.#tail[drop]!.tx === tx) {
        bytes -= this.#tail[drop]!.body.length;
        drop++;
      }
      this.#tailFromTx = tx;
    }
    this.#tail = this.#tail.slice(drop);
    this.#tailBytes = bytes;
  }

  /** Bytes of log held in memory. */
  get tailBytes(): number {
    return this.#tailBytes;
  }

  /**
   * What a response for "everything after transaction `afterTx`" contains: entries up to the end
   * of the chunk that follows, from memory when possible. Offsets are resumed per transaction:
   * every offset the server hands out ends a transaction (chunks end on transaction boundaries).
   */
  readAfter(afterTx: bigint): LogRead {
    if (this.#lastTx <= afterTx) return { end: null, upToDate: true, bodies: null };
    let end: ChunkEnd = { tx: this.#lastTx, op: this.#lastOp };
    for (const chunkEnd of this.#chunkEnds) {
      if (chunkEnd.tx > afterTx) {
        end = chunkEnd;
        break;
      }
    }
    const upToDate = end.tx === this.#lastTx;
    if (afterTx < this.#tailFromTx) return { end, upToDate, bodies: null };
    const from = this.#firstIndexAfter(afterTx);
    let to = from;
    while (to < this.#tail.length && this.#tail[to]!.tx <= end.tx) to++;
    return { end, upToDate, bodies: this.#tail.slice(from, to).map((e) => e.body) };
  }

  /** The joined bodies of {@link readAfter}, built once per log version and shared by all waiters. */
  joinedBodiesAfter(afterTx: bigint, bodies: readonly string[]): string {
    const cacheKey = afterTx.toString();
    let joined = this.#bodyCache.get(cacheKey);
    if (joined === undefined) {
      joined = joinAsJson(bodies);
      this.#bodyCache.set(cacheKey, joined);
      this.#bodyBuilds++;
    }
    return joined;
  }

  #firstIndexAfter(afterTx: bigint): number {
    let lo = 0;
    let hi = this.#tail.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#tail[mid]!.tx <= afterTx) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Waits for a change after `afterTx`, up to `timeoutMs`. All waiters of the shape share one
   * pending notification.
   */
  async waitForChange(afterTx: bigint, timeoutMs: number, signal: AbortSignal): Promise<WaitOutcome> {
    if (this.#gone) return "gone";
    if (this.#lastTx > afterTx) return "changed";
    if (signal.aborted) return "aborted";
    this.#waiters++;
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) return "timeout";
        const outcome = await this.#waitOnce(remaining, signal);
        if (outcome) return outcome;
        if (this.#gone) return "gone";
        if (this.#lastTx > afterTx) return "changed";
      }
    } finally {
      this.#waiters--;
    }
  }

  #waitOnce(ms: number, signal: AbortSignal): Promise<WaitOutcome | null> {
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome | null): void => {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener("abort", onAbort);
        resolve(outcome);
      };
      const onAbort = (): void => finish("aborted");
      const timer = setTimeout(() => finish("timeout"), ms);
      const unsubscribe = this.#changes.subscribe(() => finish(null));
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** True once the shape was rotated, deleted or invalidated. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Marks the shape gone and wakes its waiters (they answer 409). */
  markGone(): void {
    this.#gone = true;
    this.#tail = [];
    this.#tailBytes = 0;
    this.#bodyCache.clear();
    this.#changes.notify();
    this.#snapshotProgress.notify();
  }
}

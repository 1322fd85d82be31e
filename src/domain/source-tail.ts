import type { ChangeEntry, LogEntry } from "./log-entry.js";
import type { ChangeLogReader } from "./ports.js";
import type { TokenPosition } from "./resume-token.js";
import { runSnapshot, type SnapshotSettings } from "./snapshot-feed.js";
import { newSplice, type SpliceState, spliceChange } from "./snapshot-splice.js";
import type { SourceRecord } from "./source.js";
import type { StartPlan } from "./start-plan.js";
import { type UnsealedFrame, type WatchOptions, wakeIdFor } from "./watch-frames.js";

/** Dependencies of a {@link SourceTail}. */
export interface SourceTailDeps {
  readonly tenant: string;
  /** The watched source. */
  readonly record: SourceRecord;
  readonly reader: ChangeLogReader;
  readonly options: WatchOptions;
  /** Log entries read per query. */
  readonly readPageSize: number;
  /** Hands a frame on; when it is called, the tail's position already includes the frame. */
  readonly emit: (frame: UnsealedFrame) => Promise<void>;
  /** Whether the stream still takes frames; reading stops when it does not. */
  readonly isOpen: () => boolean;
  /** Receives the error of a flush started by the debounce timer. */
  readonly onError: (err: unknown) => void;
  /** Called with the latency from a log notification to its frames being handed on (metrics). */
  readonly onDispatch?: (seconds: number) => void;
  /** How snapshots are read; required for snapshot starts and rebuilds. */
  readonly snapshots?: SnapshotSettings;
  /** Aborts snapshot page requests when the stream ends. */
  readonly signal?: AbortSignal;
}

/**
 * The live tail of one source in one stream: it reads the log after its read position, applies the
 * ops filter, holds matching changes for the trailing debounce (bounded by max_wait), splits them
 * into wakes of at most max_changes_per_wake and hands them on. It owns the source's position and
 * is the only code that moves it: the position advances only past entries handed on (or filtered
 * out with nothing held before them), never backwards, so a token stamped after any frame resumes
 * with no loss and no duplicate. A snapshot (START_POSITION_SNAPSHOT, or a rebuild after a gap)
 * is delivered before the log is read further, and then spliced with it (snapshot-splice.ts): the
 * splice travels in the position until it retires.
 */
export class SourceTail {
  readonly #deps: SourceTailDeps;
  /** Everything up to here is handed on or deliberately skipped (safe to resume after). */
  #position = 0n;
  /** Everything up to here has been read from the log. */
  #readPosition = 0n;
  /** Matching changes held by debounce (or not yet split into wakes). */
  #held: ChangeEntry[] = [];
  /** When the first held change was held (for max_wait). */
  #heldSince = 0;
  #timer: NodeJS.Timeout | undefined;
  #dirty = true;
  /** Before the stream is live, the backlog is handed on without debounce. */
  #live = false;
  #closed = false;
  #notifiedAt: number | undefined;
  /** The snapshot being delivered or spliced with the log; undefined when there is none. */
  #splice: SpliceState | undefined;
  /** Seq of the change that retires the splice: it is dropped once the position passes it. */
  #retireAt: bigint | undefined;
  /** Newest log seq this tail knows of (read, or announced by a notification). */
  #knownHead = 0n;

  constructor(deps: SourceTailDeps) {
    this.#deps = deps;
  }

  /** The watched source. */
  get record(): SourceRecord {
    return this.#deps.record;
  }

  /** The source's resume position: everything up to `seq` is handed on. */
  get position(): TokenPosition {
    return {
      sourceRef: this.#deps.record.sourceRef,
      incarnation: this.#deps.record.incarnation,
      seq: this.#position,
      ...(this.#splice ? { splice: this.#splice } : {}),
    };
  }

  /** Log entries known to exist that this stream has not handed on or skipped yet (metrics). */
  get backlog(): bigint {
    let head = this.#knownHead;
    if (this.#readPosition > head) head = this.#readPosition;
    return head > this.#position ? head - this.#position : 0n;
  }

  /** Whether the log may hold entries not read yet. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** Announces the plan's gaps and moves to its start position (before anything is read). */
  async begin(plan: StartPlan): Promise<void> {
    const sourceRef = this.#deps.record.sourceRef;
    for (const gap of plan.gaps) {
      this.#advance(gap.positionAfter);
      const { reason, fromSeq, toSeq, detail, rebuild } = gap;
      if (rebuild) this.#splice = plan.splice;
      const frame = { type: "gap" as const, sourceRef, reason, fromSeq, toSeq, detail };
      await this.#deps.emit(rebuild ? { ...frame, rebuild } : frame);
    }
    this.#advance(plan.position);
    this.#readPosition = this.#position;
    this.#splice = plan.splice;
  }

  /**
   * A notification said the log grew to `headSeq` (or, without it, may have changed). Returns
   * whether the log must be read again.
   */
  notify(headSeq?: bigint): boolean {
    if (headSeq !== undefined) {
      if (headSeq > this.#knownHead) this.#knownHead = headSeq;
      if (headSeq <= this.#readPosition) return false;
      this.#notifiedAt ??= performance.now();
    }
    this.#dirty = true;
    return true;
  }

  /** From now on, debounce applies (the backlog is delivered). */
  goLive(): void {
    this.#live = true;
  }

  /** Reads the log up to its end and handles every entry. */
  async drain(): Promise<void> {
    const { reader, tenant, readPageSize, record } = this.#deps;
    this.#dirty = false;
    for (;;) {
      if (this.#stopped()) return;
      if (this.#splice && !this.#splice.complete) await this.#deliverSnapshot();
      if (this.#stopped()) return;
      const entries = await reader.read(tenant, record.sourceRef, this.#readPosition, readPageSize, {
        incarnation: record.incarnation,
      });
      let rebuilding = false;
      for (const entry of entries) {
        await this.#accept(entry);
        // A gap started a rebuild: its snapshot goes before the entries after the gap.
        rebuilding = this.#splice?.complete === false;
        if (rebuilding) break;
      }
      if (!rebuilding && entries.length < readPageSize) break;
    }
    if (this.#notifiedAt !== undefined) {
      this.#deps.onDispatch?.((performance.now() - this.#notifiedAt) / 1000);
      this.#notifiedAt = undefined;
    }
  }

  /** Hands on the held changes now, as wakes of at most max_changes_per_wake each. */
  async flush(): Promise<void> {
    this.#clearTimer();
    const { maxChangesPerWake } = this.#deps.options;
    const { sourceRef, incarnation, options } = this.#deps.record;
    while (this.#held.length > 0) {
      const changes = this.#held.splice(0, maxChangesPerWake);
      const firstSeq = (changes[0] as ChangeEntry).seq;
      const lastSeq = (changes.at(-1) as ChangeEntry).seq;
      // After the last piece, everything read so far is handed on (the rest was filtered out).
      this.#advance(this.#held.length === 0 ? this.#readPosition : lastSeq);
      await this.#deps.emit({
        type: "wake",
        wakeId: wakeIdFor(sourceRef, incarnation, firstSeq, lastSeq),
        sourceRef,
        table: options.table,
        changes,
        firstSeq,
        lastSeq,
      });
    }
  }

  /** Stops the tail: drops its timer; reading stops. */
  close(): void {
    this.#closed = true;
    this.#clearTimer();
  }

  #stopped(): boolean {
    return this.#closed || !this.#deps.isOpen();
  }

  /** The one place the position moves. */
  #advance(seq: bigint): void {
    if (seq < this.#position) {
      throw new Error(
        `position of ${this.#deps.record.sourceRef} would move back from ${this.#position} to ${seq}`,
      );
    }
    this.#position = seq;
    if (this.#retireAt !== undefined && seq >= this.#retireAt) {
      this.#splice = undefined;
      this.#retireAt = undefined;
    }
  }

  /** Delivers the rest of the snapshot at the current position (no debounce: rows go now). */
  async #deliverSnapshot(): Promise<void> {
    const { snapshots, options, record } = this.#deps;
    if (!snapshots) throw new Error("snapshots are not configured on this server");
    await this.flush();
    await runSnapshot({
      record,
      settings: snapshots,
      seq: this.#position,
      maxChangesPerWake: options.maxChangesPerWake,
      deliverRows: options.ops.size === 0 || options.ops.has("insert"),
      getState: () => this.#splice ?? newSplice(),
      setState: (state) => {
        this.#splice = state;
      },
      emit: (frame) => this.#deps.emit(frame),
      isOpen: () => !this.#stopped(),
      signal: this.#deps.signal ?? new AbortController().signal,
    });
  }

  /** Whether the splice says the change is already in the delivered snapshot (skip it). */
  #spliced(entry: ChangeEntry): boolean {
    if (!this.#splice?.complete || this.#retireAt !== undefined) return false;
    const verdict = spliceChange(this.#splice, entry);
    if (verdict.retire) this.#retireAt = entry.seq;
    return verdict.skip;
  }

  async #accept(entry: LogEntry): Promise<void> {
    if (entry.kind === "gap") {
      // Held changes go first, with a token from before the gap, so resuming from them still
      // delivers the gap.
      await this.flush();
      this.#readPosition = entry.seq;
      this.#advance(entry.seq);
      const rebuild = this.#deps.options.rebuildAfterGap === true;
      // The gap's token already asks for the rebuild, so resuming from it delivers the snapshot.
      if (rebuild) [this.#splice, this.#retireAt] = [newSplice(), undefined];
      const { reason, seq, detail } = entry;
      await this.#deps.emit({
        type: "gap",
        sourceRef: this.#deps.record.sourceRef,
        reason,
        fromSeq: seq,
        toSeq: seq,
        detail,
        ...(rebuild ? { rebuild } : {}),
      });
      return;
    }
    this.#readPosition = entry.seq;
    const { ops, debounceMs, maxChangesPerWake } = this.#deps.options;
    if ((ops.size > 0 && !ops.has(entry.operation)) || this.#spliced(entry)) {
      if (this.#held.length === 0) this.#advance(entry.seq);
      return;
    }
    if (this.#held.length === 0) this.#heldSince = Date.now();
    this.#held.push(entry);
    if (debounceMs === 0 || this.#held.length >= maxChangesPerWake) {
      await this.flush();
    } else if (this.#live) {
      this.#armDebounce();
    }
  }

  #armDebounce(): void {
    const { debounceMs, maxWaitMs } = this.#deps.options;
    this.#clearTimer();
    let delay = debounceMs;
    if (maxWaitMs > 0) delay = Math.max(0, Math.min(delay, this.#heldSince + maxWaitMs - Date.now()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch((err: unknown) => this.#deps.onError(err));
    }, delay);
  }

  #clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

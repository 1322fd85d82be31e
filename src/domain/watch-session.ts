import { ConsumerTooSlowError } from "./errors.js";
import type { ChangeEntry, LogEntry, LogEvent } from "./log-entry.js";
import type { ChangeLogReader, LogNotifier } from "./ports.js";
import { decodeResumeToken, encodeResumeToken, type TokenPosition } from "./resume-token.js";
import type { SourceRecord, SourceState } from "./source.js";
import { type WatchFrame, type WatchOptions, wakeIdFor } from "./watch-frames.js";

/** Limits of one session. */
export interface WatchLimits {
  /** Frames buffered for a consumer before the stream waits for it to read. */
  readonly maxBufferedFrames: number;
  /** How long a full buffer may stay full before the stream is cut (RESOURCE_EXHAUSTED). */
  readonly stallTimeoutMs: number;
  /** Log entries read per query. */
  readonly readPageSize: number;
}

/** Dependencies of a {@link WatchSession}. */
export interface WatchSessionDeps {
  readonly tenant: string;
  /** The watched sources (already checked to be the tenant's). */
  readonly sources: readonly SourceRecord[];
  readonly reader: ChangeLogReader;
  readonly notifier: LogNotifier;
  /** Reads a source's current record (for failure reasons); undefined when deleted. */
  readonly getSource: (sourceRef: string) => Promise<SourceRecord | undefined>;
  readonly options: WatchOptions;
  readonly limits: WatchLimits;
  /** Called with the latency from a log notification to its frame being queued (metrics). */
  readonly onDispatch?: (seconds: number) => void;
}

/** A frame before its resume token is stamped on (distributes Omit over the union). */
type UnsealedFrame = WatchFrame extends infer F ? (F extends WatchFrame ? Omit<F, "token"> : never) : never;

interface SourceCursor {
  readonly record: SourceRecord;
  /** Everything up to here is delivered or deliberately skipped (safe to resume after). */
  pos: bigint;
  /** Everything up to here has been read from the log. */
  readPos: bigint;
  /** Matching changes held by debounce. */
  buffer: ChangeEntry[];
  /** When the first buffered change was buffered (for max_wait). */
  bufferSince: number;
  timer: NodeJS.Timeout | undefined;
  dirty: boolean;
  /** Last state told to the watcher (FAILED is told, and leaving FAILED is told). */
  toldState: SourceState | undefined;
  notifiedAt: number | undefined;
}

/**
 * One WatchWakes stream: catch-up from the log, a Ready frame, then live tail driven by
 * notifications, with the ops filter, trailing debounce bounded by max_wait, splitting, gaps,
 * heartbeats and a bounded outgoing buffer. The log is the source of truth; notifications only
 * say "read again". Positions only ever advance past what was handed on, so a token always
 * resumes with no loss and no duplicate.
 */
export class WatchSession {
  readonly #deps: WatchSessionDeps;
  readonly #cursors = new Map<string, SourceCursor>();
  readonly #outbox: WatchFrame[] = [];
  readonly #unsubscribes: (() => void)[] = [];
  #wakeConsumer: (() => void) | undefined;
  readonly #producerWaiters = new Set<() => void>();
  #pumping: Promise<void> | undefined;
  #error: unknown;
  #ended = false;
  #ready = false;
  #lastFrameAt = Date.now();
  #heartbeat: NodeJS.Timeout | undefined;
  /** Token of the last frame handed to the consumer (what a cut stream resumes from). */
  #handedToken: string;

  constructor(deps: WatchSessionDeps) {
    this.#deps = deps;
    for (const record of deps.sources) {
      this.#cursors.set(record.sourceRef, {
        record,
        pos: 0n,
        readPos: 0n,
        buffer: [],
        bufferSince: 0,
        timer: undefined,
        dirty: true,
        toldState: record.state,
        notifiedAt: undefined,
      });
    }
    this.#handedToken = this.#token();
  }

  /** Frames until the consumer stops (signal) or the stream is cut (throws ConsumerTooSlowError). */
  async *frames(signal: AbortSignal): AsyncGenerator<WatchFrame> {
    const onAbort = () => this.#wake();
    signal.addEventListener("abort", onAbort);
    try {
      for (const cursor of this.#cursors.values()) {
        const ref = cursor.record.sourceRef;
        this.#unsubscribes.push(
          this.#deps.notifier.subscribe(this.#deps.tenant, ref, (e) => this.#onEvent(ref, e)),
        );
      }
      await this.#initialPositions();
      this.#startHeartbeat();
      this.#schedulePump();
      while (!signal.aborted) {
        const frame = this.#outbox.shift();
        if (frame) {
          this.#releaseProducers();
          this.#handedToken = frame.token;
          this.#lastFrameAt = Date.now();
          yield frame;
          continue;
        }
        if (this.#error !== undefined) throw this.#error;
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#wakeConsumer = resolve;
        });
        this.#wakeConsumer = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#close();
    }
  }

  /** Resume token of the last frame handed on. */
  get resumeToken(): string {
    return this.#handedToken;
  }

  #close(): void {
    this.#ended = true;
    for (const unsubscribe of this.#unsubscribes.splice(0)) unsubscribe();
    for (const cursor of this.#cursors.values()) clearTimeout(cursor.timer);
    clearInterval(this.#heartbeat);
    this.#releaseProducers();
  }

  #releaseProducers(): void {
    for (const release of [...this.#producerWaiters]) release();
  }

  #wake(): void {
    this.#wakeConsumer?.();
  }

  /** Ends the stream with `err` (unless it already ended). */
  #fail(err: unknown): void {
    if (this.#ended) return;
    this.#error = err;
    this.#ended = true;
    this.#wake();
  }

  #token(): string {
    return encodeResumeToken(
      [...this.#cursors.values()].map((c) => ({
        sourceRef: c.record.sourceRef,
        incarnation: c.record.incarnation,
        seq: c.pos,
      })),
    );
  }

  #positions(): TokenPosition[] {
    return [...this.#cursors.values()].map((c) => ({
      sourceRef: c.record.sourceRef,
      incarnation: c.record.incarnation,
      seq: c.pos,
    }));
  }

  /** Queues a frame; when the consumer is too far behind, waits for it, then cuts the stream. */
  async #push(frame: UnsealedFrame): Promise<void> {
    if (this.#ended) return;
    const full = { ...frame, token: this.#token() } as WatchFrame;
    this.#outbox.push(full);
    this.#wake();
    if (this.#outbox.length < this.#deps.limits.maxBufferedFrames) return;
    const drained = await new Promise<boolean>((resolve) => {
      const release = () => {
        clearTimeout(timer);
        this.#producerWaiters.delete(release);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#producerWaiters.delete(release);
        resolve(false);
      }, this.#deps.limits.stallTimeoutMs);
      this.#producerWaiters.add(release);
    });
    if (!drained && !this.#ended) {
      this.#error = new ConsumerTooSlowError(this.#handedToken, this.#outbox.length);
      this.#outbox.length = 0;
      this.#ended = true;
      this.#wake();
    }
  }

  async #initialPositions(): Promise<void> {
    const { options, reader, tenant } = this.#deps;
    const tokenPositions = "token" in options.start ? decodeResumeToken(options.start.token) : undefined;
    for (const cursor of this.#cursors.values()) {
      const ref = cursor.record.sourceRef;
      const bounds = await reader.bounds(tenant, ref);
      const earliest = bounds.tailSeq > 0n ? bounds.tailSeq - 1n : bounds.headSeq;
      const fromToken = tokenPositions?.get(ref);
      let pos: bigint;
      if (fromToken) {
        pos = fromToken.seq;
        if (fromToken.incarnation !== cursor.record.incarnation) {
          pos = 0n;
          await this.#pushGap(
            cursor,
            "source-reset",
            0n,
            0n,
            "the source was deleted and registered again since the token was issued",
          );
        } else if (pos > bounds.headSeq) {
          pos = bounds.headSeq;
        }
      } else if (tokenPositions || ("position" in options.start && options.start.position === "now")) {
        pos = bounds.headSeq;
      } else {
        pos = earliest;
      }
      if (bounds.tailSeq > 0n && pos + 1n < bounds.tailSeq) {
        const from = pos + 1n;
        cursor.pos = bounds.tailSeq - 1n;
        await this.#pushGap(
          cursor,
          "retention",
          from,
          bounds.tailSeq - 1n,
          "the log entries in this range were deleted by retention",
        );
      }
      cursor.pos = cursor.pos > pos ? cursor.pos : pos;
      cursor.readPos = cursor.pos;
      if (cursor.record.state === "FAILED") {
        const reason = cursor.record.lastError ?? "the source failed";
        await this.#push({ type: "status", sourceRef: ref, state: "FAILED", deleted: false, reason });
      }
    }
  }

  #pushGap(
    cursor: SourceCursor,
    reason: "retention" | "source-reset" | "must-refetch",
    from: bigint,
    to: bigint,
    detail: string,
  ) {
    return this.#push({
      type: "gap",
      sourceRef: cursor.record.sourceRef,
      reason,
      fromSeq: from,
      toSeq: to,
      detail,
    });
  }

  #startHeartbeat(): void {
    const interval = this.#deps.options.heartbeatIntervalMs;
    this.#heartbeat = setInterval(() => {
      if (this.#ended || this.#outbox.length > 0) return;
      if (Date.now() - this.#lastFrameAt < interval) return;
      void this.#push({ type: "heartbeat", time: new Date() });
    }, interval);
    this.#heartbeat.unref();
  }

  #onEvent(sourceRef: string, event: LogEvent): void {
    if (event.type === "resync") {
      for (const c of this.#cursors.values()) c.dirty = true;
    } else {
      const cursor = this.#cursors.get(sourceRef);
      if (!cursor) return;
      if (event.type === "appended") {
        if (event.headSeq <= cursor.readPos) return;
        cursor.notifiedAt ??= performance.now();
      } else {
        this.#onState(cursor, event.state as SourceState, event.deleted).catch((err: unknown) =>
          this.#fail(err),
        );
        return;
      }
      cursor.dirty = true;
    }
    this.#schedulePump();
  }

  async #onState(cursor: SourceCursor, state: SourceState, deleted: boolean): Promise<void> {
    const ref = cursor.record.sourceRef;
    if (deleted) {
      await this.#flush(cursor);
      clearTimeout(cursor.timer);
      this.#cursors.delete(ref);
      await this.#push({
        type: "status",
        sourceRef: ref,
        state: "STOPPED",
        deleted: true,
        reason: "the source was deleted",
      });
      if (this.#cursors.size === 0) {
        this.#ended = true;
        this.#wake();
      }
      return;
    }
    const wasFailed = cursor.toldState === "FAILED";
    if (state !== "FAILED" && !wasFailed) {
      cursor.toldState = state;
      return;
    }
    if (state === cursor.toldState) return;
    cursor.toldState = state;
    const record = state === "FAILED" ? await this.#deps.getSource(ref) : undefined;
    const reason = state === "FAILED" ? (record?.lastError ?? "the source failed") : "the source recovered";
    await this.#push({ type: "status", sourceRef: ref, state, deleted: false, reason });
  }

  #schedulePump(): void {
    if (this.#pumping || this.#ended) return;
    this.#pumping = this.#pump()
      .catch((err: unknown) => this.#fail(err))
      .finally(() => {
        this.#pumping = undefined;
        if ([...this.#cursors.values()].some((c) => c.dirty) && !this.#ended) this.#schedulePump();
      });
  }

  async #pump(): Promise<void> {
    for (;;) {
      const dirty = [...this.#cursors.values()].filter((c) => c.dirty);
      if (dirty.length === 0) break;
      for (const cursor of dirty) {
        cursor.dirty = false;
        await this.#drain(cursor);
        if (this.#ended) return;
      }
    }
    if (!this.#ready) {
      // The backlog is delivered whole before Ready: no debounce holds it back.
      for (const cursor of this.#cursors.values()) await this.#flush(cursor);
      this.#ready = true;
      await this.#push({ type: "ready", positions: this.#positions() });
    }
  }

  async #drain(cursor: SourceCursor): Promise<void> {
    const { reader, tenant, limits } = this.#deps;
    for (;;) {
      if (!this.#cursors.has(cursor.record.sourceRef) || this.#ended) return;
      const entries = await reader.read(tenant, cursor.record.sourceRef, cursor.readPos, limits.readPageSize);
      for (const entry of entries) await this.#accept(cursor, entry);
      if (entries.length < limits.readPageSize) break;
    }
    if (cursor.notifiedAt !== undefined) {
      this.#deps.onDispatch?.((performance.now() - cursor.notifiedAt) / 1000);
      cursor.notifiedAt = undefined;
    }
  }

  async #accept(cursor: SourceCursor, entry: LogEntry): Promise<void> {
    cursor.readPos = entry.seq;
    if (entry.kind === "gap") {
      await this.#flush(cursor);
      cursor.pos = entry.seq;
      await this.#pushGap(cursor, entry.reason, entry.seq, entry.seq, entry.detail);
      return;
    }
    const { ops, debounceMs, maxChangesPerWake } = this.#deps.options;
    if (ops.size > 0 && !ops.has(entry.operation)) {
      if (cursor.buffer.length === 0) cursor.pos = entry.seq;
      return;
    }
    if (debounceMs === 0 || !this.#ready) {
      cursor.buffer.push(entry);
      if (debounceMs === 0 || cursor.buffer.length >= maxChangesPerWake) await this.#flush(cursor);
      return;
    }
    if (cursor.buffer.length === 0) cursor.bufferSince = Date.now();
    cursor.buffer.push(entry);
    if (cursor.buffer.length >= maxChangesPerWake) {
      await this.#flush(cursor);
      return;
    }
    this.#armDebounce(cursor);
  }

  #armDebounce(cursor: SourceCursor): void {
    const { debounceMs, maxWaitMs } = this.#deps.options;
    clearTimeout(cursor.timer);
    let delay = debounceMs;
    if (maxWaitMs > 0) delay = Math.max(0, Math.min(delay, cursor.bufferSince + maxWaitMs - Date.now()));
    cursor.timer = setTimeout(() => {
      cursor.timer = undefined;
      this.#flush(cursor).catch((err: unknown) => this.#fail(err));
    }, delay);
  }

  /** Sends the buffered changes as wakes of at most max_changes_per_wake each. */
  async #flush(cursor: SourceCursor): Promise<void> {
    clearTimeout(cursor.timer);
    cursor.timer = undefined;
    const { maxChangesPerWake } = this.#deps.options;
    while (cursor.buffer.length > 0) {
      const changes = cursor.buffer.splice(0, maxChangesPerWake);
      const first = (changes[0] as ChangeEntry).seq;
      const last = (changes.at(-1) as ChangeEntry).seq;
      // After the last piece, everything read so far is handed on (the rest was filtered out).
      cursor.pos = cursor.buffer.length === 0 ? cursor.readPos : last;
      await this.#push({
        type: "wake",
        wakeId: wakeIdFor(cursor.record.sourceRef, first, last),
        sourceRef: cursor.record.sourceRef,
        table: cursor.record.options.table,
        changes,
        firstSeq: first,
        lastSeq: last,
      });
    }
  }
}

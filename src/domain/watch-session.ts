import { BoundedOutbox } from "./bounded-outbox.js";
import { ConsumerTooSlowError } from "./errors.js";
import type { LogEvent } from "./log-entry.js";
import type { ChangeLogReader, LogNotifier } from "./ports.js";
import { decodeResumeToken, encodeResumeToken, type TokenPosition } from "./resume-token.js";
import type { SnapshotSettings } from "./snapshot-feed.js";
import type { SourceRecord, SourceState } from "./source.js";
import { SourceTail } from "./source-tail.js";
import { planStart, type StartFrom } from "./start-plan.js";
import {
  estimateFrameBytes,
  type UnsealedFrame,
  type WatchFrame,
  type WatchOptions,
} from "./watch-frames.js";

/** Default {@link WatchLimits.maxBufferedBytes}: 16 MiB per stream. */
export const DEFAULT_WATCH_BUFFER_BYTES = 16 * 1024 * 1024;

/** Limits of one session. */
export interface WatchLimits {
  /** Frames buffered for a consumer before the stream waits for it to read. */
  readonly maxBufferedFrames: number;
  /**
   * Estimated bytes buffered for a consumer before the stream waits for it to read (see
   * `estimateFrameBytes`); default {@link DEFAULT_WATCH_BUFFER_BYTES}. A single larger frame is
   * still delivered: the stream then waits until it is taken.
   */
  readonly maxBufferedBytes?: number;
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
  /**
   * Reads a source's current record from the database; undefined when it does not exist. Status
   * frames (deleted, failed, recovered) follow only what this returns, never a notification.
   */
  readonly getSource: (sourceRef: string) => Promise<SourceRecord | undefined>;
  readonly options: WatchOptions;
  readonly limits: WatchLimits;
  /** Called with the latency from a log notification to its frame being queued (metrics). */
  readonly onDispatch?: (seconds: number) => void;
  /** How snapshots are read (START_POSITION_SNAPSHOT, rebuilds after gaps). */
  readonly snapshots?: SnapshotSettings;
}

/**
 * One WatchWakes stream. It composes a {@link SourceTail} per source (position, read-ahead,
 * filter, debounce), {@link planStart} (where each source starts, and the gaps to announce
 * first) and a {@link BoundedOutbox} (backpressure and the stall cut), and adds what spans
 * sources: catch-up then one Ready frame, notifications, source status, heartbeats, and the resume
 * token stamped on every frame. The log is the source of truth; notifications only say "read
 * again".
 */
export class WatchSession {
  readonly #deps: WatchSessionDeps;
  readonly #tails = new Map<string, SourceTail>();
  /** Last state told to the watcher per source (FAILED is told, and leaving FAILED is told). */
  readonly #toldStates = new Map<string, SourceState>();
  readonly #outbox: BoundedOutbox<WatchFrame>;
  readonly #unsubscribes: (() => void)[] = [];
  /** Aborts snapshot requests in flight when the stream ends. */
  readonly #abort = new AbortController();
  #pumping: Promise<void> | undefined;
  /** Source re-reads, chained so they apply in order. */
  #sourceChecks: Promise<void> = Promise.resolve();
  #ready = false;
  /** Whether every source was positioned by its start plan; no log is read before. */
  #started = false;
  #lastFrameAt = Date.now();
  #heartbeat: NodeJS.Timeout | undefined;
  /** Token of the last frame handed to the consumer (what a cut stream resumes from). */
  #handedToken: string;

  constructor(deps: WatchSessionDeps) {
    this.#deps = deps;
    const { limits } = deps;
    this.#outbox = new BoundedOutbox<WatchFrame>(
      {
        maxItems: limits.maxBufferedFrames,
        maxBytes: limits.maxBufferedBytes ?? DEFAULT_WATCH_BUFFER_BYTES,
        stallTimeoutMs: limits.stallTimeoutMs,
      },
      (backlog) => new ConsumerTooSlowError(this.#handedToken, backlog.items, backlog.bytes),
    );
    for (const record of deps.sources) {
      const tail = new SourceTail({
        tenant: deps.tenant,
        record,
        reader: deps.reader,
        options: deps.options,
        readPageSize: limits.readPageSize,
        emit: (frame) => this.#push(frame),
        isOpen: () => !this.#outbox.ended,
        onError: (err) => this.#outbox.end(err),
        ...(deps.onDispatch ? { onDispatch: deps.onDispatch } : {}),
        ...(deps.snapshots ? { snapshots: deps.snapshots } : {}),
        signal: this.#abort.signal,
      });
      this.#tails.set(record.sourceRef, tail);
      this.#toldStates.set(record.sourceRef, record.state);
    }
    this.#handedToken = this.#token();
  }

  /** Frames until the consumer stops (signal) or the stream is cut (throws ConsumerTooSlowError). */
  async *frames(signal: AbortSignal): AsyncGenerator<WatchFrame> {
    try {
      for (const ref of this.#tails.keys()) {
        this.#unsubscribes.push(
          this.#deps.notifier.subscribe(this.#deps.tenant, ref, (e) => this.#onEvent(ref, e)),
        );
      }
      // Notifications can arrive while the start is planned: they only mark sources dirty until
      // every source is positioned (a drain before would read the log from 0 without the
      // snapshot's splice), and the source checks they queue run after the start.
      const started = this.#begin();
      this.#sourceChecks = started.catch(() => {});
      await started;
      this.#started = true;
      this.#startHeartbeat();
      this.#schedulePump();
      for await (const frame of this.#outbox.items(signal)) {
        this.#handedToken = frame.token;
        this.#lastFrameAt = Date.now();
        yield frame;
      }
    } finally {
      this.#close();
    }
  }

  /** Per watched source, the log entries known to exist that this stream has not delivered yet. */
  backlogs(): { readonly sourceRef: string; readonly entries: bigint }[] {
    return [...this.#tails.values()].map((t) => ({ sourceRef: t.record.sourceRef, entries: t.backlog }));
  }

  /** Resume token of the last frame handed on. */
  get resumeToken(): string {
    return this.#handedToken;
  }

  #close(): void {
    this.#outbox.end();
    this.#abort.abort();
    for (const unsubscribe of this.#unsubscribes.splice(0)) unsubscribe();
    for (const tail of this.#tails.values()) tail.close();
    clearInterval(this.#heartbeat);
  }

  #positions(): TokenPosition[] {
    return [...this.#tails.values()].map((t) => t.position);
  }

  #token(): string {
    return encodeResumeToken(this.#positions());
  }

  /** Stamps the current token on a frame and queues it (waiting while the consumer is behind). */
  #push(frame: UnsealedFrame): Promise<void> {
    if (this.#outbox.ended) return Promise.resolve();
    return this.#outbox.push({ ...frame, token: this.#token() } as WatchFrame, estimateFrameBytes(frame));
  }

  /** Plans and announces each source's start, in order. */
  async #begin(): Promise<void> {
    const { options, reader, tenant } = this.#deps;
    const token = "token" in options.start ? decodeResumeToken(options.start.token) : undefined;
    for (const tail of this.#tails.values()) {
      const { sourceRef, incarnation, state, lastError } = tail.record;
      const from: StartFrom = token ? { token: token.get(sourceRef) } : (options.start as StartFrom);
      const bounds = await reader.bounds(tenant, sourceRef);
      await tail.begin(planStart(bounds, incarnation, from, options.rebuildAfterGap === true));
      if (state === "FAILED") {
        const reason = lastError ?? "the source failed";
        await this.#push({ type: "status", sourceRef, state: "FAILED", deleted: false, reason });
      }
    }
  }

  #startHeartbeat(): void {
    const interval = this.#deps.options.heartbeatIntervalMs;
    this.#heartbeat = setInterval(() => {
      if (this.#outbox.ended || this.#outbox.size > 0) return;
      if (Date.now() - this.#lastFrameAt < interval) return;
      void this.#push({ type: "heartbeat", time: new Date() });
    }, interval);
    this.#heartbeat.unref();
  }

  #onEvent(sourceRef: string, event: LogEvent): void {
    if (event.type === "resync") {
      // Notifications may have been missed: re-read every log and every source.
      for (const tail of this.#tails.values()) {
        tail.notify();
        this.#queueSourceCheck(tail);
      }
    } else {
      const tail = this.#tails.get(sourceRef);
      if (!tail) return;
      if (event.type === "source") {
        this.#queueSourceCheck(tail);
        return;
      }
      if (!tail.notify(event.headSeq)) return;
    }
    this.#schedulePump();
  }

  /** Queues a re-read of the source; checks run one at a time, in notification order. */
  #queueSourceCheck(tail: SourceTail): void {
    this.#sourceChecks = this.#sourceChecks
      .then(() => this.#checkSource(tail))
      .catch((err: unknown) => this.#outbox.end(err));
  }

  /**
   * Reads the source and tells the watcher what the database says: a deletion (the row is gone or
   * belongs to a later incarnation), a failure with its reason, or the recovery from one. A
   * notification alone never changes what the watcher is told.
   */
  async #checkSource(tail: SourceTail): Promise<void> {
    const ref = tail.record.sourceRef;
    if (this.#outbox.ended || this.#tails.get(ref) !== tail) return;
    const record = await this.#deps.getSource(ref);
    if (this.#tails.get(ref) !== tail) return;
    if (!record || record.incarnation !== tail.record.incarnation) {
      await tail.flush();
      tail.close();
      this.#tails.delete(ref);
      const reason = "the source was deleted";
      await this.#push({ type: "status", sourceRef: ref, state: "STOPPED", deleted: true, reason });
      if (this.#tails.size === 0) this.#outbox.end();
      return;
    }
    const { state } = record;
    const told = this.#toldStates.get(ref);
    this.#toldStates.set(ref, state);
    if (state === told || (state !== "FAILED" && told !== "FAILED")) return;
    const reason = state === "FAILED" ? (record.lastError ?? "the source failed") : "the source recovered";
    await this.#push({ type: "status", sourceRef: ref, state, deleted: false, reason });
  }

  #schedulePump(): void {
    if (!this.#started || this.#pumping || this.#outbox.ended) return;
    this.#pumping = this.#pump()
      .catch((err: unknown) => this.#outbox.end(err))
      .finally(() => {
        this.#pumping = undefined;
        if ([...this.#tails.values()].some((t) => t.dirty)) this.#schedulePump();
      });
  }

  /** Drains every source with unread entries; after the first full catch-up, sends Ready. */
  async #pump(): Promise<void> {
    for (;;) {
      const dirty = [...this.#tails.values()].filter((t) => t.dirty);
      if (dirty.length === 0) break;
      for (const tail of dirty) {
        await tail.drain();
        if (this.#outbox.ended) return;
      }
    }
    if (!this.#ready) {
      // The backlog is delivered whole before Ready: no debounce holds it back.
      for (const tail of this.#tails.values()) {
        await tail.flush();
        tail.goLive();
      }
      this.#ready = true;
      await this.#push({ type: "ready", positions: this.#positions() });
    }
  }
}

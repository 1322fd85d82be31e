import {
  type BridgeAction,
  type BridgeEvent,
  type BridgeStatus,
  isTerminal,
  transition,
} from "../domain/bridge-state.js";
import { type StoredCursor, splitBatch } from "../domain/change-log.js";
import { LOG_FIELDS, type Logger } from "../logger.js";
import { type CommittedRange, traceBatch } from "../tracing.js";
import { mustRefetchGap, parseBatch } from "./batch.js";
import { type BridgeDeps, COMMIT_PART_MAX_CHANGES, URL_NO_LONGER_ALLOWED } from "./bridge-deps.js";
import { classifyError, errorSummary } from "./classify-error.js";
import { resumeOptions, type ShapeBatch, shapeBatches } from "./shape-batches.js";
import { type ShapeParams, shapeParamsFor } from "./shape-params.js";

export { type BridgeDeps, COMMIT_PART_MAX_CHANGES, URL_NO_LONGER_ALLOWED };

/** The committed Electric cursor the bridge resumes from. */
interface Committed {
  handle: string | undefined;
  offset: string | undefined;
}

/**
 * One source's bridge: consumes the source's Electric shape with the official client, and for
 * each response batch appends its changes to the log and advances the cursor in one transaction.
 * Resumes from the committed cursor with the identical shape params and log mode. What it does
 * next is decided by the state machine in domain/bridge-state.ts: the loop reports each event
 * (a batch committed, an error, a stop, fencing, the source gone) and performs the action returned.
 */
export class Bridge {
  readonly #deps: BridgeDeps;
  readonly #params: ShapeParams;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #status: BridgeStatus = { state: "STARTING", lastError: undefined };
  #stopEvent: BridgeEvent = { type: "stop" };
  #claimed = false;
  #committed: Committed = { handle: undefined, offset: undefined };
  #generation = 0n;
  #upToDateAt: Date | undefined;
  #headSeq = 0n;
  /** Retries since the last committed batch, and the server's floor for the next wait. */
  #attempt = 0;
  #retryFloorMs = 0;
  #done: Promise<void> = Promise.resolve();

  constructor(deps: BridgeDeps) {
    this.#deps = deps;
    this.#params = shapeParamsFor(deps.options);
    this.#log = deps.logger.child({
      [LOG_FIELDS.tenant]: deps.tenant,
      [LOG_FIELDS.sourceRef]: deps.sourceRef,
    });
  }

  /** Tenant of the source. */
  get tenant(): string {
    return this.#deps.tenant;
  }

  /** The source. */
  get sourceRef(): string {
    return this.#deps.sourceRef;
  }

  /** Current state and last error. */
  get status(): BridgeStatus {
    return this.#status;
  }

  /** When Electric last said the shape was up to date (in memory; persisted with each commit). */
  get upToDateAt(): Date | undefined {
    return this.#upToDateAt;
  }

  /** Newest log seq known to this bridge. */
  get headSeq(): bigint {
    return this.#headSeq;
  }

  /** Resolves when the bridge's loop has ended (stopped, failed, idle, fenced out or source gone). */
  get done(): Promise<void> {
    return this.#done;
  }

  /** True once the bridge has ended: its state is FAILED, STOPPED or IDLE. */
  get ended(): boolean {
    return isTerminal(this.#status);
  }

  /** Starts the loop. */
  start(): void {
    this.#done = this.#run().catch(async (err: unknown) => {
      this.#log.error({ err }, "bridge loop crashed");
      await this.#dispatch({ type: "permanent-error", message: "the bridge stopped on an internal error" });
    });
  }

  /** Stops the loop (`idle` when stopped by GC) and waits for it; the in-flight batch commits or is abandoned whole. */
  async stop(reason: "stop" | "idle" = "stop"): Promise<void> {
    this.#stopEvent = { type: reason };
    this.#stop.abort();
    await this.#done;
  }

  /** The loop: report an event, perform the action the machine returns, until it says close. */
  async #run(): Promise<void> {
    let action = await this.#dispatch({ type: "start" });
    while (action !== "close-stream") {
      action = await this.#dispatch(await this.#perform(action));
    }
  }

  /** Performs `action` and returns the event that ends it. */
  #perform(action: Exclude<BridgeAction, "close-stream">): Promise<BridgeEvent> {
    if (this.#stop.signal.aborted) return Promise.resolve(this.#stopEvent);
    switch (action) {
      case "open-stream":
      case "none":
        return this.#stream();
      case "schedule-retry":
        return this.#backOff();
    }
  }

  /** Applies `event` to the machine: records the status, reports and persists a change. */
  async #dispatch(event: BridgeEvent): Promise<BridgeAction> {
    const previous = this.#status;
    const next = transition(previous, event);
    this.#status = next.status;
    if (event.type === "retryable-error") this.#deps.metrics.backoffs.inc({ kind: "retryable" });
    if (!next.changed) return next.action;
    this.#deps.onStatus(this, previous);
    // A fenced bridge persists nothing; its manager (and the lease coordinator) learn of it here.
    if (event.type === "fenced") this.#deps.onFenced?.(this);
    this.#log.info(
      { state: next.status.state, last_error: next.status.lastError, event: event.type },
      "bridge state changed",
    );
    if (next.persist) {
      const { store, tenant, sourceRef } = this.#deps;
      await store
        .setState(tenant, sourceRef, next.status.state, next.status.lastError)
        .catch((err: unknown) => {
          this.#log.warn({ err: { message: (err as Error).message } }, "could not persist bridge state");
        });
    }
    return next.action;
  }

  /** Waits the backoff for the current attempt; `retry` unless stopped meanwhile. */
  async #backOff(): Promise<BridgeEvent> {
    const waited = await this.#deps.backoff.wait(this.#attempt++, this.#stop.signal, this.#retryFloorMs);
    this.#log.debug({ attempt: this.#attempt, waited_ms: waited }, "retrying from the committed cursor");
    return this.#stop.signal.aborted ? this.#stopEvent : { type: "retry" };
  }

  /**
   * Opens the shape stream from the committed cursor (claiming the source first) and consumes it
   * until something ends it; returns that as an event.
   */
  async #stream(): Promise<BridgeEvent> {
    const { store, tenant, sourceRef, owner, shapeUrl, isUrlAllowed } = this.#deps;
    if (isUrlAllowed && !isUrlAllowed(shapeUrl)) {
      return { type: "permanent-error", message: URL_NO_LONGER_ALLOWED };
    }
    let release: (() => void) | undefined;
    try {
      release = await this.#deps.startGate?.acquire(this.#stop.signal);
      // The first stream resumes from the claim's cursor (nothing else writes it meanwhile: one
      // round trip fewer per start, 10,000 on a restart); a reopened one reads it again.
      let cursor: StoredCursor | undefined;
      if (!this.#claimed) {
        cursor = await store.claim(tenant, sourceRef, owner);
        if (!cursor) return { type: "source-gone" };
        this.#claimed = true;
        this.#generation = cursor.generation;
        this.#headSeq = cursor.headSeq;
        this.#upToDateAt = cursor.upToDateAt;
      }
      cursor ??= await store.get(tenant, sourceRef);
      if (!cursor) return { type: "source-gone" };
      this.#committed = { handle: cursor.shapeHandle, offset: cursor.shapeOffset };
      this.#deps.metrics.electricStreams.inc();
      const options = resumeOptions(this.#deps.shapeUrl, this.#params, cursor, this.#deps.fetchClient);
      for await (const batch of shapeBatches(options, this.#stop.signal)) {
        await this.#onBatch(batch);
        release?.(); // the first commit ends the start
      }
      return this.#stopEvent;
    } catch (err) {
      return this.#eventFor(err);
    } finally {
      release?.();
    }
  }

  /** The event an error ends the stream with. */
  #eventFor(err: unknown): BridgeEvent {
    if (this.#stop.signal.aborted) return this.#stopEvent;
    const verdict = classifyError(err);
    switch (verdict.kind) {
      case "fenced":
        this.#log.warn({ reason: verdict.message }, "another owner took the source over; bridge ends");
        return { type: "fenced", message: verdict.message };
      case "permanent":
        this.#log.warn({ reason: verdict.message, error: errorSummary(err) }, "bridge failed");
        return { type: "permanent-error", message: verdict.message };
      case "retryable":
        this.#retryFloorMs = verdict.retryAfterMs;
        this.#log.debug({ reason: verdict.message, error: errorSummary(err) }, "bridge error; backing off");
        return { type: "retryable-error", message: verdict.message };
      case "aborted":
        // Only the bridge's own stop aborts its requests; anything else is retried with backoff.
        this.#retryFloorMs = 0;
        return { type: "retryable-error", message: "the shape request was aborted" };
    }
  }

  /** Commits one batch (traced: receipt to commit) and reports it to the machine. */
  async #onBatch(batch: ShapeBatch): Promise<void> {
    const { tenant, sourceRef } = this.#deps;
    await traceBatch(tenant, sourceRef, batch.messages.length, () => this.#commitBatch(batch));
  }

  /** Commits one batch (changes, gap, cursor) and reports it; returns the seqs it appended. */
  async #commitBatch({ messages, handle, offset }: ShapeBatch): Promise<CommittedRange | undefined> {
    const receivedAt = performance.now();
    let appended: CommittedRange | undefined;
    const { metrics, store, tenant, sourceRef } = this.#deps;
    metrics.electricBatches.inc();
    const batch = parseBatch(messages, offset);
    const gap = batch.mustRefetch ? mustRefetchGap(this.#committed, handle) : undefined;
    if (gap)
      this.#log.warn(
        { [LOG_FIELDS.shapeHandle]: handle, last_good_offset: gap.lastGoodOffset },
        "must-refetch: logging a gap",
      );
    const moved = handle !== this.#committed.handle || offset !== this.#committed.offset;
    if (handle !== undefined && (gap || batch.changes.length > 0 || moved)) {
      const whole = {
        tenant,
        sourceRef,
        ...(this.#deps.incarnation === undefined ? {} : { incarnation: this.#deps.incarnation }),
        generation: this.#generation,
        shapeHandle: handle,
        shapeOffset: offset,
        gap,
        changes: batch.changes,
        upToDate: batch.upToDate,
      };
      // A large batch is committed in parts, so its first changes reach watchers long before the
      // last are written; only the last part advances the cursor (see splitBatch).
      let first: bigint | undefined;
      for (const part of splitBatch(whole, COMMIT_PART_MAX_CHANGES)) {
        const result = await store.commit(part);
        this.#headSeq = result.headSeq;
        first ??= result.headSeq - BigInt(result.appended) + 1n;
        metrics.cursorWrites.inc();
      }
      this.#committed = { handle, offset };
      appended = { from: first ?? this.#headSeq + 1n, to: this.#headSeq };
      metrics.changesLogged.inc(batch.changes.length);
      if (gap) metrics.gapsLogged.inc({ reason: gap.reason });
      metrics.batchCommitSeconds.observe((performance.now() - receivedAt) / 1000);
    }
    if (batch.upToDate) this.#upToDateAt = new Date();
    this.#attempt = 0;
    await this.#dispatch({ type: "committed", upToDate: batch.upToDate });
    return appended;
  }
}

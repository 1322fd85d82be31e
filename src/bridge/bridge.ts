import { type Message, type Row, ShapeStream, type ShapeStreamOptions } from "@electric-sql/client";
import type { Backoff } from "../domain/backoff.js";
import { type BridgeEvent, type BridgeStatus, transition } from "../domain/bridge-state.js";
import type { CursorStore, NewGap, StoredCursor } from "../domain/change-log.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";
import { LOG_FIELDS, type Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { parseBatch } from "./batch.js";
import { classifyError } from "./classify-error.js";
import { OFFSET_NOW } from "./electric-constants.js";
import { type ShapeParams, shapeParamsFor } from "./shape-params.js";

/** Dependencies and identity of one {@link Bridge}. */
export interface BridgeDeps {
  readonly tenant: string;
  readonly sourceRef: string;
  readonly options: CanonicalSourceOptions;
  readonly shapeUrl: string;
  readonly store: CursorStore;
  readonly backoff: Backoff;
  /** Identity of this process, recorded as the cursor's owner. */
  readonly owner: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Called after every status change (for the manager's counts and health). */
  readonly onStatus: (bridge: Bridge, previous: BridgeStatus) => void;
  /** Fetch used for Electric requests; injected by tests. Default global fetch. */
  readonly fetchClient?: typeof fetch;
  /** replicas (issue 13): called when a commit was refused for a stale term; the loop then ends. */
  readonly onFenced?: (bridge: Bridge) => void;
}

/** The committed Electric cursor the bridge resumes from. */
interface Committed {
  handle: string | undefined;
  offset: string | undefined;
}

/**
 * Electric's default parser turns int8 into BigInt (not JSON-safe) and NaN/Infinity floats into
 * numbers JSON cannot hold. Keep them as exact strings; everything else as Electric parses it.
 */
const JSON_SAFE_PARSER = {
  int8: (value: string) => value,
  float4: (value: string) => (Number.isFinite(Number(value)) ? Number(value) : value),
  float8: (value: string) => (Number.isFinite(Number(value)) ? Number(value) : value),
};

/** The Electric client's own retries are off: every failure comes back to the bridge's backoff. */
const NO_CLIENT_RETRIES = { initialDelay: 100, maxDelay: 100, multiplier: 1, maxRetries: 0 };

/**
 * One source's bridge: consumes the source's Electric shape with the official client, and for
 * each response batch appends its changes to the log and advances the cursor in one transaction.
 * Resumes from the committed cursor with the identical shape params and log mode; errors go
 * through the pure state machine in domain/bridge-state.ts and the one backoff.
 */
export class Bridge {
  readonly #deps: BridgeDeps;
  readonly #params: ShapeParams;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #status: BridgeStatus = { state: "STARTING", lastError: undefined };
  #stopEvent: BridgeEvent = { type: "stop" };
  #committed: Committed = { handle: undefined, offset: undefined };
  #generation = 0n;
  #upToDateAt: Date | undefined;
  #headSeq = 0n;
  #done: Promise<void> = Promise.resolve();
  #finished = false;

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

  /** Resolves when the bridge's loop has ended (stopped, failed or fenced). */
  get done(): Promise<void> {
    return this.#done;
  }

  /** True once the loop has ended for good (FAILED, STOPPED, IDLE, fenced out or source gone). */
  get ended(): boolean {
    return this.#finished || this.#stop.signal.aborted || this.#status.state === "FAILED";
  }

  /** Starts the loop. */
  start(): void {
    this.#done = this.#run()
      .catch((err: unknown) => {
        this.#log.error({ err }, "bridge loop crashed");
      })
      .finally(() => {
        this.#finished = true;
      });
  }

  /** Stops the loop (`idle` when stopped by GC) and waits for it; the in-flight batch commits or is abandoned whole. */
  async stop(reason: "stop" | "idle" = "stop"): Promise<void> {
    this.#stopEvent = { type: reason };
    this.#stop.abort();
    await this.#done;
  }

  async #apply(event: BridgeEvent): Promise<void> {
    const previous = this.#status;
    const next = transition(previous, event);
    this.#status = next.status;
    if (!next.changed) return;
    this.#deps.onStatus(this, previous);
    this.#log.info({ state: next.status.state, last_error: next.status.lastError }, "bridge state changed");
    try {
      await this.#deps.store.setState(
        this.#deps.tenant,
        this.#deps.sourceRef,
        next.status.state,
        next.status.lastError,
      );
    } catch (err) {
      this.#log.warn({ err: { message: (err as Error).message } }, "could not persist bridge state");
    }
  }

  async #run(): Promise<void> {
    const { store, tenant, sourceRef, owner } = this.#deps;
    await this.#apply({ type: "start" });
    let attempt = 0;
    let claimed: StoredCursor | undefined;
    while (!this.#stop.signal.aborted) {
      try {
        if (!claimed) {
          claimed = await store.claim(tenant, sourceRef, owner);
          if (!claimed) {
            this.#log.info("source is gone; bridge ends");
            break;
          }
          this.#generation = claimed.generation;
          this.#headSeq = claimed.headSeq;
          this.#upToDateAt = claimed.upToDateAt;
        }
        const cursor = await store.get(tenant, sourceRef);
        if (!cursor) break;
        this.#committed = { handle: cursor.shapeHandle, offset: cursor.shapeOffset };
        await this.#consume(cursor, () => {
          attempt = 0;
        });
      } catch (err) {
        if (this.#stop.signal.aborted) break;
        const verdict = classifyError(err);
        if (verdict.kind === "aborted") continue;
        if (verdict.kind === "fenced") {
          // The new owner reports the state now: write nothing more.
          this.#log.warn({ reason: verdict.message }, "another owner took the source over; bridge ends");
          this.#deps.onFenced?.(this); // replicas (issue 13): make the loss visible at once
          return;
        }
        if (verdict.kind === "permanent") {
          this.#log.warn({ reason: verdict.message }, "bridge failed");
          await this.#apply({ type: "permanent-error", message: verdict.message });
          return;
        }
        this.#deps.metrics.backoffs.inc({ kind: "retryable" });
        await this.#apply({ type: "retryable-error", message: verdict.message });
        const waited = await this.#deps.backoff.wait(attempt++, this.#stop.signal, verdict.retryAfterMs);
        this.#log.debug({ attempt, waited_ms: waited }, "retrying from the committed cursor");
      }
    }
    await this.#apply(this.#stopEvent);
  }

  /**
   * Runs one ShapeStream from `cursor` until the bridge stops (resolves) or an error ends the
   * stream (rejects). Batches are handled strictly one after another: the client waits for the
   * subscriber before its next request, which bounds memory to one batch per source.
   */
  #consume(cursor: StoredCursor, onProgress: () => void): Promise<void> {
    const streamAbort = new AbortController();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        this.#stop.signal.removeEventListener("abort", onStop);
        streamAbort.abort();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onStop = () => settle();
      // The stop may have come while the loop awaited the database: an aborted signal never fires.
      if (this.#stop.signal.aborted) {
        settle();
        return;
      }
      this.#stop.signal.addEventListener("abort", onStop, { once: true });
      const fresh = cursor.shapeHandle === undefined || cursor.shapeOffset === undefined;
      let stream: ShapeStream<Row<unknown>>;
      try {
        stream = new ShapeStream<Row<unknown>>({
          url: this.#deps.shapeUrl,
          // Our params are a plain subset of the client's (table, columns, where, params, replica).
          params: this.#params as unknown as ShapeStreamOptions<Row<unknown>>["params"],
          log: cursor.logMode,
          offset: fresh ? OFFSET_NOW : (cursor.shapeOffset as `${number}_${number}`),
          ...(fresh ? {} : { handle: cursor.shapeHandle }),
          signal: streamAbort.signal,
          parser: JSON_SAFE_PARSER,
          backoffOptions: NO_CLIENT_RETRIES,
          onError: (err) => {
            settle(err);
          },
          ...(this.#deps.fetchClient ? { fetchClient: this.#deps.fetchClient } : {}),
        });
      } catch (err) {
        settle(err);
        return;
      }
      this.#deps.metrics.electricStreams.inc();
      stream.subscribe(
        async (messages) => {
          if (settled) return;
          try {
            await this.#onBatch(stream, messages);
            onProgress();
          } catch (err) {
            settle(err);
          }
        },
        (err) => settle(err),
      );
    });
  }

  async #onBatch(stream: ShapeStream<Row<unknown>>, messages: Message<Row<unknown>>[]): Promise<void> {
    const receivedAt = performance.now();
    const { metrics, store, tenant, sourceRef } = this.#deps;
    metrics.electricBatches.inc();
    const handle = stream.shapeHandle;
    const offset = stream.lastOffset;
    const batch = parseBatch(messages, offset);
    let gap: NewGap | undefined;
    if (batch.mustRefetch) {
      const previous = this.#committed;
      gap = {
        reason: "must-refetch",
        detail: `Electric asked to refetch the shape: changes after offset ${previous.offset ?? "?"} of handle ${previous.handle ?? "?"} until shape ${handle ?? "?"} started may be missing`,
        lastGoodOffset: previous.offset,
        newHandle: handle,
      };
      this.#log.warn(
        { [LOG_FIELDS.shapeHandle]: handle, last_good_offset: previous.offset },
        "must-refetch: logging a gap",
      );
    }
    const moved = handle !== this.#committed.handle || offset !== this.#committed.offset;
    if (handle !== undefined && (gap || batch.changes.length > 0 || moved)) {
      const result = await store.commit({
        tenant,
        sourceRef,
        generation: this.#generation,
        shapeHandle: handle,
        shapeOffset: offset,
        gap,
        changes: batch.changes,
        upToDate: batch.upToDate,
      });
      this.#committed = { handle, offset };
      this.#headSeq = result.headSeq;
      metrics.cursorWrites.inc();
      metrics.changesLogged.inc(batch.changes.length);
      if (gap) metrics.gapsLogged.inc({ reason: gap.reason });
      metrics.batchCommitSeconds.observe((performance.now() - receivedAt) / 1000);
    }
    if (batch.upToDate) this.#upToDateAt = new Date();
    await this.#apply({ type: "committed", upToDate: batch.upToDate });
  }

  /** Newest log seq known to this bridge. */
  get headSeq(): bigint {
    return this.#headSeq;
  }
}

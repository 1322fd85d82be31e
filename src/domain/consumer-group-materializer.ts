import type { GroupRecord, NewDelivery } from "./consumer-group.js";
import type { ConsumerGroupStore } from "./consumer-group-store.js";
import type { LogEvent } from "./log-entry.js";
import type { ChangeLogReader, LogNotifier } from "./ports.js";
import type { SourceRecord } from "./source.js";
import { SourceTail } from "./source-tail.js";
import { planStart } from "./start-plan.js";
import type { UnsealedFrame, WatchOptions } from "./watch-frames.js";

/** Dependencies of a {@link GroupMaterializer}. */
export interface MaterializerDeps {
  readonly group: GroupRecord;
  readonly source: SourceRecord;
  readonly reader: ChangeLogReader;
  readonly notifier: LogNotifier;
  readonly store: ConsumerGroupStore;
  /** Most unfinished deliveries of the source kept in the store; reading waits past it. */
  readonly windowSize: number;
  /** Log entries read per query. */
  readonly readPageSize: number;
  /** Re-check interval while waiting for room, and retry delay after an error. */
  readonly pollIntervalMs: number;
  /** Called after deliveries were stored (members may claim). */
  readonly onAppended: () => void;
  /** Receives errors (the materializer retries after `pollIntervalMs`). */
  readonly onError: (err: unknown) => void;
}

/** Deliveries stored per transaction at most. */
const MAX_BATCH = 200;

/** Another process moved the group's position first: re-read it and start over from there. */
class PositionLostError extends Error {
  override name = "PositionLostError";
}

/**
 * Turns one source's log into one group's delivery rows, reading it exactly as a WatchWakes
 * stream does: a {@link SourceTail} (ops filter, debounce, max_changes_per_wake, gap entries)
 * started by {@link planStart} from the group's stored position (so a pruned range becomes a
 * retention gap). Every batch of wakes is stored with the new position in one transaction,
 * guarded by the old position (compare-and-set): if another replica materialised first, this one
 * re-reads the position and continues from there, so no wake is stored twice. Reading stops while
 * the source has `windowSize` unfinished deliveries, and resumes once a batch's worth (a quarter of the
 * window, at most MAX_BATCH) is acknowledged: pending work is bounded by the log, not by memory. One runs per (group, source) per process while a member consumes the source.
 */
export class GroupMaterializer {
  readonly #deps: MaterializerDeps;
  readonly #options: WatchOptions;
  #tail: SourceTail | undefined;
  #persisted = 0n;
  #batch: { delivery: NewDelivery; position: bigint }[] = [];
  #commits: Promise<void> = Promise.resolve();
  #unfinished = 0;
  #dirty = true;
  #running = false;
  #closed = false;
  #wakeRoom: (() => void) | undefined;
  #retry: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(deps: MaterializerDeps) {
    this.#deps = deps;
    const s = deps.group.settings;
    this.#options = {
      ops: new Set(s.ops),
      debounceMs: s.debounceMs,
      maxWaitMs: s.maxWaitMs,
      maxChangesPerWake: s.maxChangesPerWake,
      heartbeatIntervalMs: 0,
      start: { position: "now" },
    };
  }

  /** Starts following the log. */
  start(): void {
    const { group, source, notifier } = this.#deps;
    this.#unsubscribe = notifier.subscribe(group.tenant, source.sourceRef, (e) => this.#onEvent(e));
    this.#schedule();
  }

  /** Deliveries were acknowledged or dead-lettered: there may be room to read on. */
  roomFreed(): void {
    this.#wakeRoom?.();
  }

  /** Stops reading; held (debounced) changes are not stored and will be read again. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#tail?.close();
    clearTimeout(this.#retry);
    this.#wakeRoom?.();
  }

  #onEvent(event: LogEvent): void {
    if (event.type === "source") return;
    if (this.#tail && event.type === "appended" && !this.#tail.notify(event.headSeq)) return;
    this.#tail?.notify();
    this.#schedule();
  }

  #schedule(): void {
    this.#dirty = true;
    if (this.#running || this.#closed) return;
    this.#running = true;
    void this.#run().finally(() => {
      this.#running = false;
      if (this.#dirty && !this.#closed) this.#schedule();
    });
  }

  async #run(): Promise<void> {
    try {
      while (this.#dirty && !this.#closed) {
        this.#dirty = false;
        const tail = this.#tail ?? (await this.#reset());
        if (!tail) return;
        const bounds = await this.#deps.reader.bounds(this.#deps.group.tenant, this.#deps.source.sourceRef);
        if (bounds.tailSeq > 0n && tail.position.seq + 1n < bounds.tailSeq) {
          // Retention pruned entries this group had not read: start over to announce the gap.
          await this.#commit();
          this.#dropTail();
          this.#dirty = true;
          continue;
        }
        await tail.drain();
        tail.goLive();
        await this.#commit();
      }
    } catch (err) {
      this.#dropTail();
      if (!(err instanceof PositionLostError)) this.#deps.onError(err);
      clearTimeout(this.#retry);
      this.#retry = setTimeout(
        () => this.#schedule(),
        err instanceof PositionLostError ? 0 : this.#deps.pollIntervalMs,
      );
      this.#retry.unref();
    }
  }

  #dropTail(): void {
    this.#tail?.close();
    this.#tail = undefined;
    this.#batch = [];
  }

  /** Builds a tail at the group's stored position; undefined when the group no longer has the source. */
  async #reset(): Promise<SourceTail | undefined> {
    const { group, source, store, reader } = this.#deps;
    const stored = await store.getSource(group.tenant, group.group, source.sourceRef);
    if (!stored || this.#closed) return undefined;
    this.#persisted = stored.deliveredSeq;
    this.#unfinished = await store.countUnfinished(group.tenant, group.group, source.sourceRef);
    const tail: SourceTail = new SourceTail({
      tenant: group.tenant,
      record: source,
      // Deliveries keep positions, counts and keys only: the row images are read when delivered.
      reader: {
        read: (tenant, ref, afterSeq, limit, options) =>
          reader.read(tenant, ref, afterSeq, limit, { ...options, bodies: false }),
        bounds: (tenant, ref) => reader.bounds(tenant, ref),
      },
      options: this.#options,
      readPageSize: this.#deps.readPageSize,
      emit: (frame) => this.#emit(tail, frame),
      isOpen: () => !this.#closed && this.#tail === tail,
      onError: (err) => this.#deps.onError(err),
    });
    this.#tail = tail;
    const { incarnation, sourceRef } = source;
    const bounds = await reader.bounds(group.tenant, sourceRef);
    await tail.begin(
      planStart(bounds, incarnation, { token: { sourceRef, incarnation, seq: stored.deliveredSeq } }),
    );
    return tail;
  }

  /** Queues a wake or gap as a delivery; stores the batch when it is full or the window is. */
  async #emit(tail: SourceTail, frame: UnsealedFrame): Promise<void> {
    if (this.#tail !== tail) return;
    const delivery = toDelivery(frame, this.#deps.group.settings.ordering === "key");
    if (!delivery) return;
    this.#batch.push({ delivery, position: tail.position.seq });
    if (!this.#running) this.#schedule();
    if (this.#batch.length >= MAX_BATCH) await this.#commit();
    if (this.#unfinished + this.#batch.length >= this.#deps.windowSize) {
      await this.#commit();
      await this.#waitForRoom();
    }
  }

  /** Stores the queued deliveries with the position after the last one (chained: one at a time). */
  #commit(): Promise<void> {
    const next = this.#commits.then(() => this.#store());
    this.#commits = next.catch(() => {});
    return next;
  }

  async #store(): Promise<void> {
    const items = this.#batch.splice(0);
    const position = items.at(-1)?.position ?? this.#tail?.position.seq ?? this.#persisted;
    if (items.length === 0 && position <= this.#persisted) return;
    const { group, source, store } = this.#deps;
    const stored = await store.appendDeliveries(
      group.tenant,
      group.group,
      source.sourceRef,
      this.#persisted,
      position,
      items.map((i) => i.delivery),
    );
    if (!stored) throw new PositionLostError();
    this.#persisted = position;
    this.#unfinished += items.length;
    if (items.length > 0) this.#deps.onAppended();
  }

  async #waitForRoom(): Promise<void> {
    const { group, source, store, pollIntervalMs } = this.#deps;
    while (!this.#closed) {
      this.#unfinished = await store.countUnfinished(group.tenant, group.group, source.sourceRef);
      // Resume once a batch's worth is free, not at the first acknowledgement: one append
      // transaction per batch instead of one per ack when the backlog exceeds the window.
      const refill = Math.max(1, Math.min(MAX_BATCH, Math.floor(this.#deps.windowSize / 4)));
      if (this.#unfinished <= this.#deps.windowSize - refill) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollIntervalMs);
        this.#wakeRoom = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wakeRoom = undefined;
    }
  }
}

/** A tail frame as a delivery to store (wakes and gaps; nothing else reaches a group). */
function toDelivery(frame: UnsealedFrame, withKeys: boolean): NewDelivery | undefined {
  if (frame.type === "wake") {
    return {
      kind: "wake",
      firstSeq: frame.firstSeq,
      lastSeq: frame.lastSeq,
      changeCount: frame.changes.length,
      keys: withKeys ? [...new Set(frame.changes.map((c) => c.key))] : [],
    };
  }
  if (frame.type === "gap") {
    const { fromSeq, toSeq, reason, detail } = frame;
    return { kind: "gap", firstSeq: fromSeq, lastSeq: toSeq, reason, detail };
  }
  return undefined;
}

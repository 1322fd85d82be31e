import type { GapReason } from "./change-log.js";
import {
  type ClaimedDelivery,
  deliveryIdFor,
  type GroupRecord,
  type GroupSettings,
} from "./consumer-group.js";
import type { ClaimInput, ClaimOutcome, ConsumerGroupStore } from "./consumer-group-store.js";
import type { ChangeEntry } from "./log-entry.js";
import type { ChangeLogReader } from "./ports.js";
import type { SourceRecord } from "./source.js";
import { type WakeContent, wakeIdFor } from "./watch-frames.js";

/** Frames of a ConsumeWakes stream. */
export type MemberFrame =
  | { readonly type: "ready"; readonly memberId: string; readonly settings: GroupSettings }
  | {
      readonly type: "delivery";
      readonly deliveryId: string;
      readonly attempt: number;
      readonly ackDeadline: Date;
      readonly wake: WakeContent;
    }
  | {
      readonly type: "gap";
      readonly deliveryId: string;
      readonly attempt: number;
      readonly ackDeadline: Date;
      readonly gap: {
        readonly sourceRef: string;
        readonly reason: GapReason;
        readonly fromSeq: bigint;
        readonly toSeq: bigint;
        readonly detail: string;
      };
    }
  | { readonly type: "heartbeat"; readonly time: Date };

/** Wake-ups of a group's members within this process (acks, nacks, new deliveries, deletion). */
export class GroupSignals {
  readonly #generations = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();

  /** The current generation of `key` (taken before looking for work). */
  generation(key: string): number {
    return this.#generations.get(key) ?? 0;
  }

  /** Something changed for `key`: wakes its waiters. */
  bump(key: string): void {
    this.#generations.set(key, this.generation(key) + 1);
    for (const wake of [...(this.#waiters.get(key) ?? [])]) wake();
  }

  /** Resolves when `key` moves past `generation`, after `timeoutMs`, or when `signal` aborts. */
  wait(key: string, generation: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.generation(key) !== generation || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const set = this.#waiters.get(key) ?? new Set();
      this.#waiters.set(key, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.#waiters.delete(key);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      set.add(done);
      signal.addEventListener("abort", done);
    });
  }
}

/** Key of a group in {@link GroupSignals}. */
export function groupKey(tenant: string, group: string): string {
  return `${tenant}\u0000${group}`;
}

/** Dependencies of a {@link GroupMember}. */
export interface GroupMemberDeps {
  readonly group: GroupRecord;
  readonly memberId: string;
  readonly memberName: string;
  /** The member's sources by ref. */
  readonly sources: ReadonlyMap<string, SourceRecord>;
  readonly maxInFlight: number;
  readonly heartbeatIntervalMs: number;
  /** Longest idle wait before looking for work again (work may come from other replicas). */
  readonly pollIntervalMs: number;
  readonly store: ConsumerGroupStore;
  /** Claims for this member; default `store.claim` (the service joins concurrent claims). */
  readonly claim?: (input: ClaimInput) => Promise<ClaimOutcome>;
  readonly reader: ChangeLogReader;
  readonly signals: GroupSignals;
}

/**
 * The entries of `all` (log order) in [firstSeq, lastSeq], searching from index `from` (where the
 * previous delivery's search ended; from the start when that is past `firstSeq`), and where the
 * next search starts. A claim's deliveries come in log order, so one pass serves all of them
 * (filtering the whole list per delivery was quadratic).
 */
function entriesIn(
  all: readonly ChangeEntry[],
  from: number,
  firstSeq: bigint,
  lastSeq: bigint,
): { changes: ChangeEntry[]; next: number } {
  let i = from > 0 && (all[from - 1] as ChangeEntry).seq >= firstSeq ? 0 : from;
  while (i < all.length && (all[i] as ChangeEntry).seq < firstSeq) i++;
  const start = i;
  while (i < all.length && (all[i] as ChangeEntry).seq <= lastSeq) i++;
  return { changes: all.slice(start, i), next: i };
}

/** Log entries read per query when building a wake. */
const READ_LIMIT = 1_000;

/**
 * A member holding deliveries claims again once this fraction of its `maxInFlight` is free, so
 * it refills several per claim transaction rather than one per acknowledgement...
 */
const REFILL_FRACTION = 0.5;

/** ...or once it has waited this long with fewer free slots (work never waits much longer). */
const REFILL_DELAY_MS = 20;

/** How often a busy member refreshes its liveness row. */
const TOUCH_INTERVAL_MS = 10_000;

/**
 * One ConsumeWakes stream: a member of a group. It claims deliveries from the store while it
 * holds fewer than `maxInFlight` (the store applies the ordering rules; a member that holds some
 * refills once half its slots are free, or after `REFILL_DELAY_MS`), turns each into a frame
 * by reading its range from the log (a range pruned since becomes a retention gap), and waits
 * for a signal, a retry time or an ack deadline when there is nothing to claim. When the stream
 * ends, the member's in-flight deliveries go back to the group at once.
 */
export class GroupMember {
  readonly #deps: GroupMemberDeps;

  constructor(deps: GroupMemberDeps) {
    this.#deps = deps;
  }

  /** Frames until `signal` aborts; throws ConsumerGroupNotFoundError when the group is deleted. */
  async *frames(signal: AbortSignal): AsyncGenerator<MemberFrame> {
    const { group, memberId, store, signals, heartbeatIntervalMs } = this.#deps;
    const claim = this.#deps.claim ?? ((input: ClaimInput) => store.claim(input));
    const key = groupKey(group.tenant, group.group);
    await store.addMember(group.tenant, group.group, memberId, this.#deps.memberName);
    try {
      yield { type: "ready", memberId, settings: group.settings };
      let lastFrameAt = Date.now();
      let lastTouchAt = Date.now();
      let deferredSince: number | undefined;
      while (!signal.aborted) {
        const generation = signals.generation(key);
        const refilling = deferredSince === undefined || Date.now() - deferredSince < REFILL_DELAY_MS;
        const outcome = await claim({
          tenant: group.tenant,
          group: group.group,
          memberId,
          sourceRefs: [...this.#deps.sources.keys()],
          maxInFlight: this.#deps.maxInFlight,
          ordering: group.settings.ordering,
          minRoom: refilling ? Math.ceil(this.#deps.maxInFlight * REFILL_FRACTION) : 1,
        });
        deferredSince = outcome.deferred ? (deferredSince ?? Date.now()) : undefined;
        if (outcome.deadLettered > 0) signals.bump(key);
        for (const frame of await this.#frames(outcome.claimed)) {
          yield frame;
          lastFrameAt = Date.now();
        }
        if (Date.now() - lastTouchAt >= TOUCH_INTERVAL_MS) {
          await store.touchMember(group.tenant, group.group, memberId);
          lastTouchAt = Date.now();
        }
        if (outcome.claimed.length > 0 || outcome.deadLettered > 0) continue;
        const now = Date.now();
        let waitMs = Math.min(this.#deps.pollIntervalMs, lastFrameAt + heartbeatIntervalMs - now);
        if (outcome.nextAt) waitMs = Math.min(waitMs, outcome.nextAt.getTime() - now + 1);
        if (deferredSince !== undefined) waitMs = Math.min(waitMs, deferredSince + REFILL_DELAY_MS - now);
        await signals.wait(key, generation, waitMs, signal);
        if (!signal.aborted && Date.now() - lastFrameAt >= heartbeatIntervalMs) {
          yield { type: "heartbeat", time: new Date() };
          lastFrameAt = Date.now();
        }
      }
    } finally {
      await store.removeMember(group.tenant, group.group, memberId);
      signals.bump(key);
    }
  }

  /**
   * Frames of a claim, in its order. The changes of a source's claimed wakes are read with one
   * pass over the span they cover when it is short (a claim of consecutive wakes: one query
   * instead of one per wake), else wake by wake.
   */
  async #frames(claimed: readonly ClaimedDelivery[]): Promise<MemberFrame[]> {
    const spans = new Map<string, { first: bigint; last: bigint; wakes: number }>();
    for (const { sourceRef, delivery: d } of claimed) {
      if (d.kind !== "wake") continue;
      const span = spans.get(sourceRef);
      if (!span) spans.set(sourceRef, { first: d.firstSeq, last: d.lastSeq, wakes: 1 });
      else {
        if (d.firstSeq < span.first) span.first = d.firstSeq;
        if (d.lastSeq > span.last) span.last = d.lastSeq;
        span.wakes++;
      }
    }
    const read = new Map<string, ChangeEntry[]>();
    for (const [sourceRef, span] of spans) {
      if (span.wakes > 1 && span.last - span.first < BigInt(READ_LIMIT)) {
        read.set(sourceRef, await this.#changes(sourceRef, span.first, span.last));
      }
    }
    const frames: MemberFrame[] = [];
    const at = new Map<string, number>();
    for (const c of claimed) {
      const all = read.get(c.sourceRef);
      let changes: ChangeEntry[] | undefined;
      if (all) {
        const found = entriesIn(all, at.get(c.sourceRef) ?? 0, c.delivery.firstSeq, c.delivery.lastSeq);
        changes = found.changes;
        at.set(c.sourceRef, found.next);
      }
      frames.push(await this.#frame(c, changes));
    }
    return frames;
  }

  /** The frame of one claimed delivery; `read` holds its changes when already read. */
  async #frame(claimed: ClaimedDelivery, read: ChangeEntry[] | undefined): Promise<MemberFrame> {
    const { sourceRef, incarnation, delivery: d, attempt, ackDeadline } = claimed;
    const deliveryId = deliveryIdFor(sourceRef, incarnation, d.firstSeq, d.lastSeq, attempt);
    const head = { deliveryId, attempt, ackDeadline };
    if (d.kind === "gap") {
      const gap = { sourceRef, reason: d.reason, fromSeq: d.firstSeq, toSeq: d.lastSeq, detail: d.detail };
      return { type: "gap", ...head, gap };
    }
    const changes = read ?? (await this.#changes(sourceRef, d.firstSeq, d.lastSeq));
    if (changes.length < d.changeCount) {
      const detail = "log retention deleted changes of this wake before the group acknowledged it";
      const gap = { sourceRef, reason: "retention" as const, fromSeq: d.firstSeq, toSeq: d.lastSeq, detail };
      return { type: "gap", ...head, gap };
    }
    const source = this.#deps.sources.get(sourceRef);
    const wake = {
      wakeId: wakeIdFor(sourceRef, incarnation, d.firstSeq, d.lastSeq),
      sourceRef,
      table: source?.options.table ?? "",
      changes,
      firstSeq: d.firstSeq,
      lastSeq: d.lastSeq,
    };
    return { type: "delivery", ...head, wake };
  }

  /** The group's matching changes in [firstSeq, lastSeq], read from the log. */
  async #changes(sourceRef: string, firstSeq: bigint, lastSeq: bigint): Promise<ChangeEntry[]> {
    const { group, reader } = this.#deps;
    const ops = new Set(group.settings.ops);
    const changes: ChangeEntry[] = [];
    let after = firstSeq - 1n;
    while (after < lastSeq) {
      const entries = await reader.read(
        group.tenant,
        sourceRef,
        after,
        Math.min(READ_LIMIT, Number(lastSeq - after)),
      );
      for (const e of entries) {
        if (e.seq > lastSeq) return changes;
        if (e.kind === "change" && (ops.size === 0 || ops.has(e.operation))) changes.push(e);
        after = e.seq;
      }
      if (entries.length === 0) break;
    }
    return changes;
  }
}

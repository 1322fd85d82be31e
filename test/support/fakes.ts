import type { StoredCursor } from "../../src/domain/change-log.js";
import type { ChangeEntry, LogBounds, LogEntry, LogEvent } from "../../src/domain/log-entry.js";
import type { ChangeLogReader, LogNotifier } from "../../src/domain/ports.js";
import type { SourceRecord, SourceState } from "../../src/domain/source.js";
import type { Operation } from "../../src/domain/source-options.js";

/** An in-memory change log with notifications, for unit tests of the watch session. */
export class InMemoryChangeLog implements ChangeLogReader, LogNotifier {
  readonly #entries = new Map<string, LogEntry[]>();
  readonly #listeners = new Map<string, Set<(e: LogEvent) => void>>();
  /** Source rows: absent = LIVE as created, null = deleted. */
  readonly #sources = new Map<string, SourceRecord | null>();
  /** Number of read() calls (to check pagination). */
  reads = 0;

  #key(tenant: string, ref: string) {
    return `${tenant}/${ref}`;
  }

  /** Appends changes and notifies. */
  append(tenant: string, ref: string, ...ops: Operation[]): ChangeEntry[] {
    const list = this.#entries.get(this.#key(tenant, ref)) ?? [];
    this.#entries.set(this.#key(tenant, ref), list);
    const added: ChangeEntry[] = [];
    for (const operation of ops) {
      const seq = BigInt(list.length === 0 ? 1 : Number((list.at(-1) as LogEntry).seq) + 1);
      const entry: ChangeEntry = {
        kind: "change",
        seq,
        key: `"public"."t"/"${seq}"`,
        operation,
        value: { id: String(seq) },
        oldValue: undefined,
        offset: `${seq}_0`,
        txids: [],
      };
      list.push(entry);
      added.push(entry);
    }
    this.#notify(tenant, ref, {
      type: "appended",
      tenant,
      sourceRef: ref,
      headSeq: (list.at(-1) as LogEntry).seq,
    });
    return added;
  }

  /** Appends changes with the given values and transaction ids, and notifies. */
  appendChanges(
    tenant: string,
    ref: string,
    ...changes: { operation: Operation; value: Record<string, unknown>; txids: string[] }[]
  ): void {
    const list = this.#entries.get(this.#key(tenant, ref)) ?? [];
    this.#entries.set(this.#key(tenant, ref), list);
    for (const { operation, value, txids } of changes) {
      const seq = BigInt(list.length === 0 ? 1 : Number((list.at(-1) as LogEntry).seq) + 1);
      const key = `"public"."t"/"${String(value.id)}"`;
      list.push({
        kind: "change",
        seq,
        key,
        operation,
        value,
        oldValue: undefined,
        offset: `${seq}_0`,
        txids,
      });
    }
    this.#notify(tenant, ref, {
      type: "appended",
      tenant,
      sourceRef: ref,
      headSeq: (list.at(-1) as LogEntry).seq,
    });
  }

  /** Appends a must-refetch gap and notifies. */
  appendGap(tenant: string, ref: string): void {
    const list = this.#entries.get(this.#key(tenant, ref)) ?? [];
    this.#entries.set(this.#key(tenant, ref), list);
    const seq = BigInt(list.length === 0 ? 1 : Number((list.at(-1) as LogEntry).seq) + 1);
    list.push({ kind: "gap", seq, reason: "must-refetch", detail: "rotated" });
    this.#notify(tenant, ref, { type: "appended", tenant, sourceRef: ref, headSeq: seq });
  }

  /** Deletes entries with seq < `beforeSeq` (retention). */
  prune(tenant: string, ref: string, beforeSeq: bigint): void {
    const list = this.#entries.get(this.#key(tenant, ref)) ?? [];
    this.#entries.set(
      this.#key(tenant, ref),
      list.filter((e) => e.seq >= beforeSeq),
    );
  }

  /**
   * Changes the source as the database would (its state, or deletes it) and sends the "source
   * changed" notification. {@link source} reads it back.
   */
  emitState(tenant: string, ref: string, state: SourceState, deleted = false, lastError?: string): void {
    this.#sources.set(
      this.#key(tenant, ref),
      deleted ? null : sourceRecord(ref, { tenant, state, lastError }),
    );
    this.notifyOnly(tenant, ref);
  }

  /** Sends a "source changed" notification without changing the source (a forged one). */
  notifyOnly(tenant: string, ref: string): void {
    this.#notify(tenant, ref, { type: "source", tenant, sourceRef: ref });
  }

  /** The source as the database holds it: LIVE unless {@link emitState} changed or deleted it. */
  async source(tenant: string, ref: string): Promise<SourceRecord | undefined> {
    const stored = this.#sources.get(this.#key(tenant, ref));
    if (stored === null) return undefined;
    return stored ?? sourceRecord(ref, { tenant });
  }

  async read(tenant: string, ref: string, afterSeq: bigint, limit: number): Promise<LogEntry[]> {
    this.reads++;
    return (this.#entries.get(this.#key(tenant, ref)) ?? []).filter((e) => e.seq > afterSeq).slice(0, limit);
  }

  async bounds(tenant: string, ref: string): Promise<LogBounds> {
    const list = this.#entries.get(this.#key(tenant, ref)) ?? [];
    return { headSeq: list.at(-1)?.seq ?? 0n, tailSeq: list[0]?.seq ?? 0n };
  }

  subscribe(tenant: string, ref: string, listener: (e: LogEvent) => void): () => void {
    const key = this.#key(tenant, ref);
    const set = this.#listeners.get(key) ?? new Set();
    this.#listeners.set(key, set);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(key);
    };
  }

  /** Live subscriptions (leak checks). */
  get subscriptions(): number {
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  #notify(tenant: string, ref: string, event: LogEvent): void {
    for (const l of [...(this.#listeners.get(this.#key(tenant, ref)) ?? [])]) l(event);
  }
}

/** A source record for tests. */
export function sourceRecord(sourceRef: string, overrides: Partial<SourceRecord> = {}): SourceRecord {
  const now = new Date();
  return {
    tenant: "t1",
    sourceRef,
    incarnation: "1",
    options: { table: "todos", replica: "default" },
    shapeUrl: "http://127.0.0.1:1/v1/shape",
    state: "LIVE",
    lastError: undefined,
    createdAt: now,
    registeredAt: now,
    watchedAt: undefined,
    updatedAt: now,
    ...overrides,
  };
}

/** A stored cursor at handle h1, offset 0_0, term 1, with `overrides`. */
export function storedCursor(overrides: Partial<StoredCursor> = {}): StoredCursor {
  return {
    shapeHandle: "h1",
    shapeOffset: "0_0",
    logMode: "changes_only",
    headSeq: 0n,
    tailSeq: 0n,
    generation: 1n,
    upToDateAt: undefined,
    updatedAt: new Date(),
    owner: undefined,
    leaseExpiresAt: undefined,
    leaseLive: false,
    ...overrides,
  };
}

import type { BatchCommit } from "../domain/change-log.js";
import type { LogEntry } from "../domain/log-entry.js";
import { sourceKey } from "../domain/source-key.js";
import type { CommitOutcome } from "./pg-cursor-store.js";

/** Bounds of a {@link RecentLog}. */
export interface RecentLogLimits {
  /** Entries kept per source (the newest). */
  readonly maxPerSource: number;
  /** Entries kept across all sources; the sources committed to least recently are dropped first. */
  readonly maxEntries: number;
  /** Characters of row values (as JSON) kept across all sources, dropped the same way. */
  readonly maxChars: number;
}

/** Default bounds: a live batch is a few entries; a burst falls back to Postgres. */
export const RECENT_LOG_LIMITS: RecentLogLimits = {
  maxPerSource: 2_048,
  maxEntries: 16_384,
  maxChars: 16 * 1024 * 1024,
};

/** One source's newest entries: contiguous seqs, all of one incarnation. */
interface Run {
  readonly incarnation: string;
  readonly entries: LogEntry[];
  /** Characters of each entry's values (its batch's share). */
  readonly chars: number[];
  totalChars: number;
}

/** What a {@link RecentLog} served (for metrics). */
export type RecentLogOutcome = "hit" | "miss";

/**
 * The entries this process has just committed to the log, kept in memory so that the streams of
 * this process read them without a Postgres round trip. The log in Postgres stays the source of
 * truth: an entry is kept only after its commit returned, with the seq the statement gave it, and
 * only when the commit appended exactly the batch (no duplicate dropped), so a kept entry is the
 * logged one. A read is served only when the kept run covers the entry right after the reader's
 * position and belongs to the reader's incarnation (a source deleted and registered again starts
 * over); anything else, including entries another replica wrote, is read from Postgres. Log
 * entries never change once written, so a kept entry cannot go stale; retention may delete it
 * from Postgres first, which only means a reader at that position sees a little more.
 *
 * Bounded by entry counts per source and overall and by the size of the kept row values, and fed
 * only for sources that someone in this process reads (`wanted`).
 */
export class RecentLog {
  readonly #runs = new Map<string, Run>();
  readonly #limits: RecentLogLimits;
  readonly #wanted: (tenant: string, sourceRef: string) => boolean;
  #total = 0;
  #totalChars = 0;

  constructor(
    wanted: (tenant: string, sourceRef: string) => boolean,
    limits: RecentLogLimits = RECENT_LOG_LIMITS,
  ) {
    this.#wanted = wanted;
    this.#limits = limits;
  }

  /** Entries held across all sources. */
  get size(): number {
    return this.#total;
  }

  /** Keeps what a commit of `batch` (a source of `incarnation`) appended, as `commit` reports it. */
  record(incarnation: string, batch: BatchCommit, { result, valueChars }: CommitOutcome): void {
    if (result.appended === 0) return;
    const key = sourceKey(batch.tenant, batch.sourceRef);
    const previous = this.#take(key);
    const expected = batch.changes.length + (batch.gap ? 1 : 0);
    if (result.appended !== expected || !this.#wanted(batch.tenant, batch.sourceRef)) return;
    const first = result.headSeq - BigInt(result.appended) + 1n;
    const fresh = entriesOf(batch, first);
    const share = valueChars / fresh.length;
    const continues =
      previous !== undefined &&
      previous.incarnation === incarnation &&
      (previous.entries.at(-1) as LogEntry).seq + 1n === first;
    // A run taken out of the map is this commit's to extend in place: readers get slices of it.
    const run: Run = continues ? previous : { incarnation, entries: [], chars: [], totalChars: 0 };
    for (const entry of fresh) {
      run.entries.push(entry);
      run.chars.push(share);
    }
    run.totalChars += valueChars;
    const drop = run.entries.length - this.#limits.maxPerSource;
    if (drop > 0) {
      for (let i = 0; i < drop; i++) run.totalChars -= run.chars[i] as number;
      run.entries.splice(0, drop);
      run.chars.splice(0, drop);
    }
    this.#runs.set(key, run);
    this.#total += run.entries.length;
    this.#totalChars += run.totalChars;
    this.#evict(key);
  }

  /**
   * The entries after `afterSeq` (at most `limit`), when the kept run of the source's
   * `incarnation` holds the one right after it; undefined when Postgres must be read.
   */
  read(
    tenant: string,
    sourceRef: string,
    incarnation: string,
    afterSeq: bigint,
    limit: number,
  ): LogEntry[] | undefined {
    const run = this.#runs.get(sourceKey(tenant, sourceRef));
    if (!run || run.incarnation !== incarnation) return undefined;
    const first = (run.entries[0] as LogEntry).seq;
    const head = (run.entries.at(-1) as LogEntry).seq;
    if (afterSeq < first - 1n || afterSeq >= head) return undefined;
    const start = Number(afterSeq - first + 1n);
    return run.entries.slice(start, start + limit);
  }

  /** Drops what is kept of a source (it was deleted or reset). */
  forget(tenant: string, sourceRef: string): void {
    this.#take(sourceKey(tenant, sourceRef));
  }

  /** Removes a source's run (it goes back in at the end of the map: most recently committed). */
  #take(key: string): Run | undefined {
    const run = this.#runs.get(key);
    if (!run) return undefined;
    this.#runs.delete(key);
    this.#total -= run.entries.length;
    this.#totalChars -= run.totalChars;
    return run;
  }

  #fits(): boolean {
    return this.#total <= this.#limits.maxEntries && this.#totalChars <= this.#limits.maxChars;
  }

  /**
   * Drops `latest`'s run when it alone is over the bounds, then the least recently committed
   * sources' runs until the totals fit (`latest`, just set, comes last and then fits).
   */
  #evict(latest: string): void {
    const run = this.#runs.get(latest);
    if (run && (run.entries.length > this.#limits.maxEntries || run.totalChars > this.#limits.maxChars)) {
      this.#take(latest);
    }
    for (const key of this.#runs.keys()) {
      if (this.#fits()) return;
      this.#take(key);
    }
  }
}

/** The log entries a fully appended batch became, numbered from `first` as the commit numbers them. */
function entriesOf(batch: BatchCommit, first: bigint): LogEntry[] {
  const entries: LogEntry[] = [];
  let seq = first;
  if (batch.gap)
    entries.push({ kind: "gap", seq: seq++, reason: batch.gap.reason, detail: batch.gap.detail });
  for (const c of batch.changes) {
    entries.push({
      kind: "change",
      seq: seq++,
      key: c.key,
      operation: c.operation,
      value: c.value as Record<string, unknown>,
      oldValue: (c.oldValue ?? undefined) as Record<string, unknown> | undefined,
      offset: c.offset,
      txids: c.txids,
    });
  }
  return entries;
}

import type { Operation } from "./source-options.js";

/** Electric `log` modes. */
export type LogMode = "full" | "changes_only";

/** A row change to append to a source's log. */
export interface NewChange {
  /** Electric row key. */
  readonly key: string;
  /** Operation. */
  readonly operation: Operation;
  /** Parsed row values (JSON-safe: int8 and numeric as strings). */
  readonly value: Readonly<Record<string, unknown>>;
  /** Old values of changed columns (replica full updates). */
  readonly oldValue: Readonly<Record<string, unknown>> | undefined;
  /** Electric offset of the change (`<lsn>_<op>`), unique within the source. */
  readonly offset: string;
  /** Postgres transaction ids. */
  readonly txids: readonly string[];
}

/** Reasons a gap is logged. */
export type GapReason = "must-refetch" | "retention" | "source-reset";

/** A gap entry: changes in a range may be missing. */
export interface NewGap {
  readonly reason: GapReason;
  /** Human-readable detail (last good offset, new handle). */
  readonly detail: string;
  /** The last offset known good, when known. */
  readonly lastGoodOffset: string | undefined;
  /** The new shape handle, when there is one. */
  readonly newHandle: string | undefined;
}

/** The persisted Electric cursor of a source. */
export interface StoredCursor {
  readonly shapeHandle: string | undefined;
  readonly shapeOffset: string | undefined;
  readonly logMode: LogMode;
  /** Newest log seq (0 when empty). */
  readonly headSeq: bigint;
  /** Oldest retained log seq (0 when empty). */
  readonly tailSeq: bigint;
  /** Fencing generation of the current owner. */
  readonly generation: bigint;
  readonly upToDateAt: Date | undefined;
  readonly updatedAt: Date;
  /** Replica that holds (or last held) the source's lease; undefined when released. */
  readonly owner: string | undefined;
  /** When the lease expires (or expired), by the database clock; undefined when released. */
  readonly leaseExpiresAt: Date | undefined;
  /** True while the lease is unexpired by the database clock. */
  readonly leaseLive: boolean;
}

/** One Electric response batch to commit atomically. */
export interface BatchCommit {
  readonly tenant: string;
  readonly sourceRef: string;
  /** Generation the committing bridge claimed; a mismatch means it lost ownership. */
  readonly generation: bigint;
  /** Cursor after the batch. */
  readonly shapeHandle: string;
  readonly shapeOffset: string;
  /** A gap to log before the changes (must-refetch). */
  readonly gap: NewGap | undefined;
  /** Changes in commit order. */
  readonly changes: readonly NewChange[];
  /** True when the batch ended with up-to-date. */
  readonly upToDate: boolean;
  /**
   * True for every part of a batch split into several commits but its last: the part's changes
   * are logged and announced, and the cursor's resume position stays at the batch's start (so a
   * crash re-reads the whole batch, and the parts already logged are dropped as duplicates).
   * `shapeHandle` is the batch's; `shapeOffset` and `upToDate` are ignored. Default false.
   */
  readonly partial?: boolean;
  /**
   * The incarnation of the source the committing bridge runs. With it, this process may keep the
   * appended entries in memory for its own readers (storage/recent-log.ts).
   */
  readonly incarnation?: string;
}

/** Result of a commit. */
export interface CommitResult {
  /** Log head after the commit. */
  readonly headSeq: bigint;
  /** Entries appended (changes, plus the gap if any). */
  readonly appended: number;
}

/**
 * Splits a batch into commits of at most `maxChanges` changes each, in order: the first part
 * carries the gap, every part but the last is `partial`, and the last carries the batch's cursor
 * and up-to-date. A batch within the bound is returned as it is. Committing the parts one after
 * another logs exactly what committing the batch whole would, and bounds each statement's size.
 */
export function splitBatch(batch: BatchCommit, maxChanges: number): BatchCommit[] {
  if (!Number.isInteger(maxChanges) || maxChanges < 1) {
    throw new RangeError(`maxChanges must be a positive integer, got ${maxChanges}`);
  }
  if (batch.changes.length <= maxChanges) return [batch];
  const parts: BatchCommit[] = [];
  for (let from = 0; from < batch.changes.length; from += maxChanges) {
    const last = from + maxChanges >= batch.changes.length;
    parts.push({
      ...batch,
      gap: from === 0 ? batch.gap : undefined,
      changes: batch.changes.slice(from, from + maxChanges),
      upToDate: last && batch.upToDate,
      partial: !last,
    });
  }
  return parts;
}

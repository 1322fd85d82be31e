/**
 * Visibility of replicated transactions in a shape's initial snapshot (`pg_current_snapshot()`),
 * which makes the snapshot and the replication stream meet without a change lost or doubled.
 */

/** The snapshot of the transaction that read a shape's initial rows, as `xid8` decimal text. */
export interface SnapshotInfo {
  /** Oldest transaction still running when the snapshot was taken. */
  readonly xmin: string;
  /** First transaction id not yet assigned when the snapshot was taken. */
  readonly xmax: string;
  /** Transactions in progress when the snapshot was taken. */
  readonly xipList: readonly string[];
}

/** 32-bit wrap-around comparison of transaction ids (Postgres `TransactionIdPrecedes`). */
function precedes(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

function toXid32(xid8: string): number {
  return Number(BigInt(xid8) & 0xffffffffn);
}

/** Answers whether a replicated transaction's effects are already in the snapshot. */
export class SnapshotVisibility {
  readonly #xmin: number;
  readonly #xmax: number;
  readonly #inProgress: ReadonlySet<number>;

  constructor(info: SnapshotInfo) {
    this.#xmin = toXid32(info.xmin);
    this.#xmax = toXid32(info.xmax);
    this.#inProgress = new Set(info.xipList.map(toXid32));
  }

  /** True when the transaction `xid` (32-bit, as pgoutput sends it) committed before the snapshot. */
  isVisible(xid: number): boolean {
    const x = xid >>> 0;
    if (precedes(x, this.#xmin)) return true;
    if (!precedes(x, this.#xmax)) return false;
    return !this.#inProgress.has(x);
  }
}

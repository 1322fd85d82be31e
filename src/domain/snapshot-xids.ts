/**
 * Postgres snapshot visibility for splicing a snapshot with the change log. A snapshot is
 * `pg_current_snapshot()` as Electric's `snapshot-end` reports it (xid8 decimal text); a logged
 * change carries the ids of its transaction as pgoutput sends them (32-bit, or xid8 from
 * Electric). Both are compared on their low 32 bits with wrap-around, as Postgres'
 * `TransactionIdPrecedes` does, so either form works.
 */

/** A snapshot's transaction bounds. */
export interface SnapshotXids {
  /** Oldest transaction still running when the snapshot was taken. */
  readonly xmin: string;
  /** First transaction id not yet assigned when the snapshot was taken. */
  readonly xmax: string;
  /** Transactions running when the snapshot was taken. */
  readonly xip: readonly string[];
}

const XID_MASK = 0xffffffffn;

function xid32(txid: string): number {
  return Number(BigInt(txid) & XID_MASK);
}

/** `a` precedes `b` in 32-bit wrap-around order. */
function precedes(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** Whether `txid` is a decimal transaction id (what tokens and logs may carry). */
export function isTxid(txid: unknown): txid is string {
  return typeof txid === "string" && /^\d{1,20}$/.test(txid);
}

/**
 * Whether transaction `txid` had committed when the snapshot was taken, i.e. its effects are in
 * the snapshot's rows: older than xmin, or older than xmax and not running then.
 */
export function isVisibleIn(txid: string, snapshot: SnapshotXids): boolean {
  const x = xid32(txid);
  if (precedes(x, xid32(snapshot.xmin))) return true;
  if (!precedes(x, xid32(snapshot.xmax))) return false;
  return !snapshot.xip.some((running) => xid32(running) === x);
}

/**
 * Whether transaction `txid` began after the snapshot was taken (at or past its xmax). Its commit
 * follows, in the log, the commit of every transaction the snapshot sees.
 */
export function startedAfter(txid: string, snapshot: SnapshotXids): boolean {
  return !precedes(xid32(txid), xid32(snapshot.xmax));
}

/** Whether two snapshots are the same (same bounds and running set). */
export function sameSnapshot(a: SnapshotXids, b: SnapshotXids): boolean {
  if (a.xmin !== b.xmin || a.xmax !== b.xmax || a.xip.length !== b.xip.length) return false;
  const running = new Set(a.xip);
  return b.xip.every((x) => running.has(x));
}

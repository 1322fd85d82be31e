/**
 * Electric log offsets (`LogOffset`): `-1`, `0_N` for snapshot chunks, `0_inf` for the end of the
 * snapshot, and `<commit LSN>_<op>` for real changes.
 */

/** Marks the `inf` op of an offset. */
export const OP_INF = Number.POSITIVE_INFINITY;

/** A parsed offset. `tx` is -1 only for the "before everything" offset. */
export interface LogOffset {
  /** Commit LSN of the transaction as an integer; 0 for snapshot offsets; -1 before all. */
  readonly tx: bigint;
  /** Position in the transaction (steps of 2), chunk number for snapshots, or {@link OP_INF}. */
  readonly op: number;
}

/** The offset before everything (`-1`). */
export const BEFORE_ALL: LogOffset = Object.freeze({ tx: -1n, op: 0 });
/** The end of the snapshot, before any real transaction (`0_inf`). */
export const SNAPSHOT_END: LogOffset = Object.freeze({ tx: 0n, op: OP_INF });

const OFFSET_PATTERN = /^(0|[1-9][0-9]*)_(0|[1-9][0-9]*|inf)$/;

/** Parses an offset strictly as Electric does; returns `undefined` for anything invalid. */
export function parseOffset(text: string): LogOffset | undefined {
  if (text === "-1") return BEFORE_ALL;
  const match = OFFSET_PATTERN.exec(text);
  if (!match) return undefined;
  const tx = BigInt(match[1]!);
  if (tx >= 1n << 64n) return undefined;
  const op = match[2] === "inf" ? OP_INF : Number(match[2]);
  if (!Number.isSafeInteger(op) && op !== OP_INF) return undefined;
  return { tx, op };
}

/** Serialises an offset in Electric's text form. */
export function formatOffset(offset: LogOffset): string {
  if (offset.tx < 0n) return "-1";
  return `${offset.tx}_${offset.op === OP_INF ? "inf" : offset.op}`;
}

/** Compares two offsets: tx first, then op, with `inf` largest. */
export function compareOffsets(a: LogOffset, b: LogOffset): number {
  if (a.tx !== b.tx) return a.tx < b.tx ? -1 : 1;
  if (a.op === b.op) return 0;
  return a.op < b.op ? -1 : 1;
}

/** True for the virtual offsets of the initial snapshot (`-1`, `0_N`, `0_inf`). */
export function isSnapshotOffset(offset: LogOffset): boolean {
  return offset.tx <= 0n;
}

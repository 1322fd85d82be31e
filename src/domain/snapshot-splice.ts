import { isTxid, isVisibleIn, type SnapshotXids, sameSnapshot, startedAfter } from "./snapshot-xids.js";

/**
 * How the splice of a snapshot with the log works. The snapshot is read in pages in primary key
 * order, each page in its own Postgres snapshot, and the log is read from a position taken
 * before the first page (every transaction a page does not see commits after it, so it is
 * logged after that position). Each page covers a key range; a logged change is skipped exactly
 * when its transaction is visible in the snapshot of the range its key falls in (its effect is
 * already in the rows delivered). Once the log shows a transaction that began after every
 * snapshot, everything after it is new: the splice retires and the log is read unfiltered.
 *
 * ```
 *   rows ──page 1 (S1)──▶ ... ──page n (Sn)──▶ complete ──log, filtered by range──▶ retired
 * ```
 */

/**
 * Primary key column kinds whose order JavaScript reproduces exactly as Postgres orders them:
 * integers (int2, int4, int8) and uuid (byte order = lowercase hex order). Keys of other types
 * (text with collations, numeric, composite types) are not paged: one page holds every row.
 */
export type KeyKind = "integer" | "uuid";

/** One primary key column. */
export interface KeyColumn {
  readonly name: string;
  readonly kind: KeyKind;
}

/** A primary key as text, one value per key column in key order. */
export type KeyValues = readonly string[];

/** A key range delivered in one snapshot: keys after the previous range's bound up to `upTo`. */
export interface SpliceRange {
  /** Last key of the range (inclusive); undefined = every key after the previous range. */
  readonly upTo: KeyValues | undefined;
  readonly xids: SnapshotXids;
}

/** Progress of one snapshot and its splice with the log; carried in resume tokens. */
export interface SpliceState {
  /** Identifies the snapshot (in wake ids): the splice position and the first page's xmin. */
  readonly id: string;
  /** Key columns when rows are paged by key; undefined when one page holds every row. */
  readonly keyColumns: readonly KeyColumn[] | undefined;
  /** Ranges delivered so far, in key order. */
  readonly ranges: readonly SpliceRange[];
  /** True once every row is delivered: the log is being read, filtered. */
  readonly complete: boolean;
  /** Rows delivered so far. */
  readonly rows: number;
}

/** A fresh splice (no page read yet). */
export function newSplice(): SpliceState {
  return { id: "", keyColumns: undefined, ranges: [], complete: false, rows: 0 };
}

function compareValue(kind: KeyKind, a: string, b: string): number {
  if (kind === "integer") {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Compares two keys in Postgres order (column by column). */
export function compareKeys(columns: readonly KeyColumn[], a: KeyValues, b: KeyValues): number {
  for (let i = 0; i < columns.length; i++) {
    const c = compareValue((columns[i] as KeyColumn).kind, a[i] ?? "", b[i] ?? "");
    if (c !== 0) return c;
  }
  return 0;
}

/** The key of a row or change value, or undefined when a key column is missing or malformed. */
export function keyOf(
  columns: readonly KeyColumn[],
  value: Readonly<Record<string, unknown>>,
): KeyValues | undefined {
  const key: string[] = [];
  for (const { name, kind } of columns) {
    const v = value[name];
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "bigint") return undefined;
    const text = String(v);
    if (kind === "integer" && !/^-?\d+$/.test(text)) return undefined;
    key.push(text);
  }
  return key;
}

/**
 * Records that rows up to `upTo` were delivered from a page read in snapshot `xids`: extends the
 * last range when it has the same snapshot, else adds a range. Pure.
 */
export function extendSplice(
  state: SpliceState,
  page: { readonly xids: SnapshotXids; readonly keyColumns: readonly KeyColumn[] | undefined },
  upTo: KeyValues | undefined,
  rows: number,
): SpliceState {
  const last = state.ranges.at(-1);
  const range: SpliceRange = { upTo, xids: page.xids };
  const ranges =
    last && sameSnapshot(last.xids, page.xids)
      ? [...state.ranges.slice(0, -1), range]
      : [...state.ranges, range];
  return {
    ...state,
    id: state.id || page.xids.xmin,
    keyColumns: page.keyColumns,
    ranges,
    rows: state.rows + rows,
  };
}

/** Marks every row delivered: the last range reaches the end of the table. Pure. */
export function completeSplice(
  state: SpliceState,
  lastPage: { readonly xids: SnapshotXids; readonly keyColumns: readonly KeyColumn[] | undefined },
): SpliceState {
  const extended = extendSplice(state, lastPage, undefined, 0);
  return { ...extended, complete: true };
}

/** The snapshot of the range a change's key falls in; undefined when its key cannot be read. */
function snapshotFor(state: SpliceState, value: Readonly<Record<string, unknown>>): SnapshotXids | undefined {
  const { keyColumns, ranges } = state;
  if (!keyColumns) return ranges.at(-1)?.xids;
  const key = keyOf(keyColumns, value);
  if (!key) return undefined;
  for (const range of ranges) {
    if (!range.upTo || compareKeys(keyColumns, key, range.upTo) <= 0) return range.xids;
  }
  return ranges.at(-1)?.xids;
}

/** What the splice decides for one logged change. */
export interface SpliceVerdict {
  /** The change is already in the delivered rows: skip it. */
  readonly skip: boolean;
  /** Every later change is new: the splice can be dropped after this one. */
  readonly retire: boolean;
}

/**
 * Decides one logged change read after the splice position (the snapshot is complete). A change
 * without transaction ids, or whose key cannot be read, is delivered (never lost). Pure.
 */
export function spliceChange(
  state: SpliceState,
  change: { readonly value: Readonly<Record<string, unknown>>; readonly txids: readonly string[] },
): SpliceVerdict {
  const txids = change.txids.filter(isTxid);
  if (txids.length === 0 || state.ranges.length === 0) return { skip: false, retire: false };
  const retire = txids.some((t) => state.ranges.every((r) => startedAfter(t, r.xids)));
  if (retire) return { skip: false, retire };
  const xids = snapshotFor(state, change.value);
  const skip = xids !== undefined && txids.every((t) => isVisibleIn(t, xids));
  return { skip, retire: false };
}

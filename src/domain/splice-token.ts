import type { KeyColumn, SpliceRange, SpliceState } from "./snapshot-splice.js";
import { isTxid } from "./snapshot-xids.js";

/** A splice as it travels in a resume token (compact JSON). */
export interface EncodedSplice {
  /** Snapshot id. */
  readonly i: string;
  /** Key columns as `[name, kind]`, or null when not paged. */
  readonly k: readonly (readonly [string, string])[] | null;
  /** Ranges as `[upTo or null, xmin, xmax, xip]`. */
  readonly r: readonly (readonly [readonly string[] | null, string, string, readonly string[]])[];
  /** 1 once every row is delivered. */
  readonly c: 0 | 1;
  /** Rows delivered. */
  readonly n: number;
}

/** Encodes a splice for a resume token. */
export function encodeSplice(state: SpliceState): EncodedSplice {
  return {
    i: state.id,
    k: state.keyColumns ? state.keyColumns.map((c) => [c.name, c.kind] as const) : null,
    r: state.ranges.map(
      (r) => [r.upTo ? [...r.upTo] : null, r.xids.xmin, r.xids.xmax, [...r.xids.xip]] as const,
    ),
    c: state.complete ? 1 : 0,
    n: state.rows,
  };
}

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === "string");

function decodeKeyColumns(k: unknown): KeyColumn[] | undefined | false {
  if (k === null) return undefined;
  if (!Array.isArray(k) || k.length === 0) return false;
  const columns: KeyColumn[] = [];
  for (const c of k) {
    if (!isStringArray(c) || c.length !== 2 || (c[1] !== "integer" && c[1] !== "uuid")) return false;
    columns.push({ name: c[0] as string, kind: c[1] });
  }
  return columns;
}

function decodeRange(r: unknown, keyCount: number): SpliceRange | undefined {
  if (!Array.isArray(r) || r.length !== 4) return undefined;
  const [upTo, xmin, xmax, xip] = r as unknown[];
  if (upTo !== null && !(isStringArray(upTo) && upTo.length === keyCount)) return undefined;
  if (!isTxid(xmin) || !isTxid(xmax) || !Array.isArray(xip) || !xip.every(isTxid)) return undefined;
  return { upTo: upTo ?? undefined, xids: { xmin, xmax, xip } };
}

/** Decodes {@link encodeSplice}'s output; undefined when it is malformed. */
export function decodeSplice(value: unknown): SpliceState | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { i, k, r, c, n } = value as Record<string, unknown>;
  if (typeof i !== "string" || (c !== 0 && c !== 1) || !Number.isSafeInteger(n) || (n as number) < 0) {
    return undefined;
  }
  const keyColumns = decodeKeyColumns(k);
  if (keyColumns === false || !Array.isArray(r)) return undefined;
  const ranges: SpliceRange[] = [];
  for (const entry of r) {
    const range = decodeRange(entry, keyColumns?.length ?? 0);
    if (!range || (range.upTo && !keyColumns)) return undefined;
    ranges.push(range);
  }
  return { id: i, keyColumns, ranges, complete: c === 1, rows: n as number };
}

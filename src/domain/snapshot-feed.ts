import type { ChangeEntry } from "./log-entry.js";
import {
  compareKeys,
  completeSplice,
  extendSplice,
  type KeyColumn,
  type KeyValues,
  keyOf,
  type SpliceState,
} from "./snapshot-splice.js";
import type { SnapshotXids } from "./snapshot-xids.js";
import type { SourceRecord } from "./source.js";
import type { UnsealedFrame } from "./watch-frames.js";

/** Default {@link SnapshotSettings.pageRows}. */
export const DEFAULT_SNAPSHOT_PAGE_ROWS = 5_000;

/** One row of a snapshot page. */
export interface SnapshotRow {
  /** Electric's row key. */
  readonly key: string;
  /** Column values, parsed as the bridge parses logged changes. */
  readonly value: Record<string, unknown>;
}

/** One page of a source's rows, read in one Postgres snapshot. */
export interface SnapshotPage {
  readonly rows: readonly SnapshotRow[];
  /** The snapshot the page was read in. */
  readonly xids: SnapshotXids;
  /** Key columns when the page was read by key; undefined when it holds every row. */
  readonly keyColumns: readonly KeyColumn[] | undefined;
}

/** What page to read. */
export interface SnapshotPageRequest {
  /** Rows with keys after this one (keyset paging); undefined = from the first row. */
  readonly after: KeyValues | undefined;
  /** Most rows in the page (when paged by key). */
  readonly limit: number;
  /** Key columns learnt from an earlier page; undefined = look them up. */
  readonly keyColumns: readonly KeyColumn[] | undefined;
}

/** Reads snapshot pages of a source's shape (Electric subset snapshots). */
export interface SnapshotReader {
  /**
   * Reads rows of the source's shape in primary key order after `after`, at most `limit`, in one
   * snapshot; when the key's order cannot be reproduced exactly, every row (`keyColumns` unset).
   */
  readPage(record: SourceRecord, request: SnapshotPageRequest, signal: AbortSignal): Promise<SnapshotPage>;
}

/** How snapshots are read; given to watch sessions. */
export interface SnapshotSettings {
  readonly reader: SnapshotReader;
  /** Rows per snapshot page (bounds memory per stream). */
  readonly pageRows: number;
  /** Called after each page with the rows it held (metrics). */
  readonly onPage?: (rows: number) => void;
}

/** What {@link runSnapshot} works with. */
export interface SnapshotRun {
  readonly record: SourceRecord;
  readonly settings: SnapshotSettings;
  /** The log position the snapshot is spliced at. */
  readonly seq: bigint;
  readonly maxChangesPerWake: number;
  /** Whether snapshot rows are delivered (the ops filter lets inserts through). */
  readonly deliverRows: boolean;
  readonly getState: () => SpliceState;
  /** Records progress; called before the frame that carries it is emitted. */
  readonly setState: (state: SpliceState) => void;
  readonly emit: (frame: UnsealedFrame) => Promise<void>;
  readonly isOpen: () => boolean;
  readonly signal: AbortSignal;
}

/** Wake id of snapshot rows `first..last` (1-based) of a snapshot spliced at `seq`. */
export function snapshotWakeId(
  record: SourceRecord,
  seq: bigint,
  id: string,
  first: number,
  last: number,
): string {
  return `${record.sourceRef}-${record.incarnation}-snapshot-${seq}.${id}-${first}-${last}`;
}

/**
 * Checks that a paged snapshot page came in strictly increasing key order after `after`: the
 * splice's key ranges depend on it, so a shape endpoint that orders otherwise (e.g. by the text
 * form of an integer key) fails loudly here instead of skipping rows.
 */
export function checkPageOrder(page: SnapshotPage, after: KeyValues | undefined, sourceRef: string): void {
  const columns = page.keyColumns;
  if (!columns) return;
  let previous = after;
  for (const row of page.rows) {
    const key = keyOf(columns, row.value);
    if (!key || (previous && compareKeys(columns, previous, key) >= 0)) {
      throw new Error(
        `snapshot page of ${sourceRef} is not in primary key order after the previous key: the shape endpoint does not order subset snapshots by the key`,
      );
    }
    previous = key;
  }
}

function toEntry(row: SnapshotRow, seq: bigint): ChangeEntry {
  const { key, value } = row;
  return {
    kind: "change",
    seq,
    key,
    operation: "insert",
    value,
    oldValue: undefined,
    offset: "",
    txids: [],
    snapshot: true,
  };
}

/**
 * Delivers the rest of a snapshot: reads pages after the last delivered key and hands their rows
 * on as snapshot wakes of at most max_changes_per_wake, recording progress before each wake so
 * its token resumes after it. A stream resumed mid-page reads the rest of the page in a new
 * snapshot, which becomes a range of its own. Returns when every row is delivered (the splice is
 * complete) or the stream stops.
 */
export async function runSnapshot(run: SnapshotRun): Promise<void> {
  const { settings, record, seq, maxChangesPerWake } = run;
  for (;;) {
    let state = run.getState();
    if (state.complete || !run.isOpen()) return;
    // Not paged: a stream cut during the only page starts it again (documented).
    if (!state.keyColumns && state.rows > 0) state = { ...state, ranges: [], rows: 0 };
    const after = state.keyColumns ? state.ranges.at(-1)?.upTo : undefined;
    const request = { after, limit: settings.pageRows, keyColumns: state.keyColumns };
    const page = await settings.reader.readPage(record, request, run.signal);
    settings.onPage?.(page.rows.length);
    checkPageOrder(page, after, record.sourceRef);
    if (!run.isOpen()) return;
    const lastPage = !page.keyColumns || page.rows.length < settings.pageRows;
    for (let i = 0; i < page.rows.length; i += maxChangesPerWake) {
      const rows = page.rows.slice(i, i + maxChangesPerWake);
      const upTo = page.keyColumns ? keyOf(page.keyColumns, (rows.at(-1) as SnapshotRow).value) : undefined;
      if (page.keyColumns && !upTo)
        throw new Error(`snapshot row of ${record.sourceRef} lacks its primary key`);
      const first = state.rows + 1;
      state = extendSplice(state, page, upTo, rows.length);
      if (lastPage && i + maxChangesPerWake >= page.rows.length) state = completeSplice(state, page);
      run.setState(state);
      if (!run.deliverRows) continue;
      const frame = {
        type: "wake" as const,
        wakeId: snapshotWakeId(record, seq, state.id, first, state.rows),
        sourceRef: record.sourceRef,
        table: record.options.table,
        changes: rows.map((row) => toEntry(row, seq)),
        firstSeq: seq,
        lastSeq: seq,
        snapshot: true,
      };
      await run.emit(frame);
      if (!run.isOpen()) return;
    }
    if (lastPage && !state.complete) run.setState(completeSplice(state, page));
  }
}

import { describe, expect, it } from "vitest";
import type { LogBounds } from "../../src/domain/log-entry.js";
import type { ChangeLogReader } from "../../src/domain/ports.js";
import { encodeResumeToken } from "../../src/domain/resume-token.js";
import type { SnapshotReader } from "../../src/domain/snapshot-feed.js";
import { extendSplice, type KeyColumn, newSplice } from "../../src/domain/snapshot-splice.js";
import type { SnapshotXids } from "../../src/domain/snapshot-xids.js";
import type { Operation } from "../../src/domain/source-options.js";
import type { WatchFrame, WatchOptions } from "../../src/domain/watch-frames.js";
import { WatchSession } from "../../src/domain/watch-session.js";
import { InMemoryChangeLog, sourceRecord } from "../support/fakes.js";

/**
 * A stream subscribes to notifications before it plans where each source starts (so none is
 * missed), and planning reads the log's bounds (a database round trip). A notification that
 * arrives meanwhile, e.g. from a bridge committing the changes made while pg-sync was down, must
 * not start reading the log before the source is positioned: the read would start at seq 0 and,
 * for a snapshot resumed from a token, without the snapshot's splice.
 */

const A = "aaaaaaaaaaaaaaaa";
const ID: KeyColumn[] = [{ name: "id", kind: "integer" }];
const S = (xmin: string, xmax: string): SnapshotXids => ({ xmin, xmax, xip: [] });

/** The log as a reader whose first `bounds()` call runs `during` before it answers. */
function readerWithWrites(log: InMemoryChangeLog, during: () => void): ChangeLogReader {
  let done = false;
  return {
    read: (tenant, ref, afterSeq, limit) => log.read(tenant, ref, afterSeq, limit),
    async bounds(tenant, ref): Promise<LogBounds> {
      const bounds = await log.bounds(tenant, ref);
      if (!done) {
        done = true;
        during();
      }
      return bounds;
    },
  };
}

/** Rows with the given ids in key order, every page read in `xids`. */
function rowsReader(ids: number[], xids: SnapshotXids): SnapshotReader {
  return {
    async readPage(_record, request) {
      const after = request.after ? Number(request.after[0]) : Number.NEGATIVE_INFINITY;
      const rows = ids
        .filter((id) => id > after)
        .slice(0, request.limit)
        .map((id) => ({ key: `"public"."t"/"${id}"`, value: { id } }));
      return { rows, xids, keyColumns: ID };
    },
  };
}

function open(
  reader: ChangeLogReader,
  log: InMemoryChangeLog,
  start: WatchOptions["start"],
  rows?: SnapshotReader,
) {
  const session = new WatchSession({
    tenant: "t1",
    sources: [sourceRecord(A)],
    reader,
    notifier: log,
    getSource: (r) => log.source("t1", r),
    options: {
      ops: new Set<Operation>(),
      debounceMs: 0,
      maxWaitMs: 0,
      maxChangesPerWake: 500,
      heartbeatIntervalMs: 60_000,
      start,
    },
    limits: { maxBufferedFrames: 100, stallTimeoutMs: 1_000, readPageSize: 100 },
    ...(rows ? { snapshots: { reader: rows, pageRows: 3 } } : {}),
  });
  const aborter = new AbortController();
  const frames = session.frames(aborter.signal)[Symbol.asyncIterator]();
  /** Frames up to and including Ready, as short strings. */
  const untilReady = async (): Promise<string[]> => {
    const out: string[] = [];
    for (;;) {
      const r = await frames.next();
      if (r.done) throw new Error(`stream ended after ${out.join(" ")}`);
      out.push(brief(r.value));
      if (r.value.type === "ready") return out;
    }
  };
  return { aborter, untilReady };
}

/** `s:<ids>` snapshot rows, `c:<seqs>` logged changes, `ready@<seq>`. */
function brief(frame: WatchFrame): string {
  if (frame.type === "ready") return `ready@${frame.positions[0]?.seq}`;
  if (frame.type !== "wake") return frame.type;
  return frame.snapshot
    ? `s:${frame.changes.map((c) => c.value.id).join(",")}`
    : `c:${frame.changes.map((c) => c.seq).join(",")}`;
}

describe("WatchSession start with notifications during planning", () => {
  it("should start START_POSITION_NOW at the planned head, not read the log from 0", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "insert");
    const reader = readerWithWrites(log, () => log.append("t1", A, "update"));
    const s = open(reader, log, { position: "now" });
    expect(await s.untilReady()).toEqual(["c:3", "ready@3"]);
    s.aborter.abort();
  });

  it("should resume a snapshot from its token before any logged change, splicing the log", async () => {
    const log = new InMemoryChangeLog();
    // The token: rows 1 and 2 were delivered from a page read in snapshot 100..100.
    const splice = extendSplice(newSplice(), { xids: S("100", "100"), keyColumns: ID }, ["2"], 2);
    const token = encodeResumeToken([{ sourceRef: A, incarnation: "1", seq: 0n, splice }]);
    // Row 6 was inserted by transaction 101 after that page; the rest of the snapshot is read in
    // snapshot 102..102, which sees it, so its logged insert is already in the rows delivered.
    const rows = rowsReader([1, 2, 3, 4, 5, 6], S("102", "102"));
    const reader = readerWithWrites(log, () =>
      log.appendChanges("t1", A, { operation: "insert", value: { id: 6 }, txids: ["101"] }),
    );
    const s = open(reader, log, { token }, rows);
    expect(await s.untilReady()).toEqual(["s:3,4,5", "s:6", "ready@1"]);
    s.aborter.abort();
  });
});

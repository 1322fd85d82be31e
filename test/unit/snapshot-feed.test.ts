import { describe, expect, it } from "vitest";
import type { TokenPosition } from "../../src/domain/resume-token.js";
import {
  checkPageOrder,
  type SnapshotPageRequest,
  type SnapshotReader,
} from "../../src/domain/snapshot-feed.js";
import { extendSplice, type KeyColumn, newSplice } from "../../src/domain/snapshot-splice.js";
import type { SnapshotXids } from "../../src/domain/snapshot-xids.js";
import type { Operation } from "../../src/domain/source-options.js";
import { SourceTail } from "../../src/domain/source-tail.js";
import type { StartPlan } from "../../src/domain/start-plan.js";
import type { UnsealedFrame, WatchOptions } from "../../src/domain/watch-frames.js";
import { InMemoryChangeLog, sourceRecord } from "../support/fakes.js";

const A = "aaaaaaaaaaaaaaaa";
const ID: KeyColumn[] = [{ name: "id", kind: "integer" }];
const S = (xmin: string, xmax: string, xip: string[] = []): SnapshotXids => ({ xmin, xmax, xip });

/** Pages over fixed rows (ids), each page in the next of `snapshots` (the last one repeats). */
function fakeReader(ids: number[], snapshots: SnapshotXids[]) {
  const requests: SnapshotPageRequest[] = [];
  const reader: SnapshotReader = {
    async readPage(_record, request) {
      requests.push(request);
      const after = request.after ? Number(request.after[0]) : Number.NEGATIVE_INFINITY;
      const rows = ids
        .filter((id) => id > after)
        .slice(0, request.limit)
        .map((id) => ({ key: `"public"."t"/"${id}"`, value: { id, v: id * 10 } }));
      const xids = snapshots[Math.min(requests.length - 1, snapshots.length - 1)] as SnapshotXids;
      return { rows, xids, keyColumns: ID };
    },
  };
  return { reader, requests };
}

function tail(log: InMemoryChangeLog, reader: SnapshotReader, over: Partial<WatchOptions> = {}) {
  const emitted: { frame: UnsealedFrame; token: TokenPosition }[] = [];
  const t: SourceTail = new SourceTail({
    tenant: "t1",
    record: sourceRecord(A),
    reader: log,
    options: {
      ops: new Set<Operation>(),
      debounceMs: 0,
      maxWaitMs: 0,
      maxChangesPerWake: 2,
      heartbeatIntervalMs: 60_000,
      start: { position: "snapshot" },
      ...over,
    },
    readPageSize: 100,
    emit: async (frame) => {
      emitted.push({ frame, token: t.position });
    },
    isOpen: () => true,
    onError: () => {},
    snapshots: { reader, pageRows: 3 },
  });
  /** Frames as short strings: `s:1,2` snapshot rows, `c:<seq>` changes, `gap`, `gap+rebuild`. */
  const shape = () =>
    emitted.map(({ frame }) => {
      if (frame.type === "gap") return frame.rebuild ? "gap+rebuild" : "gap";
      if (frame.type !== "wake") return frame.type;
      return frame.snapshot
        ? `s:${frame.changes.map((c) => c.value.id).join(",")}`
        : `c:${frame.changes.map((c) => c.seq).join(",")}`;
    });
  return { t, emitted, shape };
}

const snapshotPlan = (position: bigint): StartPlan => ({ gaps: [], position, splice: newSplice() });

describe("snapshot delivery in a source tail", () => {
  it("should deliver rows in pages and wakes, then the log without the changes the snapshot saw", async () => {
    const log = new InMemoryChangeLog();
    log.appendChanges("t1", A, { operation: "insert", value: { id: 1 }, txids: ["90"] });
    const { reader, requests } = fakeReader(
      [1, 2, 3, 4, 5],
      [S("100", "102", ["100"]), S("100", "103", ["100"])],
    );
    const { t, emitted, shape } = tail(log, reader);
    await t.begin(snapshotPlan(1n));
    log.appendChanges(
      "t1",
      A,
      { operation: "update", value: { id: 2, v: 1 }, txids: ["101"] }, // seen by both pages
      { operation: "update", value: { id: 5, v: 1 }, txids: ["102"] }, // after page 1, seen by page 2
      { operation: "update", value: { id: 2, v: 2 }, txids: ["102"] }, // after page 1's snapshot
      { operation: "insert", value: { id: 6, v: 1 }, txids: ["100"] }, // running during both
      { operation: "update", value: { id: 4, v: 3 }, txids: ["103"] }, // began after both: retires
      { operation: "update", value: { id: 1, v: 3 }, txids: ["101"] }, // after retirement: delivered
    );
    await t.drain();
    expect(shape()).toEqual(["s:1,2", "s:3", "s:4,5", "c:4", "c:5", "c:6", "c:7"]);
    expect(requests.map((r) => r.after)).toEqual([undefined, ["3"]]);
    // Tokens carry the progress until the splice retires with seq 6.
    expect(emitted.map((e) => [e.token.seq, e.token.splice?.rows, e.token.splice?.complete])).toEqual([
      [1n, 2, false],
      [1n, 3, false],
      [1n, 5, true],
      [4n, 5, true],
      [5n, 5, true],
      [6n, undefined, undefined],
      [7n, undefined, undefined],
    ]);
  });

  it("should resume mid-snapshot after the last delivered key, in a new range", async () => {
    const log = new InMemoryChangeLog();
    const { reader, requests } = fakeReader([1, 2, 3, 4], [S("200", "200")]);
    const { t, shape } = tail(log, reader);
    const cut = extendSplice(newSplice(), { xids: S("100", "100"), keyColumns: ID }, ["2"], 2);
    await t.begin({ gaps: [], position: 0n, splice: cut });
    await t.drain();
    expect(shape()).toEqual(["s:3,4"]);
    expect(requests[0]?.after).toEqual(["2"]);
    expect(t.position.splice?.ranges.map((r) => [r.upTo, r.xids.xmin])).toEqual([
      [["2"], "100"],
      [undefined, "200"],
    ]);
  });

  it("should send no snapshot rows when ops leave out inserts, and still splice", async () => {
    const log = new InMemoryChangeLog();
    const { reader } = fakeReader([1, 2], [S("100", "101")]);
    const { t, shape } = tail(log, reader, { ops: new Set<Operation>(["update"]) });
    await t.begin(snapshotPlan(0n));
    log.appendChanges(
      "t1",
      A,
      { operation: "update", value: { id: 1 }, txids: ["99"] },
      { operation: "update", value: { id: 2 }, txids: ["101"] },
    );
    await t.drain();
    expect(shape()).toEqual(["c:2"]);
  });

  it("should follow a gap with a rebuild snapshot before the entries after it", async () => {
    const log = new InMemoryChangeLog();
    log.appendChanges("t1", A, { operation: "insert", value: { id: 1 }, txids: ["50"] });
    log.appendGap("t1", A);
    log.appendChanges(
      "t1",
      A,
      { operation: "update", value: { id: 1 }, txids: ["99"] }, // in the rebuild snapshot
      { operation: "insert", value: { id: 9 }, txids: ["100"] }, // began after it
    );
    const { reader } = fakeReader([1], [S("100", "100")]);
    const { t, shape, emitted } = tail(log, reader, {
      start: { position: "earliest" },
      rebuildAfterGap: true,
    });
    await t.begin({ gaps: [], position: 0n });
    await t.drain();
    expect(shape()).toEqual(["c:1", "gap+rebuild", "s:1", "c:4"]);
    // The gap's token already asks for the rebuild: resuming from it delivers the snapshot.
    expect(emitted[1]?.token).toMatchObject({ seq: 2n, splice: { complete: false, rows: 0 } });
  });
});

describe("checkPageOrder", () => {
  const page = (ids: number[]) => ({
    rows: ids.map((id) => ({ key: String(id), value: { id } })),
    xids: S("1", "1"),
    keyColumns: ID,
  });

  it("should accept a page in increasing key order after the last key", () => {
    expect(() => checkPageOrder(page([3, 4, 10]), ["2"], A)).not.toThrow();
  });

  it.each([
    ["text order of integers", [1, 10, 2], undefined],
    ["a row not after the last key", [2, 3], ["2"]],
    ["a repeated key", [5, 5], undefined],
  ])("should refuse %s", (_what, ids, after) => {
    expect(() => checkPageOrder(page(ids), after, A)).toThrow(/not in primary key order/);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeResumeToken, encodeResumeToken } from "../../src/domain/resume-token.js";
import {
  compareKeys,
  completeSplice,
  extendSplice,
  type KeyColumn,
  newSplice,
  spliceChange,
} from "../../src/domain/snapshot-splice.js";
import { isVisibleIn, type SnapshotXids, startedAfter } from "../../src/domain/snapshot-xids.js";
import { decodeSplice, encodeSplice } from "../../src/domain/splice-token.js";

const S = (xmin: string, xmax: string, xip: string[] = []): SnapshotXids => ({ xmin, xmax, xip });
const ID: KeyColumn[] = [{ name: "id", kind: "integer" }];

describe("snapshot visibility", () => {
  it.each([
    // [txid, snapshot, visible, started after]
    ["99", S("100", "105", ["101"]), true, false],
    ["100", S("100", "105", ["101"]), true, false],
    ["101", S("100", "105", ["101"]), false, false],
    ["104", S("100", "105", ["101"]), true, false],
    ["105", S("100", "105", ["101"]), false, true],
    ["200", S("100", "105"), false, true],
    // xid8 snapshot bounds (epoch 1) against 32-bit txids from pgoutput
    ["7", S(String(2n ** 32n + 5n), String(2n ** 32n + 9n), [String(2n ** 32n + 7n)]), false, false],
    ["6", S(String(2n ** 32n + 5n), String(2n ** 32n + 9n), [String(2n ** 32n + 7n)]), true, false],
    // wrap-around: 4294967290 precedes 3 when xmin is 2
    ["4294967290", S("2", "10"), true, false],
  ] as const)("txid %s in %j: visible %s, started after %s", (txid, snap, visible, after) => {
    expect(isVisibleIn(txid, snap)).toBe(visible);
    expect(startedAfter(txid, snap)).toBe(after);
  });
});

describe("splice", () => {
  // Two pages: keys ≤ 10 read in S1, the rest in S2 (taken later).
  const s1 = S("100", "103", ["101"]);
  const s2 = S("101", "106", ["101", "104"]);
  const splice = completeSplice(
    extendSplice(
      extendSplice(newSplice(), { xids: s1, keyColumns: ID }, ["10"], 10),
      { xids: s2, keyColumns: ID },
      ["20"],
      10,
    ),
    { xids: s2, keyColumns: ID },
  );

  it("merges ranges read in the same snapshot", () => {
    expect(splice.ranges).toEqual([
      { upTo: ["10"], xids: s1 },
      { upTo: undefined, xids: s2 },
    ]);
    expect(splice).toMatchObject({ id: "100", complete: true, rows: 20 });
  });

  it.each([
    // [key, txid, skip, retire]
    ["5", "102", true, false], // committed before S1, key in S1's range
    ["5", "101", false, false], // running during S1
    ["15", "101", false, false], // running during S2 as well
    ["5", "103", false, false], // after S1 (key in S1's range): new
    ["15", "103", true, false], // before S2 (key in S2's range): already in the rows
    ["15", "104", false, false], // running during S2
    ["1000", "105", true, false], // beyond the last delivered key: the last range's snapshot
    ["5", "106", false, true], // began after every snapshot: new, and the splice retires
  ])("key %s txid %s: skip %s retire %s", (id, txid, skip, retire) => {
    expect(spliceChange(splice, { value: { id }, txids: [txid] })).toEqual({ skip, retire });
  });

  it("delivers a change whose transaction or key is unknown", () => {
    expect(spliceChange(splice, { value: { id: "5" }, txids: [] })).toEqual({ skip: false, retire: false });
    expect(spliceChange(splice, { value: { title: "x" }, txids: ["102"] }).skip).toBe(false);
  });

  it("compares integer and uuid keys as Postgres orders them", () => {
    expect(compareKeys(ID, ["9"], ["10"])).toBeLessThan(0);
    expect(compareKeys(ID, ["-10"], ["2"])).toBeLessThan(0);
    const uuid: KeyColumn[] = [{ name: "u", kind: "uuid" }];
    expect(
      compareKeys(uuid, ["0A000000-0000-0000-0000-000000000000"], ["0b000000-0000-0000-0000-000000000000"]),
    ).toBeLessThan(0);
    const pair: KeyColumn[] = [...ID, { name: "n", kind: "integer" }];
    expect(compareKeys(pair, ["1", "9"], ["2", "0"])).toBeLessThan(0);
    expect(compareKeys(pair, ["2", "1"], ["2", "1"])).toBe(0);
  });

  it("travels in resume tokens, and version 1 tokens still decode", () => {
    const sourceRef = "0123456789abcdef";
    const token = encodeResumeToken([{ sourceRef, incarnation: "7", seq: 42n, splice }]);
    expect(decodeResumeToken(token).get(sourceRef)).toEqual({
      sourceRef,
      incarnation: "7",
      seq: 42n,
      splice,
    });
    const v1 = Buffer.from(JSON.stringify({ v: 1, p: [[sourceRef, "7", "42"]] })).toString("base64url");
    expect(decodeResumeToken(v1).get(sourceRef)).toEqual({ sourceRef, incarnation: "7", seq: 42n });
    const bad = Buffer.from(JSON.stringify({ v: 2, p: [[sourceRef, "7", "42", { i: 1 }]] })).toString(
      "base64url",
    );
    expect(() => decodeResumeToken(bad)).toThrow(/resume_token/);
  });

  it("decodes what it encodes, for any splice", () => {
    const xid = fc.bigInt({ min: 0n, max: 2n ** 40n }).map(String);
    const snap = fc.record({ xmin: xid, xmax: xid, xip: fc.array(xid, { maxLength: 3 }) });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.option(fc.bigInt().map(String), { nil: undefined }), snap)),
        fc.boolean(),
        (ranges, complete) => {
          const state = {
            id: "1",
            keyColumns: ID,
            ranges: ranges.map(([upTo, xids]) => ({ upTo: upTo === undefined ? undefined : [upTo], xids })),
            complete,
            rows: ranges.length,
          };
          expect(decodeSplice(JSON.parse(JSON.stringify(encodeSplice(state))))).toEqual(state);
        },
      ),
      { numRuns: 100 },
    );
  });
});

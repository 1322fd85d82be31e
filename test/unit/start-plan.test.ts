import { describe, expect, it } from "vitest";
import { planStart, type StartFrom } from "../../src/domain/start-plan.js";

const REF = "aaaaaaaaaaaaaaaa";
const token = (seq: bigint, incarnation = "1"): StartFrom => ({
  token: { sourceRef: REF, incarnation, seq },
});
const NOW: StartFrom = { position: "now" };
const EARLIEST: StartFrom = { position: "earliest" };
/** A token that does not name this source (the source was added to the stream). */
const OTHER_TOKEN: StartFrom = { token: undefined };

type Row = [
  name: string,
  head: bigint,
  tail: bigint,
  from: StartFrom,
  position: bigint,
  gaps: [reason: string, from: bigint, to: bigint, after: bigint][],
];

const ROWS: Row[] = [
  ["now on an empty log", 0n, 0n, NOW, 0n, []],
  ["earliest on an empty log", 0n, 0n, EARLIEST, 0n, []],
  ["now starts at the head", 9n, 1n, NOW, 9n, []],
  ["earliest starts before the oldest entry", 9n, 1n, EARLIEST, 0n, []],
  ["earliest after retention starts before the oldest retained entry, with no gap", 9n, 5n, EARLIEST, 4n, []],
  ["a token inside the log resumes after its seq", 9n, 1n, token(3n), 3n, []],
  ["a token at the head resumes at the head", 9n, 1n, token(9n), 9n, []],
  ["a token past the head is clamped to the head", 9n, 1n, token(20n), 9n, []],
  ["a token just before the oldest retained entry needs no gap", 9n, 5n, token(4n), 4n, []],
  [
    "a token older than retention announces the pruned range",
    9n,
    5n,
    token(1n),
    4n,
    [["retention", 2n, 4n, 4n]],
  ],
  [
    "a token from seq 0 after retention announces everything pruned",
    9n,
    5n,
    token(0n),
    4n,
    [["retention", 1n, 4n, 4n]],
  ],
  ["a token that does not name the source starts at the head", 9n, 1n, OTHER_TOKEN, 9n, []],
  ["a token of another incarnation resets to 0", 9n, 1n, token(7n, "2"), 0n, [["source-reset", 0n, 0n, 0n]]],
  [
    "a token of another incarnation after retention resets, then announces the pruned range",
    9n,
    5n,
    token(7n, "2"),
    4n,
    [
      ["source-reset", 0n, 0n, 0n],
      ["retention", 1n, 4n, 4n],
    ],
  ],
];

describe("planStart", () => {
  it.each(ROWS)("%s", (_name, headSeq, tailSeq, from, position, gaps) => {
    const plan = planStart({ headSeq, tailSeq }, "1", from);
    expect(plan.position).toBe(position);
    expect(plan.gaps.map((g) => [g.reason, g.fromSeq, g.toSeq, g.positionAfter])).toEqual(gaps);
    for (const gap of plan.gaps) expect(gap.detail).not.toBe("");
  });
});

import { describe, expect, it } from "vitest";
import { type DeliveryView, deliveryIdFor, parseDeliveryId } from "../../src/domain/consumer-group.js";
import { selectClaims } from "../../src/domain/consumer-group-ordering.js";
import {
  checkSettings,
  settingsForNewGroup,
  validateConsumeRequest,
} from "../../src/domain/consumer-group-request.js";

const now = new Date(1_000_000);
const later = new Date(2_000_000);
const earlier = new Date(500_000);

function d(seq: number, extra: Partial<DeliveryView> = {}): DeliveryView {
  return {
    sourceRef: "s",
    firstSeq: BigInt(seq),
    state: "pending",
    attempt: 0,
    keys: [],
    ackDeadline: undefined,
    availableAt: earlier,
    ...extra,
  };
}

const policy = { maxDeliveries: 3, room: 10, now };
const seqs = (rows: readonly DeliveryView[]) => rows.map((r) => Number(r.firstSeq));

describe("selectClaims", () => {
  it("should hand out only the oldest waiting delivery per source under ORDERING_SOURCE", () => {
    const rows = [d(3), d(1), d(2), d(1, { sourceRef: "t" })];
    expect(seqs(selectClaims(rows, { ...policy, ordering: "source" }).claim)).toEqual([1, 1]);
  });

  it("should hold a source back while one of its deliveries is in flight, even an older redriven one", () => {
    const rows = [d(1), d(5, { state: "in_flight", ackDeadline: later })];
    const pick = selectClaims(rows, { ...policy, ordering: "source" });
    expect(pick.claim).toEqual([]);
    expect(pick.nextAt).toEqual(later);
  });

  it("should treat an in-flight delivery past its deadline as waiting", () => {
    const rows = [d(1, { state: "in_flight", ackDeadline: earlier, attempt: 1 }), d(2)];
    expect(seqs(selectClaims(rows, { ...policy, ordering: "source" }).claim)).toEqual([1]);
  });

  it("should keep a nacked delivery's place until its retry time", () => {
    const rows = [d(1, { availableAt: later }), d(2)];
    const pick = selectClaims(rows, { ...policy, ordering: "source" });
    expect(pick.claim).toEqual([]);
    expect(pick.nextAt).toEqual(later);
    expect(seqs(selectClaims(rows, { ...policy, ordering: "none" }).claim)).toEqual([2]);
  });

  it("should block only deliveries sharing a row key under ORDERING_KEY", () => {
    const rows = [
      d(1, { keys: ["a"], state: "in_flight", ackDeadline: later }),
      d(2, { keys: ["a", "b"] }),
      d(3, { keys: ["b"] }),
      d(4, { keys: ["c"] }),
    ];
    expect(seqs(selectClaims(rows, { ...policy, ordering: "key" }).claim)).toEqual([4]);
  });

  it("should dead-letter instead of delivering after max_deliveries, and respect the room", () => {
    const rows = [d(1, { attempt: 3 }), d(2), d(3), d(4)];
    const pick = selectClaims(rows, { ...policy, ordering: "none", room: 2 });
    expect(seqs(pick.deadLetter)).toEqual([1]);
    expect(seqs(pick.claim)).toEqual([2, 3]);
  });
});

describe("consumer group requests", () => {
  const base = {
    group: "g",
    sourceRefs: ["0123456789abcdef"],
    ops: [],
    debounceMs: 0,
    maxWaitMs: 0,
    maxChangesPerWake: 0,
    maxInFlight: 0,
    ackTimeoutMs: 0,
    maxDeliveries: 0,
    startPosition: "now" as const,
    ordering: undefined,
    heartbeatIntervalMs: 0,
    memberName: "",
  };

  it.each([
    [{ group: "" }, /^group: is required/],
    [{ group: "a b" }, /^group:/],
    [{ sourceRefs: [] }, /^source_refs:/],
    [{ ops: ["unspecified" as const] }, /^ops\[0\]:/],
    [{ ackTimeoutMs: 5 }, /^ack_timeout_ms:/],
    [{ maxInFlight: 10_001 }, /^max_in_flight:/],
    [{ maxDeliveries: 1_001 }, /^max_deliveries:/],
  ])("should reject %o naming the field", (bad, message) => {
    expect(() => validateConsumeRequest({ ...base, ...bad })).toThrow(message);
  });

  it("should keep the group's settings for unset fields and refuse different ones", () => {
    const group = {
      tenant: "t",
      group: "g",
      createdAt: now,
      settings: settingsForNewGroup({ ackTimeoutMs: 500 }),
    };
    expect(group.settings).toMatchObject({ ordering: "source", maxDeliveries: 5, ackTimeoutMs: 500 });
    expect(() => checkSettings(group, validateConsumeRequest(base).requested)).not.toThrow();
    expect(() =>
      checkSettings(group, validateConsumeRequest({ ...base, ackTimeoutMs: 600 }).requested),
    ).toThrow(/^ack_timeout_ms: differs/);
  });

  it("should round-trip delivery ids and reject malformed ones", () => {
    const id = deliveryIdFor("0123456789abcdef", "7", 10n, 12n, 3);
    expect(parseDeliveryId(id)).toEqual({
      sourceRef: "0123456789abcdef",
      incarnation: "7",
      firstSeq: 10n,
      lastSeq: 12n,
      attempt: 3,
    });
    expect(parseDeliveryId("nope")).toBeUndefined();
    expect(parseDeliveryId(`${id}x`)).toBeUndefined();
  });
});

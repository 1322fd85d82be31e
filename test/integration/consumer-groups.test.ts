import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ordering, SettleStatus } from "../../gen/pgsync/v1/consumer_group_pb.js";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { GapReason, StartPosition } from "../../gen/pgsync/v1/wake_pb.js";
import { TOKENS } from "../../scripts/lib/processes.js";
import { consume } from "../support/group-consumer.js";
import { bearer, type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let nextId = 1;
let groupN = 0;

async function newSource(): Promise<string> {
  // A fresh `where` gives every test its own source (and log).
  const { sourceRef } = await stack.a.registerSource({
    options: { table: "jobs", where: `id > ${-++groupN}` },
  });
  return sourceRef;
}

async function insert(n: number): Promise<void> {
  const first = nextId;
  nextId += n;
  await stack.sql.query(
    "INSERT INTO jobs (id, title) SELECT g, 'job ' || g FROM generate_series($1::int, $2::int) g",
    [first, first + n - 1],
  );
}

async function expectCode(p: Promise<unknown>, code: Code, pattern?: RegExp): Promise<ConnectError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code).toBe(code);
  if (pattern) expect(err?.rawMessage).toMatch(pattern);
  return err as ConnectError;
}

beforeAll(async () => {
  stack = await startStack({ env: { PGSYNC_GROUP_POLL_INTERVAL_MS: "200" } });
  await stack.sql.query("CREATE TABLE jobs (id int PRIMARY KEY, title text, n int DEFAULT 0)");
});

afterAll(async () => {
  await stack?.close();
});

describe("consumer groups", () => {
  it("should give every change to exactly one of three members, each acknowledged exactly once", async () => {
    const ref = await newSource();
    const group = "three-members";
    const inFlight = new Map<string, string>();
    const overlaps: string[] = [];
    const acked: bigint[] = [];
    const members = ["m1", "m2", "m3"].map((name) => {
      const c = consume(
        stack.a,
        {
          group,
          sourceRefs: [ref],
          ordering: Ordering.NONE,
          maxChangesPerWake: 7,
          memberName: name,
          maxInFlight: 8,
        },
        async (d) => {
          const wakeId = d.wake?.wakeId ?? "";
          if (inFlight.has(wakeId)) overlaps.push(wakeId);
          inFlight.set(wakeId, name);
          const { results } = await stack.a.ackWakes({ group, deliveryIds: [d.deliveryId] });
          inFlight.delete(wakeId);
          if (results[0]?.status === SettleStatus.ACKNOWLEDGED)
            acked.push(...(d.wake?.changes.map((x) => x.seq) ?? []));
        },
      );
      return c;
    });
    await Promise.all(members.map((m) => m.ready()));
    await insert(1000);
    await waitFor(() => acked.length >= 1000, { what: "1000 changes acknowledged", timeoutMs: 60_000 });
    const seqs = new Set(acked);
    expect(acked).toHaveLength(1000);
    expect(seqs.size).toBe(1000);
    expect(overlaps).toEqual([]);
    // Work was shared.
    expect(members.filter((m) => m.deliveries().length > 0).length).toBeGreaterThan(1);
    const info = await stack.a.getConsumerGroup({ group });
    expect(info.group?.sources[0]?.inFlightCount).toBe(0);
    expect(info.group?.sources[0]?.pendingCount).toBe(0);
    expect(info.group?.members.map((m) => m.memberName).sort()).toEqual(["m1", "m2", "m3"]);
    for (const m of members) await m.close();
  });

  it("should hand a closed member's unacknowledged deliveries to another member", async () => {
    const ref = await newSource();
    const group = "closer";
    const first = consume(stack.a, {
      group,
      sourceRefs: [ref],
      maxChangesPerWake: 1,
      ordering: Ordering.NONE,
    });
    await first.ready();
    await insert(3);
    const held = await first.waitDeliveries(3);
    await first.close();
    const second = consume(stack.a, { group, sourceRefs: [ref] });
    const again = await second.waitDeliveries(3);
    expect(again.map((d) => d.wake?.wakeId).sort()).toEqual(held.map((d) => d.wake?.wakeId).sort());
    expect(again.every((d) => d.attempt === 2)).toBe(true);
    await second.close();
  });

  it("should delete a group's deliveries with the group, and with a source it consumes", async () => {
    const stored = async (group: string) => {
      const { rows } = await stack.sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pgsync.consumer_deliveries WHERE group_name = $1",
        [group],
      );
      return rows[0]?.n ?? 0;
    };
    const [refA, refB] = [await newSource(), await newSource()];
    for (const [group, ref] of [
      ["doomed-group", refA],
      ["doomed-source", refB],
    ] as const) {
      const m = consume(stack.a, { group, sourceRefs: [ref], maxChangesPerWake: 1, ordering: Ordering.NONE });
      await m.ready();
      await insert(2);
      await m.waitDeliveries(2);
      await m.close();
      expect(await stored(group)).toBe(2);
    }
    await stack.a.deleteConsumerGroup({ group: "doomed-group" });
    expect(await stored("doomed-group")).toBe(0);
    await stack.a.deleteSource({ sourceRef: refB });
    expect(await stored("doomed-source")).toBe(0);
  });

  it("should redeliver with attempt 2 after the ack timeout", async () => {
    const ref = await newSource();
    const group = "timeout";
    const m = consume(stack.a, { group, sourceRefs: [ref], ackTimeoutMs: 300 });
    await m.ready();
    await insert(1);
    const [first] = await m.waitDeliveries(1);
    const [, second] = await m.waitDeliveries(2);
    expect(first?.attempt).toBe(1);
    expect(second?.attempt).toBe(2);
    expect(second?.wake?.wakeId).toBe(first?.wake?.wakeId);
    const deadline = timestampDate(first?.ackDeadline ?? ({ seconds: 0n, nanos: 0 } as never));
    expect(deadline.getTime()).toBeLessThanOrEqual(Date.now());
    // The first attempt is stale now; the second acknowledges.
    const { results } = await stack.a.ackWakes({
      group,
      deliveryIds: [second?.deliveryId ?? "", first?.deliveryId ?? "", second?.deliveryId ?? ""],
    });
    expect(results.map((r) => r.status)).toEqual([
      SettleStatus.ACKNOWLEDGED,
      SettleStatus.ALREADY_ACKNOWLEDGED,
      SettleStatus.ALREADY_ACKNOWLEDGED,
    ]);
    await m.close();
  });

  it("should not redeliver a nacked delivery before retry_after_ms", async () => {
    const ref = await newSource();
    const group = "nack";
    const m = consume(stack.a, { group, sourceRefs: [ref] });
    await m.ready();
    await insert(1);
    const [first] = await m.waitDeliveries(1);
    const nackedAt = Date.now();
    const { results } = await stack.a.nackWakes({
      group,
      deliveryIds: [first?.deliveryId ?? ""],
      retryAfterMs: 700,
      error: "try later",
    });
    expect(results[0]?.status).toBe(SettleStatus.RELEASED);
    const [, second] = await m.waitDeliveries(2);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(690);
    expect(second?.attempt).toBe(2);
    await m.close();
  });

  it("should dead-letter after max_deliveries, list it, and redrive it on request", async () => {
    const ref = await newSource();
    const group = "dead";
    const m = consume(stack.a, { group, sourceRefs: [ref], maxDeliveries: 2 }, async (d) => {
      await stack.a.nackWakes({ group, deliveryIds: [d.deliveryId], error: `boom ${d.attempt}` });
    });
    await m.ready();
    await insert(1);
    const info = await waitFor(
      async () => {
        const r = await stack.a.getConsumerGroup({ group });
        return r.deadLetters.length > 0 ? r : undefined;
      },
      { what: "a dead letter" },
    );
    expect(m.deliveries().map((d) => d.attempt)).toEqual([1, 2]);
    const [dead] = info.deadLetters;
    expect(dead?.lastError).toBe("boom 2");
    expect(dead?.attempts).toBe(2);
    expect(info.group?.sources[0]?.deadLetterCount).toBe(1);
    // The group moved on: the dead letter counts as done for the acknowledged position.
    expect(info.group?.sources[0]?.acknowledgedSeq).toBe(dead?.lastSeq);
    await m.close();
    const worker = consume(stack.a, { group, sourceRefs: [ref] });
    await worker.ready();
    const redrive = await stack.a.nackWakes({ group, deliveryIds: [dead?.deliveryId ?? ""] });
    expect(redrive.results[0]?.status).toBe(SettleStatus.REDRIVEN);
    const [again] = await worker.waitDeliveries(1);
    expect(again?.wake?.wakeId).toBe(dead?.wakeId);
    expect(again?.attempt).toBe(3);
    const ack = await stack.a.ackWakes({ group, deliveryIds: [again?.deliveryId ?? ""] });
    expect(ack.results[0]?.status).toBe(SettleStatus.ACKNOWLEDGED);
    const after = await stack.a.getConsumerGroup({ group });
    expect(after.deadLetters).toEqual([]);
    await worker.close();
  });

  it("should start from the earliest retained change when asked, and keep acknowledged work across a restart", async () => {
    const ref = await newSource();
    await insert(5);
    await waitFor(async () => (await stack.a.getCursor({ sourceRef: ref })).cursor?.headSeq === 5n, {
      what: "5 changes logged",
    });
    const group = "restart";
    const m = consume(stack.a, {
      group,
      sourceRefs: [ref],
      startPosition: StartPosition.EARLIEST,
      maxChangesPerWake: 1,
      maxInFlight: 5,
      ordering: Ordering.NONE,
    });
    const five = await m.waitDeliveries(5);
    await stack.a.ackWakes({ group, deliveryIds: five.slice(0, 3).map((d) => d.deliveryId) });
    await m.close();
    await stack.restart();
    const after = consume(stack.a, { group, sourceRefs: [ref], maxInFlight: 10 });
    const again = await after.waitDeliveries(2);
    expect(again.map((d) => d.wake?.firstSeq).sort()).toEqual([4n, 5n]);
    await insert(1);
    const [, , sixth] = await after.waitDeliveries(3);
    expect(sixth?.wake?.firstSeq).toBe(6n);
    await after.close();
  });

  it("should keep groups per tenant, reject bad names and report unknown groups and foreign ids", async () => {
    const ref = await newSource();
    const group = "isolated";
    const m = consume(stack.a, { group, sourceRefs: [ref] });
    await m.ready();
    await insert(1);
    const [d] = await m.waitDeliveries(1);
    await expectCode(
      stack.b.getConsumerGroup({ group }),
      Code.NotFound,
      /consumer group "isolated" not found/,
    );
    await expectCode(stack.b.ackWakes({ group, deliveryIds: [d?.deliveryId ?? ""] }), Code.NotFound);
    await expectCode(stack.b.deleteConsumerGroup({ group }), Code.NotFound);
    // Tenant B cannot consume tenant A's source, even under the same group name.
    await expectCode(
      (async () => {
        for await (const _ of stack.b.consumeWakes({ group, sourceRefs: [ref] })) break;
      })(),
      Code.NotFound,
    );
    await expectCode(stack.a.getConsumerGroup({ group: "-bad" }), Code.InvalidArgument, /^group:/);
    await expectCode(stack.a.getConsumerGroup({ group: "x".repeat(129) }), Code.InvalidArgument, /^group:/);
    await expectCode(stack.a.ackWakes({ group, deliveryIds: [] }), Code.InvalidArgument, /^delivery_ids:/);
    await expectCode(stack.a.getConsumerGroup({ group: "nope" }), Code.NotFound);
    await expectCode(
      stack.a.nackWakes({ group, deliveryIds: ["x"], retryAfterMs: 86_400_001 }),
      Code.InvalidArgument,
      /^retry_after_ms:/,
    );
    await expectCode(
      (async () => {
        for await (const _ of stack.a.consumeWakes({ group, sourceRefs: [ref], ordering: Ordering.KEY }))
          break;
      })(),
      Code.FailedPrecondition,
      /^ordering: differs/,
    );
    // Another group's id, a malformed one, and this group's own: one bad id never fails the others.
    const other = consume(stack.a, {
      group: "other",
      sourceRefs: [ref],
      startPosition: StartPosition.EARLIEST,
    });
    const [foreign] = await other.waitDeliveries(1);
    await other.close();
    const { results } = await stack.a.ackWakes({
      group,
      deliveryIds: [
        "garbage",
        foreign?.deliveryId.replace(ref, "0000000000000000") ?? "",
        d?.deliveryId ?? "",
      ],
    });
    expect(results.map((r) => r.status)).toEqual([
      SettleStatus.UNKNOWN,
      SettleStatus.UNKNOWN,
      SettleStatus.ACKNOWLEDGED,
    ]);
    await stack.a.deleteConsumerGroup({ group });
    await waitFor(() => m.ended, { what: "the member stream to end" });
    expect(m.error?.code).toBe(Code.NotFound);
    await expectCode(stack.a.getConsumerGroup({ group }), Code.NotFound);
  });

  it("should answer AckWakes and NackWakes uncompressed, and still take compressed requests", async () => {
    const ref = await newSource();
    const group = "plain-answers";
    const m = consume(stack.a, { group, sourceRefs: [ref] });
    await m.ready();
    const encodings: (string | null)[] = [];
    const client = createClient(
      PgSyncService,
      createConnectTransport({
        baseUrl: stack.url,
        httpVersion: "2",
        sendCompression: compressionGzip,
        compressMinBytes: 0,
        interceptors: [
          bearer(TOKENS.a),
          (next) => async (req) => {
            const res = await next(req);
            encodings.push(res.header.get("content-encoding"));
            return res;
          },
        ],
      }),
    );
    // 100 ids of 60 characters: a ≈ 6 KB answer, well above Connect's 1 KiB compressMinBytes.
    const deliveryIds = Array.from({ length: 100 }, (_, i) => `not-a-delivery-${i}`.padEnd(60, "x"));
    const acked = await client.ackWakes({ group, deliveryIds });
    const nacked = await client.nackWakes({ group, deliveryIds });
    expect(acked.results.map((r) => r.status)).toEqual(deliveryIds.map(() => SettleStatus.UNKNOWN));
    expect(nacked.results.map((r) => r.deliveryId)).toEqual(deliveryIds);
    expect(encodings).toEqual([null, null]);
    await m.close();
  });

  it("should announce log retention of unacknowledged changes as a gap", async () => {
    const ref = await newSource();
    const group = "pruned";
    const m = consume(stack.a, { group, sourceRefs: [ref], maxChangesPerWake: 1 });
    await m.ready();
    await insert(2);
    const [first] = await m.waitDeliveries(1);
    await stack.sql.query("DELETE FROM pgsync.changes WHERE source_ref = $1", [ref]);
    await stack.a.nackWakes({ group, deliveryIds: [first?.deliveryId ?? ""] });
    const gap = await waitFor(() => m.gaps()[0], { what: "a gap delivery" });
    expect(gap.gap?.reason).toBe(GapReason.RETENTION);
    expect(gap.gap?.fromSeq).toBe(first?.wake?.firstSeq);
    const { results } = await stack.a.ackWakes({ group, deliveryIds: [gap.deliveryId] });
    expect(results[0]?.status).toBe(SettleStatus.ACKNOWLEDGED);
    await m.close();
  });
});

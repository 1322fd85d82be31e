import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DeliveryView,
  deliveryIdFor,
  type NewDelivery,
  type Ordering,
  parseDeliveryId,
} from "../../src/domain/consumer-group.js";
import { findOrderingViolation } from "../../src/domain/consumer-group-ordering.js";
import { migrate } from "../../src/storage/migrate.js";
import { PgConsumerGroupStore } from "../../src/storage/pg-consumer-group-store.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

const TENANT = "t";
const REFS = ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"];
const MEMBERS = ["m0", "m1", "m2"];
const WAKES_PER_SOURCE = 8;

let db: TestDatabase;
let pool: pg.Pool;
let store: PgConsumerGroupStore;
let groupN = 0;

beforeAll(async () => {
  db = await createTestDatabase("group_ordering");
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await migrate(pool);
  for (const ref of REFS) {
    await pool.query(
      `INSERT INTO pgsync.sources (tenant, source_ref, options, shape_url) VALUES ($1, $2, '{}', 'http://x')`,
      [TENANT, ref],
    );
  }
  store = new PgConsumerGroupStore(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/** A schedule step: a member claims, acks or nacks one of its deliveries, closes, or a deadline passes. */
type Step =
  | { op: "claim"; member: number; maxInFlight: number }
  | { op: "ack" | "nack" | "expire"; member: number; pick: number }
  | { op: "close"; member: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant("claim" as const),
    member: fc.nat(2),
    maxInFlight: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({
    op: fc.constantFrom("ack" as const, "nack" as const, "expire" as const),
    member: fc.nat(2),
    pick: fc.nat(10),
  }),
  fc.record({ op: fc.constant("close" as const), member: fc.nat(2) }),
);

/** Wakes with 1-2 row keys each out of a few, so keys collide often. */
const wakesArb = fc.array(
  fc.array(fc.constantFrom<string>("k1", "k2", "k3"), { minLength: 1, maxLength: 2 }),
  {
    minLength: WAKES_PER_SOURCE,
    maxLength: WAKES_PER_SOURCE,
  },
);

async function activeDeliveries(group: string): Promise<(DeliveryView & { member: string })[]> {
  const { rows } = await pool.query<{
    source_ref: string;
    first_seq: string;
    keys: string[];
    member_id: string;
  }>(
    `SELECT source_ref, first_seq, keys, member_id FROM pgsync.consumer_deliveries
     WHERE tenant = $1 AND group_name = $2 AND state = 'in_flight' AND ack_deadline > now()`,
    [TENANT, group],
  );
  return rows.map((r) => ({
    sourceRef: r.source_ref,
    firstSeq: BigInt(r.first_seq),
    state: "in_flight",
    attempt: 1,
    keys: r.keys,
    ackDeadline: undefined,
    availableAt: new Date(0),
    member: r.member_id,
  }));
}

/** Creates `group` with settings that let every schedule run to the end (no timeouts, no dead letters). */
function createGroup(group: string, ordering: Ordering) {
  return store.createGroup(
    TENANT,
    group,
    {
      ops: [],
      debounceMs: 0,
      maxWaitMs: 0,
      maxChangesPerWake: 10,
      ackTimeoutMs: 60_000,
      maxDeliveries: 1_000,
      ordering,
    },
    1_000,
  );
}

/** Runs one schedule, checking the invariant after every step, then drains; returns the ack log. */
async function run(ordering: Ordering, keys: string[][][], steps: Step[]): Promise<string[]> {
  const group = `g${++groupN}`;
  await createGroup(group, ordering);
  for (const [i, ref] of REFS.entries()) {
    await store.addSource(TENANT, group, ref, "1", 0n);
    const deliveries: NewDelivery[] = (keys[i] ?? []).map((k, j) => ({
      kind: "wake",
      firstSeq: BigInt(j + 1),
      lastSeq: BigInt(j + 1),
      changeCount: 1,
      keys: ordering === "key" ? k : [],
    }));
    await store.appendDeliveries(TENANT, group, ref, 0n, BigInt(WAKES_PER_SOURCE), deliveries);
  }
  const held = new Map<string, string[]>(MEMBERS.map((m) => [m, []]));
  const acked: string[] = [];
  const settle = async (id: string, op: "ack" | "nack") => {
    const [status] =
      op === "ack" ? await store.ack(TENANT, group, [id]) : await store.nack(TENANT, group, [id], 0, "");
    if (status === "acknowledged") acked.push(id);
  };
  const check = async () => {
    const active = await activeDeliveries(group);
    expect(findOrderingViolation(active, ordering)).toBeUndefined();
  };
  for (const step of steps) {
    const member = MEMBERS[step.member] as string;
    const mine = held.get(member) as string[];
    if (step.op === "claim") {
      const out = await store.claim({
        tenant: TENANT,
        group,
        memberId: member,
        sourceRefs: REFS,
        maxInFlight: step.maxInFlight,
      });
      for (const c of out.claimed) {
        mine.push(
          deliveryIdFor(c.sourceRef, c.incarnation, c.delivery.firstSeq, c.delivery.lastSeq, c.attempt),
        );
      }
    } else if (step.op === "close") {
      await store.removeMember(TENANT, group, member);
      mine.length = 0;
    } else if (mine.length > 0) {
      const [id] = mine.splice(step.pick % mine.length, 1) as [string];
      if (step.op === "expire") {
        const p = parseDeliveryId(id);
        await pool.query(
          `UPDATE pgsync.consumer_deliveries SET ack_deadline = now() - interval '1 second'
           WHERE group_name = $1 AND source_ref = $2 AND first_seq = $3 AND attempt = $4`,
          [group, p?.sourceRef, p?.firstSeq.toString(), p?.attempt],
        );
      } else await settle(id, step.op);
    }
    await check();
  }
  // Drain: the members leave (giving back what they hold); one member claims and acks the rest.
  for (const member of MEMBERS) await store.removeMember(TENANT, group, member);
  for (let i = 0; i < 200; i++) {
    const out = await store.claim({
      tenant: TENANT,
      group,
      memberId: "drain",
      sourceRefs: REFS,
      maxInFlight: 4,
    });
    await check();
    if (out.claimed.length === 0 && out.nextAt === undefined) break;
    for (const c of out.claimed) {
      await settle(
        deliveryIdFor(c.sourceRef, c.incarnation, c.delivery.firstSeq, c.delivery.lastSeq, c.attempt),
        "ack",
      );
    }
  }
  return acked;
}

/** The acked (source, seq) pairs in ack order. */
function ackedSeqs(acked: string[]): { ref: string; seq: number }[] {
  return acked.map((id) => {
    const p = parseDeliveryId(id);
    return { ref: p?.sourceRef ?? "", seq: Number(p?.firstSeq) };
  });
}

describe("consumer group ordering over random schedules (real Postgres)", () => {
  for (const ordering of ["source", "key"] as const) {
    it(`should never let two deliveries that must be ordered be in flight at once (ORDERING_${ordering.toUpperCase()})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(wakesArb, wakesArb),
          fc.array(stepArb, { maxLength: 40 }),
          async (keys, steps) => {
            const acked = ackedSeqs(await run(ordering, keys, steps));
            // Every delivery acknowledged exactly once.
            const ids = acked.map((a) => `${a.ref}/${a.seq}`);
            expect(new Set(ids).size).toBe(ids.length);
            expect(ids.length).toBe(REFS.length * WAKES_PER_SOURCE);
            // Acknowledged in log order per source (source) or per row key (key).
            for (const ref of REFS) {
              const order = acked.filter((a) => a.ref === ref).map((a) => a.seq);
              if (ordering === "source") expect(order).toEqual([...order].sort((a, b) => a - b));
              else {
                const refIndex = REFS.indexOf(ref);
                for (const k of ["k1", "k2", "k3"]) {
                  const withKey = order.filter((seq) => keys[refIndex]?.[seq - 1]?.includes(k));
                  expect(withKey).toEqual([...withKey].sort((a, b) => a - b));
                }
              }
            }
          },
        ),
        { numRuns: 25 },
      );
    }, 120_000);
  }
});

describe("consumer group claims racing from two replicas (real Postgres)", () => {
  for (const ordering of ["source", "key"] as const) {
    it(`should keep ORDERING_${ordering.toUpperCase()} and hand out each delivery once when claims race`, async () => {
      const group = `race${++groupN}`;
      const wakes = 30;
      await createGroup(group, ordering);
      const keyOf = (ref: number, seq: number) => [`k${(seq * 7 + ref) % 4}`];
      for (const [i, ref] of REFS.entries()) {
        await store.addSource(TENANT, group, ref, "1", 0n);
        const deliveries: NewDelivery[] = Array.from({ length: wakes }, (_, j) => ({
          kind: "wake",
          firstSeq: BigInt(j + 1),
          lastSeq: BigInt(j + 1),
          changeCount: 1,
          keys: ordering === "key" ? keyOf(i, j + 1) : [],
        }));
        await store.appendDeliveries(TENANT, group, ref, 0n, BigInt(wakes), deliveries);
      }
      // A second replica: its own pool and store over the same database.
      const otherPool = new pg.Pool({ connectionString: db.url, max: 4 });
      const other = new PgConsumerGroupStore(otherPool);
      const replicas = [
        { store, members: ["a0", "a1"] },
        { store: other, members: ["b0", "b1"] },
      ];
      const input = (memberId: string) => ({
        tenant: TENANT,
        group,
        memberId,
        sourceRefs: REFS,
        maxInFlight: 3,
      });
      const acked: string[] = [];
      const handedOut: string[] = [];
      const held: string[] = [];
      let seed = 7;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        return seed / 2_147_483_648;
      };
      try {
        for (let round = 0; round < 400 && acked.length < REFS.length * wakes; round++) {
          // Each replica claims for its two members in one call, and each member once more alone.
          const outcomes = await Promise.all(
            replicas.flatMap((r) => [
              r.store.claimMany(r.members.map(input)),
              ...r.members.map((m) => r.store.claim(input(m)).then((o) => [o])),
            ]),
          );
          expect(findOrderingViolation(await activeDeliveries(group), ordering)).toBeUndefined();
          for (const c of outcomes.flat().flatMap((o) => o.claimed)) {
            handedOut.push(`${c.sourceRef}/${c.delivery.firstSeq}`);
            held.push(
              deliveryIdFor(c.sourceRef, c.incarnation, c.delivery.firstSeq, c.delivery.lastSeq, c.attempt),
            );
          }
          for (const id of held.splice(0).filter((kept) => random() < 0.5 || !held.push(kept))) {
            const [status] = await replicas[round % 2]!.store.ack(TENANT, group, [id]);
            expect(status).toBe("acknowledged");
            const p = parseDeliveryId(id);
            acked.push(`${p?.sourceRef}/${p?.firstSeq}`);
          }
        }
      } finally {
        await otherPool.end();
      }
      // No ack timeouts here: a delivery handed out twice means two claims both took it.
      expect(new Set(handedOut).size).toBe(handedOut.length);
      expect(new Set(acked).size).toBe(acked.length);
      expect(acked.length).toBe(REFS.length * wakes);
    }, 120_000);
  }
});

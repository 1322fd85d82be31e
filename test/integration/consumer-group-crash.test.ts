import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ordering, SettleStatus } from "../../gen/pgsync/v1/consumer_group_pb.js";
import {
  type Child,
  pgSyncEnv,
  startPgSyncProcess,
  startShapeServerProcess,
  TOKENS,
} from "../../scripts/lib/processes.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { consume } from "../support/group-consumer.js";
import { connectClient, type PgSyncClient } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

let db: TestDatabase;
let sql: pg.Pool;
let shape: { child: Child; url: string };
let pgsync: { child: Child; url: string } | undefined;

beforeAll(async () => {
  db = await createTestDatabase("group_crash");
  sql = new pg.Pool({ connectionString: db.url, max: 4 });
  await sql.query("CREATE TABLE orders (id int PRIMARY KEY, n int NOT NULL)");
  shape = await startShapeServerProcess(db.url, { SHAPE_LONG_POLL_TIMEOUT_MS: "1000" });
});

afterAll(async () => {
  await pgsync?.child.stop("SIGKILL");
  await shape?.child.stop();
  await sql?.end();
  await db?.drop();
});

describe("consumer groups across a crash", () => {
  it("should lose no acknowledgement and redeliver only unacknowledged wakes after SIGKILL", async () => {
    const total = 300;
    const env = pgSyncEnv(db.url, shape.url, 0, { PGSYNC_GROUP_POLL_INTERVAL_MS: "200" });
    pgsync = await startPgSyncProcess(env);
    let client: PgSyncClient = connectClient(pgsync.url, TOKENS.a);
    const { sourceRef } = await client.registerSource({ options: { table: "orders" } });
    const group = "crash";
    const req = {
      group,
      sourceRefs: [sourceRef],
      maxChangesPerWake: 1,
      ackTimeoutMs: 1_000,
      ordering: Ordering.NONE,
    };
    /** Wake ids whose ack the server confirmed, and those whose ack outcome is unknown (cut by the kill). */
    const confirmed = new Set<string>();
    const uncertain = new Set<string>();
    const redelivered: string[] = [];
    let phase: "before" | "after" = "before";
    const onDelivery = async (d: { deliveryId: string; wake?: { wakeId: string } }) => {
      const wakeId = d.wake?.wakeId ?? "";
      if (phase === "after" && confirmed.has(wakeId)) redelivered.push(wakeId);
      try {
        const { results } = await client.ackWakes({ group, deliveryIds: [d.deliveryId] });
        if (results[0]?.status === SettleStatus.ACKNOWLEDGED) confirmed.add(wakeId);
      } catch {
        uncertain.add(wakeId);
      }
    };
    let member = consume(client, req, onDelivery);
    await member.ready();
    await sql.query("INSERT INTO orders (id, n) SELECT g, g FROM generate_series(1, $1::int) g", [total]);
    await waitFor(() => confirmed.size >= 50, { what: "50 acknowledged before the kill", timeoutMs: 30_000 });
    await pgsync.child.stop("SIGKILL");
    await member.close();
    const ackedAtKill = confirmed.size;
    expect(ackedAtKill).toBeLessThan(total);

    phase = "after";
    pgsync = await startPgSyncProcess({ ...env, PGSYNC_LISTEN: `127.0.0.1:${new URL(pgsync.url).port}` });
    client = connectClient(pgsync.url, TOKENS.a);
    member = consume(client, req, onDelivery);
    // Done when the group says every change is acknowledged (an ack cut by the kill may have
    // committed or not: if not, its wake comes back and is acknowledged now).
    const info = await waitFor(
      async () => {
        const r = await client.getConsumerGroup({ group });
        return r.group?.sources[0]?.acknowledgedSeq === BigInt(total) ? r : undefined;
      },
      { what: `${total} acknowledged after the restart`, timeoutMs: 60_000 },
    );
    await member.close();
    expect(new Set([...confirmed, ...uncertain]).size).toBe(total);
    expect(redelivered).toEqual([]);
    const source = info.group?.sources[0];
    expect(source?.acknowledgedSeq).toBe(BigInt(total));
    expect(source?.pendingCount).toBe(0);
    expect(source?.inFlightCount).toBe(0);
    expect(source?.deadLetterCount).toBe(0);
  }, 120_000);
});

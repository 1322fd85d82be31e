import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKENS } from "../../../scripts/lib/processes.js";
import { type Stack, startStack } from "../../../test/support/stack-fixture.js";
import { waitFor } from "../../../test/support/wait.js";
import { consume, createPgSyncClient, type GroupDelivery, pgSync } from "../src/index.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PGSYNC_GROUP_POLL_INTERVAL_MS: "200" } });
  await stack.sql.query("CREATE TABLE tickets (id int PRIMARY KEY, title text)");
});

afterAll(async () => {
  await stack?.close();
});

describe("@pg-sync/runtime consume()", () => {
  it("should share a group between two workers, redeliver a nack, and resume after a server restart", async () => {
    const client = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const { sourceRef } = await client.registerSource(pgSync({ table: "tickets" }));
    const aborter = new AbortController();
    const handled: { worker: string; d: GroupDelivery; outcome: string; nack?: true }[] = [];
    let nacked = false;
    const worker = (name: string) =>
      (async () => {
        // A new client per attempt is not needed: consume() reconnects by itself.
        const c = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
        for await (const d of consume(c, {
          group: "workers",
          sourceRefs: [sourceRef],
          ordering: "none",
          maxChangesPerWake: 1,
          memberName: name,
          signal: aborter.signal,
          reconnectInitialDelayMs: 50,
        })) {
          if (!nacked) {
            nacked = true;
            const outcome = await d.nack({ retryAfterMs: 100, error: "not yet" });
            handled.push({ worker: name, d, outcome, nack: true });
            continue;
          }
          handled.push({ worker: name, d, outcome: await d.ack() });
        }
      })();
    const loops = [worker("w1"), worker("w2")];
    await waitFor(
      async () => (await client.raw.getConsumerGroup({ group: "workers" })).group?.members.length === 2,
      {
        what: "two members",
      },
    );
    for (let i = 1; i <= 6; i++) await stack.sql.query("INSERT INTO tickets VALUES ($1, 't')", [i]);
    const acked = () => handled.filter((h) => h.outcome === "acknowledged");
    await waitFor(() => acked().length >= 6, { what: "6 acknowledged", timeoutMs: 20_000 });
    // The other worker's acks may answer before the nack does: find the nacked delivery.
    const nackedOne = handled.find((h) => h.nack);
    expect(nackedOne?.outcome).toBe("released");
    const retried = acked().find((h) => h.d.wake?.wakeId === nackedOne?.d.wake?.wakeId);
    expect(retried?.d.attempt).toBe(2);

    await stack.restart();
    // The workers' clients point at the same port: they reconnect and keep consuming.
    for (let i = 7; i <= 8; i++) await stack.sql.query("INSERT INTO tickets VALUES ($1, 't')", [i]);
    await waitFor(() => acked().length >= 8, { what: "8 acknowledged after a restart", timeoutMs: 30_000 });
    const values = acked().map((h) => h.d.wake?.changes[0]?.value?.id);
    expect(new Set(values).size).toBe(8);
    aborter.abort();
    await Promise.all(loops);
  }, 60_000);

  it("should leave the group, releasing what it holds, when the consumer breaks out of the loop", async () => {
    await stack.sql.query("CREATE TABLE left_behind (id int PRIMARY KEY)");
    const client = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const { sourceRef } = await client.registerSource(pgSync({ table: "left_behind" }));
    await stack.sql.query("INSERT INTO left_behind VALUES (1)");
    // No signal: leaving the loop is the only way the consumer says it is done.
    let first: GroupDelivery | undefined;
    for await (const d of consume(client, {
      group: "quitters",
      sourceRefs: [sourceRef],
      start: "earliest",
    })) {
      first = d;
      break;
    }
    expect(first?.attempt).toBe(1);
    // The stream's end gives its unacknowledged delivery back at once (no ack timeout waited).
    for await (const d of consume(client, { group: "quitters", sourceRefs: [sourceRef] })) {
      expect(d.wake?.wakeId).toBe(first?.wake?.wakeId);
      expect(d.attempt).toBe(2);
      await d.ack();
      break;
    }
    await waitFor(
      async () => (await client.raw.getConsumerGroup({ group: "quitters" })).group?.members.length === 0,
      { what: "both members gone" },
    );
  });

  it("should batch the acks of deliveries taken without awaiting them, each resolving with its own outcome", async () => {
    let ackCalls = 0;
    const transport = createConnectTransport({
      baseUrl: stack.url,
      httpVersion: "2",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${TOKENS.a}`);
          if (req.method.name === "AckWakes") ackCalls++;
          return next(req);
        },
      ],
    });
    const client = createPgSyncClient({ transport });
    await stack.sql.query("CREATE TABLE orders (id int PRIMARY KEY)");
    const { sourceRef } = await client.registerSource(pgSync({ table: "orders" }));
    const aborter = new AbortController();
    const rows = 40;
    const outcomes: Promise<string>[] = [];
    const wakeIds = new Set<string>();
    const loop = (async () => {
      for await (const d of consume(client, {
        group: "batched",
        sourceRefs: [sourceRef],
        ordering: "none",
        maxChangesPerWake: 1,
        maxInFlight: rows,
        ackBatchWindowMs: 20,
        signal: aborter.signal,
      })) {
        wakeIds.add(d.wake?.wakeId ?? "");
        outcomes.push(d.ack());
      }
    })();
    await waitFor(
      async () => (await client.raw.getConsumerGroup({ group: "batched" })).group?.members.length === 1,
      { what: "the member" },
    );
    await stack.sql.query("INSERT INTO orders SELECT generate_series(1, $1)", [rows]);
    await waitFor(() => outcomes.length >= rows, { what: `${rows} deliveries`, timeoutMs: 20_000 });
    expect(await Promise.all(outcomes)).toEqual(Array.from({ length: rows }, () => "acknowledged"));
    expect(wakeIds.size).toBe(rows);
    expect(ackCalls).toBeGreaterThan(0);
    expect(ackCalls).toBeLessThan(rows);
    const report = await client.raw.getConsumerGroup({ group: "batched" });
    expect(report.group?.sources[0]?.inFlightCount).toBe(0);
    expect(report.group?.sources[0]?.pendingCount).toBe(0);
    aborter.abort();
    await loop;
  }, 60_000);

  it("should reject an ack batch size the server would refuse, naming the option", async () => {
    const client = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const iterator = consume(client, { group: "bad", sourceRefs: ["x"], ackBatchSize: 5_000 });
    await expect(iterator.next()).rejects.toThrow("ackBatchSize");
  });
});

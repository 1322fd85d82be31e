import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ShapeServer, startShapeServer } from "../../tools/shape-server/server.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { waitFor } from "../support/wait.js";
import { dropSlots, rawGet, StreamRecorder, TEST_LONG_POLL_MS } from "./support/harness.js";

let db: TestDatabase;
let sql: pg.Pool;
let server: ShapeServer | undefined;
let holder: pg.Client | undefined;

beforeAll(async () => {
  db = await createTestDatabase("shape_avail");
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  await sql.query(`
    CREATE TABLE items (id int PRIMARY KEY, title text);
    INSERT INTO items VALUES (1, 'a');
    CREATE PUBLICATION electric_shapes_pub;
  `);
  // Occupy the server's replication slot so that replication cannot start yet.
  await sql.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [
    `electric_shapes_${db.name}`,
  ]);
  holder = new pg.Client({ connectionString: db.url, replication: "database" } as pg.ClientConfig);
  await holder.connect();
  holder
    .query(
      `START_REPLICATION SLOT "electric_shapes_${db.name}" LOGICAL 0/0 (proto_version '1', publication_names 'electric_shapes_pub')`,
    )
    .catch(() => {});
  await waitFor(async () => {
    const res = await sql.query(
      "SELECT active FROM pg_replication_slots WHERE database = current_database()",
    );
    return res.rows[0]?.active === true;
  });
  server = await startShapeServer({
    databaseUrl: db.url,
    port: 0,
    longPollTimeoutMs: TEST_LONG_POLL_MS,
    testControls: true,
  });
});

afterAll(async () => {
  await holder?.end().catch(() => {});
  await server?.close();
  await dropSlots(sql);
  await sql.end();
  await db.drop();
});

describe("availability", () => {
  it("should report 202 starting on /v1/health while replication is not up (#1)", async () => {
    const health = await fetch(`${server!.url}/v1/health`);
    expect(health.status).toBe(202);
    expect(await health.json()).toEqual({ status: "starting" });
    expect(health.headers.get("cache-control")).toBe("no-cache, no-store, must-revalidate");
  });

  it("should answer 503 with retry-after until replication is up; the client retries and succeeds (#29)", async () => {
    const res = await rawGet(`${server!.url}/v1/shape`, { table: "items", offset: "-1" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(res.body).toEqual({ message: "Stack not ready" });

    // A client started now retries (inside its fetch layer) and succeeds once replication is up.
    const rec = new StreamRecorder({ url: `${server!.url}/v1/shape`, params: { table: "items" } });
    try {
      await waitFor(() => rec.stream.isConnected() === false || undefined, { what: "a failed attempt" });
      await holder!.end().catch(() => {});
      holder = undefined;
      await server!.ready();
      await rec.until((r) => r.upToDates >= 1, "the client to sync after retrying", 20_000);
      expect(rec.changes.map((c) => c.value)).toEqual([{ id: 1, title: "a" }]);
      expect(rec.errors).toEqual([]);
    } finally {
      rec.stop();
    }
  });

  it("should report 200 active on /v1/health once replication is up (#1)", async () => {
    await server!.ready();
    const ok = await fetch(`${server!.url}/v1/health`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: "active" });
  });

  it("should answer 503 for a while when told to by the test control, and the client recovers", async () => {
    await server!.ready();
    const control = await fetch(`${server!.url}/v1/test/unavailable?ms=1500&retry_after=0`, {
      method: "POST",
    });
    expect(control.status).toBe(200);
    const res = await rawGet(`${server!.url}/v1/shape`, { table: "items", offset: "-1" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("0");
    const rec = new StreamRecorder({
      url: `${server!.url}/v1/shape`,
      params: { table: "items", columns: ["id"] },
    });
    try {
      await rec.until((r) => r.upToDates >= 1, "the client to sync after the outage", 20_000);
      expect(rec.changes.map((c) => c.value)).toEqual([{ id: 1 }]);
      expect(rec.errors).toEqual([]);
    } finally {
      rec.stop();
    }
  });
});

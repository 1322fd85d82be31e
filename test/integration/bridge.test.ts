import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Replica, SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

interface LogRow {
  seq: string;
  kind: string;
  operation: string | null;
  key: string | null;
  value: Record<string, unknown> | null;
  old_value: Record<string, unknown> | null;
  gap: { reason: string; new_handle: string | null } | null;
}

let stack: Stack;

async function logOf(sourceRef: string): Promise<LogRow[]> {
  const { rows } = await stack.sql.query<LogRow>(
    "SELECT seq, kind, operation, key, value, old_value, gap FROM pgsync.changes WHERE source_ref = $1 ORDER BY seq",
    [sourceRef],
  );
  return rows;
}

async function metric(name: "cursorWrites" | "electricBatches" | "electricStreams"): Promise<number> {
  return (await stack.server.metrics[name].get()).values[0]?.value ?? 0;
}

async function waitLive(sourceRef: string, client = stack.a) {
  return waitFor(
    async () => {
      const { cursor } = await client.getCursor({ sourceRef });
      return cursor?.state === SourceState.LIVE ? cursor : undefined;
    },
    { what: `source ${sourceRef} LIVE`, timeoutMs: 20_000 },
  );
}

beforeAll(async () => {
  stack = await startStack();
  await stack.sql.query(
    `CREATE TABLE items (id int PRIMARY KEY, title text, big int8, price numeric(30,10), tags text[])`,
  );
});

afterAll(async () => {
  await stack?.close();
});

describe("bridge", () => {
  it("should log insert, update and delete in commit order with values and old values (replica full)", async () => {
    const { sourceRef } = await stack.a.registerSource({
      options: { table: "items", replica: Replica.FULL },
    });
    await waitLive(sourceRef);
    await stack.sql.query(
      "INSERT INTO items (id, title, big, price) VALUES (1, 'one', 9007199254740993, 12345678901234567890.0123456789)",
    );
    await stack.sql.query(
      "BEGIN; UPDATE items SET title = 'uno' WHERE id = 1; INSERT INTO items (id, title) VALUES (2, 'two'); COMMIT",
    );
    await stack.sql.query("DELETE FROM items WHERE id = 1");
    const log = await waitFor(
      async () => {
        const rows = await logOf(sourceRef);
        return rows.length >= 4 ? rows : undefined;
      },
      { what: "4 log entries" },
    );
    expect(log.map((r) => [r.operation, r.key])).toEqual([
      ["insert", '"public"."items"/"1"'],
      ["update", '"public"."items"/"1"'],
      ["insert", '"public"."items"/"2"'],
      ["delete", '"public"."items"/"1"'],
    ]);
    expect(log.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4]);
    expect(log[0]?.value?.big).toBe("9007199254740993");
    expect(log[0]?.value?.price).toBe("12345678901234567890.0123456789");
    expect(log[1]?.value?.title).toBe("uno");
    expect(log[1]?.old_value).toEqual({ title: "one" });
    expect(log[3]?.value?.title).toBe("uno");
  });

  it("should write the cursor at most once per Electric response batch", async () => {
    const { sourceRef } = await stack.a.registerSource({ options: { table: "items", where: "id >= 100" } });
    await waitLive(sourceRef);
    const writesBefore = await metric("cursorWrites");
    const batchesBefore = await metric("electricBatches");
    for (let i = 0; i < 20; i++)
      await stack.sql.query("INSERT INTO items (id, title) VALUES ($1, 'x')", [100 + i]);
    await waitFor(async () => ((await logOf(sourceRef)).length >= 20 ? true : undefined), {
      what: "20 changes",
    });
    const writes = (await metric("cursorWrites")) - writesBefore;
    const batches = (await metric("electricBatches")) - batchesBefore;
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThanOrEqual(batches);
  });

  it("should start exactly one Electric stream for 20 concurrent registrations", async () => {
    const before = await metric("electricStreams");
    const options = { table: "items", where: "id >= 5000" };
    const results = await Promise.all(Array.from({ length: 20 }, () => stack.a.registerSource({ options })));
    await waitLive(results[0]?.sourceRef as string);
    expect((await metric("electricStreams")) - before).toBe(1);
  });

  it("should log a gap on must-refetch (rotated handle), then continue live", async () => {
    const { sourceRef } = await stack.a.registerSource({
      options: { table: "items", where: "id >= 200 AND id < 300" },
    });
    const live = await waitLive(sourceRef);
    const oldHandle = live.shapeHandle;
    const res = await fetch(`${stack.shape.origin}/v1/test/rotate?handle=${encodeURIComponent(oldHandle)}`, {
      method: "POST",
    });
    expect(res.ok).toBe(true);
    await stack.sql.query("INSERT INTO items (id, title) VALUES (201, 'after rotation')");
    const log = await waitFor(
      async () => {
        const rows = await logOf(sourceRef);
        return rows.some((r) => r.kind === "change" && r.key?.endsWith('"201"')) ? rows : undefined;
      },
      { what: "change after rotation", timeoutMs: 20_000 },
    );
    const gap = log.find((r) => r.kind === "gap");
    expect(gap?.gap?.reason).toBe("must-refetch");
    expect(gap?.gap?.new_handle).toBeTruthy();
    expect(gap?.gap?.new_handle).not.toBe(oldHandle);
    const { cursor } = await stack.a.getCursor({ sourceRef });
    expect(cursor?.shapeHandle).not.toBe(oldHandle);
  });

  it("should back off while the shape server answers 503, then go live with nothing lost", async () => {
    const { sourceRef } = await stack.a.registerSource({
      options: { table: "items", where: "id >= 300 AND id < 400" },
    });
    await waitLive(sourceRef);
    const res = await fetch(`${stack.shape.origin}/v1/test/unavailable?ms=1500`, { method: "POST" });
    expect(res.ok).toBe(true);
    await stack.sql.query("INSERT INTO items (id, title) VALUES (301, 'during outage')");
    const backingOff = await waitFor(
      async () => {
        const { cursor } = await stack.a.getCursor({ sourceRef });
        return cursor?.state === SourceState.BACKING_OFF ? cursor : undefined;
      },
      { what: "BACKING_OFF" },
    );
    expect(backingOff.lastError).toMatch(/503/);
    await waitLive(sourceRef);
    await waitFor(
      async () => ((await logOf(sourceRef)).some((r) => r.key?.endsWith('"301"')) ? true : undefined),
      {
        what: "change made during the outage",
      },
    );
  });

  it("should fail with the reason when the table is dropped, visible in GetSource and GetCursor", async () => {
    await stack.sql.query("CREATE TABLE doomed (id int PRIMARY KEY)");
    const { sourceRef } = await stack.a.registerSource({ options: { table: "doomed" } });
    await waitLive(sourceRef);
    await stack.sql.query("DROP TABLE doomed");
    const failed = await waitFor(
      async () => {
        const { source } = await stack.a.getSource({ sourceRef });
        return source?.state === SourceState.FAILED ? source : undefined;
      },
      { what: "FAILED", timeoutMs: 30_000 },
    );
    expect(failed.lastError).not.toBe("");
    const { cursor } = await stack.a.getCursor({ sourceRef });
    expect(cursor?.state).toBe(SourceState.FAILED);
    expect(cursor?.lastError).toBe(failed.lastError);
  });

  it("should run 100 sources on 10 tables at once, all LIVE and logging", async () => {
    for (let t = 0; t < 10; t++) await stack.sql.query(`CREATE TABLE many_${t} (id int PRIMARY KEY, n int)`);
    const refs: string[] = [];
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const t = i % 10;
        const { sourceRef } = await stack.a.registerSource({
          options: { table: `many_${t}`, where: `n >= ${Math.floor(i / 10)}` },
        });
        refs.push(sourceRef);
      }),
    );
    expect(new Set(refs).size).toBe(100);
    await waitFor(
      async () => {
        const { rows } = await stack.sql.query<{ n: string }>(
          "SELECT count(*) AS n FROM pgsync.sources WHERE source_ref = ANY($1) AND state = 'LIVE'",
          [refs],
        );
        return Number(rows[0]?.n) === 100 ? true : undefined;
      },
      { what: "100 LIVE sources", timeoutMs: 45_000 },
    );
    for (let t = 0; t < 10; t++) await stack.sql.query(`INSERT INTO many_${t} (id, n) VALUES (1, 100)`);
    await waitFor(
      async () => {
        const { rows } = await stack.sql.query<{ n: string }>(
          "SELECT count(DISTINCT source_ref) AS n FROM pgsync.changes WHERE source_ref = ANY($1)",
          [refs],
        );
        return Number(rows[0]?.n) === 100 ? true : undefined;
      },
      { what: "every source logged its change", timeoutMs: 45_000 },
    );
  });

  it("should resume after a restart and log what changed while pg-sync was down", async () => {
    const { sourceRef } = await stack.a.registerSource({
      options: { table: "items", where: "id >= 700 AND id < 800" },
    });
    await waitLive(sourceRef);
    await stack.sql.query("INSERT INTO items (id, title) VALUES (700, 'before')");
    await waitFor(async () => ((await logOf(sourceRef)).length === 1 ? true : undefined), {
      what: "first change",
    });
    await stack.server.close();
    await stack.sql.query("INSERT INTO items (id, title) VALUES (701, 'while down'), (702, 'while down')");
    await stack.sql.query("UPDATE items SET title = 'changed while down' WHERE id = 700");
    await stack.restart();
    const log = await waitFor(
      async () => {
        const rows = await logOf(sourceRef);
        return rows.length >= 4 ? rows : undefined;
      },
      { what: "changes made while down", timeoutMs: 20_000 },
    );
    expect(log.filter((r) => r.kind === "gap")).toHaveLength(0);
    expect(log.map((r) => [r.operation, r.key])).toEqual([
      ["insert", '"public"."items"/"700"'],
      ["insert", '"public"."items"/"701"'],
      ["insert", '"public"."items"/"702"'],
      ["update", '"public"."items"/"700"'],
    ]);
  });
});

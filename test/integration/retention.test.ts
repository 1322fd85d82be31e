import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { NewChange } from "../../src/domain/change-log.js";
import { migrate } from "../../src/storage/migrate.js";
import { PgCursorStore } from "../../src/storage/pg-cursor-store.js";
import { pruneChangeLog, pruneStatement } from "../../src/storage/pg-retention.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let pool: pg.Pool;
let store: PgCursorStore;
let offset = 0;

async function append(sourceRef: string, n: number): Promise<void> {
  const changes: NewChange[] = Array.from({ length: n }, () => {
    offset++;
    return {
      key: `k${offset}`,
      operation: "insert",
      value: { id: offset },
      oldValue: undefined,
      offset: `${offset}_0`,
      txids: [],
    };
  });
  await store.commit({
    tenant: "t",
    sourceRef,
    generation: 1n,
    shapeHandle: "h",
    shapeOffset: `${offset}_0`,
    gap: undefined,
    changes,
    upToDate: true,
  });
}

async function seqs(sourceRef: string): Promise<number[]> {
  const { rows } = await pool.query<{ seq: string }>(
    "SELECT seq FROM pgsync.changes WHERE source_ref = $1 ORDER BY seq",
    [sourceRef],
  );
  return rows.map((r) => Number(r.seq));
}

beforeAll(async () => {
  db = await createTestDatabase("retention");
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await migrate(pool);
  store = new PgCursorStore(pool);
});

beforeEach(async () => {
  await pool.query("DELETE FROM pgsync.sources");
  for (const ref of ["a", "b"]) {
    await pool.query(
      "INSERT INTO pgsync.sources (tenant, source_ref, options, shape_url) VALUES ('t', $1, '{}', 'http://x')",
      [ref],
    );
    await pool.query("INSERT INTO pgsync.cursors (tenant, source_ref, generation) VALUES ('t', $1, 1)", [
      ref,
    ]);
  }
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe("log retention", () => {
  it("should keep the newest N entries per source, each source on its own", async () => {
    await append("a", 30);
    await append("b", 5);
    const deleted = await pruneChangeLog(pool, { maxAgeMs: 0, maxChangesPerSource: 10 });
    expect(deleted).toBe(20);
    expect(await seqs("a")).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
    expect(await seqs("b")).toEqual([1, 2, 3, 4, 5]);
  });

  it("should delete entries older than the age bound, always keeping the head", async () => {
    await append("a", 10);
    await append("b", 4);
    await pool.query(
      "UPDATE pgsync.changes SET created_at = now() - interval '2 hours' WHERE source_ref = 'a' AND seq <= 6",
    );
    await pool.query(
      "UPDATE pgsync.changes SET created_at = now() - interval '2 hours' WHERE source_ref = 'b'",
    );
    const deleted = await pruneChangeLog(pool, { maxAgeMs: 3_600_000, maxChangesPerSource: 0 });
    expect(deleted).toBe(6 + 3);
    expect(await seqs("a")).toEqual([7, 8, 9, 10]);
    expect(await seqs("b")).toEqual([4]); // all old, but the head stays
  });

  it("should apply whichever bound keeps less", async () => {
    await append("a", 20);
    await pool.query(
      "UPDATE pgsync.changes SET created_at = now() - interval '2 hours' WHERE source_ref = 'a' AND seq <= 5",
    );
    await pruneChangeLog(pool, { maxAgeMs: 3_600_000, maxChangesPerSource: 12 });
    expect((await seqs("a"))[0]).toBe(9);
  });

  it("should work in bounded batches until done", async () => {
    await append("a", 250);
    const deleted = await pruneChangeLog(pool, { maxAgeMs: 0, maxChangesPerSource: 1, batchSize: 40 });
    expect(deleted).toBe(249);
    expect(await seqs("a")).toEqual([250]);
  });

  it("should do nothing when both bounds are off", async () => {
    await append("a", 5);
    expect(await pruneChangeLog(pool, { maxAgeMs: 0, maxChangesPerSource: 0 })).toBe(0);
    expect(await seqs("a")).toHaveLength(5);
  });

  it("should never scan the whole log, whatever join the planner would prefer", async () => {
    for (let i = 0; i < 10; i++) await append("a", 500);
    await append("b", 5);
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      // The plan a join of the doomed ranges against the log got on a large table: a hash join.
      await client.query("SET LOCAL enable_nestloop = off");
      await client.query("SET LOCAL enable_mergejoin = off");
      const { rows } = await client.query(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${pruneStatement()}`,
        [0, 10, 10_000],
      );
      const scanned: string[] = [];
      const walk = (node: Record<string, unknown>) => {
        if (node["Relation Name"] === "changes") scanned.push(String(node["Node Type"]));
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
      };
      walk((rows[0] as { "QUERY PLAN": [{ Plan: Record<string, unknown> }] })["QUERY PLAN"][0].Plan);
      expect(scanned.length).toBeGreaterThan(0);
      expect(scanned).not.toContain("Seq Scan");
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

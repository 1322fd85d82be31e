import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatchCommit, NewChange } from "../../src/domain/change-log.js";
import { commitStatement } from "../../src/storage/commit-statement.js";
import { migrate } from "../../src/storage/migrate.js";
import { PgCursorStore } from "../../src/storage/pg-cursor-store.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

// The batch commit must touch a bounded number of pages however long the log is: its
// duplicate check probes the unique offset index, it never reads the source's whole log.
// (Counted in buffers, not timed: performance figures live in bench/.)
let db: TestDatabase;
let pool: pg.Pool;
let offset = 0;

function batch(sourceRef: string, n: number): BatchCommit {
  const changes: NewChange[] = Array.from({ length: n }, () => {
    offset++;
    return {
      key: `"public"."t"/"${offset}"`,
      operation: "insert",
      value: { id: offset },
      oldValue: undefined,
      offset: `${offset}_0`,
      txids: [String(offset)],
    };
  });
  return {
    tenant: "t",
    sourceRef,
    generation: 1n,
    shapeHandle: "h",
    shapeOffset: `${offset}_0`,
    gap: undefined,
    changes,
    upToDate: true,
  };
}

/** Shared buffers the commit statement touches, from EXPLAIN (ANALYZE, BUFFERS), rolled back. */
async function buffersOf(b: BatchCommit): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const statement = commitStatement(b);
    const { rows } = await client.query(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statement.text}`,
      statement.values,
    );
    const plan = (rows[0] as { "QUERY PLAN": [{ Plan: Record<string, number> }] })["QUERY PLAN"][0].Plan;
    return (plan["Shared Hit Blocks"] ?? 0) + (plan["Shared Read Blocks"] ?? 0);
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
}

beforeAll(async () => {
  db = await createTestDatabase("commit_cost");
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await migrate(pool);
  for (const ref of ["small", "large"]) {
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

describe("batch commit cost", () => {
  it("should not grow with the length of the source's log", async () => {
    const store = new PgCursorStore(pool);
    await store.commit(batch("small", 100));
    for (let i = 0; i < 40; i++) await store.commit(batch("large", 500)); // 20,000 changes
    await pool.query("ANALYZE pgsync.changes");
    const small = await buffersOf(batch("small", 20));
    const large = await buffersOf(batch("large", 20));
    // A whole-log read of the large source alone would be hundreds of pages.
    expect(large).toBeLessThan(small * 2 + 50);
  });

  it("should log a batch re-read after a crash only once", async () => {
    const store = new PgCursorStore(pool);
    const b = batch("small", 5);
    const first = await store.commit(b);
    const again = await store.commit(b);
    expect(first.appended).toBe(5);
    expect(again.appended).toBe(0);
    expect(again.headSeq).toBe(first.headSeq);
  });
});

import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchCommit, type NewChange, splitBatch } from "../../src/domain/change-log.js";
import { FencedError } from "../../src/domain/errors.js";
import { migrate } from "../../src/storage/migrate.js";
import { PgCursorStore } from "../../src/storage/pg-cursor-store.js";
import { PgSourceStore } from "../../src/storage/pg-source-store.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

// A batch committed in parts logs what the whole batch would, moves the resume position only with
// its last part, and a crash re-read (split the same way or not) logs nothing twice. Without a
// per-row foreign key, the log still goes with its source.
let db: TestDatabase;
let pool: pg.Pool;
let store: PgCursorStore;

function change(lsn: number): NewChange {
  return {
    key: `"public"."t"/"${lsn}"`,
    operation: "update",
    value: { id: lsn, note: `it's "quoted" \\ {${lsn}}` },
    oldValue: lsn % 2 === 0 ? { note: null } : undefined,
    offset: `${lsn}_0`,
    txids: [String(lsn), String(lsn + 1)],
  };
}

function batch(sourceRef: string, lsns: number[], startOffset: string): BatchCommit & { start: string } {
  return {
    tenant: "t",
    sourceRef,
    generation: 1n,
    shapeHandle: "h1",
    shapeOffset: `${lsns.at(-1)}_0`,
    gap: undefined,
    changes: lsns.map(change),
    upToDate: true,
    start: startOffset,
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function addSource(ref: string): Promise<void> {
  await pool.query(
    "INSERT INTO pgsync.sources (tenant, source_ref, options, shape_url) VALUES ('t', $1, '{}', 'http://x')",
    [ref],
  );
  await pool.query(
    "INSERT INTO pgsync.cursors (tenant, source_ref, generation, shape_handle, shape_offset) VALUES ('t', $1, 1, 'h1', '0_0')",
    [ref],
  );
}

async function logOf(ref: string) {
  const { rows } = await pool.query<{
    seq: string;
    shape_offset: string;
    value: unknown;
    old_value: unknown;
    txids: string[];
  }>(
    "SELECT seq, shape_offset, value, old_value, txids FROM pgsync.changes WHERE tenant = 't' AND source_ref = $1 ORDER BY seq",
    [ref],
  );
  return rows;
}

beforeAll(async () => {
  db = await createTestDatabase("commit_parts");
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await migrate(pool);
  store = new PgCursorStore(pool);
  for (const ref of ["whole", "parts", "crash", "deleted"]) await addSource(ref);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe("a batch committed in parts", () => {
  it("should log exactly what the whole batch logs, values and all", async () => {
    await store.commit(batch("whole", range(1, 10), "0_0"));
    for (const part of splitBatch(batch("parts", range(1, 10), "0_0"), 3)) await store.commit(part);
    const strip = (rows: Awaited<ReturnType<typeof logOf>>) =>
      rows.map(({ seq, shape_offset, value, old_value, txids }) => ({
        seq,
        shape_offset,
        value,
        old_value,
        txids,
      }));
    const whole = strip(await logOf("whole"));
    expect(whole).toHaveLength(10);
    expect(whole[1]).toMatchObject({ value: change(2).value, old_value: { note: null }, txids: ["2", "3"] });
    expect(whole[0]?.old_value).toBeNull();
    expect(strip(await logOf("parts"))).toEqual(whole);
    expect((await store.get("t", "parts"))?.shapeOffset).toBe("10_0");
  });

  it("should keep the resume position at the batch's start until the last part commits", async () => {
    const parts = splitBatch(batch("crash", range(1, 10), "0_0"), 4);
    expect(parts.map((p) => p.partial)).toEqual([true, true, false]);
    const first = await store.commit(parts[0] as BatchCommit);
    await store.commit(parts[1] as BatchCommit);
    expect(first).toEqual({ headSeq: 4n, appended: 4 });
    const cursor = await store.get("t", "crash");
    expect(cursor?.shapeOffset).toBe("0_0");
    expect(cursor?.headSeq).toBe(8n);
  });

  it("should log nothing twice when the batch is re-read after a crash and split differently", async () => {
    // Continues the previous test: parts 1-2 (changes 1-8) are logged, the cursor is at 0_0.
    const again = splitBatch(batch("crash", range(1, 10), "0_0"), 3);
    const results = [];
    for (const part of again) results.push(await store.commit(part));
    expect(results.map((r) => r.appended)).toEqual([0, 0, 1, 1]);
    expect((await logOf("crash")).map((r) => r.shape_offset)).toEqual(range(1, 10).map((n) => `${n}_0`));
    // A smaller re-read ending before the newest logged offset moves the cursor but not the watermark.
    expect((await store.commit(batch("crash", range(5, 7), "4_0"))).appended).toBe(0);
    expect((await store.commit(batch("crash", range(8, 12), "7_0"))).appended).toBe(2);
    expect((await store.get("t", "crash"))?.headSeq).toBe(12n);
  });
});

describe("a deleted source", () => {
  it("should take its log with it, and a commit after the deletion writes nothing", async () => {
    await store.commit(batch("deleted", range(1, 5), "0_0"));
    expect(await new PgSourceStore(pool).delete("t", "deleted")).toBe(true);
    expect(await logOf("deleted")).toHaveLength(0);
    await expect(store.commit(batch("deleted", range(6, 8), "5_0"))).rejects.toBeInstanceOf(FencedError);
    expect(await logOf("deleted")).toHaveLength(0);
  });
});

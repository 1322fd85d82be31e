import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NewChange } from "../../src/domain/change-log.js";
import { migrate } from "../../src/storage/migrate.js";
import { PgChangeLog } from "../../src/storage/pg-change-log.js";
import { PgCursorStore } from "../../src/storage/pg-cursor-store.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

// The consumer-group materializer reads the log without row images: the same entries, cheaper.
let db: TestDatabase;
let pool: pg.Pool;

function change(n: number): NewChange {
  return {
    key: `"public"."t"/"${n}"`,
    operation: n % 3 === 0 ? "delete" : "update",
    value: { id: n, note: `row ${n}` },
    oldValue: n % 2 === 0 ? { note: null } : undefined,
    offset: `${n}_0`,
    txids: [String(n)],
  };
}

beforeAll(async () => {
  db = await createTestDatabase("change_log_read");
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await migrate(pool);
  await pool.query(
    "INSERT INTO pgsync.sources (tenant, source_ref, options, shape_url) VALUES ('t', 'r', '{}', 'http://x')",
  );
  await pool.query(
    "INSERT INTO pgsync.cursors (tenant, source_ref, generation, shape_handle, shape_offset) VALUES ('t', 'r', 1, 'h1', '0_0')",
  );
  await new PgCursorStore(pool).commit({
    tenant: "t",
    sourceRef: "r",
    generation: 1n,
    shapeHandle: "h1",
    shapeOffset: "6_0",
    gap: { reason: "must-refetch", detail: "shape rotated", lastGoodOffset: undefined, newHandle: undefined },
    changes: [1, 2, 3, 4, 5, 6].map(change),
    upToDate: true,
  });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe("reading the change log", () => {
  it("should read the same entries without bodies, with empty row images", async () => {
    const log = new PgChangeLog(pool);
    const full = await log.read("t", "r", 1n, 5);
    const heads = await log.read("t", "r", 1n, 5, { bodies: false });
    expect(full.map((e) => e.seq)).toEqual([2n, 3n, 4n, 5n, 6n]);
    expect(full[0]).toMatchObject({ kind: "change", key: change(1).key, value: change(1).value });
    expect(heads.map((e) => e.seq)).toEqual(full.map((e) => e.seq));
    heads.forEach((entry, i) => {
      const whole = full[i];
      if (entry.kind !== "change" || whole?.kind !== "change") throw new Error(`entry ${i} is not a change`);
      expect({ key: entry.key, operation: entry.operation }).toEqual({
        key: whole.key,
        operation: whole.operation,
      });
      expect({
        value: entry.value,
        oldValue: entry.oldValue,
        offset: entry.offset,
        txids: entry.txids,
      }).toEqual({
        value: {},
        oldValue: undefined,
        offset: "",
        txids: [],
      });
    });
    const [gap] = await log.read("t", "r", 0n, 1, { bodies: false });
    expect(gap).toEqual({ kind: "gap", seq: 1n, reason: "must-refetch", detail: "shape rotated" });
  });
});

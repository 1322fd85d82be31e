import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatchCommit, NewChange, NewGap } from "../../src/domain/change-log.js";
import { commitStatement } from "../../src/storage/commit-statement.js";
import { migrate } from "../../src/storage/migrate.js";
import { PgCursorStore } from "../../src/storage/pg-cursor-store.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

// Duplicate detection in the batch commit comes from the cursor, not from a plan: Electric offsets
// are ordered within a shape handle, so changes at or before the committed offset of the same
// handle are dropped without reading the log.
let db: TestDatabase;
let pool: pg.Pool;
let store: PgCursorStore;

function change(lsn: number): NewChange {
  return {
    key: `"public"."t"/"${lsn}"`,
    operation: "insert",
    value: { id: lsn },
    oldValue: undefined,
    offset: `${lsn}_0`,
    txids: [String(lsn)],
  };
}

function batch(
  sourceRef: string,
  handle: string,
  lsns: number[],
  gap?: NewGap,
  endOffset = `${lsns.at(-1) ?? 0}_0`,
): BatchCommit {
  return {
    tenant: "t",
    sourceRef,
    generation: 1n,
    shapeHandle: handle,
    shapeOffset: endOffset,
    gap,
    changes: lsns.map(change),
    upToDate: true,
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function addSource(ref: string): Promise<void> {
  await pool.query(
    "INSERT INTO pgsync.sources (tenant, source_ref, options, shape_url) VALUES ('t', $1, '{}', 'http://x')",
    [ref],
  );
  await pool.query("INSERT INTO pgsync.cursors (tenant, source_ref, generation) VALUES ('t', $1, 1)", [ref]);
}

async function logOf(ref: string) {
  const { rows } = await pool.query<{ seq: string; kind: string; shape_offset: string | null }>(
    "SELECT seq, kind, shape_offset FROM pgsync.changes WHERE tenant = 't' AND source_ref = $1 ORDER BY seq",
    [ref],
  );
  return rows.map((r) => ({ seq: Number(r.seq), kind: r.kind, offset: r.shape_offset }));
}

/**
 * Plan nodes (EXPLAIN ANALYZE, JSON) that use `index`, with how often each ran: of the plan for
 * the batch's own values, or of the generic plan Postgres may switch a prepared statement to.
 */
async function loopsOnIndex(b: BatchCommit, index: string, plan: "custom" | "generic"): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const statement = commitStatement(b);
    const values = statement.values ?? [];
    let explained = `EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text}`;
    if (plan === "generic") {
      await client.query("SET LOCAL plan_cache_mode = force_generic_plan");
      await client.query(`PREPARE generic_commit AS ${statement.text}`);
      // EXECUTE takes no bind parameters: its arguments are literals.
      const literal = (v: unknown): string => {
        if (v === null) return "NULL";
        if (typeof v === "boolean") return String(v);
        if (Array.isArray(v)) return `ARRAY[${v.map(literal).join(", ")}]::text[]`;
        return client.escapeLiteral(String(v));
      };
      explained = `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE generic_commit(${values.map(literal).join(", ")})`;
    }
    const { rows } = await client.query(explained, plan === "generic" ? [] : values);
    const found: number[] = [];
    const walk = (node: Record<string, unknown>) => {
      if (node["Index Name"] === index) found.push(Number(node["Actual Loops"]));
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk((rows[0] as { "QUERY PLAN": [{ Plan: Record<string, unknown> }] })["QUERY PLAN"][0].Plan);
    return found;
  } finally {
    await client.query("ROLLBACK");
    await client.query("DEALLOCATE ALL");
    client.release();
  }
}

beforeAll(async () => {
  db = await createTestDatabase("commit_dedupe");
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await migrate(pool);
  store = new PgCursorStore(pool);
  for (const ref of ["reread", "overlap", "refetch", "fresh"]) await addSource(ref);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe("batch commit duplicate detection by offset", () => {
  it("should not log a re-read batch twice", async () => {
    const b = batch("reread", "h1", range(1, 5));
    const first = await store.commit(b);
    const again = await store.commit(b);
    expect(first).toEqual({ headSeq: 5n, appended: 5 });
    expect(again).toEqual({ headSeq: 5n, appended: 0 });
    expect((await logOf("reread")).map((e) => e.offset)).toEqual(range(1, 5).map((n) => `${n}_0`));
  });

  it("should log only the changes after the committed offset of a batch that overlaps it", async () => {
    await store.commit(batch("overlap", "h1", range(10, 14)));
    const result = await store.commit(batch("overlap", "h1", range(12, 18)));
    expect(result).toEqual({ headSeq: 9n, appended: 4 });
    const log = await logOf("overlap");
    expect(log.map((e) => e.seq)).toEqual(range(1, 9));
    expect(log.map((e) => e.offset)).toEqual([...range(10, 18)].map((n) => `${n}_0`));
  });

  it("should log a new handle after must-refetch normally, even at offsets below the old cursor", async () => {
    await store.commit(batch("refetch", "h1", range(100, 104)));
    const gap: NewGap = {
      reason: "must-refetch",
      detail: "handle rotated",
      lastGoodOffset: "104_0",
      newHandle: "h2",
    };
    const refetched = await store.commit(batch("refetch", "h2", [], gap, "-1"));
    expect(refetched).toEqual({ headSeq: 6n, appended: 1 });
    // The new handle's offsets are not ordered against the old handle's: all of them are new.
    const next = await store.commit(batch("refetch", "h2", range(50, 52)));
    expect(next).toEqual({ headSeq: 9n, appended: 3 });
    // And within the new handle, a re-read is dropped again.
    expect(await store.commit(batch("refetch", "h2", range(50, 52)))).toEqual({ headSeq: 9n, appended: 0 });
    const log = await logOf("refetch");
    expect(log.map((e) => e.kind)).toEqual([...Array(5).fill("change"), "gap", ...Array(3).fill("change")]);
  });

  it("should not touch the log's offset index for a batch of the committed handle", async () => {
    // A freshly grown log that no ANALYZE has seen: the planner has no statistics for it.
    for (let i = 0; i < 20; i++)
      await store.commit(batch("fresh", "h1", range(1000 + i * 500, 1499 + i * 500)));
    for (const plan of ["custom", "generic"] as const) {
      const loops = await loopsOnIndex(
        batch("fresh", "h1", range(10_500, 10_599)),
        "changes_offset_unique",
        plan,
      );
      expect(
        loops.every((n) => n === 0),
        `${plan} plan`,
      ).toBe(true);
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.js";
import {
  type AnyMessage,
  changesOf,
  rawGet,
  type ShapeFixture,
  StreamRecorder,
  startFixture,
  syncToUpToDate,
} from "./support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_where");
  await fx.sql.query(`
    CREATE TABLE tasks (id int PRIMARY KEY, owner text, prio int, title text, tags text[], meta jsonb);
    INSERT INTO tasks VALUES
      (1, 'ann', 1, 'a', '{x}', '{"k": 1}'),
      (2, 'bob', 5, 'b', '{y}', '{"k": 2}'),
      (3, 'ann', 9, 'c', '{x,y}', '{"k": 3}');
    CREATE TABLE moves (id int PRIMARY KEY, status text, title text);
    INSERT INTO moves VALUES (1, 'open', 'one'), (2, 'closed', 'two');
    CREATE TABLE cols (id int PRIMARY KEY, visible text, secret text);
    INSERT INTO cols VALUES (1, 'v1', 's1');
    CREATE TABLE cmoves (id int PRIMARY KEY, status text, title text);
  `);
});

afterAll(async () => {
  await fx?.close();
});

async function follow(params: Record<string, string>, mutate: string, n: number): Promise<AnyMessage[]> {
  const { handle, offset } = await syncToUpToDate(fx.shapeUrl, params);
  await fx.sql.query(mutate);
  const out: AnyMessage[] = [];
  let current = offset;
  await waitFor(
    async () => {
      const res = await rawGet(fx.shapeUrl, { ...params, handle, offset: current });
      out.push(...changesOf(res));
      current = res.headers.get("electric-offset")!;
      return out.length >= n;
    },
    { what: `${n} changes` },
  );
  return out;
}

describe("where clauses", () => {
  it("should include only matching rows in the snapshot and the log, with $n params (#15)", async () => {
    const params = {
      table: "tasks",
      where: "owner = $1 AND prio > $2",
      "params[1]": "ann",
      "params[2]": "0",
    };
    const { changes } = await syncToUpToDate(fx.shapeUrl, params);
    expect(changes.map((c) => c.value!.id)).toEqual(["1", "3"]);
    const live = await follow(
      params,
      "INSERT INTO tasks VALUES (4, 'bob', 1, 'd', NULL, NULL), (5, 'ann', 2, 'e', NULL, NULL); DELETE FROM tasks WHERE id = 2; DELETE FROM tasks WHERE id = 5;",
      2,
    );
    expect(live.map((c) => [c.headers.operation, c.value!.id])).toEqual([
      ["insert", "5"],
      ["delete", "5"],
    ]);
  });

  it("should evaluate arrays, casts and functions of Electric's grammar", async () => {
    // jsonb operators (`->>`) are outside Electric's grammar: see where-grammar.test.ts
    const params = {
      table: "tasks",
      where:
        "'y' = ANY(tags) AND (prio + 0)::int8 >= $1 AND lower(owner) IN ('ann', 'cy') AND upper(title) <> 'G'",
      "params[1]": "0",
    };
    const { changes } = await syncToUpToDate(fx.shapeUrl, params);
    expect(changes.map((c) => c.value!.id)).toEqual(["3"]);
    const live = await follow(
      params,
      `INSERT INTO tasks VALUES (6, 'cy', 0, 'f', '{y}', '{"k": 7}'), (7, 'cy', 0, 'g', '{y}', '{"k": 1}')`,
      1,
    );
    expect(live.map((c) => c.value!.id)).toEqual(["6"]);
  });

  it("should turn a move into the shape into an insert with the full row and a move out into a delete (#16)", async () => {
    const params = { table: "moves", where: "status = 'open'" };
    const live = await follow(
      params,
      "UPDATE moves SET status = 'open' WHERE id = 2; UPDATE moves SET status = 'closed' WHERE id = 1; UPDATE moves SET title = 'TWO' WHERE id = 2;",
      3,
    );
    expect(live.map((c) => [c.headers.operation, c.key, c.value])).toEqual([
      ["insert", '"public"."moves"/"2"', { id: "2", status: "open", title: "two" }],
      ["delete", '"public"."moves"/"1"', { id: "1" }],
      ["update", '"public"."moves"/"2"', { id: "2", title: "TWO" }],
    ]);
  });

  it("should restrict values and electric-schema to the selected columns (#18)", async () => {
    const params = { table: "cols", columns: '"id","visible"' };
    const res = await rawGet(fx.shapeUrl, { ...params, offset: "-1" });
    expect(JSON.parse(res.headers.get("electric-schema")!)).toEqual({
      id: { type: "int4", pk_index: 0, not_null: true },
      visible: { type: "text" },
    });
    expect(changesOf(res).map((c) => c.value)).toEqual([{ id: "1", visible: "v1" }]);
    const live = await follow(
      params,
      "UPDATE cols SET secret = 's2' WHERE id = 1; UPDATE cols SET visible = 'v2', secret = 's3' WHERE id = 1;",
      1,
    );
    // the first update changes no selected column and is dropped
    expect(live.map((c) => [c.headers.operation, c.value])).toEqual([["update", { id: "1", visible: "v2" }]]);
  });

  it("should reject a column selection without the primary key (#18)", async () => {
    const res = await rawGet(fx.shapeUrl, { table: "cols", offset: "-1", columns: "visible" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      message: "Invalid request",
      errors: { columns: ["The list of columns must include all primary key columns, missing: id"] },
    });
  });

  it("should give a ShapeStream move-ins with full rows and move-outs as deletes", async () => {
    await fx.sql.query("INSERT INTO cmoves VALUES (1, 'open', 'a'), (2, 'closed', 'b')");
    const rec = new StreamRecorder({
      url: fx.shapeUrl,
      params: { table: "cmoves", where: "status = $1", params: ["open"], replica: "full" },
    });
    try {
      await rec.until((r) => r.upToDates >= 1, "initial sync");
      await fx.sql.query("UPDATE cmoves SET status = 'open' WHERE id = 2");
      await fx.sql.query("UPDATE cmoves SET status = 'closed' WHERE id = 1");
      const changes = await rec.untilChanges(3);
      expect(changes.map((c) => [c.headers.operation, c.value])).toEqual([
        ["insert", { id: 1, status: "open", title: "a" }],
        ["insert", { id: 2, status: "open", title: "b" }],
        // a move-out is a delete of the row as the shape last saw it (the old row)
        ["delete", { id: 1, status: "open", title: "a" }],
      ]);
      expect(rec.errors).toEqual([]);
    } finally {
      rec.stop();
    }
  });
});

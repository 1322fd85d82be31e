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
  fx = await startFixture("shape_messages");
  await fx.sql.query(`
    CREATE TABLE comp (a int, b text, note text, PRIMARY KEY (a, b));
    INSERT INTO comp VALUES (1, 'x/y', 'n');
    CREATE TABLE nopk (z text, a int);
    INSERT INTO nopk VALUES (NULL, 1);
    CREATE TABLE flags (id int PRIMARY KEY, on_off bool, note text);
    INSERT INTO flags VALUES (1, true, NULL);
    CREATE TABLE rep (id int PRIMARY KEY, a text, b text, c int);
    INSERT INTO rep VALUES (1, 'a1', 'b1', 1), (2, 'a2', 'b2', 2);
    CREATE TABLE pkchange (id int PRIMARY KEY, title text);
    INSERT INTO pkchange VALUES (1, 'one');
    CREATE TYPE mood AS ENUM ('sad', 'happy');
    CREATE TABLE typed (
      id int8 PRIMARY KEY,
      i2 int2 NOT NULL,
      f8 float8,
      num numeric(10, 2),
      ok bool,
      vc varchar(10),
      ch char(3),
      js json,
      jb jsonb,
      ts timestamp,
      tstz timestamptz,
      d date,
      u uuid,
      bin bytea,
      ints int4[],
      texts text[],
      grid int4[][],
      m mood
    );
  `);
});

afterAll(async () => {
  await fx?.close();
});

async function liveChanges(table: string, params: Record<string, string>, mutate: string, n: number) {
  const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table, ...params });
  await fx.sql.query(mutate);
  const out: AnyMessage[] = [];
  let current = offset;
  await waitFor(
    async () => {
      const res = await rawGet(fx.shapeUrl, { table, ...params, handle, offset: current });
      out.push(...changesOf(res));
      current = res.headers.get("electric-offset")!;
      return out.length >= n;
    },
    { what: `${n} changes of ${table}` },
  );
  return out;
}

describe("change messages", () => {
  it("should build keys in Electric's format: composite PKs, / escaped as //, NULL as _ (#10)", async () => {
    const { changes } = await syncToUpToDate(fx.shapeUrl, { table: "comp" });
    expect(changes[0]!.key).toBe('"public"."comp"/"1"/"x//y"');
    const nopk = await syncToUpToDate(fx.shapeUrl, { table: "nopk" });
    // no primary key: all columns, sorted by name (a, z)
    expect(nopk.changes[0]!.key).toBe('"public"."nopk"/"1"/_');
  });

  it("should carry operation, relation, lsn (string), op_position, txids and last on live changes (#10)", async () => {
    const xidRow = await fx.sql.query<{ xid: string }>("SELECT txid_current()::text AS xid");
    const changes = await liveChanges(
      "comp",
      {},
      "BEGIN; INSERT INTO comp VALUES (2, 'b', 'n2'); UPDATE comp SET note = 'm' WHERE a = 1; COMMIT;",
      2,
    );
    const [insert, update] = changes as [AnyMessage, AnyMessage];
    expect(insert.key).toBe('"public"."comp"/"2"/"b"');
    expect(insert.headers).toEqual({
      operation: "insert",
      relation: ["public", "comp"],
      lsn: expect.stringMatching(/^\d+$/),
      op_position: 0,
      txids: [expect.any(Number)],
    });
    expect((insert.headers.txids as number[])[0]).toBeGreaterThan(Number(xidRow.rows[0]!.xid));
    expect(update.headers).toEqual({
      operation: "update",
      relation: ["public", "comp"],
      lsn: insert.headers.lsn,
      op_position: 2,
      txids: insert.headers.txids,
      last: true,
    });
  });

  it("should send ::text values in the snapshot (bool true) and output text live (bool t), NULL as null (#11)", async () => {
    const { changes } = await syncToUpToDate(fx.shapeUrl, { table: "flags" });
    expect(changes[0]!.value).toEqual({ id: "1", on_off: "true", note: null });
    const live = await liveChanges(
      "flags",
      {},
      "INSERT INTO flags VALUES (2, false, NULL), (3, true, 'x')",
      2,
    );
    expect(live.map((c) => c.value)).toEqual([
      { id: "2", on_off: "f", note: null },
      { id: "3", on_off: "t", note: "x" },
    ]);
  });

  it("should send PK plus changed columns on default-replica updates and the PK alone on deletes (#13)", async () => {
    const changes = await liveChanges(
      "rep",
      {},
      "UPDATE rep SET a = 'A1', c = 10 WHERE id = 1; DELETE FROM rep WHERE id = 2; UPDATE rep SET b = b WHERE id = 1;",
      2,
    );
    expect(changes.map((c) => [c.headers.operation, c.value, c.old_value])).toEqual([
      ["update", { id: "1", a: "A1", c: "10" }, undefined],
      ["delete", { id: "2" }, undefined],
    ]);
  });

  it("should send the full row and old values of changed columns with replica=full (#14)", async () => {
    const changes = await liveChanges(
      "rep",
      { replica: "full" },
      "UPDATE rep SET b = 'B1' WHERE id = 1; INSERT INTO rep VALUES (3, 'a3', NULL, 3); DELETE FROM rep WHERE id = 3;",
      3,
    );
    expect(changes.map((c) => [c.headers.operation, c.value, c.old_value])).toEqual([
      ["update", { id: "1", a: "A1", b: "B1", c: "10" }, { b: "b1" }],
      ["insert", { id: "3", a: "a3", b: null, c: "3" }, undefined],
      ["delete", { id: "3", a: "a3", b: null, c: "3" }, undefined],
    ]);
  });

  it("should split a PK-changing update into a delete of the old key and an insert of the new (#17)", async () => {
    const changes = await liveChanges("pkchange", {}, "UPDATE pkchange SET id = 2 WHERE id = 1", 2);
    const [del, ins] = changes as [AnyMessage, AnyMessage];
    expect(del.key).toBe('"public"."pkchange"/"1"');
    expect(del.headers.operation).toBe("delete");
    expect(del.value).toEqual({ id: "1" });
    expect(del.headers.key_change_to).toBe('"public"."pkchange"/"2"');
    expect(ins.key).toBe('"public"."pkchange"/"2"');
    expect(ins.headers.operation).toBe("insert");
    expect(ins.value).toEqual({ id: "2", title: "one" });
    expect(ins.headers.key_change_from).toBe('"public"."pkchange"/"1"');
    expect(ins.headers.lsn).toBe(del.headers.lsn);
    expect(ins.headers.op_position).toBe((del.headers.op_position as number) + 1);
    expect(ins.headers.last).toBe(true);
  });
});

describe("electric-schema and client parsing", () => {
  const INSERT = `INSERT INTO typed VALUES (
    $1, 7, 1.5, 12.30, true, 'short', 'ab', '{"a": [1, 2]}', '{"b": {"c": null}}',
    '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+02', '2024-02-29',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff', '{1,2,3}', '{"x y",NULL,"q\\"t"}', '{{1,2},{3,4}}', 'happy'
  )`;

  it("should describe each column's type, pk_index, not_null, dims and modifiers (#12)", async () => {
    const res = await rawGet(fx.shapeUrl, { table: "typed", offset: "-1" });
    expect(JSON.parse(res.headers.get("electric-schema")!)).toEqual({
      id: { type: "int8", pk_index: 0, not_null: true },
      i2: { type: "int2", not_null: true },
      f8: { type: "float8" },
      num: { type: "numeric", precision: 10, scale: 2 },
      ok: { type: "bool" },
      vc: { type: "varchar", max_length: 10 },
      ch: { type: "bpchar", length: 3 },
      js: { type: "json" },
      jb: { type: "jsonb" },
      ts: { type: "timestamp" },
      tstz: { type: "timestamptz" },
      d: { type: "date" },
      u: { type: "uuid" },
      bin: { type: "bytea" },
      ints: { type: "int4", dims: 1 },
      texts: { type: "text", dims: 1 },
      grid: { type: "int4", dims: 2 },
      m: { type: "mood" },
    });
  });

  it("should let the client parse int8 to BigInt, bool, numeric, json, timestamps, arrays and NULLs (#12)", async () => {
    await fx.sql.query(INSERT, [1]);
    await fx.sql.query("INSERT INTO typed (id, i2) VALUES (2, 0)");
    const rec = new StreamRecorder({ url: fx.shapeUrl, params: { table: "typed" } });
    try {
      await rec.until((r) => r.upToDates >= 1, "initial sync");
      await fx.sql.query(INSERT, [3]);
      const changes = await rec.untilChanges(3);
      const expected = {
        i2: 7,
        f8: 1.5,
        num: "12.30",
        ok: true,
        vc: "short",
        ch: "ab ",
        js: { a: [1, 2] },
        jb: { b: { c: null } },
        ts: "2024-01-02 03:04:05.123456",
        tstz: "2024-01-02 01:04:05+00",
        d: "2024-02-29",
        u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        bin: "\\x00ff",
        ints: [1, 2, 3],
        texts: ["x y", null, 'q"t'],
        grid: [
          [1, 2],
          [3, 4],
        ],
        m: "happy",
      };
      const [snapshotRow, nullRow, liveRow] = changes;
      expect(snapshotRow!.value).toEqual({ id: 1n, ...expected });
      expect(typeof snapshotRow!.value.id).toBe("bigint");
      expect(liveRow!.value).toEqual({ id: 3n, ...expected });
      expect(nullRow!.value).toEqual({
        id: 2n,
        i2: 0,
        ...Object.fromEntries(
          Object.keys(expected)
            .filter((k) => k !== "i2")
            .map((k) => [k, null]),
        ),
      });
      expect(rec.errors).toEqual([]);
    } finally {
      rec.stop();
    }
  });
});

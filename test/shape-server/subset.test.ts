/**
 * Subset snapshots (issue 16): `requestSnapshot`/`fetchSnapshot` of the unmodified client, by GET
 * (`subset__*`) and POST (JSON body), with where, params, order, limit, offset and BigInt params.
 */
import { type ChangeMessage, FetchError, type Row, Shape, ShapeStream } from "@electric-sql/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.js";
import { rawGet, type ShapeFixture, startFixture } from "./support/harness.js";

let fx: ShapeFixture;
const aborters: AbortController[] = [];

beforeAll(async () => {
  fx = await startFixture("shape_subset");
  await fx.sql.query(`
    CREATE TABLE items (id int PRIMARY KEY, title text, prio int);
    INSERT INTO items SELECT i, 'item ' || chr(96 + i), i % 3 FROM generate_series(1, 9) AS i;
    CREATE TABLE numbered (id int PRIMARY KEY);
    INSERT INTO numbered SELECT i FROM generate_series(1, 12) AS i;
    CREATE TABLE big (id int8 PRIMARY KEY, label text);
    INSERT INTO big VALUES (9223372036854775801, 'alpha'), (9223372036854775802, 'beta'), (9223372036854775803, 'gamma');
  `);
});

afterEach(() => {
  for (const aborter of aborters.splice(0)) aborter.abort();
});

afterAll(async () => {
  await fx?.close();
});

function stream<T extends Row<unknown> = Row>(table: string, subsetMethod?: "GET" | "POST"): ShapeStream<T> {
  const aborter = new AbortController();
  aborters.push(aborter);
  return new ShapeStream<T>({
    url: fx.shapeUrl,
    params: { table },
    log: "changes_only",
    signal: aborter.signal,
    ...(subsetMethod ? { subsetMethod } : {}),
  });
}

async function untilUpToDate(s: ShapeStream<Row<unknown>>): Promise<void> {
  s.subscribe(() => {});
  await waitFor(() => s.isUpToDate, { what: "the stream to be up to date" });
}

const ids = (data: ChangeMessage<Row<unknown>>[]) => data.map((m) => m.value.id);

describe("subset snapshots", () => {
  it.each(["GET", "POST"] as const)(
    "should fetchSnapshot by %s with where, params, order, limit and offset",
    async (method) => {
      const s = stream("items", method);
      await untilUpToDate(s);
      const { metadata, data } = await s.fetchSnapshot({
        where: "prio = $1 OR title = $2",
        params: { "1": "1", "2": "item b" },
        orderBy: "id DESC",
        limit: 3,
        offset: 1,
      });
      // prio 1: 1, 4, 7; title 'item b': 2 → ordered 7, 4, 2, 1 → skip 1, take 3
      expect(ids(data)).toEqual([4, 2, 1]);
      expect(data.every((m) => m.headers.operation === "insert")).toBe(true);
      expect(typeof metadata.xmin).toBe("string");
      expect(typeof metadata.xmax).toBe("string");
      expect(Array.isArray(metadata.xip_list)).toBe(true);
      expect(metadata.database_lsn).toMatch(/^\d+$/);
      expect(Number.isInteger(metadata.snapshot_mark)).toBe(true);
    },
  );

  it("should order by the column's own type, not its text form (2 before 10)", async () => {
    const s = stream("numbered");
    await untilUpToDate(s);
    const { data } = await s.fetchSnapshot({ orderBy: "id", limit: 4, offset: 1 });
    expect(ids(data)).toEqual([2, 3, 4, 5]);
    const after = await s.fetchSnapshot({ where: "id > 8", orderBy: "id DESC", limit: 10 });
    expect(ids(after.data)).toEqual([12, 11, 10, 9]);
  });

  it("should inject requestSnapshot rows into a changes_only Shape and keep streaming after it", async () => {
    const s = stream("items");
    const shape = new Shape(s);
    await untilUpToDate(s);
    expect(shape.currentRows).toEqual([]);
    await shape.requestSnapshot({ where: "id <= 2", orderBy: "id ASC", limit: 10 });
    expect(shape.currentRows.map((r) => r.id)).toEqual([1, 2]);
    await fx.sql.query("UPDATE items SET title = 'changed' WHERE id = 2");
    await waitFor(() => shape.currentRows.find((r) => r.id === 2)?.title === "changed", {
      what: "the update after the snapshot",
    });
  });

  it.each(["GET", "POST"] as const)(
    "should take BigInt params and return int8 values as BigInt (%s)",
    async (method) => {
      const s = stream<{ id: bigint; label: string }>("big", method);
      await untilUpToDate(s as unknown as ShapeStream<Row<unknown>>);
      const { data } = await s.fetchSnapshot({
        where: "id = $1",
        params: { "1": BigInt("9223372036854775802") },
        orderBy: "id ASC",
        limit: 100,
      });
      expect(data.map((m) => [m.value.id, m.value.label])).toEqual([[BigInt("9223372036854775802"), "beta"]]);
    },
  );

  it("should answer a subset GET at offset -1 with the handle, offset, schema and snapshot headers", async () => {
    const res = await rawGet(fx.shapeUrl, {
      table: "items",
      offset: "-1",
      subset__where: "id = $1",
      subset__params: JSON.stringify({ "1": "3" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("electric-snapshot")).toBe("true");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("electric-handle")).toBeTruthy();
    expect(res.headers.get("electric-offset")).toBeTruthy();
    expect(JSON.parse(res.headers.get("electric-schema")!).id).toEqual({
      type: "int4",
      pk_index: 0,
      not_null: true,
    });
    const body = res.body as { metadata: Record<string, unknown>; data: Array<{ value: unknown }> };
    expect(body.data.map((m) => m.value)).toEqual([{ id: "3", title: "item c", prio: "0" }]);
  });

  it("should refuse bad subsets with Electric's 400 bodies", async () => {
    const base = { table: "items", offset: "-1" };
    const noOrder = await rawGet(fx.shapeUrl, { ...base, subset__limit: "2" });
    expect(noOrder.status).toBe(400);
    expect(noOrder.body).toEqual({
      message: "Invalid request",
      errors: { subset: { order_by: ["order_by is required when limit or offset is present"] } },
    });
    const sleep = await rawGet(fx.shapeUrl, { ...base, subset__where: "pg_sleep(5) IS NULL" });
    expect(sleep.body).toEqual({
      message: "Invalid request",
      errors: { subset: { where: ["At location 0: unknown or unsupported function pg_sleep/1"] } },
    });
    const order = await rawGet(fx.shapeUrl, { ...base, subset__order_by: "random()", subset__limit: "1" });
    expect(order.body).toEqual({
      message: "Invalid request",
      errors: {
        subset: { order_by: ["At location 0: FuncCall expressions are not allowed in ORDER BY clauses"] },
      },
    });
    const notObject = await fetch(`${fx.shapeUrl}?table=items&offset=-1`, { method: "POST", body: "[1]" });
    expect(notObject.status).toBe(400);
    expect(await notObject.json()).toEqual({ error: "Request body must be a JSON object" });
  });

  it("should surface a refused subset as a FetchError from fetchSnapshot", async () => {
    const s = stream("items");
    await untilUpToDate(s);
    const err = await s.fetchSnapshot({ where: "nope = 1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FetchError);
    expect((err as FetchError).status).toBe(400);
    expect((err as FetchError).json).toEqual({
      message: "Invalid request",
      errors: { subset: { where: ["At location 0: unknown reference nope"] } },
    });
  });
});

import { FetchError } from "@electric-sql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawGet, type ShapeFixture, StreamRecorder, startFixture } from "./support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_validation");
  await fx.sql.query(`
    CREATE TABLE items (id int PRIMARY KEY, title text);
    CREATE TABLE "MixedCase" (id int PRIMARY KEY);
    CREATE SCHEMA other;
    CREATE TABLE other.things (id int PRIMARY KEY);
  `);
});

afterAll(async () => {
  await fx?.close();
});

function invalid(field: string, message: string | RegExp) {
  return {
    message: "Invalid request",
    errors: { [field]: [typeof message === "string" ? message : expect.stringMatching(message)] },
  };
}

describe("request validation", () => {
  it("should answer 400 errors.table for a missing table (#2)", async () => {
    const res = await rawGet(fx.shapeUrl, { offset: "-1" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(invalid("table", "can't be blank"));
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("should answer 400 naming an unknown table (#2)", async () => {
    const res = await rawGet(fx.shapeUrl, { table: "nope", offset: "-1" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(
      invalid(
        "table",
        'Table "public"."nope" does not exist. If the table name contains capitals or special characters you must quote it.',
      ),
    );
  });

  it("should resolve schema-qualified and quoted table names", async () => {
    expect((await rawGet(fx.shapeUrl, { table: "other.things", offset: "-1" })).status).toBe(200);
    expect((await rawGet(fx.shapeUrl, { table: '"MixedCase"', offset: "-1" })).status).toBe(200);
    expect((await rawGet(fx.shapeUrl, { table: "MixedCase", offset: "-1" })).status).toBe(400);
  });

  it("should answer 400 errors.offset for malformed offsets (#2)", async () => {
    for (const offset of ["1_2 ", "10", "0_-1", "abc", "-2"]) {
      const res = await rawGet(fx.shapeUrl, { table: "items", offset, handle: "h" });
      expect(res.status, offset).toBe(400);
      expect(res.body).toEqual(invalid("offset", "has invalid format"));
    }
  });

  it("should require a handle when offset is not -1 or now (#3)", async () => {
    const res = await rawGet(fx.shapeUrl, { table: "items", offset: "0_0" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(invalid("handle", "can't be blank when offset != -1"));
  });

  it("should reject live=true with offset=-1 and with offset=now (#3)", async () => {
    const initial = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", live: "true" });
    expect(initial.status).toBe(400);
    expect(initial.body).toEqual(invalid("live", "can't be true when offset == -1"));
    const now = await rawGet(fx.shapeUrl, { table: "items", offset: "now", live: "true" });
    expect(now.body).toEqual(invalid("live", "can't be true when offset is 'now'"));
    const sse = await rawGet(fx.shapeUrl, {
      table: "items",
      offset: "0_0",
      handle: "h",
      live_sse: "true",
      live: "false",
    });
    expect(sse.body).toEqual(invalid("live_sse", "can't be true unless live is also true"));
  });

  it("should answer 400 errors.where with Electric's message and location for a bad where", async () => {
    const syntax = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", where: "1 x 1" });
    expect(syntax.status).toBe(400);
    expect(syntax.body).toEqual(invalid("where", `At location 17: syntax error at or near "x"`));
    const column = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", where: "nope = 1" });
    expect(column.body).toEqual(invalid("where", "At location 0: unknown reference nope"));
    const notBool = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", where: "id + 1" });
    expect(notBool.body).toEqual(invalid("where", /argument of WHERE must be type boolean/));
    const injection = await rawGet(fx.shapeUrl, {
      table: "items",
      offset: "-1",
      where: "true); DROP TABLE items; --",
    });
    expect(injection.status).toBe(400);
    const still = await fx.sql.query("SELECT count(*) FROM items");
    expect(still.rows).toHaveLength(1);
  });

  it("should answer 400 errors.params for missing, extra or invalid params", async () => {
    const missing = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", where: "id = $1" });
    expect(missing.status).toBe(400);
    // Electric's parser reports a missing parameter on the where clause
    expect(missing.body).toEqual(invalid("where", "At location 5: parameter $1 was not provided"));
    const badValue = await rawGet(fx.shapeUrl, {
      table: "items",
      offset: "-1",
      where: "id = $1",
      "params[1]": "abc",
    });
    expect(badValue.body).toEqual(invalid("params", /invalid input syntax for type integer/));
    const gap = await rawGet(fx.shapeUrl, {
      table: "items",
      offset: "-1",
      where: "id = $2",
      "params[2]": "1",
    });
    expect(gap.body).toEqual(invalid("params", /\$1 is missing/));
  });

  it("should answer 400 errors.columns for unknown columns and bad replica/log values", async () => {
    const cols = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", columns: "id,nope" });
    expect(cols.body).toEqual(invalid("columns", "The following columns could not be found: nope"));
    const replica = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", replica: "partial" });
    expect(replica.body).toEqual(invalid("replica", "is invalid"));
    const log = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", log: "some" });
    expect(log.body).toEqual(invalid("log", "is invalid"));
  });

  it("should ignore unknown parameters such as cache-buster and expired_handle", async () => {
    const res = await rawGet(fx.shapeUrl, {
      table: "items",
      offset: "-1",
      "cache-buster": "x",
      expired_handle: "y",
      foo: "z",
    });
    expect(res.status).toBe(200);
  });

  it("should pass a 400 to the client's onError and stop the stream", async () => {
    const rec = new StreamRecorder({ url: fx.shapeUrl, params: { table: "items", where: "nope = 1" } });
    try {
      await rec.until((r) => r.errors.length > 0, "onError");
      const err = rec.errors[0];
      expect(err).toBeInstanceOf(FetchError);
      expect((err as FetchError).status).toBe(400);
      expect((err as FetchError).json).toEqual(invalid("where", "At location 0: unknown reference nope"));
    } finally {
      rec.stop();
    }
  });

  it("should route HEAD, OPTIONS, / and unknown paths as Electric does", async () => {
    const root = await fetch(`${fx.server.url}/`);
    expect(root.status).toBe(200);
    const missing = await fetch(`${fx.server.url}/v2/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe("Not found");
    const options = await fetch(fx.shapeUrl, { method: "OPTIONS" });
    expect(options.status).toBe(204);
    expect(options.headers.get("access-control-max-age")).toBe("86400");
    const head = await fetch(`${fx.server.url}//v1/%73hape/?table=items&offset=-1`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("electric-offset")).toBe("0_0");
    expect(head.headers.get("access-control-expose-headers")).toContain("electric-handle");
  });
});

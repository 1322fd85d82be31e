import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changesOf, messagesOf, rawGet, type ShapeFixture, startFixture } from "./support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_initial", { chunkBytesThreshold: 2_000 });
  await fx.sql.query(`
    CREATE TABLE items (id int PRIMARY KEY, title text, done bool);
    INSERT INTO items VALUES (1, 'hello', true), (2, 'world', false);
    CREATE TABLE empty_items (id int PRIMARY KEY, title text);
    CREATE TABLE big (id int PRIMARY KEY, payload text);
    INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 40) g;
    CREATE TABLE log_items (id int PRIMARY KEY, title text);
    INSERT INTO log_items VALUES (1, 'before');
    CREATE TABLE now_items (id int PRIMARY KEY);
    INSERT INTO now_items VALUES (1);
    CREATE TABLE many_tx (id int PRIMARY KEY, payload text);
    CREATE TABLE bounds (id int PRIMARY KEY);
  `);
});

afterAll(async () => {
  await fx?.close();
});

describe("initial sync", () => {
  it("should answer offset=-1 with snapshot chunk 0: inserts then snapshot-end, never up-to-date (#4)", async () => {
    const res = await rawGet(fx.shapeUrl, { table: "items", offset: "-1" });
    expect(res.status).toBe(200);
    expect(res.headers.get("electric-handle")).toMatch(/^\d+-\d+$/);
    expect(res.headers.get("electric-offset")).toBe("0_0");
    expect(JSON.parse(res.headers.get("electric-schema")!)).toEqual({
      id: { type: "int4", pk_index: 0, not_null: true },
      title: { type: "text" },
      done: { type: "bool" },
    });
    expect(res.headers.has("electric-up-to-date")).toBe(false);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const messages = messagesOf(res);
    expect(messages.slice(0, 2)).toEqual([
      {
        key: '"public"."items"/"1"',
        value: { id: "1", title: "hello", done: "true" },
        headers: { operation: "insert", relation: ["public", "items"] },
      },
      {
        key: '"public"."items"/"2"',
        value: { id: "2", title: "world", done: "false" },
        headers: { operation: "insert", relation: ["public", "items"] },
      },
    ]);
    const end = messages[2]!;
    expect(end.headers.control).toBe("snapshot-end");
    expect(end.headers).toEqual({
      control: "snapshot-end",
      xmin: expect.stringMatching(/^\d+$/),
      xmax: expect.stringMatching(/^\d+$/),
      xip_list: expect.any(Array),
    });
    expect(messages).toHaveLength(3);
  });

  it("should answer 304 when If-None-Match names the response's etag", async () => {
    const first = await rawGet(fx.shapeUrl, { table: "items", offset: "-1" });
    const tag = first.headers.get("etag")!;
    expect(tag).toBe(`"${first.headers.get("electric-handle")}:-1:0_0"`);
    const again = await rawGet(
      fx.shapeUrl,
      { table: "items", offset: "-1" },
      { headers: { "if-none-match": tag } },
    );
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
  });

  it("should answer an empty table with only snapshot-end", async () => {
    const res = await rawGet(fx.shapeUrl, { table: "empty_items", offset: "-1" });
    expect(res.status).toBe(200);
    expect(messagesOf(res).map((m) => m.headers.control)).toEqual(["snapshot-end"]);
  });

  it("should answer the request after the last snapshot chunk with [up-to-date] at 0_inf (#5)", async () => {
    const first = await rawGet(fx.shapeUrl, { table: "items", offset: "-1" });
    const handle = first.headers.get("electric-handle")!;
    const next = await rawGet(fx.shapeUrl, { table: "items", offset: "0_0", handle });
    expect(next.status).toBe(200);
    expect(next.headers.get("electric-offset")).toBe("0_inf");
    expect(next.headers.get("electric-up-to-date")).toBe("");
    expect(next.headers.has("electric-schema")).toBe(true);
    expect(next.headers.get("electric-has-data")).toBe("true");
    const messages = messagesOf(next);
    expect(messages).toEqual([
      { headers: { control: "up-to-date", global_last_seen_lsn: expect.stringMatching(/^\d+$/) } },
    ]);
  });

  it("should return real offsets after the snapshot once changes exist (#5)", async () => {
    const first = await rawGet(fx.shapeUrl, { table: "items", offset: "-1", where: "id > 100" });
    const handle = first.headers.get("electric-handle")!;
    await fx.sql.query("INSERT INTO items VALUES (101, 'later', null)");
    const { waitFor } = await import("../support/wait.js");
    const next = await waitFor(async () => {
      const res = await rawGet(fx.shapeUrl, { table: "items", offset: "0_0", handle, where: "id > 100" });
      return changesOf(res).length > 0 ? res : undefined;
    });
    expect(next.headers.get("electric-offset")).toMatch(/^[1-9]\d*_0$/);
    expect(changesOf(next).map((m) => m.value?.id)).toEqual(["101"]);
    expect(next.headers.get("electric-up-to-date")).toBe("");
  });

  it("should page a large snapshot in chunks 0_0, 0_1, ... and end with snapshot-end (#27, #32)", async () => {
    let res = await rawGet(fx.shapeUrl, { table: "big", offset: "-1" });
    const handle = res.headers.get("electric-handle")!;
    const offsets: string[] = [res.headers.get("electric-offset")!];
    const ids: string[] = changesOf(res).map((m) => m.value!.id as string);
    let controls = messagesOf(res)
      .filter((m) => m.headers.control)
      .map((m) => m.headers.control);
    while (!controls.includes("snapshot-end")) {
      expect(res.headers.has("electric-up-to-date")).toBe(false);
      res = await rawGet(fx.shapeUrl, { table: "big", offset: offsets[offsets.length - 1], handle });
      expect(res.status).toBe(200);
      offsets.push(res.headers.get("electric-offset")!);
      ids.push(...changesOf(res).map((m) => m.value!.id as string));
      controls = messagesOf(res)
        .filter((m) => m.headers.control)
        .map((m) => m.headers.control);
    }
    expect(offsets.length).toBeGreaterThan(2);
    expect(offsets).toEqual(offsets.map((_, i) => `0_${i}`));
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => String(i + 1)));
    const after = await rawGet(fx.shapeUrl, { table: "big", offset: offsets[offsets.length - 1], handle });
    expect(after.headers.get("electric-offset")).toBe("0_inf");
    expect(messagesOf(after).map((m) => m.headers.control)).toEqual(["up-to-date"]);
  });

  it("should deliver many transactions in order across chunks that end on transaction boundaries (#27)", async () => {
    const first = await rawGet(fx.shapeUrl, { table: "many_tx", offset: "-1" });
    const handle = first.headers.get("electric-handle")!;
    for (let i = 1; i <= 30; i++) {
      await fx.sql.query("INSERT INTO many_tx VALUES ($1, repeat('y', 150)), ($1 + 1000, 'pair')", [i]);
    }
    const { waitFor } = await import("../support/wait.js");
    const ids: string[] = [];
    let offset = "0_0";
    let responses = 0;
    await waitFor(
      async () => {
        const res = await rawGet(fx.shapeUrl, { table: "many_tx", offset, handle });
        expect(res.status).toBe(200);
        const changes = changesOf(res);
        responses++;
        if (changes.length > 0) {
          // a chunk never splits a transaction: it ends on a change marked last
          expect(changes[changes.length - 1]!.headers.last).toBe(true);
          const lsns = changes.map((c) => BigInt(c.headers.lsn as string));
          expect(lsns).toEqual([...lsns].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
          expect(res.headers.get("electric-offset")).toBe(`${lsns[lsns.length - 1]}_2`);
        }
        ids.push(...changes.map((c) => c.value!.id as string));
        offset = res.headers.get("electric-offset")!;
        return ids.length >= 60 && res.headers.has("electric-up-to-date");
      },
      { what: "all 30 transactions" },
    );
    expect(ids).toEqual(Array.from({ length: 30 }, (_, i) => [String(i + 1), String(i + 1001)]).flat());
    expect(responses).toBeGreaterThan(2);
  });

  it("should answer offset=now with [up-to-date], has-data false, the schema and the latest offset (#6)", async () => {
    const res = await rawGet(fx.shapeUrl, { table: "now_items", offset: "now" });
    expect(res.status).toBe(200);
    expect(res.headers.get("electric-has-data")).toBe("false");
    expect(res.headers.get("electric-up-to-date")).toBe("");
    expect(res.headers.has("electric-schema")).toBe(true);
    expect(res.headers.get("electric-offset")).toBe("0_inf");
    expect(messagesOf(res).map((m) => m.headers.control)).toEqual(["up-to-date"]);
    // A body sent whole says its size, as Electric's do (pg-sync's lean fetch leaves it unread).
    expect(res.headers.get("content-length")).toBe(String(Buffer.byteLength(res.text)));
    await fx.sql.query("INSERT INTO now_items VALUES (2)");
    const handle = res.headers.get("electric-handle")!;
    const { waitFor } = await import("../support/wait.js");
    const change = await waitFor(async () => {
      const r = await rawGet(fx.shapeUrl, { table: "now_items", offset: "0_inf", handle });
      return changesOf(r).length > 0 ? r : undefined;
    });
    expect(change.headers.get("content-length")).toBe(String(Buffer.byteLength(change.text)));
    const later = await rawGet(fx.shapeUrl, { table: "now_items", offset: "now" });
    expect(later.headers.get("electric-handle")).toBe(handle);
    expect(later.headers.get("electric-offset")).toBe(change.headers.get("electric-offset"));
  });

  it("should keep rows from before out of a changes_only shape: -1 is only snapshot-end (#19)", async () => {
    const first = await rawGet(fx.shapeUrl, { table: "log_items", offset: "-1", log: "changes_only" });
    expect(first.status).toBe(200);
    expect(messagesOf(first).map((m) => m.headers.control)).toEqual(["snapshot-end"]);
    const handle = first.headers.get("electric-handle")!;
    const next = await rawGet(fx.shapeUrl, {
      table: "log_items",
      offset: "0_0",
      handle,
      log: "changes_only",
    });
    expect(messagesOf(next).map((m) => m.headers.control)).toEqual(["up-to-date"]);
    await fx.sql.query("INSERT INTO log_items VALUES (2, 'after')");
    await fx.sql.query("UPDATE log_items SET title = 'changed' WHERE id = 1");
    const { waitFor } = await import("../support/wait.js");
    const changes = await waitFor(async () => {
      const r = await rawGet(fx.shapeUrl, {
        table: "log_items",
        offset: "0_inf",
        handle,
        log: "changes_only",
      });
      const c = changesOf(r);
      return c.length >= 2 ? c : undefined;
    });
    expect(changes.map((c) => [c.headers.operation, c.value])).toEqual([
      ["insert", { id: "2", title: "after" }],
      ["update", { id: "1", title: "changed" }],
    ]);
    const full = await rawGet(fx.shapeUrl, { table: "log_items", offset: "-1" });
    expect(full.headers.get("electric-handle")).not.toBe(handle);
  });

  it("should answer 400 out of bounds for an offset beyond the shape's last after waiting (#31)", async () => {
    const first = await rawGet(fx.shapeUrl, { table: "bounds", offset: "-1" });
    const handle = first.headers.get("electric-handle")!;
    const started = Date.now();
    const res = await rawGet(fx.shapeUrl, { table: "bounds", offset: "999999999999999_0", handle });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      message: "Invalid request",
      errors: { offset: ["out of bounds for this shape"] },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  });
});

import { isChangeMessage, Shape } from "@electric-sql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.js";
import { type ShapeFixture, StreamRecorder, startFixture } from "./support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_client");
  await fx.sql.query(`
    CREATE TABLE todos (id int PRIMARY KEY, title text, done bool NOT NULL DEFAULT false);
    INSERT INTO todos VALUES (1, 'one', false), (2, 'two', true);
    CREATE TABLE events (id int PRIMARY KEY, kind text);
    INSERT INTO events VALUES (1, 'old'), (2, 'old');
    CREATE TABLE resume (id int PRIMARY KEY, v int);
    INSERT INTO resume VALUES (1, 0);
    CREATE TABLE hdrs (id int PRIMARY KEY, v int);
    INSERT INTO hdrs VALUES (1, 0);
  `);
});

afterAll(async () => {
  await fx?.close();
});

describe("ShapeStream against the shape server", () => {
  it("should see the snapshot, then inserts, updates and deletes in commit order across transactions", async () => {
    const rec = new StreamRecorder({ url: fx.shapeUrl, params: { table: "todos" } });
    const shape = new Shape(rec.stream);
    try {
      await rec.until((r) => r.upToDates >= 1, "initial sync");
      expect(rec.changes.map((c) => [c.headers.operation, c.value])).toEqual([
        ["insert", { id: 1, title: "one", done: false }],
        ["insert", { id: 2, title: "two", done: true }],
      ]);
      const client = await fx.sql.connect();
      try {
        await client.query("BEGIN");
        await client.query("INSERT INTO todos VALUES (3, 'three', false), (4, 'four', false)");
        await client.query("UPDATE todos SET done = true WHERE id = 1");
        await client.query("COMMIT");
        await client.query("DELETE FROM todos WHERE id = 2");
        await client.query("UPDATE todos SET title = 'FOUR' WHERE id = 4");
        await client.query("BEGIN");
        await client.query("DELETE FROM todos WHERE id = 3");
        await client.query("INSERT INTO todos VALUES (5, 'five', true)");
        await client.query("COMMIT");
      } finally {
        client.release();
      }
      const changes = await rec.untilChanges(2 + 7);
      expect(changes.slice(2).map((c) => [c.headers.operation, c.value])).toEqual([
        ["insert", { id: 3, title: "three", done: false }],
        ["insert", { id: 4, title: "four", done: false }],
        ["update", { id: 1, done: true }],
        ["delete", { id: 2 }],
        ["update", { id: 4, title: "FOUR" }],
        ["delete", { id: 3 }],
        ["insert", { id: 5, title: "five", done: true }],
      ]);
      const live = changes.slice(2);
      const lsns = live.map((c) => BigInt((c.headers as unknown as { lsn: string }).lsn));
      expect(lsns[0]).toBe(lsns[2]);
      expect(lsns[5]).toBe(lsns[6]);
      expect(new Set(lsns).size).toBe(4);
      expect([...lsns].sort((a, b) => (a < b ? -1 : 1))).toEqual(lsns);
      await waitFor(() => shape.currentRows.length === 3 && shape.currentRows, {
        what: "the materialised shape",
      });
      expect(shape.currentRows.map((r) => r.id).sort()).toEqual([1, 4, 5]);
      expect(shape.currentRows.find((r) => r.id === 1)).toEqual({ id: 1, title: "one", done: true });
      expect(rec.errors).toEqual([]);
    } finally {
      rec.stop();
    }
  });

  it("should give log=changes_only + offset=now nothing from before and everything after", async () => {
    const rec = new StreamRecorder({
      url: fx.shapeUrl,
      params: { table: "events" },
      log: "changes_only",
      offset: "now",
    });
    try {
      await rec.until((r) => r.upToDates >= 1, "up-to-date at now");
      expect(rec.changes).toEqual([]);
      await fx.sql.query("INSERT INTO events VALUES (3, 'new')");
      await fx.sql.query("UPDATE events SET kind = 'touched' WHERE id = 1");
      await fx.sql.query("DELETE FROM events WHERE id = 2");
      const changes = await rec.untilChanges(3);
      expect(changes.map((c) => [c.headers.operation, c.value])).toEqual([
        ["insert", { id: 3, kind: "new" }],
        ["update", { id: 1, kind: "touched" }],
        ["delete", { id: 2 }],
      ]);
      expect(rec.errors).toEqual([]);
    } finally {
      rec.stop();
    }
  });

  it("should resume from a saved handle and offset with exactly the missed changes (#24)", async () => {
    const first = new StreamRecorder({ url: fx.shapeUrl, params: { table: "resume" } });
    await first.until((r) => r.upToDates >= 1, "initial sync");
    await fx.sql.query("UPDATE resume SET v = 1 WHERE id = 1");
    await first.until((r) => r.upToDates >= 2 && r.changes.length === 2, "first live change");
    first.stop();
    const handle = first.stream.shapeHandle!;
    const offset = first.stream.lastOffset;
    expect(offset).toMatch(/^\d+_\d+$/);

    await fx.sql.query("INSERT INTO resume VALUES (2, 0), (3, 0)");
    await fx.sql.query("UPDATE resume SET v = 2 WHERE id = 1");
    await fx.sql.query("DELETE FROM resume WHERE id = 3");

    const second = new StreamRecorder({ url: fx.shapeUrl, params: { table: "resume" }, handle, offset });
    try {
      await second.untilChanges(4);
      await fx.sql.query("INSERT INTO resume VALUES (4, 0)");
      const changes = await second.untilChanges(5);
      expect(changes.map((c) => [c.headers.operation, c.value])).toEqual([
        ["insert", { id: 2, v: 0 }],
        ["insert", { id: 3, v: 0 }],
        ["update", { id: 1, v: 2 }],
        ["delete", { id: 3 }],
        ["insert", { id: 4, v: 0 }],
      ]);
      expect(second.stream.shapeHandle).toBe(handle);
      expect(second.mustRefetches).toBe(0);
      expect(second.errors).toEqual([]);
    } finally {
      second.stop();
    }
  });

  it("should send handle and offset on every 200, schema on non-live and cursor on live responses (#33)", async () => {
    const responses: Array<{ url: URL; status: number; headers: Headers }> = [];
    const fetchClient: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      responses.push({
        url: new URL(String(input instanceof Request ? input.url : input)),
        status: res.status,
        headers: res.headers,
      });
      return res;
    };
    const rec = new StreamRecorder({ url: fx.shapeUrl, params: { table: "hdrs" }, fetchClient });
    try {
      await rec.until((r) => r.upToDates >= 1, "initial sync");
      await fx.sql.query("UPDATE hdrs SET v = 1");
      await rec.untilChanges(2);
      await waitFor(() => responses.filter((r) => r.url.searchParams.get("live") === "true").length >= 1, {
        what: "a live response",
      });
      await rec.stream.forceDisconnectAndRefresh();
      await fx.sql.query("UPDATE hdrs SET v = 2");
      await rec.untilChanges(3);
      const ok = responses.filter((r) => r.status === 200);
      expect(ok.length).toBeGreaterThanOrEqual(4);
      for (const r of ok) {
        expect(r.headers.has("electric-handle")).toBe(true);
        expect(r.headers.has("electric-offset")).toBe(true);
        const live = r.url.searchParams.get("live") === "true";
        if (live) expect(r.headers.has("electric-cursor"), r.url.search).toBe(true);
        else expect(r.headers.has("electric-schema"), r.url.search).toBe(true);
      }
      expect(ok.some((r) => r.url.searchParams.get("live") === "true")).toBe(true);
      expect(
        ok.some((r) => r.url.searchParams.has("cursor") && r.url.searchParams.get("live") !== "true"),
      ).toBe(true);
      expect(rec.errors).toEqual([]);
      expect(rec.messages.filter(isChangeMessage)).toHaveLength(3);
    } finally {
      rec.stop();
    }
  });
});

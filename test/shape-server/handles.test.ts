import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startShapeServer } from "../../tools/shape-server/server.js";
import { waitFor } from "../support/wait.js";
import {
  changesOf,
  messagesOf,
  rawGet,
  type ShapeFixture,
  StreamRecorder,
  startFixture,
  syncToUpToDate,
} from "./support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_handles");
  await fx.sql.query(`
    CREATE TABLE ident (id int PRIMARY KEY, a text, b text);
    INSERT INTO ident VALUES (1, 'x', 'y');
    CREATE TABLE stale (id int PRIMARY KEY);
    CREATE TABLE deleted (id int PRIMARY KEY);
    CREATE TABLE held_rot (id int PRIMARY KEY);
    CREATE TABLE held_del (id int PRIMARY KEY);
    CREATE TABLE truncated (id int PRIMARY KEY);
    INSERT INTO truncated VALUES (1);
    CREATE TABLE altered (id int PRIMARY KEY, title text);
    CREATE TABLE divzero (id int PRIMARY KEY, n int);
    INSERT INTO divzero VALUES (1, 1);
    CREATE TABLE client_rot (id int PRIMARY KEY, title text);
    INSERT INTO client_rot VALUES (1, 'a');
  `);
});

afterAll(async () => {
  await fx?.close();
});

async function handleOf(params: Record<string, string>): Promise<string> {
  const res = await rawGet(fx.shapeUrl, { ...params, offset: "-1" });
  expect(res.status).toBe(200);
  return res.headers.get("electric-handle")!;
}

describe("handles", () => {
  it("should key shapes by table, where, params, columns, replica and log (#20)", async () => {
    const base = { table: "ident" };
    const variants: Array<Record<string, string>> = [
      base,
      { ...base, where: "id > 0" },
      { ...base, where: "id > $1", "params[1]": "0" },
      { ...base, where: "id > $1", "params[1]": "1" },
      { ...base, columns: "id,a" },
      { ...base, replica: "full" },
      { ...base, log: "changes_only" },
    ];
    const handles = [];
    for (const v of variants) handles.push(await handleOf(v));
    expect(new Set(handles).size).toBe(variants.length);
    // the same definition gives the same handle, however it is spelled
    expect(await handleOf(base)).toBe(handles[0]);
    expect(await handleOf({ ...base, replica: "default", log: "full" })).toBe(handles[0]);
    expect(await handleOf({ ...base, columns: '"id","a"' })).toBe(handles[4]);
    // another definition's handle answers 409 with this definition's handle
    const res = await rawGet(fx.shapeUrl, { ...base, where: "id > 0", offset: "0_inf", handle: handles[0] });
    expect(res.status).toBe(409);
    expect(res.headers.get("electric-handle")).toBe(handles[1]);
  });

  it("should answer an unknown handle with 409 must-refetch and the current handle (#21)", async () => {
    const handle = await handleOf({ table: "stale" });
    const res = await rawGet(fx.shapeUrl, { table: "stale", offset: "0_inf", handle: "123-456" });
    expect(res.status).toBe(409);
    expect(res.body).toEqual([{ headers: { control: "must-refetch" } }]);
    expect(res.headers.get("electric-handle")).toBe(handle);
    expect(res.headers.get("cache-control")).toBe("public, max-age=60, must-revalidate");
    expect(res.headers.has("electric-cursor")).toBe(false);
  });

  it("should delete a shape with DELETE (202), then answer its handle with 409 and a new handle (#22)", async () => {
    const handle = await handleOf({ table: "deleted" });
    const del = await fetch(`${fx.shapeUrl}?table=deleted&handle=${handle}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    expect(await del.text()).toBe("");
    const res = await rawGet(fx.shapeUrl, { table: "deleted", offset: "0_inf", handle });
    expect(res.status).toBe(409);
    const next = res.headers.get("electric-handle")!;
    expect(next).not.toBe(handle);
    expect(await handleOf({ table: "deleted" })).toBe(next);
    const again = await fetch(`${fx.shapeUrl}?handle=${handle}`, { method: "DELETE" });
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ message: "No existing shape found" });
  });

  it("should refuse DELETE with 405 when test controls are off (#22)", async () => {
    const other = await startShapeServer({
      databaseUrl: fx.db.url,
      port: 0,
      storageSchema: "electric_shapes_nocontrols",
      publicationName: "electric_shapes_nocontrols",
      slotName: `nocontrols_${fx.db.name}`.slice(0, 63),
    });
    try {
      const res = await fetch(`${other.url}/v1/shape?table=deleted`, { method: "DELETE" });
      expect(res.status).toBe(405);
      expect(await res.json()).toEqual({ message: "DELETE not allowed" });
      expect((await fetch(`${other.url}/v1/test/rotate?table=deleted`, { method: "POST" })).status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it("should answer a held live request with 409 when its shape is rotated or deleted (#23)", async () => {
    for (const [table, act] of [
      ["held_rot", (h: string) => fetch(`${fx.server.url}/v1/test/rotate?handle=${h}`, { method: "POST" })],
      ["held_del", (h: string) => fetch(`${fx.shapeUrl}?handle=${h}`, { method: "DELETE" })],
    ] as const) {
      const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table });
      const pending = rawGet(fx.shapeUrl, { table, offset, handle, live: "true" });
      await waitFor(
        () => fx.server.shapes().some((s) => s.handle === handle) && fx.server.stats().waiters > 0,
        {
          what: "held request",
        },
      );
      const control = await act(handle);
      expect(control.ok).toBe(true);
      const res = await pending;
      expect(res.status, table).toBe(409);
      const next = res.headers.get("electric-handle");
      expect(next).toBeTruthy();
      expect(next).not.toBe(handle);
    }
  });

  it("should invalidate a table's shapes on TRUNCATE (#30)", async () => {
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table: "truncated" });
    await fx.sql.query("TRUNCATE truncated");
    const res = await waitFor(async () => {
      const r = await rawGet(fx.shapeUrl, { table: "truncated", offset, handle });
      return r.status === 409 ? r : undefined;
    });
    expect(messagesOf(res)).toEqual([{ headers: { control: "must-refetch" } }]);
    const fresh = await syncToUpToDate(fx.shapeUrl, { table: "truncated" });
    expect(fresh.handle).not.toBe(handle);
    expect(fresh.changes).toEqual([]);
  });

  it("should invalidate a table's shapes when its columns change", async () => {
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table: "altered" });
    await fx.sql.query("ALTER TABLE altered ADD COLUMN extra int");
    await fx.sql.query("INSERT INTO altered VALUES (1, 'a', 2)");
    const res = await waitFor(async () => {
      const r = await rawGet(fx.shapeUrl, { table: "altered", offset, handle });
      return r.status === 409 ? r : undefined;
    });
    const fresh = await syncToUpToDate(fx.shapeUrl, { table: "altered" });
    expect(fresh.handle).toBe(res.headers.get("electric-handle"));
    expect(fresh.changes.map((c) => c.value)).toEqual([{ id: "1", title: "a", extra: "2" }]);
  });

  it("should invalidate a shape whose where clause fails on a replicated row", async () => {
    const params = { table: "divzero", where: "10 / n > 1" };
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, params);
    await fx.sql.query("INSERT INTO divzero VALUES (2, 0)");
    const res = await waitFor(async () => {
      const r = await rawGet(fx.shapeUrl, { ...params, offset, handle });
      return r.status === 409 ? r : undefined;
    });
    expect(res.headers.get("electric-handle")).not.toBe(handle);
    // the new shape's snapshot fails the same way: Electric's 503 for a snapshot error
    const again = await rawGet(fx.shapeUrl, { ...params, offset: "-1" });
    expect(again.status).toBe(503);
    expect(again.headers.get("retry-after")).toMatch(/^\d+$/);
  });

  it("should make a ShapeStream receive must-refetch after a rotation and restart from -1 (#21)", async () => {
    const rec = new StreamRecorder({ url: fx.shapeUrl, params: { table: "client_rot" } });
    try {
      await rec.until((r) => r.upToDates >= 1 && r.stream.isUpToDate, "initial sync");
      const first = rec.stream.shapeHandle!;
      const rotated = await fx.server.rotate({ handle: first });
      expect(rotated).toEqual([{ from: first, to: expect.any(String) }]);
      await rec.until((r) => r.mustRefetches >= 1, "must-refetch");
      await fx.sql.query("INSERT INTO client_rot VALUES (2, 'b')");
      await rec.until((r) => r.changes.some((c) => c.value.id === 2), "the change after the rotation");
      expect(rec.stream.shapeHandle).toBe(rotated[0]!.to);
      // after must-refetch the stream restarts at -1: row 1 arrives again from the new snapshot
      const afterRefetch = rec.messages.slice(
        rec.messages.findIndex((m) => "control" in m.headers && m.headers.control === "must-refetch"),
      );
      expect(
        afterRefetch
          .filter((m) => "key" in m)
          .map((m) => (m as unknown as { value: { id: number } }).value.id),
      ).toEqual(expect.arrayContaining([1, 2]));
      expect(rec.errors).toEqual([]);
      // the old handle is never handed out again
      const fresh = await rawGet(fx.shapeUrl, { table: "client_rot", offset: "-1" });
      expect(fresh.headers.get("electric-handle")).toBe(rotated[0]!.to);
      expect(changesOf(fresh).map((c) => c.value!.id)).toEqual(["1"]);
      expect(fx.server.shapes().map((s) => s.handle)).not.toContain(first);
    } finally {
      rec.stop();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.js";
import {
  changesOf,
  messagesOf,
  rawGet,
  type ShapeFixture,
  StreamRecorder,
  startFixture,
  syncToUpToDate,
  TEST_LONG_POLL_MS,
} from "./support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_live", { sseKeepaliveMs: 200, sseTimeoutMs: 3_000 });
  await fx.sql.query(`
    CREATE TABLE idle (id int PRIMARY KEY);
    CREATE TABLE held (id int PRIMARY KEY, title text);
    CREATE TABLE multi (id int PRIMARY KEY, title text);
    CREATE TABLE multirow (id int PRIMARY KEY);
    CREATE TABLE sse_raw (id int PRIMARY KEY, title text);
    CREATE TABLE sse_client (id int PRIMARY KEY, title text);
  `);
});

afterAll(async () => {
  await fx?.close();
});

function offsetParts(offset: string): [bigint, number] {
  const [tx, op] = offset.split("_");
  return [BigInt(tx!), Number(op)];
}

describe("live mode", () => {
  it("should hold a live request at the head and time out with [up-to-date], same offset, has-data false (#7)", async () => {
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table: "idle" });
    const started = Date.now();
    const res = await rawGet(fx.shapeUrl, { table: "idle", offset, handle, live: "true", cursor: "" });
    const held = Date.now() - started;
    expect(res.status).toBe(200);
    expect(held).toBeGreaterThanOrEqual(TEST_LONG_POLL_MS - 100);
    expect(res.headers.get("electric-offset")).toBe(offset);
    expect(res.headers.get("electric-has-data")).toBe("false");
    expect(res.headers.get("electric-cursor")).toMatch(/^\d+$/);
    expect(res.headers.get("electric-up-to-date")).toBe("");
    expect(res.headers.get("electric-handle")).toBe(handle);
    expect(res.headers.has("electric-schema")).toBe(false);
    expect(messagesOf(res).map((m) => m.headers.control)).toEqual(["up-to-date"]);
  });

  it("should answer a held live request promptly when a change commits (#8)", async () => {
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table: "held" });
    const pending = rawGet(fx.shapeUrl, { table: "held", offset, handle, live: "true" });
    await waitFor(() => fx.server.stats().waiters > 0, { what: "the live request to be held" });
    const committed = Date.now();
    await fx.sql.query("INSERT INTO held VALUES (1, 'new')");
    const res = await pending;
    expect(Date.now() - committed).toBeLessThan(TEST_LONG_POLL_MS);
    expect(res.status).toBe(200);
    expect(res.headers.get("electric-cursor")).toMatch(/^\d+$/);
    expect(res.headers.get("electric-has-data")).toBe("true");
    expect(res.headers.get("electric-up-to-date")).toBe("");
    const messages = messagesOf(res);
    expect(messages.map((m) => m.headers.operation ?? m.headers.control)).toEqual(["insert", "up-to-date"]);
    const change = messages[0]!;
    expect(res.headers.get("electric-offset")).toBe(`${change.headers.lsn}_0`);
    expect(messages[1]!.headers.global_last_seen_lsn).toBe(change.headers.lsn);
  });

  it("should use <commit LSN>_<op> offsets stepping by 2 and strictly increasing across responses (#9)", async () => {
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table: "multi" });
    const lsnRow = await fx.sql.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
    const before = BigInt(`0x${lsnRow.rows[0]!.lsn.replace("/", "").padStart(16, "0")}`);
    const client = await fx.sql.connect();
    try {
      await client.query("BEGIN");
      await client.query("INSERT INTO multi VALUES (1, 'a'), (2, 'b')");
      await client.query("UPDATE multi SET title = 'c' WHERE id = 1");
      await client.query("DELETE FROM multi WHERE id = 2");
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    await fx.sql.query("INSERT INTO multi VALUES (3, 'd')");
    const seen: Array<{ offset: string; changes: ReturnType<typeof changesOf> }> = [];
    let current = offset;
    await waitFor(
      async () => {
        const res = await rawGet(fx.shapeUrl, { table: "multi", offset: current, handle, live: "true" });
        const changes = changesOf(res);
        if (changes.length > 0) seen.push({ offset: res.headers.get("electric-offset")!, changes });
        current = res.headers.get("electric-offset")!;
        return seen.flatMap((s) => s.changes).length >= 5;
      },
      { what: "five changes" },
    );
    const all = seen.flatMap((s) => s.changes);
    const tx1 = all.slice(0, 4);
    expect(tx1.map((c) => c.headers.operation)).toEqual(["insert", "insert", "update", "delete"]);
    expect(new Set(tx1.map((c) => c.headers.lsn)).size).toBe(1);
    expect(tx1.map((c) => c.headers.op_position)).toEqual([0, 2, 4, 6]);
    expect(tx1.map((c) => c.headers.last ?? false)).toEqual([false, false, false, true]);
    const lsn1 = BigInt(tx1[0]!.headers.lsn as string);
    expect(lsn1).toBeGreaterThan(before);
    const tx2 = all[4]!;
    expect(BigInt(tx2.headers.lsn as string)).toBeGreaterThan(lsn1);
    const responseOffsets = seen.map((s) => offsetParts(s.offset));
    for (let i = 1; i < responseOffsets.length; i++) {
      const [a, b] = [responseOffsets[i - 1]!, responseOffsets[i]!];
      expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])).toBe(true);
    }
    // each response ends at its last change's offset
    for (const response of seen) {
      const last = response.changes[response.changes.length - 1]!;
      expect(response.offset).toBe(`${last.headers.lsn}_${last.headers.op_position}`);
    }
  });

  it("should deliver a multi-row transaction whole in one response, in commit order, with one lsn (#26)", async () => {
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table: "multirow" });
    const pending = rawGet(fx.shapeUrl, { table: "multirow", offset, handle, live: "true" });
    await waitFor(() => fx.server.stats().waiters > 0, { what: "the live request to be held" });
    const client = await fx.sql.connect();
    try {
      await client.query("BEGIN");
      for (let i = 5; i >= 1; i--) await client.query("INSERT INTO multirow VALUES ($1)", [i]);
      await client.query("UPDATE multirow SET id = 10 WHERE id = 5");
      await client.query("DELETE FROM multirow WHERE id = 4");
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    const res = await pending;
    const changes = changesOf(res);
    expect(changes.map((c) => [c.headers.operation, c.value!.id])).toEqual([
      ["insert", "5"],
      ["insert", "4"],
      ["insert", "3"],
      ["insert", "2"],
      ["insert", "1"],
      ["delete", "5"],
      ["insert", "10"],
      ["delete", "4"],
    ]);
    expect(new Set(changes.map((c) => c.headers.lsn)).size).toBe(1);
    expect(changes.map((c) => c.headers.op_position)).toEqual([0, 2, 4, 6, 8, 10, 11, 12]);
    expect(res.headers.get("electric-offset")).toBe(`${changes[0]!.headers.lsn}_12`);
    expect(messagesOf(res).at(-1)!.headers.control).toBe("up-to-date");
  });

  it("should stream SSE events, closing each batch with up-to-date, with keep-alive comments (#28)", async () => {
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table: "sse_raw" });
    const url = new URL(fx.shapeUrl);
    for (const [k, v] of Object.entries({
      table: "sse_raw",
      offset,
      handle,
      live: "true",
      live_sse: "true",
    })) {
      url.searchParams.set(k, v);
    }
    const aborter = new AbortController();
    const res = await fetch(url, { signal: aborter.signal, headers: { accept: "text/event-stream" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("electric-handle")).toBe(handle);
    expect(res.headers.get("electric-offset")).toBe(offset);
    expect(res.headers.get("electric-cursor")).toMatch(/^\d+$/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const readUntil = async (check: () => boolean) => {
      while (!check()) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended: ${text}`);
        text += value;
      }
    };
    await readUntil(() => text.includes(": keep-alive\n\n"));
    await fx.sql.query("INSERT INTO sse_raw VALUES (1, 'x'), (2, 'y')");
    await readUntil(() => text.includes('"up-to-date"'));
    await fx.sql.query("INSERT INTO sse_raw VALUES (3, 'z')");
    await readUntil(() => text.split('"up-to-date"').length - 1 >= 2);
    aborter.abort();
    const events = text
      .split("\n\n")
      .filter((e) => e.startsWith("data: "))
      .map((e) => JSON.parse(e.slice("data: ".length)));
    expect(events.map((e) => e.headers.operation ?? e.headers.control)).toEqual([
      "insert",
      "insert",
      "up-to-date",
      "insert",
      "up-to-date",
    ]);
    expect(events[2].headers.global_last_seen_lsn).toBe(events[0].headers.lsn);
    expect(events[4].headers.global_last_seen_lsn).toBe(events[3].headers.lsn);
  });

  it("should serve a ShapeStream in SSE mode, resuming after reconnects without duplicates", async () => {
    await fx.sql.query("INSERT INTO sse_client VALUES (1, 'a')");
    const sseRequests: string[] = [];
    const fetchClient: typeof fetch = (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.includes("live_sse=true")) sseRequests.push(new URL(url).searchParams.get("offset")!);
      return fetch(input, init);
    };
    const rec = new StreamRecorder({
      url: fx.shapeUrl,
      params: { table: "sse_client" },
      liveSse: true,
      fetchClient,
    });
    try {
      await rec.until((r) => r.upToDates >= 1, "initial sync");
      await waitFor(() => sseRequests.length > 0, { what: "an SSE request" });
      await fx.sql.query(
        "BEGIN; INSERT INTO sse_client VALUES (2, 'b'); UPDATE sse_client SET title = 'c' WHERE id = 1; COMMIT;",
      );
      await fx.sql.query("INSERT INTO sse_client VALUES (3, 'd')");
      await rec.untilChanges(4);
      // the SSE connection closes after its timeout; the client reconnects from `<lsn>_0`
      const before = sseRequests.length;
      await waitFor(() => sseRequests.length > before, { what: "an SSE reconnect", timeoutMs: 15_000 });
      await fx.sql.query("DELETE FROM sse_client WHERE id = 2");
      const changes = await rec.untilChanges(5);
      expect(changes.map((c) => [c.headers.operation, c.value.id])).toEqual([
        ["insert", 1],
        ["insert", 2],
        ["update", 1],
        ["insert", 3],
        ["delete", 2],
      ]);
      expect(sseRequests.at(-1)).toMatch(/^\d+_0$/);
      expect(rec.errors).toEqual([]);
    } finally {
      rec.stop();
    }
  });
});

import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKENS } from "../../../scripts/lib/processes.js";
import { type Stack, startStack } from "../../../test/support/stack-fixture.js";
import { SOURCE_REF_VECTORS } from "../../../test/support/vectors.js";
import { waitFor } from "../../../test/support/wait.js";
import { createPgSyncClient, Operation, pgSync, type WakeEvent } from "../src/index.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.sql.query("CREATE TABLE items (id int PRIMARY KEY, title text)");
});

afterAll(async () => {
  await stack?.close();
});

describe("@pg-sync/runtime", () => {
  it.each(SOURCE_REF_VECTORS.vectors.map((v) => [v.name, v] as const))(
    "should compute vector refs offline: %s",
    (_n, v) => {
      expect(pgSync(v.options).sourceRef).toBe(v.source_ref);
    },
  );

  it("should register, watch and receive insert/update/delete wakes", async () => {
    const client = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const source = pgSync({ table: "items" });
    const registered = await client.registerSource(source);
    expect(registered.sourceRef).toBe(source.sourceRef);
    const aborter = new AbortController();
    const events: WakeEvent[] = [];
    const loop = (async () => {
      for await (const e of client.watchWakes({ sourceRefs: [registered.sourceRef], signal: aborter.signal }))
        events.push(e);
    })();
    await waitFor(() => events.some((e) => e.type === "ready"), { what: "ready" });
    await stack.sql.query("INSERT INTO items VALUES (1, 'a')");
    await stack.sql.query("UPDATE items SET title = 'b' WHERE id = 1");
    await stack.sql.query("DELETE FROM items WHERE id = 1");
    const wakes = await waitFor(
      () => {
        const w = events.flatMap((e) => (e.type === "wake" ? [e.wake] : []));
        return w.length >= 3 ? w : undefined;
      },
      { what: "3 wakes" },
    );
    expect(wakes.map((w) => w.changes[0]?.operation)).toEqual([
      Operation.INSERT,
      Operation.UPDATE,
      Operation.DELETE,
    ]);
    aborter.abort();
    await loop;
  });

  it("should resume across a pg-sync restart with no duplicate and no loss", async () => {
    const client = () => createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const { sourceRef } = await client().registerSource({ table: "items", where: "id >= 100" });
    const aborter = new AbortController();
    const ids: string[] = [];
    const values: unknown[] = [];
    let reconnects = 0;
    const loop = (async () => {
      for await (const e of client().watchWakes({
        sourceRefs: [sourceRef],
        signal: aborter.signal,
        reconnectInitialDelayMs: 50,
        onReconnect: () => {
          reconnects++;
        },
      })) {
        if (e.type === "wake") {
          ids.push(e.wake.wakeId);
          values.push(e.wake.changes[0]?.value?.id);
        }
      }
    })();
    await waitFor(async () => (await client().getCursor(sourceRef)).headSeq >= 0n);
    for (let i = 100; i < 105; i++) await stack.sql.query("INSERT INTO items VALUES ($1, 'x')", [i]);
    await waitFor(() => (ids.length >= 5 ? true : undefined), { what: "5 wakes" });
    await stack.restart();
    for (let i = 105; i < 110; i++) await stack.sql.query("INSERT INTO items VALUES ($1, 'y')", [i]);
    await waitFor(() => (ids.length >= 10 ? true : undefined), { what: "10 wakes", timeoutMs: 20_000 });
    expect(reconnects).toBeGreaterThan(0);
    expect(new Set(ids).size).toBe(ids.length);
    expect(values).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    aborter.abort();
    await loop;
  });

  it("should start from a snapshot of the current rows, marked as snapshot changes", async () => {
    await stack.sql.query("CREATE TABLE snapped (id int PRIMARY KEY, title text)");
    await stack.sql.query("INSERT INTO snapped VALUES (1, 'a'), (2, 'b')");
    const client = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const { sourceRef } = await client.registerSource(pgSync({ table: "snapped" }));
    const aborter = new AbortController();
    const events: WakeEvent[] = [];
    const loop = (async () => {
      for await (const e of client.watchWakes({
        sourceRefs: [sourceRef],
        start: "snapshot",
        signal: aborter.signal,
      }))
        events.push(e);
    })();
    await waitFor(() => events.some((e) => e.type === "ready"), { what: "ready" });
    await stack.sql.query("INSERT INTO snapped VALUES (3, 'c')");
    const changes = await waitFor(
      () => {
        const c = events.flatMap((e) => (e.type === "wake" ? e.wake.changes : []));
        return c.length >= 3 ? c : undefined;
      },
      { what: "2 snapshot rows and 1 insert" },
    );
    expect(changes.map((c) => [c.value?.id, c.snapshot])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    aborter.abort();
    await loop;
  });

  it("should cancel the call when the consumer breaks out of the loop", async () => {
    await stack.sql.query("CREATE TABLE broken_off (id int PRIMARY KEY)");
    const client = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const { sourceRef } = await client.registerSource(pgSync({ table: "broken_off" }));
    const openStreams = async () => {
      const text = await (await fetch(new URL("/metrics", stack.url))).text();
      return Number(/^pgsync_watch_streams (\d+)/m.exec(text)?.[1]);
    };
    const before = await openStreams();
    // No signal: leaving the loop is the only way the consumer says it is done.
    for await (const e of client.watchWakes({ sourceRefs: [sourceRef] })) {
      if (e.type === "ready") break;
    }
    await waitFor(async () => (await openStreams()) === before || undefined, {
      what: "the server to see the stream end",
    });
  });

  it("should surface a foreign ref as a ConnectError with Code.NotFound", async () => {
    const a = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const b = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.b });
    const { sourceRef } = await a.registerSource({ table: "items", where: "id >= 1000" });
    const err = await b.getSource(sourceRef).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    const watchErr = await (async () => {
      for await (const _ of b.watchWakes({ sourceRefs: [sourceRef] })) {
        /* never reached */
      }
    })().catch((e: unknown) => e);
    expect((watchErr as ConnectError).code).toBe(Code.NotFound);
  });

  it("should list every source across pages", async () => {
    const c = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.b });
    for (let i = 0; i < 3; i++) await c.registerSource({ table: "items", where: `id = ${2000 + i}` });
    const all: string[] = [];
    for await (const s of c.allSources()) all.push(s.sourceRef);
    expect(all.length).toBeGreaterThanOrEqual(3);
  });
});

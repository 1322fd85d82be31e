/**
 * Issue 12, finding 3: notifications are hints. Any role on the state database can NOTIFY pg-sync's
 * channels; a forged or malformed payload must change nothing: the process stays up, no stream
 * ends or is told a state the database does not hold, and wakes keep flowing.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WatchWakesRequestSchema, WatchWakesResponse } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { type PgSyncClient, type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

const TENANT = "tenant-a";
const CHANGES = "pgsync_changes";
const SOURCES = "pgsync_sources";

let stack: Stack;
let nextId = 1;
let nextWhere = 0;

/** A WatchWakes stream read by a background loop into an array. */
function watch(client: PgSyncClient, req: MessageInitShape<typeof WatchWakesRequestSchema>) {
  const aborter = new AbortController();
  const frames: WatchWakesResponse[] = [];
  let error: ConnectError | undefined;
  let ended = false;
  const done = (async () => {
    try {
      for await (const frame of client.watchWakes(req, { signal: aborter.signal })) frames.push(frame);
    } catch (err) {
      if (!aborter.signal.aborted) error = ConnectError.from(err);
    } finally {
      ended = true;
    }
  })();
  const kinds = () => frames.map((f) => f.event.case);
  return {
    frames,
    kinds,
    get error() {
      return error;
    },
    get ended() {
      return ended;
    },
    async ready() {
      await waitFor(() => (kinds().includes("ready") ? true : error ? Promise.reject(error) : undefined), {
        what: "Ready",
      });
    },
    async close() {
      aborter.abort();
      await done;
    },
  };
}

/** A source of its own (a distinct where clause gives a distinct ref). */
async function newSource(): Promise<string> {
  const { sourceRef } = await stack.a.registerSource({
    options: { table: "items", where: `id > ${-1 - nextWhere++}` },
  });
  return sourceRef;
}

async function notify(channel: string, payload: string): Promise<void> {
  await stack.sql.query("SELECT pg_notify($1, $2)", [channel, payload]);
}

/**
 * Inserts a row and waits for its wake on `w`. The row's notification is sent after every earlier
 * NOTIFY, so once its wake arrives the forged payloads before it have been handled.
 */
async function expectWakesStillFlow(w: ReturnType<typeof watch>): Promise<void> {
  const before = w.kinds().filter((k) => k === "wake").length;
  await stack.sql.query("INSERT INTO items (id) VALUES ($1)", [nextId++]);
  await waitFor(
    () =>
      w.kinds().filter((k) => k === "wake").length > before
        ? true
        : w.ended
          ? Promise.reject(w.error ?? new Error("stream ended"))
          : undefined,
    { what: "a wake after the forged notifications" },
  );
}

beforeAll(async () => {
  stack = await startStack();
  await stack.sql.query("CREATE TABLE items (id int PRIMARY KEY)");
});

afterAll(async () => {
  await stack?.close();
});

describe("NOTIFY payloads", () => {
  it("should ignore malformed pgsync_changes payloads and stay up", async () => {
    const ref = await newSource();
    const w = watch(stack.a, { sourceRefs: [ref] });
    await w.ready();
    const payloads = [
      `{"t":"${TENANT}","r":"${ref}","h":"zz"}`,
      `{"t":"${TENANT}","r":"${ref}","h":"1e5"}`,
      `{"t":"${TENANT}","r":"${ref}","h":1.5}`,
      `{"t":"${TENANT}","r":"${ref}","h":-3}`,
      `{"t":"${TENANT}","r":"${ref}","h":{"x":1}}`,
      `{"t":"${TENANT}","r":"${ref}","h":[1]}`,
      `{"t":"${TENANT}","r":"${ref}","h":true}`,
      `{"t":"${TENANT}","r":"${ref}"}`,
      `{"t":1,"r":"${ref}","h":1}`,
      `{"t":"${TENANT}","r":"not-a-ref","h":1}`,
      "not json",
      "null",
      "[]",
      "42",
      "",
    ];
    for (const payload of payloads) await notify(CHANGES, payload);
    await expectWakesStillFlow(w);
    expect(w.error).toBeUndefined();
    expect(w.ended).toBe(false);
    expect(w.kinds().filter((k) => k !== "ready" && k !== "wake" && k !== "heartbeat")).toEqual([]);
    await w.close();
  });

  it("should ignore malformed pgsync_sources payloads and stay up", async () => {
    const ref = await newSource();
    const w = watch(stack.a, { sourceRefs: [ref] });
    await w.ready();
    const payloads = [
      `{"t":"${TENANT}","r":"${ref}","s":"BOGUS","d":"yes"}`,
      `{"t":"${TENANT}","r":"${ref}","s":5}`,
      `{"t":"${TENANT}","r":"${ref}","d":1}`,
      `{"t":"${TENANT}","r":["${ref}"],"s":"STOPPED","d":true}`,
      "not json",
      "null",
      "[]",
      "",
    ];
    for (const payload of payloads) await notify(SOURCES, payload);
    await expectWakesStillFlow(w);
    expect(w.error).toBeUndefined();
    expect(w.ended).toBe(false);
    expect(w.kinds()).not.toContain("status");
    await w.close();
  });

  it("should not end a stream for a forged deletion or report a forged state", async () => {
    const ref = await newSource();
    const w = watch(stack.a, { sourceRefs: [ref] });
    await w.ready();
    const forged = [
      `{"t":"${TENANT}","r":"${ref}","s":"STOPPED","d":true}`,
      `{"t":"${TENANT}","r":"${ref}","s":"FAILED"}`,
      `{"t":"${TENANT}","r":"${ref}","s":"FAILED","d":false}`,
    ];
    for (const payload of forged) await notify(SOURCES, payload);
    await expectWakesStillFlow(w);
    expect(w.error).toBeUndefined();
    expect(w.ended).toBe(false);
    expect(w.kinds()).not.toContain("status");
    const { source } = await stack.a.getSource({ sourceRef: ref });
    expect(source?.state).toBe(SourceState.LIVE);
    await w.close();
  });

  it("should still end a stream when the source is really deleted", async () => {
    const ref = await newSource();
    const w = watch(stack.a, { sourceRefs: [ref] });
    await w.ready();
    await stack.a.deleteSource({ sourceRef: ref });
    await waitFor(() => (w.ended ? true : undefined), { what: "the stream to end" });
    const status = w.frames.at(-1)?.event;
    expect(status?.case).toBe("status");
    expect(status?.case === "status" && status.value.deleted).toBe(true);
    expect(w.error).toBeUndefined();
  });
});

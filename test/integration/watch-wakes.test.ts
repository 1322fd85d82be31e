import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WatchWakesRequestSchema, WatchWakesResponse } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { GapReason, Operation, StartPosition } from "../../gen/pgsync/v1/wake_pb.js";
import { TOKENS } from "../../scripts/lib/processes.js";
import { sampleValue, scrape } from "../support/prometheus.js";
import { connectClient, type PgSyncClient, type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;
let nextId = 1;

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
  const of = <K extends NonNullable<WatchWakesResponse["event"]["case"]>>(kind: K) =>
    frames.flatMap((f) =>
      f.event.case === kind
        ? [f.event.value as Extract<WatchWakesResponse["event"], { case: K }>["value"]]
        : [],
    );
  return {
    frames,
    of,
    wakes: () => of("wake"),
    get error() {
      return error;
    },
    get ended() {
      return ended;
    },
    async ready() {
      await waitFor(() => (of("ready").length > 0 ? true : error ? Promise.reject(error) : undefined), {
        what: "Ready",
      });
    },
    async close() {
      aborter.abort();
      await done;
    },
  };
}

async function newSource(where = ""): Promise<string> {
  const table = "tasks";
  const { sourceRef } = await stack.a.registerSource({ options: where ? { table, where } : { table } });
  return sourceRef;
}

async function insert(n = 1, title = "t"): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = nextId++;
    ids.push(id);
    await stack.sql.query("INSERT INTO tasks (id, title) VALUES ($1, $2)", [id, title]);
  }
  return ids;
}

beforeAll(async () => {
  stack = await startStack({
    env: { PGSYNC_WATCH_BUFFER_FRAMES: "50", PGSYNC_WATCH_STALL_TIMEOUT_MS: "500" },
  });
  await stack.sql.query("CREATE TABLE tasks (id int PRIMARY KEY, title text, n int DEFAULT 0)");
});

afterAll(async () => {
  await stack?.close();
});

describe("WatchWakes", () => {
  it("should deliver insert, update and delete as wakes in commit order with values", async () => {
    const ref = await newSource();
    const w = watch(stack.a, { sourceRefs: [ref] });
    await w.ready();
    const [id] = await insert(1, "hello");
    await stack.sql.query("UPDATE tasks SET title = 'bye' WHERE id = $1", [id]);
    await stack.sql.query("DELETE FROM tasks WHERE id = $1", [id]);
    const wakes = await waitFor(() => (w.wakes().length >= 3 ? w.wakes() : undefined), { what: "3 wakes" });
    expect(wakes.map((x) => x.changes[0]?.operation)).toEqual([
      Operation.INSERT,
      Operation.UPDATE,
      Operation.DELETE,
    ]);
    expect(wakes[0]?.changes[0]?.value).toMatchObject({ id, title: "hello" });
    expect(wakes[1]?.changes[0]?.value).toMatchObject({ title: "bye" });
    expect(wakes.every((x) => x.changes.length === 1 && x.sourceRef === ref)).toBe(true);
    expect(wakes.map((x) => x.wakeId)).toEqual(
      wakes.map((x) => expect.stringMatching(new RegExp(`^${ref}-\\d+-${x.firstSeq}-${x.lastSeq}$`))),
    );
    await w.close();
  });

  it("should filter by ops", async () => {
    const ref = await newSource("id > 0");
    const w = watch(stack.a, { sourceRefs: [ref], ops: [Operation.DELETE] });
    await w.ready();
    const [id] = await insert(1);
    await stack.sql.query("UPDATE tasks SET n = 1 WHERE id = $1", [id]);
    await stack.sql.query("DELETE FROM tasks WHERE id = $1", [id]);
    const wakes = await waitFor(() => (w.wakes().length >= 1 ? w.wakes() : undefined), {
      what: "delete wake",
    });
    expect(wakes.flatMap((x) => x.changes.map((c) => c.operation))).toEqual([Operation.DELETE]);
    await w.close();
  });

  it("should coalesce a burst into one wake with a 200 ms debounce", async () => {
    const ref = await newSource("id > 1");
    const w = watch(stack.a, { sourceRefs: [ref], debounceMs: 200 });
    await w.ready();
    await stack.sql.query(
      `INSERT INTO tasks (id, title) SELECT g, 'burst' FROM generate_series(${nextId}, ${nextId + 9}) g`,
    );
    nextId += 10;
    await waitFor(() => (w.wakes().length >= 1 ? true : undefined), { what: "coalesced wake" });
    // A later row must arrive in a wake of its own: the burst was not split.
    const [later] = await insert(1, "later");
    const wakes = await waitFor(() => (w.wakes().length >= 2 ? w.wakes() : undefined), {
      what: "the later wake",
    });
    expect(wakes[0]?.changes).toHaveLength(10);
    expect(wakes[1]?.changes.map((c) => c.value?.id)).toEqual([later]);
    await w.close();
  });

  it("should cap a never-ending burst with max_wait_ms", async () => {
    const ref = await newSource("id > 2");
    const w = watch(stack.a, { sourceRefs: [ref], debounceMs: 300, maxWaitMs: 400 });
    await w.ready();
    const started = Date.now();
    let stop = false;
    const writer = (async () => {
      while (!stop && Date.now() - started < 5_000) {
        await insert(1, "steady");
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const first = await waitFor(() => w.wakes()[0], { what: "a wake despite the burst", timeoutMs: 4_000 });
    stop = true;
    await writer;
    expect(first.changes.length).toBeGreaterThan(1);
    await w.close();
  });

  it("should split by max_changes_per_wake", async () => {
    const ref = await newSource("id > 3");
    const w = watch(stack.a, { sourceRefs: [ref], debounceMs: 200, maxChangesPerWake: 4 });
    await w.ready();
    await stack.sql.query(
      `INSERT INTO tasks (id, title) SELECT g, 'x' FROM generate_series(${nextId}, ${nextId + 9}) g`,
    );
    nextId += 10;
    const wakes = await waitFor(
      () => (w.wakes().reduce((a, x) => a + x.changes.length, 0) >= 10 ? w.wakes() : undefined),
      {
        what: "10 changes",
      },
    );
    expect(wakes.map((x) => x.changes.length)).toEqual([4, 4, 2]);
    await w.close();
  });

  it("should resume from the last token with exactly the rest, also across a pg-sync restart", async () => {
    const ref = await newSource("id > 4");
    const w1 = watch(stack.a, { sourceRefs: [ref] });
    await w1.ready();
    await insert(3);
    await waitFor(() => (w1.wakes().length >= 3 ? true : undefined), { what: "3 wakes" });
    const token = w1.wakes()[2]?.resumeToken as string;
    await w1.close();
    await insert(2);
    await stack.restart();
    await insert(2);
    const w2 = watch(stack.a, { sourceRefs: [ref], start: { case: "resumeToken", value: token } });
    const wakes = await waitFor(() => (w2.wakes().length >= 4 ? w2.wakes() : undefined), {
      what: "4 resumed wakes",
      timeoutMs: 20_000,
    });
    const firstSeqs = w1.wakes().map((x) => Number(x.firstSeq));
    const resumedSeqs = wakes.map((x) => Number(x.firstSeq));
    expect(resumedSeqs).toEqual([4, 5, 6, 7].map((i) => (firstSeqs[0] as number) + i - 1));
    expect(new Set([...w1.wakes(), ...wakes].map((x) => x.wakeId)).size).toBe(7);
    await w2.close();
  });

  it("should replay the retained log from START_POSITION_EARLIEST and send Ready after the backlog", async () => {
    const ref = await newSource("id > 5");
    await insert(3);
    await waitFor(
      async () => {
        const { cursor } = await stack.a.getCursor({ sourceRef: ref });
        return cursor && cursor.headSeq >= 3n ? true : undefined;
      },
      { what: "3 logged" },
    );
    const w = watch(stack.a, {
      sourceRefs: [ref],
      start: { case: "startPosition", value: StartPosition.EARLIEST },
    });
    await w.ready();
    await insert(1);
    await waitFor(() => (w.wakes().length >= 4 ? true : undefined), { what: "backlog and live wake" });
    const kinds = w.frames.map((f) => f.event.case);
    expect(kinds.slice(0, 4)).toEqual(["wake", "wake", "wake", "ready"]);
    expect(kinds[4]).toBe("wake");
    await w.close();
  });

  it("should send a retention Gap first for a token older than the log", async () => {
    const ref = await newSource("id > 6");
    const w1 = watch(stack.a, { sourceRefs: [ref] });
    await w1.ready();
    await insert(4);
    await waitFor(() => (w1.wakes().length >= 4 ? true : undefined), { what: "4 wakes" });
    const token = w1.wakes()[0]?.resumeToken as string;
    await w1.close();
    await stack.sql.query("DELETE FROM pgsync.changes WHERE source_ref = $1 AND seq <= 3", [ref]);
    const w2 = watch(stack.a, { sourceRefs: [ref], start: { case: "resumeToken", value: token } });
    await w2.ready();
    const first = w2.frames[0]?.event;
    expect(first?.case).toBe("gap");
    expect(first?.case === "gap" && first.value.reason).toBe(GapReason.RETENTION);
    expect(first?.case === "gap" && [first.value.fromSeq, first.value.toSeq]).toEqual([2n, 3n]);
    await w2.close();
  });

  it("should turn a must-refetch into a Gap frame within a second", async () => {
    const ref = await newSource("id > 7");
    const w = watch(stack.a, { sourceRefs: [ref] });
    await w.ready();
    const { cursor } = await stack.a.getCursor({ sourceRef: ref });
    await fetch(
      `${stack.shape.origin}/v1/test/rotate?handle=${encodeURIComponent(cursor?.shapeHandle ?? "")}`,
      { method: "POST" },
    );
    // The requirement is the deadline: the Gap reaches the watcher within 1 s of the rotation.
    const gap = await waitFor(() => w.of("gap")[0], {
      what: "gap frame within 1 s",
      timeoutMs: 1_000,
      intervalMs: 5,
    });
    expect(gap.reason).toBe(GapReason.MUST_REFETCH);
    await w.close();
  });

  it("should cut a stalled consumer with RESOURCE_EXHAUSTED and a token while another stream keeps going", async () => {
    const ref = await newSource("id > 8");
    const live = watch(stack.a, { sourceRefs: [ref] });
    await live.ready();
    // The stalled stream: open it and never read past the first frame.
    const aborter = new AbortController();
    // A consumer of its own (its own HTTP/2 connection), as separate services would be.
    const stalled = connectClient(stack.url, TOKENS.a);
    const it = stalled.watchWakes({ sourceRefs: [ref] }, { signal: aborter.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value?.event.case).toBe("ready");
    // The server runs in this process: compare live heap after a full GC (vitest runs with --expose-gc).
    const heapNow = () => {
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage().heapUsed;
    };
    const heapBefore = heapNow();
    const first = Math.max(nextId, 100); // every id matches the source's "id > 8"
    await stack.sql.query(
      `INSERT INTO tasks (id, title) SELECT g, repeat('x', 2000) FROM generate_series(${first}, ${first + 2999}) g`,
    );
    nextId = first + 3000;
    await waitFor(() => (live.wakes().length >= 3000 ? true : undefined), {
      what: "the other stream's 3000 wakes",
      timeoutMs: 30_000,
    }).catch((err: unknown) => {
      throw new Error(
        `${(err as Error).message} (got ${live.wakes().length}, ended=${live.ended}, error=${live.error?.message})`,
      );
    });
    let cut: ConnectError | undefined;
    await waitFor(
      async () => {
        try {
          for (;;) {
            const r = await it.next();
            if (r.done) return undefined;
          }
        } catch (err) {
          cut = ConnectError.from(err);
          return true;
        }
      },
      { what: "the stalled stream to be cut", timeoutMs: 30_000 },
    );
    expect(cut?.code).toBe(Code.ResourceExhausted);
    expect(cut?.metadata.get("pgsync-resume-token")).toBeTruthy();
    aborter.abort();
    await live.close();
    // 3,000 wakes of 2 KB went through; what stays is far less than the 6 MB of data.
    expect(heapNow() - heapBefore).toBeLessThan(32 * 1024 * 1024);
  });

  it("should serve just-committed changes from memory exactly as Postgres logged them", async () => {
    const memoryReads = async () =>
      sampleValue((await scrape(stack.url)).samples, "pgsync_log_reads_total", { from: "memory" }) ?? 0;
    const first = nextId;
    const ref = await newSource(`id >= ${first}`); // a ref (and log) of its own
    const w = watch(stack.a, { sourceRefs: [ref] });
    await w.ready();
    const before = await memoryReads();
    nextId += 20;
    // Three commits: a multi-row insert, an update of some of the rows, a delete.
    await stack.sql.query(
      "INSERT INTO tasks (id, title, n) SELECT g, 'row ' || g, g * 7 FROM generate_series($1::int, $2::int) g",
      [first, first + 19],
    );
    await stack.sql.query("UPDATE tasks SET title = 'moved', n = -1 WHERE id BETWEEN $1 AND $2", [
      first,
      first + 4,
    ]);
    await stack.sql.query("DELETE FROM tasks WHERE id = $1", [first + 19]);
    const delivered = await waitFor(
      () => {
        const changes = w.wakes().flatMap((x) => x.changes);
        return changes.length >= 26 ? changes : undefined;
      },
      { what: "26 changes" },
    );
    expect(await memoryReads()).toBeGreaterThan(before);
    const { rows } = await stack.sql.query<{
      seq: string;
      key: string;
      operation: string;
      value: unknown;
      old_value: unknown;
      shape_offset: string;
      txids: string[];
    }>(
      `SELECT seq, key, operation, value, old_value, shape_offset, txids FROM pgsync.changes
       WHERE source_ref = $1 AND kind = 'change' ORDER BY seq`,
      [ref],
    );
    const operations: Record<string, Operation> = {
      insert: Operation.INSERT,
      update: Operation.UPDATE,
      delete: Operation.DELETE,
    };
    expect(
      delivered.map((c) => ({
        seq: c.seq.toString(),
        key: c.key,
        operation: c.operation,
        value: c.value,
        oldValue: c.oldValue,
        offset: c.offset,
        txids: c.txids.map(String),
      })),
    ).toEqual(
      rows.map((r) => ({
        seq: r.seq,
        key: r.key,
        operation: operations[r.operation],
        value: r.value,
        oldValue: r.old_value ?? undefined,
        offset: r.shape_offset,
        txids: r.txids,
      })),
    );
    await w.close();
  });

  it("should watch three sources on one stream", async () => {
    await stack.sql.query("CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY, body text)");
    await stack.sql.query("CREATE TABLE IF NOT EXISTS tags (id int PRIMARY KEY, name text)");
    const refs = [
      (await stack.a.registerSource({ options: { table: "tasks", where: "id > 9" } })).sourceRef,
      (await stack.a.registerSource({ options: { table: "notes" } })).sourceRef,
      (await stack.a.registerSource({ options: { table: "tags" } })).sourceRef,
    ];
    const w = watch(stack.a, { sourceRefs: refs });
    await w.ready();
    await insert(1);
    await stack.sql.query("INSERT INTO notes VALUES (1, 'n')");
    await stack.sql.query("INSERT INTO tags VALUES (1, 'g')");
    const wakes = await waitFor(() => (w.wakes().length >= 3 ? w.wakes() : undefined), { what: "3 wakes" });
    expect(new Set(wakes.map((x) => x.sourceRef))).toEqual(new Set(refs));
    expect(new Set(wakes.map((x) => x.changes[0]?.table))).toEqual(new Set(["tasks", "notes", "tags"]));
    await w.close();
  });

  it("should refuse another tenant's ref with NOT_FOUND before streaming", async () => {
    const ref = await newSource("id > 10");
    const w = watch(stack.b, { sourceRefs: [ref] });
    await waitFor(() => (w.ended ? true : undefined), { what: "stream end" });
    expect(w.error?.code).toBe(Code.NotFound);
    expect(w.frames).toHaveLength(0);
  });

  it("should end the stream with a final status frame when the source is deleted", async () => {
    const ref = await newSource("id > 11");
    const w = watch(stack.a, { sourceRefs: [ref] });
    await w.ready();
    await stack.a.deleteSource({ sourceRef: ref });
    await waitFor(() => (w.ended ? true : undefined), { what: "stream end" });
    const status = w.of("status");
    expect(status[0]?.deleted).toBe(true);
    expect(status[0]?.state).toBe(SourceState.STOPPED);
    expect(w.error).toBeUndefined();
  });

  it("should send heartbeats with the current token on an idle stream", async () => {
    const ref = await newSource("id > 12");
    const w = watch(stack.a, { sourceRefs: [ref], heartbeatIntervalMs: 100 });
    await w.ready();
    const hb = await waitFor(() => w.of("heartbeat")[0], { what: "heartbeat" });
    expect(hb.resumeToken).toBe(w.of("ready")[0]?.resumeToken);
    await w.close();
  });

  it("should leave no listeners or timers behind after 1,000 open-then-cancelled streams", async () => {
    const ref = await newSource("id > 13");
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    for (let i = 0; i < 1_000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const aborter = new AbortController();
          const it = stack.a
            .watchWakes({ sourceRefs: [ref], heartbeatIntervalMs: 1_000 }, { signal: aborter.signal })
            [Symbol.asyncIterator]();
          await it.next();
          aborter.abort();
          await it.next().catch(() => undefined);
        }),
      );
    }
    await waitFor(() => (stack.server.notifier.subscriptions === 0 ? true : undefined), {
      what: "no subscriptions",
    });
    expect(stack.server.notifier.localSources).toBe(0);
    await waitFor(() => (stack.server.watch.openStreams("tenant-a") === 0 ? true : undefined), {
      what: "no open streams",
    });
    await waitFor(() => (timers() <= before + 5 ? true : undefined), { what: "timers released" });
  });
});

import { afterEach, describe, expect, it } from "vitest";
import {
  Bridge,
  type BridgeDeps,
  COMMIT_PART_MAX_CHANGES,
  URL_NO_LONGER_ALLOWED,
} from "../../src/bridge/bridge.js";
import { ELECTRIC_PARAMS } from "../../src/bridge/electric-constants.js";
import { PIPELINE_MIN_MESSAGES } from "../../src/bridge/shape-batches.js";
import { createBackoff } from "../../src/domain/backoff.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { InMemoryCursorStore } from "../support/fake-cursor-store.js";
import {
  type FakeAnswer,
  FakeFetch,
  insert,
  MUST_REFETCH,
  shapeResponse,
  UP_TO_DATE,
} from "../support/fake-electric.js";
import { waitFor } from "../support/wait.js";

const TENANT = "t1";
const REF = "0123456789abcdef";
const SHAPE_URL = "http://shape.test:3000/v1/shape";

const bridges: Bridge[] = [];
afterEach(async () => {
  await Promise.all(bridges.splice(0).map((b) => b.stop()));
});

interface Harness {
  readonly bridge: Bridge;
  readonly store: InMemoryCursorStore;
  readonly fake: FakeFetch;
  /** Backoff waits requested: [attempt-derived delay, floor]. */
  readonly waits: number[];
}

function startBridge(
  answer: (url: URL, n: number) => FakeAnswer | Promise<FakeAnswer>,
  overrides: Partial<BridgeDeps> & { cursor?: { shapeHandle: string; shapeOffset: string } } = {},
): Harness {
  const store = new InMemoryCursorStore();
  store.add(TENANT, REF, overrides.cursor ?? { shapeHandle: "h1", shapeOffset: "0_0" });
  const fake = new FakeFetch(answer);
  const waits: number[] = [];
  const bridge = new Bridge({
    tenant: TENANT,
    sourceRef: REF,
    options: { table: "todos", replica: "default" },
    shapeUrl: SHAPE_URL,
    store,
    backoff: createBackoff({
      random: () => 0,
      sleep: async (ms) => {
        waits.push(ms);
      },
    }),
    owner: "test-owner",
    logger: createLogger("silent"),
    metrics: createMetrics({ withDefaults: false }),
    onStatus: () => {},
    fetchClient: fake.fetch,
    ...overrides,
  });
  bridges.push(bridge);
  bridge.start();
  return { bridge, store, fake, waits };
}

/** Serves `batches` in order to the initial requests, then holds every later request. */
function serve(...batches: FakeAnswer[]) {
  let served = 0;
  return (url: URL): FakeAnswer => {
    if (url.searchParams.get("live") === "true" && served >= batches.length) return "hang";
    return batches[served++] ?? "hang";
  };
}

const stateOf = (h: Harness) => h.bridge.status.state;

describe("Bridge", () => {
  it("should commit each batch with its cursor and go LIVE on up-to-date", async () => {
    const h = startBridge(
      serve(shapeResponse({ handle: "h1", offset: "5_0", messages: [insert(1), insert(2), UP_TO_DATE] })),
    );
    await waitFor(() => stateOf(h) === "LIVE", { what: "LIVE" });
    const source = h.store.source(TENANT, REF);
    expect(source.log.map((c) => ("key" in c ? c.key : c.reason))).toEqual([
      '"public"."todos"/"1"',
      '"public"."todos"/"2"',
    ]);
    expect([source.shapeHandle, source.shapeOffset]).toEqual(["h1", "5_0"]);
    expect(source.states).toEqual([["LIVE", undefined]]);
    const first = h.fake.urls[0] as URL;
    expect(first.searchParams.get(ELECTRIC_PARAMS.offset)).toBe("0_0");
    expect(first.searchParams.get(ELECTRIC_PARAMS.log)).toBe("changes_only");
    expect(first.searchParams.get("handle")).toBe("h1");
    expect(h.fake.inits.every((init) => init?.redirect === "manual")).toBe(true);
  });

  it("should commit a batch larger than a commit part in parts, advancing the cursor with the last", async () => {
    const rows = Array.from({ length: COMMIT_PART_MAX_CHANGES * 2 + 7 }, (_, i) => insert(i + 1));
    const h = startBridge(
      serve(shapeResponse({ handle: "h1", offset: "9_0", messages: [...rows, UP_TO_DATE] })),
    );
    await waitFor(() => stateOf(h) === "LIVE", { what: "LIVE" });
    expect(h.store.commitParts).toEqual([
      { changes: COMMIT_PART_MAX_CHANGES, partial: true },
      { changes: COMMIT_PART_MAX_CHANGES, partial: true },
      { changes: 7, partial: false },
    ]);
    const source = h.store.source(TENANT, REF);
    expect(source.log.length).toBe(rows.length);
    expect([source.shapeHandle, source.shapeOffset]).toEqual(["h1", "9_0"]);
  });

  it("should back off on 503 with the server's floor and resume from the committed cursor", async () => {
    const h = startBridge(
      serve(
        shapeResponse({ handle: "h1", offset: "3_0", messages: [insert(1), UP_TO_DATE] }),
        new Response("busy", { status: 503, headers: { "retry-after": "1" } }),
        shapeResponse({ handle: "h1", offset: "4_0", messages: [insert(2), UP_TO_DATE] }),
      ),
    );
    await waitFor(() => h.store.source(TENANT, REF).log.length === 2, { what: "both rows logged" });
    await waitFor(() => stateOf(h) === "LIVE", { what: "LIVE again" });
    const source = h.store.source(TENANT, REF);
    expect(source.states).toEqual([
      ["LIVE", undefined],
      ["BACKING_OFF", "shape endpoint answered 503: busy"],
      ["LIVE", undefined],
    ]);
    expect(h.waits).toEqual([1_000]);
    const resumed = h.fake.urls.filter((u) => u.searchParams.get(ELECTRIC_PARAMS.offset) === "3_0");
    expect(resumed.length).toBeGreaterThanOrEqual(2); // the live request that got 503, then the resume
    expect(source.generation).toBe(1n); // claimed once: a retry keeps ownership
  });

  it("should fail permanently, and end, when the endpoint stops being an Electric endpoint", async () => {
    const h = startBridge(serve(new Response("<html>welcome</html>", { status: 200 })));
    await h.bridge.done;
    expect(h.bridge.status).toEqual({
      state: "FAILED",
      lastError: "the shape endpoint is not an Electric shape log (missing electric-* headers)",
    });
    expect(h.bridge.ended).toBe(true);
    expect(h.store.source(TENANT, REF).states.at(-1)?.[0]).toBe("FAILED");
  });

  it("should fail with a reason, without a request, when its URL is no longer allowed", async () => {
    const h = startBridge(serve(), { isUrlAllowed: () => false });
    await h.bridge.done;
    expect(h.bridge.status).toEqual({ state: "FAILED", lastError: URL_NO_LONGER_ALLOWED });
    expect(h.fake.urls).toHaveLength(0);
    expect(h.store.source(TENANT, REF).states).toEqual([["FAILED", URL_NO_LONGER_ALLOWED]]);
  });

  it("should end without writing anything more when another owner fences it out, and say so once", async () => {
    let h: Harness | undefined;
    const fenced: Bridge[] = [];
    h = startBridge(
      () => {
        // Another process claims the source while this batch is in flight.
        if (h) h.store.source(TENANT, REF).generation += 1n;
        return shapeResponse({ offset: "1_0", messages: [insert(1)] });
      },
      { onFenced: (b) => fenced.push(b) },
    );
    await h.bridge.done;
    expect(h.bridge.ended).toBe(true);
    expect(h.bridge.status.state).toBe("STOPPED");
    const source = h.store.source(TENANT, REF);
    expect(source.log).toHaveLength(0);
    expect(source.states).toEqual([]);
    expect(fenced).toEqual([h.bridge]);
  });

  it("should end when its source is gone", async () => {
    const h = startBridge(serve());
    h.store.sources.clear();
    await h.bridge.done;
    expect(h.bridge.ended).toBe(true);
    expect(h.fake.urls).toHaveLength(0);
  });

  it("should persist STOPPED on stop and IDLE on an idle stop, ending the stream", async () => {
    const live = startBridge(serve(shapeResponse({ offset: "1_0", messages: [UP_TO_DATE] })));
    await waitFor(() => stateOf(live) === "LIVE", { what: "LIVE" });
    await live.bridge.stop();
    expect(live.store.source(TENANT, REF).states.at(-1)).toEqual(["STOPPED", undefined]);
    expect(live.bridge.ended).toBe(true);

    const idle = startBridge(serve(shapeResponse({ offset: "1_0", messages: [UP_TO_DATE] })));
    await waitFor(() => stateOf(idle) === "LIVE", { what: "LIVE" });
    await idle.bridge.stop("idle");
    expect(idle.store.source(TENANT, REF).states.at(-1)).toEqual(["IDLE", undefined]);
  });

  it("should log a gap before the changes of a must-refetch batch", async () => {
    const h = startBridge(
      serve(shapeResponse({ handle: "h2", offset: "0_0", messages: [MUST_REFETCH, insert(7), UP_TO_DATE] })),
    );
    await waitFor(() => stateOf(h) === "LIVE", { what: "LIVE" });
    const [gap, change] = h.store.source(TENANT, REF).log;
    expect(gap).toMatchObject({ reason: "must-refetch", lastGoodOffset: "0_0", newHandle: "h2" });
    expect(change).toMatchObject({ key: '"public"."todos"/"7"' });
  });

  it("should retry a state-database failure and then commit", async () => {
    const h = startBridge(serve(shapeResponse({ offset: "2_0", messages: [insert(1), UP_TO_DATE] })));
    h.store.failNext.push(Object.assign(new Error("terminating connection"), { code: "57P01" }));
    await waitFor(() => stateOf(h) === "LIVE", { what: "LIVE after the retry" });
    expect(h.store.source(TENANT, REF).states[0]?.[0]).toBe("BACKING_OFF");
  });

  it("should hold the next request until the batch in hand is committed (one batch at a time)", async () => {
    let release: () => void = () => {};
    const store = new InMemoryCursorStore();
    store.gate = new Promise((r) => {
      release = r;
    });
    const h = startBridge(
      serve(
        shapeResponse({ offset: "1_0", messages: [insert(1), UP_TO_DATE] }),
        shapeResponse({ offset: "2_0", messages: [insert(2), UP_TO_DATE] }),
      ),
      { store },
    );
    store.add(TENANT, REF, { shapeHandle: "h1", shapeOffset: "0_0" });
    await waitFor(() => store.commitsStarted === 1, { what: "first commit held" });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(h.fake.urls).toHaveLength(1);
    release();
    await waitFor(() => store.source(TENANT, REF).log.length === 2, { what: "second batch" });
  });

  it("should request the next batch during the commit of a large one, and hand it over only once that is committed", async () => {
    let release: () => void = () => {};
    const store = new InMemoryCursorStore();
    store.gate = new Promise((r) => {
      release = r;
    });
    const large = Array.from({ length: PIPELINE_MIN_MESSAGES }, (_, i) => insert(i + 1));
    const h = startBridge(
      serve(
        shapeResponse({ offset: "1_0", messages: [...large, UP_TO_DATE] }),
        shapeResponse({ offset: "2_0", messages: [insert(PIPELINE_MIN_MESSAGES + 1), UP_TO_DATE] }),
      ),
      { store },
    );
    store.add(TENANT, REF, { shapeHandle: "h1", shapeOffset: "0_0" });
    await waitFor(() => store.commitsStarted === 1, { what: "first commit held" });
    await waitFor(() => h.fake.urls.length === 2, { what: "the next request, during the commit" });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(store.commitsStarted).toBe(1);
    expect(store.source(TENANT, REF).log).toHaveLength(0);
    release();
    await waitFor(() => store.source(TENANT, REF).log.length === PIPELINE_MIN_MESSAGES + 1, {
      what: "both batches, in order",
    });
    const last = store.source(TENANT, REF).log.at(-1) as { offset?: string } | undefined;
    expect(last?.offset).toBe(`${PIPELINE_MIN_MESSAGES + 1}_0`);
  });
});

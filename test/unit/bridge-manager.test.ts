import { afterEach, describe, expect, it } from "vitest";
import { URL_NO_LONGER_ALLOWED } from "../../src/bridge/bridge.js";
import { BridgeManager } from "../../src/bridge/bridge-manager.js";
import { createBackoff } from "../../src/domain/backoff.js";
import type { SourceStore } from "../../src/domain/ports.js";
import type { SourceRecord } from "../../src/domain/source.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { InMemoryCursorStore } from "../support/fake-cursor-store.js";
import { FakeFetch, shapeResponse, UP_TO_DATE } from "../support/fake-electric.js";
import { sourceRecord } from "../support/fakes.js";
import { waitFor } from "../support/wait.js";

/** A SourceStore over a fixed list of records (only what the manager reads). */
function sourceStore(records: SourceRecord[]): SourceStore {
  const find = (tenant: string, ref: string) =>
    records.find((r) => r.tenant === tenant && r.sourceRef === ref);
  return {
    upsert: async () => {
      throw new Error("not used");
    },
    get: async (tenant, ref) => find(tenant, ref),
    list: async () => records,
    delete: async () => false,
    listResumable: async () => records,
    touchWatched: async () => {},
    listUnusedSince: async () => [],
    count: async () => 0,
  };
}

const managers: BridgeManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
});

function createManager(records: SourceRecord[], isUrlAllowed?: (url: string) => boolean) {
  const cursors = new InMemoryCursorStore();
  for (const r of records) cursors.add(r.tenant, r.sourceRef, { shapeHandle: "h1", shapeOffset: "0_0" });
  const fake = new FakeFetch((url) =>
    url.searchParams.get("live") === "true"
      ? "hang"
      : shapeResponse({ offset: "1_0", messages: [UP_TO_DATE] }),
  );
  const manager = new BridgeManager({
    sources: sourceStore(records),
    cursors,
    backoff: createBackoff({ sleep: async () => {} }),
    owner: "test",
    logger: createLogger("silent"),
    metrics: createMetrics({ withDefaults: false }),
    idleTtlMs: 0,
    gcIntervalMs: 60_000,
    fetchClient: fake.fetch,
    ...(isUrlAllowed ? { isUrlAllowed } : {}),
  });
  managers.push(manager);
  return { manager, cursors, fake };
}

describe("BridgeManager", () => {
  it("should run exactly one bridge per source however often it is ensured", async () => {
    const record = sourceRecord("r1");
    const { manager, fake } = createManager([record]);
    for (let i = 0; i < 5; i++) manager.ensure(record);
    await waitFor(() => manager.view("t1", "r1")?.status.state === "LIVE", { what: "LIVE" });
    expect(manager.size).toBe(1);
    expect(fake.initialRequests).toHaveLength(1);
    expect(manager.counts().get("LIVE")).toBe(1);
  });

  it("should fail a resumed source whose URL is no longer allowed, and leave others running", async () => {
    const kept = sourceRecord("kept", { shapeUrl: "http://allowed.test/v1/shape" });
    const dropped = sourceRecord("dropped", { shapeUrl: "http://removed.test/v1/shape" });
    const { manager, cursors, fake } = createManager(
      [kept, dropped],
      (url) => new URL(url).host === "allowed.test",
    );
    expect(await manager.start()).toBe(2);
    await waitFor(() => manager.view("t1", "dropped")?.status.state === "FAILED", { what: "FAILED" });
    await waitFor(() => manager.view("t1", "kept")?.status.state === "LIVE", { what: "kept LIVE" });
    expect(manager.view("t1", "dropped")?.status.lastError).toBe(URL_NO_LONGER_ALLOWED);
    expect(cursors.source("t1", "dropped").states).toEqual([["FAILED", URL_NO_LONGER_ALLOWED]]);
    expect(manager.isRunning("t1", "dropped")).toBe(false);
    expect(fake.urls.every((u) => u.host === "allowed.test")).toBe(true);
  });

  it("should stop and forget a removed source", async () => {
    const record = sourceRecord("r1");
    const { manager, cursors } = createManager([record]);
    manager.ensure(record);
    await waitFor(() => manager.view("t1", "r1")?.status.state === "LIVE", { what: "LIVE" });
    await manager.remove("t1", "r1");
    expect(manager.isRunning("t1", "r1")).toBe(false);
    expect(manager.view("t1", "r1")).toBeUndefined();
    expect(cursors.source("t1", "r1").states.at(-1)).toEqual(["STOPPED", undefined]);
  });
});

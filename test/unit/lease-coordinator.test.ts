import { afterEach, describe, expect, it } from "vitest";
import { BridgeManager } from "../../src/bridge/bridge-manager.js";
import { LeaseCoordinator } from "../../src/bridge/lease-coordinator.js";
import { createLeaseMetrics } from "../../src/bridge/lease-metrics.js";
import { createBackoff } from "../../src/domain/backoff.js";
import type { StoredCursor } from "../../src/domain/change-log.js";
import type { ClusterView, LeaseStore } from "../../src/domain/lease-store.js";
import type { SourceStore } from "../../src/domain/ports.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { InMemoryCursorStore } from "../support/fake-cursor-store.js";
import { FakeFetch, shapeResponse, UP_TO_DATE } from "../support/fake-electric.js";
import { sourceRecord, storedCursor } from "../support/fakes.js";
import { waitFor } from "../support/wait.js";

// Long enough that a loaded machine's event-loop stalls stay well below the watchdog (3/4 TTL).
const TTL_MS = 3_000;
const record = sourceRecord("s1");
const cursor: StoredCursor = storedCursor({ owner: "a", leaseLive: true });

/**
 * A lease store for one replica and one source: the first view shows the source free, every
 * later view hangs until `release()` (a re-plan stuck on a busy database).
 */
function stuckPlanStore() {
  let views = 0;
  let release: () => void = () => {};
  const stuck = new Promise<void>((resolve) => {
    release = resolve;
  });
  const store = {
    renewals: 0,
    release: () => release(),
    join: async () => true,
    renew: async () => {
      store.renewals++;
      return { member: true, lost: [] };
    },
    view: async (): Promise<ClusterView> => {
      if (views++ > 0) await stuck;
      const free = views === 1 ? [{ tenant: record.tenant, sourceRef: record.sourceRef }] : [];
      return { replicas: ["a"], held: new Map(), free, orphaned: 0 };
    },
    owned: async () => [],
    acquire: async () => [{ record, cursor }],
    releaseLeases: async () => 0,
    leave: async () => 0,
    wake: async () => {},
    setStateFenced: async () => true,
  };
  const leaseStore = { ...store, release: store.releaseLeases } as unknown as LeaseStore;
  return { store, leaseStore, views: () => views };
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

describe("LeaseCoordinator", () => {
  it("should keep renewing its leases while a re-plan is stuck", async () => {
    const cursors = new InMemoryCursorStore();
    // At the term the acquisition gave (the fake store's cursor), so the bridge's commits land.
    cursors.add(record.tenant, record.sourceRef, { shapeHandle: "h1", shapeOffset: "0_0" }).generation = 1n;
    const fake = new FakeFetch((url) =>
      url.searchParams.get("live") === "true"
        ? "hang"
        : shapeResponse({ offset: "1_0", messages: [UP_TO_DATE] }),
    );
    const metrics = createMetrics({ withDefaults: false });
    const manager = new BridgeManager({
      sources: {} as SourceStore,
      cursors,
      backoff: createBackoff({ sleep: async () => {} }),
      owner: "a",
      logger: createLogger("silent"),
      metrics,
      idleTtlMs: 0,
      gcIntervalMs: 60_000,
      fetchClient: fake.fetch,
    });
    const { store, leaseStore, views } = stuckPlanStore();
    const leaseMetrics = createLeaseMetrics(metrics.registry);
    const coordinator = new LeaseCoordinator({
      store: leaseStore,
      cursors,
      manager,
      identity: { replicaId: "a", incarnation: "i1" },
      ttlMs: TTL_MS,
      logger: createLogger("silent"),
      metrics: leaseMetrics,
      onServing: () => {},
    });
    stops.push(async () => {
      store.release();
      await coordinator.stop();
    });
    await coordinator.start();
    expect(manager.isRunning(record.tenant, record.sourceRef)).toBe(true);
    await waitFor(() => views() >= 2 || undefined, { what: "a second re-plan", timeoutMs: 5_000 });
    const renewalsBefore = store.renewals;
    // Four renewals (TTL/3 apart) with the re-plan stuck: past the watchdog's 3/4 TTL, which
    // would have stopped the bridge had the renewals waited for the re-plan.
    await waitFor(() => store.renewals >= renewalsBefore + 4 || undefined, {
      what: "renewals while the re-plan is stuck",
      timeoutMs: 10 * TTL_MS,
    });
    expect(views()).toBe(2);
    expect(coordinator.serving).toBe(true);
    expect(manager.isRunning(record.tenant, record.sourceRef)).toBe(true);
    expect((await leaseMetrics.leasesLost.get()).values.reduce((n, v) => n + v.value, 0)).toBe(0);
  });
});

import type pg from "pg";
import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../../src/bridge/bridge-manager.js";
import { createMetrics } from "../../src/metrics.js";
import { largest, registerSourceMetrics } from "../../src/source-metrics.js";
import { parseExposition, sampleValue } from "../support/prometheus.js";

const NOW = 1_000_000;
const refs = ["000000000000000a", "000000000000000b", "000000000000000c"];

/** Three sources: lag 1, 2, 3 s; backlog 30, 20, 10; log sizes 5, 50, 500. */
function deps(maxSources?: number) {
  const bridges = refs.map(
    (sourceRef, i): RunningBridge =>
      ({
        tenant: "t",
        sourceRef,
        headSeq: 0n,
        status: { state: "LIVE", lastError: undefined },
        upToDateAt: new Date(NOW - (i + 1) * 1_000),
      }) as unknown as RunningBridge,
  );
  // The state database's answers to the log-size and table-size queries.
  const pool = {
    query: async (text: string) => ({
      rows: text.includes("pg_total_relation_size")
        ? [{ bytes: "4096" }]
        : refs.map((source_ref, i) => ({ tenant: "t", source_ref, entries: String(5 * 10 ** (i + 0)) })),
    }),
  } as unknown as pg.Pool;
  return {
    bridges: { running: () => bridges },
    watch: {
      backlogs: () => refs.map((sourceRef, i) => ({ tenant: "t", sourceRef, entries: BigInt(30 - 10 * i) })),
    },
    pool,
    now: () => NOW,
    ...(maxSources === undefined ? {} : { maxSources }),
  };
}

async function scrapeWith(maxSources?: number) {
  const metrics = createMetrics({ withDefaults: false });
  registerSourceMetrics(metrics, deps(maxSources));
  return parseExposition(await metrics.registry.metrics());
}

const exposed = (samples: ReturnType<typeof parseExposition>, name: string) =>
  samples.filter((s) => s.name === name).map((s) => [s.labels.source_ref, s.value]);

describe("per-source metrics", () => {
  it("should expose every source when they fit", async () => {
    const samples = await scrapeWith();
    expect(exposed(samples, "pgsync_source_lag_seconds")).toHaveLength(3);
    expect(sampleValue(samples, "pgsync_source_series_omitted", { metric: "pgsync_log_entries" })).toBe(0);
    expect(sampleValue(samples, "pgsync_log_bytes")).toBe(4096);
  });

  it("should keep the largest values of each gauge and count the sources left out", async () => {
    const samples = await scrapeWith(2);
    const [a, b, c] = refs;
    expect(exposed(samples, "pgsync_source_lag_seconds")).toEqual([
      [c, 3],
      [b, 2],
    ]);
    expect(exposed(samples, "pgsync_watch_backlog_entries")).toEqual([
      [a, 30],
      [b, 20],
    ]);
    expect(exposed(samples, "pgsync_log_entries")).toEqual([
      [c, 500],
      [b, 50],
    ]);
    for (const metric of [
      "pgsync_source_lag_seconds",
      "pgsync_watch_backlog_entries",
      "pgsync_log_entries",
    ]) {
      expect(sampleValue(samples, "pgsync_source_series_omitted", { metric })).toBe(1);
    }
  });

  it("should expose no per-source series at 0, and still count them", async () => {
    const samples = await scrapeWith(0);
    expect(exposed(samples, "pgsync_source_lag_seconds")).toEqual([]);
    expect(
      sampleValue(samples, "pgsync_source_series_omitted", { metric: "pgsync_source_lag_seconds" }),
    ).toBe(3);
  });

  it("should pick the largest entries and nothing else", () => {
    const items = [5, 1, 9, 3].map((value) => ({ value }));
    expect(largest(items, 2)).toEqual({ kept: [{ value: 9 }, { value: 5 }], omitted: 2 });
    expect(largest(items, 4).kept).toBe(items);
  });
});

import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StartPosition } from "../../gen/pgsync/v1/wake_pb.js";
import { ServingStatus } from "../../src/transport/health.js";
import { BUILD_INFO } from "../../src/version.js";
import { sampleValue, scrape } from "../support/prometheus.js";
import { type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.sql.query("CREATE TABLE gauges (id int PRIMARY KEY, v text)");
});

afterAll(async () => {
  await stack?.close();
});

describe("metrics", () => {
  it("should serve build info, standard process names and zero-initialised known labels", async () => {
    const { text, samples } = await scrape(stack.url);
    expect(sampleValue(samples, "pgsync_build_info", { version: BUILD_INFO.version })).toBe(1);
    expect(BUILD_INFO.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(sampleValue(samples, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(sampleValue(samples, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(text).not.toMatch(/^pgsync_process_|^pgsync_nodejs_/m);
    for (const reason of ["must-refetch", "retention", "source-reset"]) {
      expect(sampleValue(samples, "pgsync_gaps_logged_total", { reason })).toBe(0);
    }
    expect(sampleValue(samples, "pgsync_backoffs_total", { kind: "retryable" })).toBe(0);
    expect(sampleValue(samples, "pgsync_log_bytes")).toBeGreaterThan(0);
  });

  it("should answer HEAD /metrics with the headers and no body", async () => {
    const res = await fetch(`${stack.url}/metrics`, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await res.text()).toBe("");
  });

  it("should count RPCs by service, method and gRPC code name", async () => {
    const labels = { service: "pgsync.v1.PgSyncService", method: "GetSource" };
    const before = await scrape(stack.url);
    const notFound = sampleValue(before.samples, "pgsync_rpc_handled_total", {
      ...labels,
      code: "NOT_FOUND",
    });
    const err = await stack.a.getSource({ sourceRef: "0123456789abcdef" }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.NotFound);
    const after = await scrape(stack.url);
    expect(sampleValue(after.samples, "pgsync_rpc_handled_total", { ...labels, code: "NOT_FOUND" })).toBe(
      (notFound ?? 0) + 1,
    );
    expect(sampleValue(after.samples, "pgsync_rpc_handling_seconds_count", labels)).toBeGreaterThanOrEqual(1);
  });

  it("should report per-source lag, log size and watch backlog, labelled by tenant and source_ref", async () => {
    const { sourceRef } = await stack.a.registerSource({ options: { table: "gauges" } });
    const labels = { tenant: "tenant-a", source_ref: sourceRef };
    const aborter = new AbortController();
    const frames = stack.a
      .watchWakes(
        { sourceRefs: [sourceRef], start: { case: "startPosition", value: StartPosition.EARLIEST } },
        { signal: aborter.signal },
      )
      [Symbol.asyncIterator]();
    try {
      expect((await frames.next()).value?.event.case).toBe("ready");
      await stack.sql.query("INSERT INTO gauges VALUES (1, 'a'), (2, 'b'), (3, 'c')");
      let delivered = 0;
      while (delivered < 3) {
        const frame = (await frames.next()).value;
        if (frame?.event.case === "wake") delivered += frame.event.value.changes.length;
      }
      const samples = await waitFor(
        async () => {
          const { samples } = await scrape(stack.url);
          return sampleValue(samples, "pgsync_log_entries", labels) === 3 ? samples : undefined;
        },
        { what: "pgsync_log_entries = 3" },
      );
      const lag = sampleValue(samples, "pgsync_source_lag_seconds", labels);
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThan(30);
      expect(sampleValue(samples, "pgsync_watch_backlog_entries", labels)).toBe(0);
    } finally {
      aborter.abort();
    }
    await waitFor(
      async () =>
        sampleValue((await scrape(stack.url)).samples, "pgsync_watch_backlog_entries", labels) === undefined,
      { what: "the closed stream's backlog series to go" },
    );
  });
});

describe("HTTP probes", () => {
  it("should answer /healthz and /readyz with 200 while serving, over GET and HEAD", async () => {
    for (const path of ["/healthz", "/readyz"]) {
      const res = await fetch(`${stack.url}${path}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("ok\n");
      expect((await fetch(`${stack.url}${path}`, { method: "HEAD" })).status).toBe(200);
    }
  });

  it("should answer /readyz 503 when the state database check fails, while /healthz stays 200", async () => {
    const health = stack.server.health;
    health.set("", ServingStatus.NOT_SERVING);
    try {
      expect((await fetch(`${stack.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    } finally {
      health.set("", ServingStatus.SERVING);
    }
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
  });
});

import { createServer, type Server } from "node:http";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { TOKENS } from "../../scripts/lib/processes.js";
import { createLogger } from "../../src/logger.js";
import { startTracing, type Tracing } from "../../src/tracing.js";
import { bearer, type Stack, startStack } from "../support/stack-fixture.js";

/** A span as OTLP/HTTP JSON carries it. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  links?: { traceId: string; spanId: string }[];
  attributes?: { key: string; value: Record<string, unknown> }[];
}

/** A loopback OTLP/HTTP collector that keeps every span it receives. */
let collector: Server;
const spans: OtlpSpan[] = [];
let stack: Stack;
let tracing: Tracing;

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  const address = collector.address();
  const port = typeof address === "object" && address ? address.port : 0;
  tracing = await startTracing({ tracesUrl: `http://127.0.0.1:${port}/v1/traces` }, createLogger("warn"));
  stack = await startStack();
  await stack.sql.query("CREATE TABLE traced (id int PRIMARY KEY)");
});

afterAll(async () => {
  await stack?.close();
  await tracing?.stop();
  await new Promise((r) => collector?.close(r));
});

describe("tracing", () => {
  it("should trace a wake from the Electric batch's commit to its delivery, under the caller's traceparent", async () => {
    const client = createClient(
      PgSyncService,
      createConnectTransport({
        baseUrl: stack.url,
        httpVersion: "2",
        interceptors: [
          bearer(TOKENS.a),
          (next) => (req) => {
            req.header.set("traceparent", `00-${TRACE_ID}-${PARENT_ID}-01`);
            return next(req);
          },
        ],
      }),
    );
    const { sourceRef } = await client.registerSource({ options: { table: "traced" } });
    const aborter = new AbortController();
    const frames = client
      .watchWakes({ sourceRefs: [sourceRef] }, { signal: aborter.signal })
      [Symbol.asyncIterator]();
    try {
      expect((await frames.next()).value?.event.case).toBe("ready");
      await stack.sql.query("INSERT INTO traced VALUES (1)");
      let frame = (await frames.next()).value;
      while (frame?.event.case !== "wake") frame = (await frames.next()).value;
    } finally {
      aborter.abort();
    }
    await stack.server.close();
    await tracing.stop();

    const rpc = spans.find((s) => s.name === "pgsync.v1.PgSyncService/WatchWakes");
    expect(rpc?.traceId).toBe(TRACE_ID);
    expect(rpc?.parentSpanId).toBe(PARENT_ID);
    const register = spans.find((s) => s.name === "pgsync.v1.PgSyncService/RegisterSource");
    expect(register?.traceId).toBe(TRACE_ID);
    const wake = spans.find((s) => s.name === "pgsync.wake.send");
    expect(wake?.traceId).toBe(TRACE_ID);
    expect(wake?.parentSpanId).toBe(rpc?.spanId);
    const batches = spans.filter((s) => s.name === "pgsync.bridge.batch");
    const linked = batches.find((b) =>
      wake?.links?.some((l) => l.spanId === b.spanId && l.traceId === b.traceId),
    );
    expect(linked, "the wake links to the batch span that committed its change").toBeDefined();
    expect(linked?.attributes?.find((a) => a.key === "pgsync.source_ref")?.value).toEqual({
      stringValue: sourceRef,
    });
  });
});

import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bridge, URL_NO_LONGER_ALLOWED } from "../../src/bridge/bridge.js";
import { BridgeManager } from "../../src/bridge/bridge-manager.js";
import { PROBE_BODY_MAX_BYTES, probeShape } from "../../src/bridge/probe.js";
import { createBackoff } from "../../src/domain/backoff.js";
import { ShapeProbeFailedError } from "../../src/domain/errors.js";
import { createUrlAllowList, publicShapeUrl } from "../../src/domain/shape-url.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { PgCursorStore } from "../../src/storage/pg-cursor-store.js";
import { PgSourceStore } from "../../src/storage/pg-source-store.js";
import { InMemoryCursorStore } from "../support/fake-cursor-store.js";
import { type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

/** A loopback HTTP server that counts the requests it received. */
interface LoopbackServer {
  readonly origin: string;
  hits: number;
  close(): Promise<void>;
}

async function loopback(handler: http.RequestListener): Promise<LoopbackServer> {
  const server = http.createServer((req, res) => {
    result.hits++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const result: LoopbackServer = {
    origin: `http://127.0.0.1:${port}`,
    hits: 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return result;
}

/** A server that is hit only if someone follows the redirect, and a server redirecting to it. */
async function redirectPair(): Promise<{ target: LoopbackServer; redirector: LoopbackServer }> {
  const target = await loopback((_, res) => {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ message: "internal-only service says hello" }));
  });
  const redirector = await loopback((req, res) => {
    res.writeHead(302, { location: `${target.origin}${req.url}` });
    res.end("moved");
  });
  return { target, redirector };
}

const SECRET = "s3cr3t-electric-key";
let stack: Stack;
let pair: { target: LoopbackServer; redirector: LoopbackServer };

beforeAll(async () => {
  pair = await redirectPair();
  stack = await startStack({ env: { PGSYNC_ALLOWED_URLS: pair.redirector.origin } });
  await stack.sql.query("CREATE TABLE items (id int PRIMARY KEY, title text)");
});

afterAll(async () => {
  await stack?.close();
  await pair?.redirector.close();
  await pair?.target.close();
});

describe("outbound requests", () => {
  it("should never follow a redirect when probing, and name the status", async () => {
    const err = await stack.a
      .registerSource({ options: { table: "items", url: `${pair.redirector.origin}/v1/shape` } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((err as ConnectError).rawMessage).toMatch(/answered 302 \(a redirect\)/);
    expect((err as ConnectError).rawMessage).not.toContain("internal-only");
    expect(pair.redirector.hits).toBe(1);
    expect(pair.target.hits).toBe(0);
  });

  it("should never follow a redirect in the bridge: the source fails naming the status", async () => {
    const { target, redirector } = await redirectPair();
    const store = new InMemoryCursorStore();
    store.add("t1", "r1", { shapeHandle: "h1", shapeOffset: "0_0" });
    const bridge = new Bridge({
      tenant: "t1",
      sourceRef: "r1",
      options: { table: "items", replica: "default" },
      shapeUrl: `${redirector.origin}/v1/shape`,
      store,
      backoff: createBackoff({ sleep: async () => {} }),
      owner: "test",
      logger: createLogger("silent"),
      metrics: createMetrics({ withDefaults: false }),
      onStatus: () => {},
    });
    try {
      bridge.start();
      await bridge.done;
      expect(bridge.status.state).toBe("FAILED");
      expect(bridge.status.lastError).toMatch(/answered 302 \(a redirect\)/);
      expect(redirector.hits).toBe(1);
      expect(target.hits).toBe(0);
    } finally {
      await bridge.stop();
      await redirector.close();
      await target.close();
    }
  });

  it("should read at most a capped part of an error body", async () => {
    let sent = 0;
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, "x");
    const endless = await loopback((_, res) => {
      res.writeHead(400, { "content-type": "text/plain" });
      const pump = () => {
        while (sent < total && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => {
        sent = Math.min(sent, total);
      });
      pump();
    });
    try {
      const err = await probeShape(`${endless.origin}/v1/shape`, {
        table: "items",
        replica: "default",
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ShapeProbeFailedError);
      expect((err as Error).message).toMatch(/rejected the shape \(400\): x+$/);
      // What the kernel buffered beyond the cap, at most a few MiB, never the whole body.
      expect(sent).toBeLessThan(16 * 1024 * 1024);
      expect(PROBE_BODY_MAX_BYTES).toBe(64 * 1024);
    } finally {
      await endless.close();
    }
  });

  it("should say only 'unreachable' for refused and reset connections, without host, port or cause", async () => {
    const closed = await loopback(() => {});
    const closedUrl = `${closed.origin}/v1/shape`;
    await closed.close();
    const resetting = await loopback((req) => req.socket.destroy());
    const messages: string[] = [];
    for (const url of [closedUrl, `${resetting.origin}/v1/shape`]) {
      const err = await probeShape(url, { table: "items", replica: "default" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ShapeProbeFailedError);
      messages.push((err as Error).message);
    }
    await resetting.close();
    expect(new Set(messages).size).toBe(1);
    expect(messages[0]).toMatch(/unreachable/);
    expect(messages[0]).not.toMatch(/127\.0\.0\.1|ECONN|ENOTFOUND|socket|fetch failed/);
  });
});

describe("secrets in shape URLs", () => {
  it("should never return PGSYNC_ELECTRIC_URL's secret in RegisterSource, GetSource or ListSources", async () => {
    await stack.restart({ PGSYNC_ELECTRIC_URL: `${stack.shape.url}?secret=${SECRET}` });
    const registered = await stack.a.registerSource({ options: { table: "items", where: "id > 10" } });
    const got = await stack.a.getSource({ sourceRef: registered.sourceRef });
    const listed = await stack.a.listSources({});
    for (const response of [registered, got, listed]) {
      expect(JSON.stringify(response, (_, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(
        SECRET,
      );
    }
    expect(got.source?.shapeUrl).toBe(stack.shape.url);
    // The bridge itself still authenticates with it.
    const { rows } = await stack.sql.query<{ shape_url: string }>(
      "SELECT shape_url FROM pgsync.sources WHERE source_ref = $1",
      [registered.sourceRef],
    );
    expect(rows[0]?.shape_url).toContain(SECRET);
  });

  it.each([
    ["http://h:1/v1/shape?secret=a&table=t", "http://h:1/v1/shape?table=t"],
    ["http://user:pw@h:1/v1/shape?api_secret=a&token=b&password=c&x=1", "http://h:1/v1/shape?x=1"],
    ["not a url ?secret=a", "<invalid url>"],
  ])("should scrub %s", (raw, shown) => {
    expect(publicShapeUrl(raw)).toBe(shown);
  });
});

describe("stored URLs and the allow-list", () => {
  it("should fail a stored source whose origin was removed from the allow-list, saying so", async () => {
    const { sourceRef } = await stack.a.registerSource({ options: { table: "items", where: "id > 20" } });
    await stack.server.close(); // the source is resumable (STOPPED) with its URL stored
    const manager = new BridgeManager({
      sources: new PgSourceStore(stack.sql),
      cursors: new PgCursorStore(stack.sql),
      backoff: createBackoff(),
      owner: "allow-list-test",
      logger: createLogger("silent"),
      metrics: createMetrics({ withDefaults: false }),
      idleTtlMs: 0,
      gcIntervalMs: 60_000,
      isUrlAllowed: createUrlAllowList(["http://elsewhere.test"]),
    });
    const stored = async () =>
      (
        await stack.sql.query<{ state: string; last_error: string | null }>(
          "SELECT state, last_error FROM pgsync.sources WHERE tenant = 'tenant-a' AND source_ref = $1",
          [sourceRef],
        )
      ).rows[0];
    try {
      await manager.start();
      const row = await waitFor(async () => ((await stored())?.state === "FAILED" ? stored() : undefined), {
        what: "FAILED stored",
      });
      expect(row).toEqual({ state: "FAILED", last_error: URL_NO_LONGER_ALLOWED });
      expect(manager.isRunning("tenant-a", sourceRef)).toBe(false);
    } finally {
      // Last test of the file: the stack's server stays closed; afterAll closes the rest.
      await manager.stop();
    }
  });
});

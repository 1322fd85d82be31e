import { createServer as createHttpServer, type Server } from "node:http";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { toProtoOptions } from "@pg-sync/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { Replica, SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { TOKENS } from "../../scripts/lib/processes.js";
import { bearer, connectClient, type Stack, startStack } from "../support/stack-fixture.js";
import { SOURCE_REF_VECTORS } from "../support/vectors.js";
import { waitFor } from "../support/wait.js";

async function errorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

function reasonOf(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

let stack: Stack;
let notShape: Server;
let notShapeUrl: string;

async function sourceRows(): Promise<number> {
  const { rows } = await stack.sql.query<{ n: string }>("SELECT count(*) AS n FROM pgsync.sources");
  return Number(rows[0]?.n);
}

beforeAll(async () => {
  // A plain HTTP server answering 200 without Electric headers: "not a shape log".
  notShape = createHttpServer((_req, res) =>
    res.writeHead(200, { "content-type": "text/html" }).end("<html></html>"),
  );
  await new Promise<void>((r) => notShape.listen(0, "127.0.0.1", r));
  const addr = notShape.address();
  notShapeUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/v1/shape`;
  stack = await startStack({
    env: { PGSYNC_ALLOWED_URLS: `${new URL(notShapeUrl).origin},http://127.0.0.1:1` },
  });
  await stack.sql.query(
    `CREATE TABLE todos (id int PRIMARY KEY, text text, done boolean DEFAULT false, a text, b text, c text, emoji text)`,
  );
  await stack.sql.query(
    `CREATE TABLE "tâches" (id int PRIMARY KEY, titre text, emoji text, a text, b text, c text)`,
  );
  await stack.sql.query(
    `CREATE SCHEMA "My Schema"; CREATE TABLE "My Schema"."Todo Items" (id int PRIMARY KEY)`,
  );
  await stack.sql.query(`CREATE TABLE weird (id int PRIMARY KEY, "weird""quote" text)`);
});

afterAll(async () => {
  await stack?.close();
  notShape?.close();
});

describe("RegisterSource", () => {
  const servable = SOURCE_REF_VECTORS.vectors.filter((v) => {
    const o = v.options;
    // Vectors with their own url point at upstream's localhost:3000; the next test covers urls.
    return o.url === undefined;
  });

  it.each(servable.map((v) => [v.name, v] as const))(
    "should return the vector's source_ref through RegisterSource: %s",
    async (_name, v) => {
      const res = await stack.a.registerSource({ options: toProtoOptions(v.options) });
      expect(res.sourceRef).toBe(v.source_ref);
    },
  );

  it("should hash the url when given, exactly like upstream", async () => {
    const v = SOURCE_REF_VECTORS.vectors.find((x) => x.name === "upstream: url and table");
    expect(v).toBeDefined();
    // Same options with the shape server's own url: the ref is the FNV of that canonical JSON.
    const res = await stack.a.registerSource({
      options: toProtoOptions({ url: stack.shape.url, table: "todos" }),
    });
    const { sourceRefFor } = await import("../../src/domain/source-ref.js");
    expect(res.sourceRef).toBe(sourceRefFor({ url: stack.shape.url, table: "todos" }));
  });

  it("should be idempotent: created once, then created=false with the same ref and no second bridge", async () => {
    // prom-client hands out its live value objects: copy the number.
    const streams = async () => (await stack.server.metrics.electricStreams.get()).values[0]?.value ?? 0;
    // Earlier tests' bridges open their streams in the background: let them settle first.
    const bridges = () => [...stack.server.bridges.counts().values()].reduce((a, b) => a + b, 0);
    await waitFor(async () => (await streams()) >= bridges(), { what: "earlier bridges' streams" });
    const before = await streams();
    const first = await stack.a.registerSource({ options: { table: "todos", where: "id > 100" } });
    const second = await stack.a.registerSource({ options: { table: "todos", where: "id > 100" } });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.sourceRef).toBe(first.sourceRef);
    const opened = async () => (await streams()) - before;
    await waitFor(async () => (await opened()) >= 1, { what: "the bridge's shape stream" });
    const third = await stack.a.registerSource({ options: { table: "todos", where: "id > 100" } });
    expect(third.created).toBe(false);
    expect(stack.server.bridges.isRunning("tenant-a", first.sourceRef)).toBe(true);
    expect(await opened()).toBe(1);
  });

  it("should converge 20 concurrent identical registrations on one row and one created=true", async () => {
    const options = { table: "todos", where: "id > 200" };
    const results = await Promise.all(Array.from({ length: 20 }, () => stack.a.registerSource({ options })));
    expect(new Set(results.map((r) => r.sourceRef)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const { rows } = await stack.sql.query("SELECT 1 FROM pgsync.sources WHERE source_ref = $1", [
      results[0]?.sourceRef,
    ]);
    expect(rows).toHaveLength(1);
    expect(stack.server.bridges.isRunning("tenant-a", results[0]?.sourceRef as string)).toBe(true);
  });

  it.each<[string, Parameters<Stack["a"]["registerSource"]>[0], string]>([
    ["missing options", {}, "options"],
    ["blank table", { options: { table: "  " } }, "options.table"],
    ["bad table name", { options: { table: "todos; drop table x" } }, "options.table"],
    ["blank column", { options: { table: "todos", columns: ["id", ""] } }, "options.columns[1]"],
    ["database url", { options: { table: "todos", url: "postgres://u@h/db" } }, "options.url"],
    ["blank where", { options: { table: "todos", where: " " } }, "options.where"],
    [
      "non-numeric param key",
      { options: { table: "todos", params: { case: "namedParams", value: { values: { x: "1" } } } } },
      'options.named_params.values["x"]',
    ],
    ["too long table", { options: { table: "t".repeat(300) } }, "options.table"],
  ])(
    "should reject %s with INVALID_ARGUMENT naming the field and write nothing",
    async (_name, req, field) => {
      const before = await sourceRows();
      const err = await errorOf(stack.a.registerSource(req));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage.startsWith(`${field}:`)).toBe(true);
      expect(reasonOf(err)).toBe("INVALID_SOURCE_OPTIONS");
      expect(await sourceRows()).toBe(before);
    },
  );

  it("should refuse a url outside the allow-list with PERMISSION_DENIED", async () => {
    const err = await errorOf(
      stack.a.registerSource({ options: { table: "todos", url: "http://198.51.100.7:3000/v1/shape" } }),
    );
    expect(err.code).toBe(Code.PermissionDenied);
    expect(reasonOf(err)).toBe("URL_NOT_ALLOWED");
    expect(err.rawMessage).toContain("options.url");
  });

  it.each<[string, () => string, RegExp]>([
    ["an unknown table", () => stack.shape.url, /rejected the shape \(400\).*table/i],
    ["an unreachable endpoint", () => "http://127.0.0.1:1/v1/shape", /unreachable/],
    ["an endpoint that is not a shape log", () => notShapeUrl, /not an Electric shape log.*\/v1\/shape/],
  ])(
    "should fail the probe of %s with FAILED_PRECONDITION and store nothing",
    async (_name, url, message) => {
      const before = await sourceRows();
      const table = url() === stack.shape.url ? "no_such_table" : "todos";
      const err = await errorOf(stack.a.registerSource({ options: { table, url: url() } }));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(reasonOf(err)).toBe("SHAPE_PROBE_FAILED");
      expect(err.rawMessage).toMatch(message);
      expect(await sourceRows()).toBe(before);
    },
  );

  it.each<[string, Parameters<Stack["a"]["registerSource"]>[0], string, RegExp]>([
    [
      "a where clause that does not parse",
      { options: { table: "todos", where: "1 x 1" } },
      "options.where",
      /syntax error/,
    ],
    [
      "an unknown column in where",
      { options: { table: "todos", where: "nope = 1" } },
      "options.where",
      /nope/,
    ],
    [
      "an unknown column",
      { options: { table: "todos", columns: ["id", "nope"] } },
      "options.columns",
      /nope/,
    ],
    [
      "a missing parameter",
      { options: { table: "todos", where: "id > $1" } },
      "options.positional_params",
      /\$1/,
    ],
  ])(
    "should reject %s with INVALID_ARGUMENT naming the field, keeping the shape endpoint's message",
    async (_name, req, field, message) => {
      const before = await sourceRows();
      const err = await errorOf(stack.a.registerSource(req));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(reasonOf(err)).toBe("INVALID_SOURCE_OPTIONS");
      expect(err.findDetails(ErrorInfoSchema)[0]?.metadata.field).toBe(field);
      expect(err.rawMessage.startsWith(`${field}: `)).toBe(true);
      expect(err.rawMessage).toMatch(message);
      expect(err.rawMessage).not.toMatch(/bind message|prepared statement|shape endpoint.*shape endpoint/);
      expect(err.rawMessage).not.toContain(stack.shape.origin);
      expect(await sourceRows()).toBe(before);
    },
  );

  it("should register over Connect HTTP/1.1, Connect HTTP/2, gRPC-Web and gRPC (grpc-js)", async () => {
    const options = { table: "todos", where: "id > 300" };
    const h1 = await connectClient(stack.url, TOKENS.a, "1.1").registerSource({ options });
    const h2 = await connectClient(stack.url, TOKENS.a, "2").registerSource({ options });
    const web = await createClient(
      PgSyncService,
      createGrpcWebTransport({ baseUrl: stack.url, httpVersion: "1.1", interceptors: [bearer(TOKENS.a)] }),
    ).registerSource({ options });
    const { grpcJsRegister } = await import("../support/grpc-js.js");
    const grpc = await grpcJsRegister(stack.url, TOKENS.a, options);
    expect(new Set([h1.sourceRef, h2.sourceRef, web.sourceRef, grpc.sourceRef]).size).toBe(1);
    expect([h1.created, h2.created, web.created, grpc.created].filter(Boolean)).toHaveLength(1);
  });
});

describe("tenant isolation", () => {
  it("should hide tenant A's source from tenant B: NOT_FOUND on get, delete and cursor, absent from list", async () => {
    const { sourceRef } = await stack.a.registerSource({ options: { table: "todos", where: "id > 400" } });
    for (const call of [
      () => stack.b.getSource({ sourceRef }),
      () => stack.b.deleteSource({ sourceRef }),
      () => stack.b.getCursor({ sourceRef }),
    ]) {
      const err = await errorOf(call());
      expect(err.code).toBe(Code.NotFound);
      expect(reasonOf(err)).toBe("SOURCE_NOT_FOUND");
    }
    const list = await stack.b.listSources({});
    expect(list.sources.map((s) => s.sourceRef)).not.toContain(sourceRef);
    expect((await stack.a.getSource({ sourceRef })).source?.sourceRef).toBe(sourceRef);
  });

  it("should answer an unknown ref exactly like a foreign one", async () => {
    const err = await errorOf(stack.b.getSource({ sourceRef: "0123456789abcdef" }));
    expect(err.code).toBe(Code.NotFound);
    expect(reasonOf(err)).toBe("SOURCE_NOT_FOUND");
  });

  it("should ignore metadata or headers claiming another tenant", async () => {
    const spoof = createClient(
      PgSyncService,
      createGrpcWebTransport({
        baseUrl: stack.url,
        httpVersion: "1.1",
        interceptors: [
          bearer(TOKENS.b),
          (next) => async (req) => {
            req.header.set("x-tenant", "tenant-a");
            req.header.set("tenant", "tenant-a");
            return next(req);
          },
        ],
      }),
    );
    const res = await spoof.registerSource({
      options: { table: "todos", where: "id > 500", metadata: { tenantId: "tenant-a" } },
    });
    const { rows } = await stack.sql.query<{ tenant: string }>(
      "SELECT tenant FROM pgsync.sources WHERE source_ref = $1",
      [res.sourceRef],
    );
    expect(rows.map((r) => r.tenant)).toEqual(["tenant-b"]);
  });

  it("should refuse calls without a valid token", async () => {
    expect((await errorOf(connectClient(stack.url, undefined).listSources({}))).code).toBe(
      Code.Unauthenticated,
    );
    expect((await errorOf(connectClient(stack.url, "wrong").listSources({}))).code).toBe(
      Code.Unauthenticated,
    );
  });
});

describe("GetSource, ListSources, DeleteSource, GetCursor", () => {
  it("should page through sources in ref order with opaque tokens", async () => {
    for (let i = 0; i < 5; i++)
      await stack.b.registerSource({ options: { table: "todos", where: `id = ${1000 + i}` } });
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await stack.b.listSources({ pageSize: 2, pageToken });
      expect(page.sources.length).toBeLessThanOrEqual(2);
      seen.push(...page.sources.map((s) => s.sourceRef));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect((await errorOf(stack.b.listSources({ pageToken: "garbage" }))).code).toBe(Code.InvalidArgument);
  });

  it("should show a registered source with its options, state and times, and its cursor", async () => {
    const { sourceRef, source } = await stack.a.registerSource({
      options: { table: "todos", columns: ["id", "text"], replica: Replica.FULL },
    });
    expect(source?.options?.columns).toEqual(["id", "text"]);
    expect(source?.options?.replica).toBe(Replica.FULL);
    expect(source?.createTime).toBeDefined();
    expect([SourceState.STARTING, SourceState.LIVE]).toContain(source?.state);
    const { cursor } = await stack.a.getCursor({ sourceRef });
    expect(cursor?.shapeHandle).not.toBe("");
    expect(cursor?.shapeOffset).toMatch(/^\d+_(\d+|inf)$|^-1$/);
  });

  it("should delete a source registered a moment ago, every time (stop racing the bridge's start)", async () => {
    for (let i = 0; i < 30; i++) {
      const { sourceRef } = await stack.a.registerSource({
        options: { table: "todos", where: `id > ${1000 + i}` },
      });
      await stack.a.deleteSource({ sourceRef }, { timeoutMs: 10_000 });
      expect(stack.server.bridges.isRunning("tenant-a", sourceRef)).toBe(false);
    }
  });

  it("should delete a source with its cursor and log", async () => {
    const { sourceRef } = await stack.a.registerSource({ options: { table: "todos", where: "id > 600" } });
    await stack.a.deleteSource({ sourceRef });
    expect((await errorOf(stack.a.getSource({ sourceRef }))).code).toBe(Code.NotFound);
    const { rows } = await stack.sql.query("SELECT 1 FROM pgsync.cursors WHERE source_ref = $1", [sourceRef]);
    expect(rows).toHaveLength(0);
    expect(stack.server.bridges.isRunning("tenant-a", sourceRef)).toBe(false);
  });
});

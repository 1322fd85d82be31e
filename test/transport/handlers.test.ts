import {
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createRouterTransport,
} from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { ConsumerGroupService } from "../../src/domain/consumer-group-service.js";
import { ShapeProbeFailedError } from "../../src/domain/errors.js";
import type { BridgeControl, ShapeProber } from "../../src/domain/ports.js";
import { SourceRegistry } from "../../src/domain/source-registry.js";
import { WatchService } from "../../src/domain/watch-service.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { migrate } from "../../src/storage/migrate.js";
import { PgChangeLog } from "../../src/storage/pg-change-log.js";
import { PgConsumerGroupStore } from "../../src/storage/pg-consumer-group-store.js";
import { PgCursorStore } from "../../src/storage/pg-cursor-store.js";
import { PgNotifier } from "../../src/storage/pg-notifier.js";
import { PgSourceStore } from "../../src/storage/pg-source-store.js";
import { createAuthenticator } from "../../src/transport/auth.js";
import { ConsumerGroupHandlers } from "../../src/transport/consumer-group-handlers.js";
import { ERROR_DOMAIN } from "../../src/transport/errors.js";
import { createInterceptorChain } from "../../src/transport/interceptors.js";
import { PgSyncServiceImpl, RESUME_TOKEN_TRAILER } from "../../src/transport/pg-sync-service.js";
import { pgSyncRoutes } from "../../src/transport/routes.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { bearer } from "../support/stack-fixture.js";

const SHAPE_URL = "http://127.0.0.1:1/v1/shape";
const TOKENS = new Map([
  ["tok-a", "tenant-a"],
  ["tok-b", "tenant-b"],
]);

/** Probe answers keyed by table: a cursor, or an error to throw. */
const probeAnswers = new Map<string, Error>();
const probe: ShapeProber = async (_url, options) => {
  const failure = probeAnswers.get(options.table);
  if (failure) throw failure;
  return { shapeHandle: "h-1", shapeOffset: "0_0", logMode: "changes_only" };
};
const noBridges: BridgeControl = { ensure: () => {}, view: () => undefined, remove: async () => {} };

let db: TestDatabase;
let pool: pg.Pool;
let notifier: PgNotifier;
const shutdown = new AbortController();

/** The real handlers, domain and Postgres stores behind Connect's in-memory router transport. */
function routerClient(statePool: pg.Pool, token: string | undefined, signal?: AbortSignal) {
  const sources = new PgSourceStore(statePool);
  const cursors = new PgCursorStore(statePool);
  const registry = new SourceRegistry({
    store: sources,
    cursors,
    bridges: noBridges,
    defaultShapeUrl: SHAPE_URL,
    allowedOrigins: [new URL(SHAPE_URL).origin],
    probe,
  });
  const watch = new WatchService({
    registry,
    reader: new PgChangeLog(statePool),
    notifier,
    retain: () => () => {},
    touchWatched: (tenant, refs) => sources.touchWatched(tenant, refs),
    limits: { maxBufferedFrames: 100, stallTimeoutMs: 10_000, readPageSize: 100 },
    maxStreamsPerTenant: 10,
  });
  const groups = new ConsumerGroupService({
    registry,
    store: new PgConsumerGroupStore(statePool),
    reader: new PgChangeLog(statePool),
    notifier,
    retain: () => () => {},
    limits: {
      windowSize: 100,
      readPageSize: 100,
      pollIntervalMs: 1_000,
      maxGroupsPerTenant: 10,
      maxStreamsPerTenant: 10,
    },
    onError: () => {},
  });
  const impl = new PgSyncServiceImpl({
    registry,
    watch,
    metrics: createMetrics({ withDefaults: false }),
    groups: new ConsumerGroupHandlers(groups),
  });
  const interceptors = createInterceptorChain({
    logger: createLogger("silent"),
    authenticator: createAuthenticator({
      tokens: TOKENS,
      jwtSecret: undefined,
      jwksFile: undefined,
      jwtIssuer: undefined,
      jwtAudience: undefined,
      insecureNoAuth: false,
      jwtMaxLifetimeMs: 86_400_000,
      jwtClockSkewMs: 30_000,
    }),
    exemptServices: [],
  });
  const transport = createRouterTransport((router: ConnectRouter) => pgSyncRoutes(impl)(router), {
    router: { interceptors, ...(signal ? { shutdownSignal: signal } : {}) },
    transport: {
      interceptors: token ? [bearer(token)] : [],
    },
  });
  return { client: createClient(PgSyncService, transport), cursors };
}

/** The ConnectError a call ends with. */
async function failureOf(call: Promise<unknown> | AsyncIterable<unknown>): Promise<ConnectError> {
  try {
    if (Symbol.asyncIterator in call) for await (const _ of call);
    else await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

function errorInfo(err: ConnectError) {
  const [info] = err.findDetails(ErrorInfoSchema);
  return info;
}

beforeAll(async () => {
  db = await createTestDatabase("handlers");
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await migrate(pool);
  notifier = new PgNotifier(db.url, createLogger("silent"));
  await notifier.start();
});

afterAll(async () => {
  shutdown.abort();
  await notifier?.stop();
  await pool?.end();
  await db?.drop();
});

describe("PgSyncService handlers", () => {
  it("should register a source idempotently and read it back", async () => {
    const { client } = routerClient(pool, "tok-a");
    const first = await client.registerSource({ options: { table: "todos" } });
    const again = await client.registerSource({ options: { table: "todos" } });
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.sourceRef).toBe(first.sourceRef);
    const { source } = await client.getSource({ sourceRef: first.sourceRef });
    expect(source?.options?.table).toBe("todos");
    const { sources } = await client.listSources({});
    expect(sources.map((s) => s.sourceRef)).toContain(first.sourceRef);
  });

  it("should map invalid options to INVALID_ARGUMENT with an ErrorInfo naming the field", async () => {
    const { client } = routerClient(pool, "tok-a");
    const err = await failureOf(client.registerSource({ options: { table: "todos", columns: [""] } }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/^options\.columns\[0\]: /);
    const info = errorInfo(err);
    expect(info?.reason).toBe("INVALID_SOURCE_OPTIONS");
    expect(info?.domain).toBe(ERROR_DOMAIN);
    expect(info?.metadata.field).toBe("options.columns[0]");
  });

  it("should answer NOT_FOUND for another tenant's source, never a hint that it exists", async () => {
    const a = routerClient(pool, "tok-a").client;
    const b = routerClient(pool, "tok-b").client;
    const { sourceRef } = await a.registerSource({ options: { table: "todos", where: "id > 1" } });
    const calls = [
      () => b.getSource({ sourceRef }),
      () => b.getCursor({ sourceRef }),
      () => b.deleteSource({ sourceRef }),
    ];
    for (const call of calls) {
      const err = await failureOf(call());
      expect(err.code).toBe(Code.NotFound);
      expect(errorInfo(err)?.reason).toBe("SOURCE_NOT_FOUND");
    }
  });

  it("should map a URL outside the allow-list to PERMISSION_DENIED and a failed probe to FAILED_PRECONDITION", async () => {
    const { client } = routerClient(pool, "tok-a");
    const denied = await failureOf(
      client.registerSource({ options: { table: "todos", url: "http://elsewhere.test/v1/shape" } }),
    );
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(errorInfo(denied)?.reason).toBe("URL_NOT_ALLOWED");
    probeAnswers.set("missing_table", new ShapeProbeFailedError("table does not exist", 400));
    const failed = await failureOf(client.registerSource({ options: { table: "missing_table" } }));
    expect(failed.code).toBe(Code.FailedPrecondition);
    expect(errorInfo(failed)?.metadata.status).toBe("400");
  });

  it("should map an unexpected error to INTERNAL with a generic message that hides the cause", async () => {
    probeAnswers.set("boom", new Error("secret detail postgres://u:pw@host/db"));
    const { client } = routerClient(pool, "tok-a");
    const err = await failureOf(client.registerSource({ options: { table: "boom" } }));
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toBe("internal error");
    expect(JSON.stringify(err.details)).not.toContain("secret");
  });

  it("should reject a call without credentials with UNAUTHENTICATED", async () => {
    const { client } = routerClient(pool, undefined);
    expect((await failureOf(client.listSources({}))).code).toBe(Code.Unauthenticated);
  });

  it("should map an unreachable state database to UNAVAILABLE", async () => {
    const dead = new pg.Pool({ connectionString: "postgres://u@127.0.0.1:1/none", max: 1 });
    try {
      const { client } = routerClient(dead, "tok-a");
      const err = await failureOf(client.listSources({}));
      expect(err.code).toBe(Code.Unavailable);
      expect(errorInfo(err)?.reason).toBe("STATE_DB_UNAVAILABLE");
    } finally {
      await dead.end();
    }
  });

  it("should map a bad WatchWakes request and an unknown source at stream open", async () => {
    const { client } = routerClient(pool, "tok-a");
    const bad = await failureOf(client.watchWakes({ sourceRefs: [] }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(errorInfo(bad)?.metadata.field).toBe("source_refs");
    const unknown = await failureOf(client.watchWakes({ sourceRefs: ["0123456789abcdef"] }));
    expect(unknown.code).toBe(Code.NotFound);
  });

  it("should stream a wake, then end with the shutdown error and the resume token trailer", async () => {
    const stop = new AbortController();
    const { client, cursors } = routerClient(pool, "tok-a", stop.signal);
    const { sourceRef } = await client.registerSource({ options: { table: "streamed" } });
    const stream = client.watchWakes({ sourceRefs: [sourceRef] })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.event.case).toBe("ready");
    const claimed = await cursors.claim("tenant-a", sourceRef, "test");
    await cursors.commit({
      tenant: "tenant-a",
      sourceRef,
      generation: claimed?.generation ?? 0n,
      shapeHandle: "h-1",
      shapeOffset: "1_0",
      gap: undefined,
      changes: [
        { key: "k1", operation: "insert", value: { id: "1" }, oldValue: undefined, offset: "1_0", txids: [] },
      ],
      upToDate: true,
    });
    const wake = (await stream.next()).value;
    expect(wake?.event.case).toBe("wake");
    stop.abort(new ConnectError("server shutting down", Code.Unavailable));
    const err = await failureOf({ [Symbol.asyncIterator]: () => stream });
    expect(err.code).toBe(Code.Unavailable);
    expect(err.metadata.get(RESUME_TOKEN_TRAILER)).toBeTruthy();
  });
});

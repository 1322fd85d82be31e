import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { type Child, pgSyncEnv, startShapeServerProcess, TOKENS } from "../../scripts/lib/processes.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { createServer, HEALTH_SERVICES, type PgSyncServer } from "../../src/server.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { connectClient, type PgSyncClient } from "../support/stack-fixture.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/wait.js";

// pg-sync's state database is its own here (as in production it may be), apart from the
// application database the shape server replicates, so it can go away on its own.
let state: TestDatabase;
let app: TestDatabase;
let appSql: pg.Pool;
let proxy: TcpProxy;
let shape: { child: Child; url: string };
let server: PgSyncServer;
let client: PgSyncClient;

beforeAll(async () => {
  state = await createTestDatabase("state");
  app = await createTestDatabase("app");
  appSql = new pg.Pool({ connectionString: app.url, max: 2 });
  // pg-sync reaches its state database through a proxy that the test can cut.
  const target = new URL(state.url);
  proxy = await startTcpProxy(target.hostname, Number(target.port));
  const viaProxy = new URL(state.url);
  viaProxy.port = String(proxy.port);
  await appSql.query("CREATE TABLE orders (id int PRIMARY KEY, total numeric)");
  shape = await startShapeServerProcess(app.url, { SHAPE_LONG_POLL_TIMEOUT_MS: "1000" });
  const config = loadConfig(pgSyncEnv(viaProxy.toString(), shape.url, 0, { PGSYNC_LOG_LEVEL: "silent" }));
  server = await createServer(config, createLogger(config.logLevel), { healthCheckIntervalMs: 200 });
  const { url } = await server.listen();
  client = connectClient(url, TOKENS.a);
});

afterAll(async () => {
  await proxy?.restore().catch(() => {});
  await server?.close();
  await proxy?.close();
  await shape?.child.stop("SIGTERM");
  await appSql?.end();
  await state?.drop();
  await app?.drop();
});

describe("state database outage", () => {
  it("should go NOT_SERVING, keep the other side healthy, then resume with nothing lost and wake its watcher", async () => {
    const { sourceRef } = await client.registerSource({ options: { table: "orders" } });
    await waitFor(async () => (await client.getCursor({ sourceRef })).cursor?.state === SourceState.LIVE, {
      what: "LIVE",
    });
    const seen = new Set<string>();
    let watchError: ConnectError | undefined;
    const aborter = new AbortController();
    const watching = (async () => {
      try {
        for await (const f of client.watchWakes({ sourceRefs: [sourceRef] }, { signal: aborter.signal })) {
          if (f.event.case === "wake") for (const c of f.event.value.changes) seen.add(c.key);
        }
      } catch (err) {
        if (!aborter.signal.aborted) watchError = ConnectError.from(err);
      }
    })();
    await appSql.query("INSERT INTO orders VALUES (1, 10)");
    await waitFor(() => seen.size === 1, { what: "the first wake" });

    await proxy.cut(); // connections drop; new ones are refused
    await waitFor(
      () => server.health.get(HEALTH_SERVICES.bridges) === HealthCheckResponse_ServingStatus.NOT_SERVING,
      {
        what: "pgsync.bridges NOT_SERVING",
      },
    );
    expect(server.health.get(HEALTH_SERVICES.overall)).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
    // Calls fail as retryable, not as internal errors.
    const err = await client.getCursor({ sourceRef }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.Unavailable);
    // Rows committed while pg-sync cannot write its log: Electric has them, the cursor has not moved.
    await appSql.query("INSERT INTO orders SELECT g, g FROM generate_series(2, 50) g");

    await proxy.restore();
    await waitFor(
      () => server.health.get(HEALTH_SERVICES.bridges) === HealthCheckResponse_ServingStatus.SERVING,
      {
        what: "pgsync.bridges SERVING again",
        timeoutMs: 20_000,
      },
    );
    await appSql.query("INSERT INTO orders VALUES (51, 51)");
    await waitFor(
      async () => {
        const sql = new pg.Client({ connectionString: state.url });
        await sql.connect();
        try {
          const { rows } = await sql.query<{ n: string; d: string }>(
            "SELECT count(*) AS n, count(DISTINCT key) AS d FROM pgsync.changes WHERE source_ref = $1 AND kind = 'change'",
            [sourceRef],
          );
          return rows[0]?.n === "51" && rows[0]?.d === "51";
        } finally {
          await sql.end();
        }
      },
      { what: "all 51 changes logged exactly once", timeoutMs: 30_000 },
    );
    // The watcher either kept its stream (its notifier resynced) or was told to reconnect.
    if (watchError) {
      expect(watchError.code).toBe(Code.Unavailable);
    } else {
      await waitFor(() => seen.size === 51, { what: "every wake at the watcher", timeoutMs: 20_000 });
    }
    aborter.abort();
    await watching;
  });
});

import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { type Child, pgSyncEnv, startShapeServerProcess, TOKENS } from "../../scripts/lib/processes.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { createServer, type PgSyncServer, type ServerOverrides } from "../../src/server.js";
import { createTestDatabase, type TestDatabase } from "./db.js";

/** A typed pg-sync client. */
export type PgSyncClient = Client<typeof PgSyncService>;

/** Adds `authorization: Bearer <token>` to every call. */
export function bearer(token: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** A Connect client over HTTP/2 (default) or HTTP/1.1. */
export function connectClient(
  baseUrl: string,
  token: string | undefined,
  httpVersion: "1.1" | "2" = "2",
): PgSyncClient {
  return createClient(PgSyncService, connectTransport(baseUrl, token, httpVersion));
}

/** A Connect transport with an optional bearer token. */
export function connectTransport(
  baseUrl: string,
  token: string | undefined,
  httpVersion: "1.1" | "2" = "2",
): Transport {
  return createConnectTransport({ baseUrl, httpVersion, interceptors: token ? [bearer(token)] : [] });
}

/** Everything a full-stack test needs. */
export interface Stack {
  readonly db: TestDatabase;
  /** Pool on the test database (app tables live here too). */
  readonly sql: pg.Pool;
  readonly shape: { child: Child; url: string; origin: string };
  server: PgSyncServer;
  url: string;
  /** Tenant A and B clients (Connect over HTTP/2). */
  a: PgSyncClient;
  b: PgSyncClient;
  /** Restarts pg-sync in-process on the same database (and the same port when possible). */
  restart(env?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startStack}. */
export interface StackOptions {
  /** Extra PGSYNC_* environment for pg-sync. */
  readonly env?: Record<string, string>;
  /** Extra SHAPE_* environment for the shape server. */
  readonly shapeEnv?: Record<string, string>;
  /** Server overrides (e.g. a counting fetch). */
  readonly overrides?: ServerOverrides;
}

async function startServer(databaseUrl: string, shapeUrl: string, port: number, options: StackOptions) {
  const config = loadConfig(
    pgSyncEnv(databaseUrl, shapeUrl, port, {
      PGSYNC_LOG_LEVEL: process.env.PGSYNC_TEST_LOG_LEVEL ?? "warn",
      ...options.env,
    }),
  );
  const server = await createServer(config, createLogger(config.logLevel), options.overrides ?? {});
  const { url } = await server.listen();
  return { server, url };
}

/** Starts a database, the shape server (child process) and pg-sync (in process). */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const db = await createTestDatabase("stack");
  const sql = new pg.Pool({ connectionString: db.url, max: 4 });
  const shape = await startShapeServerProcess(db.url, {
    SHAPE_LONG_POLL_TIMEOUT_MS: "1000",
    ...options.shapeEnv,
  });
  const first = await startServer(db.url, shape.url, 0, options);
  const stack: Stack = {
    db,
    sql,
    shape,
    server: first.server,
    url: first.url,
    a: connectClient(first.url, TOKENS.a),
    b: connectClient(first.url, TOKENS.b),
    async restart(env = {}) {
      await stack.server.close();
      const port = Number(new URL(stack.url).port);
      const next = await startServer(db.url, shape.url, port, {
        ...options,
        env: { ...options.env, ...env },
      });
      stack.server = next.server;
      stack.url = next.url;
      stack.a = connectClient(next.url, TOKENS.a);
      stack.b = connectClient(next.url, TOKENS.b);
    },
    async close() {
      await stack.server.close().catch(() => {});
      await shape.child.stop("SIGTERM");
      await sql.end();
      await db.drop();
    },
  };
  return stack;
}

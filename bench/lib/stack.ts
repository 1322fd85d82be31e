/** The processes under test: a throwaway Postgres, the shape server and pg-sync, always cleaned up. */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import {
  pgSyncEnv,
  type Runtime,
  type Child as ServerChild,
  startPgSyncProcess,
  startShapeServerProcess,
  TOKENS,
} from "../../scripts/lib/processes.js";
import { track } from "./child.js";

const ROOT = resolve(import.meta.dirname, "../..");

/** Async closers run in reverse order of registration (also on failure). */
export class Cleanup {
  readonly #closers: Array<{ what: string; close: () => Promise<void> | void }> = [];

  /** Registers `close`; returns a function that runs it now (once) and unregisters it. */
  add(what: string, close: () => Promise<void> | void): () => Promise<void> {
    const entry = { what, close };
    this.#closers.push(entry);
    return async () => {
      const i = this.#closers.indexOf(entry);
      if (i < 0) return;
      this.#closers.splice(i, 1);
      await entry.close();
    };
  }

  /** Runs every closer, newest first, logging (not throwing) failures. */
  async run(): Promise<void> {
    while (this.#closers.length > 0) {
      const { what, close } = this.#closers.pop()!;
      try {
        await close();
      } catch (err) {
        console.error(`[bench] cleanup of ${what} failed: ${String(err)}`);
      }
    }
  }
}

/** A throwaway Postgres cluster (scripts/pg.sh). */
export interface Cluster {
  readonly adminUrl: string;
  readonly dir: string;
  readonly postmasterPid: number;
  readonly version: string;
  /**
   * Creates database `name`; returns its URL. `synchronousCommit` overrides the cluster's
   * `synchronous_commit=off` (scripts/pg.sh) for the database: with `off`, commits reach the WAL
   * (and so logical replication) only when the WAL writer flushes, every `wal_writer_delay`
   * (200 ms), which would dominate any end-to-end latency.
   */
  createDatabase(name: string, options?: { synchronousCommit?: boolean }): Promise<string>;
}

/** Starts a cluster in a new directory under /tmp; destroyed by `cleanup` unless `keep`. */
export async function startCluster(cleanup: Cleanup, keep: boolean): Promise<Cluster> {
  const parent = mkdtempSync("/tmp/pgsync-bench-");
  chmodSync(parent, 0o755);
  const dir = join(parent, "pg");
  cleanup.add("Postgres cluster", () => {
    if (keep) console.log(`[bench] keeping Postgres in ${dir}`);
    else {
      execFileSync("bash", [join(ROOT, "scripts/pg.sh"), "destroy", dir], { stdio: "inherit" });
      rmSync(parent, { recursive: true, force: true });
    }
  });
  const adminUrl = execFileSync("bash", [join(ROOT, "scripts/pg.sh"), "start", dir], {
    encoding: "utf8",
  }).trim();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const version = (await admin.query<{ server_version: string }>("SHOW server_version")).rows[0]!
    .server_version;
  await admin.end();
  return {
    adminUrl,
    dir,
    postmasterPid: Number(readFileSync(join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0]),
    version,
    async createDatabase(name, options = {}) {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`CREATE DATABASE ${name}`);
      if (options.synchronousCommit) await c.query(`ALTER DATABASE ${name} SET synchronous_commit = on`);
      await c.end();
      return adminUrl.replace(/\/postgres$/, `/${name}`);
    },
  };
}

/** Creates a benchmark table; `ts` defaults to the wall clock (epoch ms) when the row is written. */
export async function createBenchTable(sql: pg.Pool | pg.Client, table: string): Promise<void> {
  await sql.query(
    `CREATE TABLE ${table} (id int8 PRIMARY KEY, bucket int NOT NULL, payload text,
       ts float8 NOT NULL DEFAULT extract(epoch FROM clock_timestamp()) * 1000)`,
  );
}

/**
 * How the bench runs pg-sync and the shape server: their production build by default (what
 * `npm start` and `npm run shape-server` run; bench/run.ts builds it first when stale), or
 * through tsx with `BENCH_RUNTIME=tsx` (what the figures before the fourth 2026-11-30 session ran).
 */
export const BENCH_RUNTIME: Runtime = process.env.BENCH_RUNTIME === "tsx" ? "tsx" : "compiled";

/** A running shape server. */
export interface ShapeServer {
  readonly url: string;
  readonly origin: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts the bundled shape server (child process) on `databaseUrl`. */
export async function startShapeServer(cleanup: Cleanup, databaseUrl: string): Promise<ShapeServer> {
  const shape = await startShapeServerProcess(
    databaseUrl,
    { SHAPE_LONG_POLL_TIMEOUT_MS: "20000", SHAPE_LOG_LEVEL: "warn" },
    BENCH_RUNTIME,
  );
  track(shape.child.process);
  const stop = cleanup.add("shape server", async () => {
    await shape.child.stop("SIGTERM");
  });
  return { url: shape.url, origin: shape.origin, pid: shape.child.process.pid!, stop };
}

/** A running pg-sync process. */
export interface PgSync {
  readonly url: string;
  readonly pid: number;
  readonly child: ServerChild;
  /** Client as tenant A (Connect over HTTP/2). */
  readonly client: ReturnType<typeof pgSyncClient>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** A Connect client (HTTP/2) with tenant A's token. */
export function pgSyncClient(baseUrl: string) {
  return createClient(
    PgSyncService,
    createConnectTransport({
      baseUrl,
      httpVersion: "2",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${TOKENS.a}`);
          return next(req);
        },
      ],
    }),
  );
}

/** Options of {@link startPgSync}. */
export interface PgSyncOptions {
  /** Extra PGSYNC_* environment. */
  readonly env?: Record<string, string>;
  /** Port (0: any). */
  readonly port?: number;
  /** Directory for a V8 CPU profile of the process (written at exit). */
  readonly cpuProfDir?: string;
}

/** Starts pg-sync as a child process, state database = `databaseUrl`, shape server at `shapeUrl`. */
export async function startPgSync(
  cleanup: Cleanup,
  databaseUrl: string,
  shapeUrl: string,
  options: PgSyncOptions = {},
): Promise<PgSync> {
  const env: Record<string, string> = pgSyncEnv(databaseUrl, shapeUrl, options.port ?? 0, {
    PGSYNC_LOG_LEVEL: "info",
    PGSYNC_MAX_STREAMS_PER_TENANT: "5000",
    // The benches register up to 10,000 sources for one tenant and time repeated registrations:
    // the tenant quotas (docs/security.md) are raised here, not measured.
    PGSYNC_MAX_SOURCES_PER_TENANT: "100000",
    PGSYNC_MAX_REGISTRATIONS_PER_MINUTE: "10000000",
    ...options.env,
  });
  // Extra V8/Node flags for pg-sync only, after the server's own (SERVER_V8_FLAGS), so they win:
  // e.g. "--max-semi-space-size=16" to measure V8's default young generation.
  const extraFlags = process.env.BENCH_PGSYNC_NODE_OPTIONS;
  if (extraFlags) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} ${extraFlags}`.trim();
  if (options.cpuProfDir) {
    env.NODE_OPTIONS =
      `${env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? ""} --cpu-prof --cpu-prof-dir=${options.cpuProfDir}`.trim();
  }
  const { child, url } = await startPgSyncProcess(env, BENCH_RUNTIME);
  track(child.process);
  const stop = cleanup.add("pg-sync", async () => {
    await child.stop("SIGTERM", 20_000);
  });
  return { url, pid: child.process.pid!, child, client: pgSyncClient(url), stop };
}

/** Builds the production build when it is missing or stale and {@link BENCH_RUNTIME} runs it. */
export function buildIfStale(log: (line: string) => void): void {
  if (BENCH_RUNTIME !== "compiled") return;
  log("pg-sync and the shape server run their production build (dist/; BENCH_RUNTIME=tsx for tsx)");
  execFileSync("bash", [join(ROOT, "scripts/build.sh"), "--if-stale"], { stdio: "inherit" });
}

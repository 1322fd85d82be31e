import { randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { hostname } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type pg from "pg";
import { BridgeManager } from "./bridge/bridge-manager.js";
import { LeaseCoordinator } from "./bridge/lease-coordinator.js";
import { createLeaseMetrics } from "./bridge/lease-metrics.js";
import { probeShape } from "./bridge/probe.js";
import type { Config } from "./config.js";
import { createBackoff } from "./domain/backoff.js";
import { SourceRegistry } from "./domain/source-registry.js";
import { WatchService } from "./domain/watch-service.js";
import type { Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { migrate } from "./storage/migrate.js";
import { PgChangeLog } from "./storage/pg-change-log.js";
import { PgCursorStore } from "./storage/pg-cursor-store.js";
import { PgLeaseSignal } from "./storage/pg-lease-signal.js";
import { PgLeaseStore } from "./storage/pg-lease-store.js";
import { PgNotifier } from "./storage/pg-notifier.js";
import { pruneChangeLog } from "./storage/pg-retention.js";
import { PgSourceStore } from "./storage/pg-source-store.js";
import { createPool } from "./storage/pool.js";
import { createAuthenticator, createAuthInterceptor } from "./transport/auth.js";
import {
  createHealthRegistry,
  type HealthRegistry,
  registerHealth,
  ServingStatus,
} from "./transport/health.js";
import { createLoggingInterceptor, createRequestIdInterceptor } from "./transport/interceptors.js";
import { createOnePortServer } from "./transport/listener.js";
import { PgSyncServiceImpl } from "./transport/pg-sync-service.js";
import { registerReflection } from "./transport/reflection.js";
import { pgSyncRoutes } from "./transport/routes.js";

/** Service names reported by grpc.health.v1. */
export const HEALTH_SERVICES = {
  overall: "",
  api: "pgsync.v1.PgSyncService",
  /** NOT_SERVING when the state database is unreachable or every bridge is failing. */
  bridges: "pgsync.bridges",
  /** replicas: NOT_SERVING when this replica cannot hold leases, or a source has had no owner past TTL + 5 s. */
  leases: "pgsync.leases",
} as const;

/** Services listed by reflection. */
const REFLECTED_SERVICES = [
  "pgsync.v1.PgSyncService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

/** Log entries read per query by a WatchWakes stream. */
const WATCH_READ_PAGE_SIZE = 500;

/** Where the descriptor set with source info (for reflection) is generated. */
const DESCRIPTORS_PATH = join(import.meta.dirname, "../descriptors/pgsync.binpb");

/** Pause between reporting NOT_SERVING and ending streams at shutdown. */
const HEALTH_FLUSH_MS = 100;

/** How often readiness re-checks the state database. */
const HEALTH_CHECK_INTERVAL_MS = 5_000;

/** Overrides for tests. */
export interface ServerOverrides {
  /** Fetch used for Electric requests. */
  readonly fetchClient?: typeof fetch;
  /** Replica id of this process (lease owner); default `PGSYNC_REPLICA_ID`, else host-pid-random. */
  readonly owner?: string;
  /** How often health re-checks the state database (default 5 s). */
  readonly healthCheckIntervalMs?: number;
}

/** A built, not yet listening, pg-sync server. */
export interface PgSyncServer {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Graceful shutdown: stop accepting, end streams with UNAVAILABLE, stop bridges, close the pool. */
  close(): Promise<void>;
  readonly registry: SourceRegistry;
  readonly watch: WatchService;
  readonly notifier: PgNotifier;
  readonly bridges: BridgeManager;
  /** replicas: the leases this replica holds and the balance with the others. */
  readonly leases: LeaseCoordinator;
  readonly pool: pg.Pool;
  readonly metrics: Metrics;
  readonly health: HealthRegistry;
}

/**
 * Builds the whole server from a config: state database (migrated), bridges (resumed), the
 * Connect/gRPC/gRPC-Web routes with health and reflection, and the one-port listener.
 */
export async function createServer(
  config: Config,
  logger: Logger,
  overrides: ServerOverrides = {},
): Promise<PgSyncServer> {
  const pool = createPool({ connectionString: config.databaseUrl, max: config.dbPoolSize }, logger);
  try {
    const applied = await migrate(pool);
    if (applied.length > 0) logger.info({ applied }, "migrations applied");
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }

  const metrics = createMetrics();
  const sources = new PgSourceStore(pool);
  const cursors = new PgCursorStore(pool);
  // replicas (issue 13): the owner is the replica id; leases decide which bridges run here.
  const owner =
    overrides.owner ?? config.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const bridges = new BridgeManager({
    sources,
    cursors,
    backoff: createBackoff({ initialDelayMs: config.backoffInitialMs, maxDelayMs: config.backoffMaxMs }),
    owner,
    logger: logger.child({ component: "bridge-manager" }),
    metrics,
    idleTtlMs: config.idleTtlMs,
    gcIntervalMs: config.gcIntervalMs,
    onFenced: (tenant, sourceRef) => leases.onFenced(tenant, sourceRef),
    ...(overrides.fetchClient ? { fetchClient: overrides.fetchClient } : {}),
  });
  const leaseStore = new PgLeaseStore(pool);
  const leases: LeaseCoordinator = new LeaseCoordinator({
    store: leaseStore,
    cursors,
    manager: bridges,
    identity: { replicaId: owner, incarnation: randomUUID() },
    ttlMs: config.leaseTtlMs,
    logger: logger.child({ component: "leases", replica_id: owner }),
    metrics: createLeaseMetrics(metrics.registry),
    onServing: () => void checkHealth(),
    signal: new PgLeaseSignal(config.databaseUrl, logger.child({ component: "leases" }), () => {
      void leases.requestTick();
    }),
  });
  const registry = new SourceRegistry({
    store: sources,
    cursors,
    bridges: leases,
    defaultShapeUrl: config.electricUrl,
    allowedOrigins: config.allowedOrigins,
    probe: (shapeUrl, options) =>
      probeShape(shapeUrl, options, {
        timeoutMs: config.probeTimeoutMs,
        ...(overrides.fetchClient ? { fetchFn: overrides.fetchClient } : {}),
      }),
  });

  const notifier = new PgNotifier(config.databaseUrl, logger.child({ component: "notifier" }));
  const watch = new WatchService({
    registry,
    reader: new PgChangeLog(pool),
    notifier,
    retain: (record) => leases.retain(record),
    touchWatched: (tenant, refs) => sources.touchWatched(tenant, refs),
    limits: {
      maxBufferedFrames: config.watchBufferFrames,
      stallTimeoutMs: config.watchStallTimeoutMs,
      readPageSize: WATCH_READ_PAGE_SIZE,
    },
    maxStreamsPerTenant: config.maxStreamsPerTenant,
    onDispatch: (seconds) => metrics.wakeDispatchSeconds.observe(seconds),
  });

  const health = createHealthRegistry();
  const shutdown = new AbortController();
  const descriptorSet = await readFile(DESCRIPTORS_PATH);
  const impl = new PgSyncServiceImpl({ registry, watch, metrics });
  const routes = (router: ConnectRouter) => {
    pgSyncRoutes(impl)(router);
    registerHealth(router, health);
    registerReflection(router, { descriptorSet, services: REFLECTED_SERVICES });
  };
  const authenticator = createAuthenticator(config.auth);
  const handler = connectNodeAdapter({
    routes,
    shutdownSignal: shutdown.signal,
    interceptors: [
      createRequestIdInterceptor(),
      createLoggingInterceptor(logger.child({ component: "rpc" })),
      createAuthInterceptor(authenticator, {
        exemptServices: [
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
        ],
      }),
    ],
  });
  const listener = createOnePortServer(handler, {
    httpRoutes: {
      "/metrics": (_req, response) => {
        const res = response as ServerResponse;
        metrics.registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { "content-type": metrics.registry.contentType });
            res.end(text);
          })
          .catch(() => {
            res.writeHead(500);
            res.end();
          });
      },
    },
  });

  let healthTimer: NodeJS.Timeout | undefined;
  const checkHealth = async () => {
    let dbOk = true;
    try {
      await pool.query("SELECT 1");
    } catch {
      dbOk = false;
    }
    const counts = bridges.counts();
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const failing = counts.get("FAILED") ?? 0;
    // replicas: a replica that cannot renew its leases has stopped its bridges: not ready.
    const ready = dbOk && leases.serving;
    const bridgesOk = ready && (total === 0 || failing < total);
    health.set(HEALTH_SERVICES.bridges, bridgesOk ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    const leasesOk = ready && leases.orphaned === 0;
    health.set(HEALTH_SERVICES.leases, leasesOk ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    health.set(HEALTH_SERVICES.api, ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    health.set(HEALTH_SERVICES.overall, ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  };
  const retention = async () => {
    const deleted = await pruneChangeLog(pool, {
      maxAgeMs: config.retentionMs,
      maxChangesPerSource: config.retentionMaxChanges,
    });
    if (deleted > 0) logger.info({ deleted }, "log retention pruned entries");
  };
  let retentionTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  return {
    registry,
    watch,
    notifier,
    bridges,
    leases,
    pool,
    metrics,
    health,
    async listen() {
      // replicas (issue 13): bind first, claim after: a process that cannot listen takes nothing.
      const address = await listener.listen(config.listen.host, config.listen.port);
      await notifier.start();
      await bridges.start(false);
      await leases.start();
      await checkHealth();
      healthTimer = setInterval(
        () => void checkHealth(),
        overrides.healthCheckIntervalMs ?? HEALTH_CHECK_INTERVAL_MS,
      );
      healthTimer.unref();
      retentionTimer = setInterval(() => {
        retention().catch((err: unknown) =>
          logger.warn({ err: { message: (err as Error).message } }, "retention failed"),
        );
      }, config.gcIntervalMs);
      retentionTimer.unref();
      const host = address.host.includes(":") ? `[${address.host}]` : address.host;
      logger.info({ host: address.host, port: address.port }, "pg-sync listening");
      return { ...address, url: `http://${host}:${address.port}` };
    },
    close() {
      closing ??= (async () => {
        clearInterval(healthTimer);
        clearInterval(retentionTimer);
        health.shutdown();
        // Let health watchers see NOT_SERVING before their streams end.
        await new Promise((r) => setTimeout(r, HEALTH_FLUSH_MS));
        shutdown.abort(new ConnectError("server shutting down", Code.Unavailable));
        // replicas: bridges finish their in-flight batch and leases are released while streams drain.
        await Promise.all([listener.close(config.shutdownGraceMs), leases.stop()]);
        await notifier.stop();
        await pool.end();
        logger.info("pg-sync stopped");
      })();
      return closing;
    },
  };
}

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type pg from "pg";
import { BridgeManager } from "./bridge/bridge-manager.js";
import type { LeaseCoordinator } from "./bridge/lease-coordinator.js";
import { probeShape } from "./bridge/probe.js";
import type { Config } from "./config.js";
import { createBackoff } from "./domain/backoff.js";
import { TenantRateLimiter } from "./domain/rate-limiter.js";
import { createUrlAllowList } from "./domain/shape-url.js";
import { SourceRegistry } from "./domain/source-registry.js";
import { WatchService } from "./domain/watch-service.js";
import type { Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { loadPolicyFile } from "./policy-file.js";
import { checkHealth, HEALTH_SERVICES } from "./readiness.js";
import { createLeaseCoordinator, replicaIdFor } from "./replicas.js";
import { migrate } from "./storage/migrate.js";
import { PgChangeLog } from "./storage/pg-change-log.js";
import { PgCursorStore } from "./storage/pg-cursor-store.js";
import { PgNotifier } from "./storage/pg-notifier.js";
import { pruneChangeLog } from "./storage/pg-retention.js";
import { PgSourceStore } from "./storage/pg-source-store.js";
import { createPool } from "./storage/pool.js";
import { createAuthenticator } from "./transport/auth.js";
import { createHealthRegistry, type HealthRegistry } from "./transport/health.js";
import { createOnePortServer, createTextRoute, type OnePortServer } from "./transport/listener.js";
import { PgSyncServiceImpl } from "./transport/pg-sync-service.js";
import { createRpcHandler, PUBLIC_SERVICES } from "./transport/rpc-handler.js";

export { HEALTH_SERVICES };

/** Services listed by reflection. */
const REFLECTED_SERVICES = [HEALTH_SERVICES.api, ...PUBLIC_SERVICES];

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
  /** Replica id of this process (lease owner); default `PGSYNC_REPLICA_ID`, else hostname-pid-random. */
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
  /** The leases this replica holds and the balance with the other replicas. */
  readonly leases: LeaseCoordinator;
  readonly pool: pg.Pool;
  readonly metrics: Metrics;
  readonly health: HealthRegistry;
}

/** The domain and its adapters: state stores, bridges, registry, watch service. */
interface Domain {
  readonly metrics: Metrics;
  readonly sources: PgSourceStore;
  readonly registry: SourceRegistry;
  readonly watch: WatchService;
  readonly notifier: PgNotifier;
  readonly bridges: BridgeManager;
  readonly leases: LeaseCoordinator;
}

/** The Connect routes, health and the one-port listener. */
interface Transport {
  readonly health: HealthRegistry;
  readonly listener: OnePortServer;
  /** Aborting it ends every open stream with its reason. */
  readonly shutdown: AbortController;
}

/** Opens the state database pool and migrates the schema; the pool is closed again on failure. */
async function openStateDatabase(config: Config, logger: Logger): Promise<pg.Pool> {
  const pool = createPool({ connectionString: config.databaseUrl, max: config.dbPoolSize }, logger);
  try {
    const applied = await migrate(pool);
    if (applied.length > 0) logger.info({ applied }, "migrations applied");
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  return pool;
}

/**
 * Builds the domain over the state database: stores, bridge manager, lease coordinator, registry,
 * watch service. `onServing` is told when this replica starts or stops being able to hold leases.
 */
function buildDomain(
  config: Config,
  pool: pg.Pool,
  logger: Logger,
  overrides: ServerOverrides,
  onServing: () => void,
): Domain {
  const metrics = createMetrics();
  const sources = new PgSourceStore(pool);
  const cursors = new PgCursorStore(pool);
  const fetchClient = overrides.fetchClient;
  // The owner is the replica id; leases decide which bridges run here.
  const owner = replicaIdFor(config, overrides.owner);
  const bridges = new BridgeManager({
    sources,
    cursors,
    backoff: createBackoff({ initialDelayMs: config.backoffInitialMs, maxDelayMs: config.backoffMaxMs }),
    owner,
    logger: logger.child({ component: "bridge-manager" }),
    metrics,
    idleTtlMs: config.idleTtlMs,
    gcIntervalMs: config.gcIntervalMs,
    isUrlAllowed: createUrlAllowList(config.allowedOrigins),
    onFenced: (tenant, sourceRef) => leases.onFenced(tenant, sourceRef),
    ...(fetchClient ? { fetchClient } : {}),
  });
  const leases = createLeaseCoordinator({
    config,
    pool,
    logger,
    metrics,
    cursors,
    bridges,
    owner,
    onServing,
  });
  const registry = new SourceRegistry({
    store: sources,
    cursors,
    bridges: leases,
    defaultShapeUrl: config.electricUrl,
    allowedOrigins: config.allowedOrigins,
    policy: config.policyFile ? loadPolicyFile(config.policyFile) : undefined,
    quotas: {
      maxSourcesPerTenant: config.maxSourcesPerTenant,
      registrations: new TenantRateLimiter({ limit: config.maxRegistrationsPerMinute }),
      listMaxResponseBytes: config.listMaxResponseBytes,
    },
    probe: (shapeUrl, options) =>
      probeShape(shapeUrl, options, {
        timeoutMs: config.probeTimeoutMs,
        ...(fetchClient ? { fetchFn: fetchClient } : {}),
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
      maxBufferedBytes: config.watchBufferBytes,
      stallTimeoutMs: config.watchStallTimeoutMs,
      readPageSize: WATCH_READ_PAGE_SIZE,
    },
    maxStreamsPerTenant: config.maxStreamsPerTenant,
    onDispatch: (seconds) => metrics.wakeDispatchSeconds.observe(seconds),
  });
  return { metrics, sources, registry, watch, notifier, bridges, leases };
}

/** Builds the transport: PgSyncService, health and reflection behind the interceptors, on one port. */
async function buildTransport(config: Config, domain: Domain, logger: Logger): Promise<Transport> {
  const health = createHealthRegistry();
  const shutdown = new AbortController();
  const descriptorSet = await readFile(DESCRIPTORS_PATH);
  const impl = new PgSyncServiceImpl(domain);
  // Credentials before bodies, request size limits, the health watch limit: see rpc-handler.ts.
  const handler = createRpcHandler({
    impl,
    health,
    reflection: { descriptorSet, services: REFLECTED_SERVICES },
    authenticator: createAuthenticator(config.auth),
    logger: logger.child({ component: "rpc" }),
    shutdownSignal: shutdown.signal,
    maxRequestBytes: config.maxRequestBytes,
    maxHealthWatches: config.maxHealthWatches,
  });
  const listener = createOnePortServer(handler, {
    limits: {
      h2MaxConcurrentStreams: config.h2MaxConcurrentStreams,
      h2MaxSessionMemoryMb: config.h2MaxSessionMemoryMb,
      idleTimeoutMs: config.idleConnectionTimeoutMs,
      maxConnections: config.maxConnections,
    },
    httpRoutes: { "/metrics": createTextRoute(domain.metrics.registry) },
  });
  return { health, listener, shutdown };
}

/**
 * Starts the periodic jobs: the readiness check (run once before it resolves) and log
 * retention. Returns the function that stops them.
 */
async function startBackgroundJobs(
  config: Config,
  pool: pg.Pool,
  domain: Domain,
  health: HealthRegistry,
  logger: Logger,
  healthCheckIntervalMs: number,
): Promise<() => void> {
  await checkHealth(pool, domain, health);
  const healthTimer = setInterval(() => void checkHealth(pool, domain, health), healthCheckIntervalMs);
  const policy = { maxAgeMs: config.retentionMs, maxChangesPerSource: config.retentionMaxChanges };
  const retentionTimer = setInterval(() => {
    pruneChangeLog(pool, policy)
      .then((deleted) => {
        if (deleted > 0) logger.info({ deleted }, "log retention pruned entries");
      })
      .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, "retention failed"));
  }, config.gcIntervalMs);
  healthTimer.unref();
  retentionTimer.unref();
  return () => {
    clearInterval(healthTimer);
    clearInterval(retentionTimer);
  };
}

/**
 * Builds the whole server from a config: the domain over the migrated state database, the
 * transport on one port, and, on `listen()`, the bridges and background jobs.
 */
export async function createServer(
  config: Config,
  logger: Logger,
  overrides: ServerOverrides = {},
): Promise<PgSyncServer> {
  const pool = await openStateDatabase(config, logger);
  // Health is re-checked at once whenever this replica starts or stops being able to hold leases.
  const domain = buildDomain(config, pool, logger, overrides, () => void checkHealth(pool, domain, health));
  const { health, listener, shutdown } = await buildTransport(config, domain, logger);
  const { notifier, bridges, leases } = domain;
  let stopJobs = () => {};
  let closing: Promise<void> | undefined;
  return {
    ...domain,
    pool,
    health,
    async listen() {
      // Bind first, claim after: a process that cannot listen takes no source.
      const address = await listener.listen(config.listen.host, config.listen.port);
      await notifier.start();
      await bridges.start(false); // the idle check only: leases decide which bridges run here
      await leases.start();
      const interval = overrides.healthCheckIntervalMs ?? HEALTH_CHECK_INTERVAL_MS;
      stopJobs = await startBackgroundJobs(config, pool, domain, health, logger, interval);
      const host = address.host.includes(":") ? `[${address.host}]` : address.host;
      logger.info({ host: address.host, port: address.port }, "pg-sync listening");
      return { ...address, url: `http://${host}:${address.port}` };
    },
    close() {
      closing ??= (async () => {
        stopJobs();
        health.shutdown();
        // Let health watchers see NOT_SERVING before their streams end.
        await new Promise((r) => setTimeout(r, HEALTH_FLUSH_MS));
        shutdown.abort(new ConnectError("server shutting down", Code.Unavailable));
        // Bridges finish their in-flight batch and leases are released while streams drain.
        await Promise.all([listener.close(config.shutdownGraceMs), leases.stop()]);
        await notifier.stop();
        await pool.end();
        logger.info("pg-sync stopped");
      })();
      return closing;
    },
  };
}

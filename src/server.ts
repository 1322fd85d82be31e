import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type pg from "pg";
import type { BridgeManager } from "./bridge/bridge-manager.js";
import type { LeaseCoordinator } from "./bridge/lease-coordinator.js";
import type { Config } from "./config.js";
import type { SourceRegistry } from "./domain/source-registry.js";
import type { WatchService } from "./domain/watch-service.js";
import { buildDomain, type Domain, type DomainOverrides, openStateDatabase } from "./domain-wiring.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { checkHealth, HEALTH_SERVICES } from "./readiness.js";
import { startStep } from "./startup.js";
import type { PgNotifier } from "./storage/pg-notifier.js";
import { pruneChangeLog } from "./storage/pg-retention.js";
import { createAuthenticator } from "./transport/auth.js";
import { ConsumerGroupHandlers } from "./transport/consumer-group-handlers.js";
import { createHealthRegistry, type HealthRegistry, ServingStatus } from "./transport/health.js";
import { createProbeRoutes } from "./transport/http-probes.js";
import { createOnePortServer, createTextRoute, type OnePortServer } from "./transport/listener.js";
import { PgSyncServiceImpl } from "./transport/pg-sync-service.js";
import { createRpcHandler, PUBLIC_SERVICES } from "./transport/rpc-handler.js";

export { HEALTH_SERVICES };

/** Services listed by reflection. */
const REFLECTED_SERVICES = [HEALTH_SERVICES.api, ...PUBLIC_SERVICES];

/** Where the descriptor set with source info (for reflection) is generated. */
const DESCRIPTORS_PATH = join(import.meta.dirname, "../descriptors/pgsync.binpb");

/** Pause between reporting NOT_SERVING and ending streams at shutdown. */
const HEALTH_FLUSH_MS = 100;

/** How often readiness re-checks the state database. */
const HEALTH_CHECK_INTERVAL_MS = 5_000;

/** Overrides for tests. */
export interface ServerOverrides extends DomainOverrides {
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

/** The Connect routes, health and the one-port listener. */
interface Transport {
  readonly health: HealthRegistry;
  readonly listener: OnePortServer;
  /** Aborting it ends every open stream with its reason. */
  readonly shutdown: AbortController;
}

/** Builds the transport: PgSyncService, health and reflection behind the interceptors, on one port. */
async function buildTransport(config: Config, domain: Domain, logger: Logger): Promise<Transport> {
  const health = createHealthRegistry();
  const shutdown = new AbortController();
  const descriptorSet = await startStep("reflection descriptor set", () => readFile(DESCRIPTORS_PATH));
  const impl = new PgSyncServiceImpl({ ...domain, groups: new ConsumerGroupHandlers(domain.groups) });
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
    metrics: domain.metrics,
  });
  const listener = createOnePortServer(handler, {
    limits: {
      h2MaxConcurrentStreams: config.h2MaxConcurrentStreams,
      h2MaxSessionMemoryMb: config.h2MaxSessionMemoryMb,
      idleTimeoutMs: config.idleConnectionTimeoutMs,
      maxConnections: config.maxConnections,
    },
    httpRoutes: {
      "/metrics": createTextRoute(domain.metrics.registry),
      ...createProbeRoutes(() => health.get(HEALTH_SERVICES.overall) === ServingStatus.SERVING),
    },
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
  const pool = await startStep("state database", () => openStateDatabase(config, logger));
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
      const { listen: at } = config;
      const address = await startStep("listener", () => listener.listen(at.host, at.port));
      await startStep("state database notifications", () => notifier.start());
      await startStep("state database", () => bridges.start(false)); // leases decide what runs here
      await startStep("state database", () => leases.start());
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

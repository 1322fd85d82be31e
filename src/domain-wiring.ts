/**
 * The domain half of the composition root: the state database (migrated) and the domain built
 * over it (stores, bridge manager, registry, watch service, consumer groups). server.ts adds the
 * transport and the background jobs.
 */
import type pg from "pg";
import { BridgeManager } from "./bridge/bridge-manager.js";
import { createElectricSnapshotReader } from "./bridge/electric-snapshot.js";
import type { LeaseCoordinator } from "./bridge/lease-coordinator.js";
import { probeShape } from "./bridge/probe.js";
import type { Config } from "./config.js";
import { createBackoff } from "./domain/backoff.js";
import { ConsumerGroupService } from "./domain/consumer-group-service.js";
import { TenantRateLimiter } from "./domain/rate-limiter.js";
import { createUrlAllowList } from "./domain/shape-url.js";
import { SourceRegistry } from "./domain/source-registry.js";
import { WatchService } from "./domain/watch-service.js";
import type { Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { loadPolicyFile } from "./policy-file.js";
import { createLeaseCoordinator, replicaIdFor } from "./replicas.js";
import { registerSourceMetrics } from "./source-metrics.js";
import { startStep } from "./startup.js";
import { migrate } from "./storage/migrate.js";
import { PgChangeLog } from "./storage/pg-change-log.js";
import { PgConsumerGroupStore } from "./storage/pg-consumer-group-store.js";
import { type CommitObserver, PgCursorStore } from "./storage/pg-cursor-store.js";
import { PgNotifier } from "./storage/pg-notifier.js";
import { PgSourceStore } from "./storage/pg-source-store.js";
import { createPool } from "./storage/pool.js";
import { RecentLog } from "./storage/recent-log.js";

/** Test overrides of the domain's adapters. */
export interface DomainOverrides {
  /** Fetch used for Electric requests. */
  readonly fetchClient?: typeof fetch;
  /** Replica id of this process (lease owner); default `PGSYNC_REPLICA_ID`, else hostname-pid-random. */
  readonly owner?: string;
}

/** Log entries read per query by a WatchWakes stream. */
const WATCH_READ_PAGE_SIZE = 500;

/** The domain and its adapters: state stores, bridges, leases, registry, watch service. */
export interface Domain {
  readonly metrics: Metrics;
  readonly sources: PgSourceStore;
  readonly registry: SourceRegistry;
  readonly watch: WatchService;
  readonly notifier: PgNotifier;
  readonly bridges: BridgeManager;
  /** The leases this replica holds and the balance with the other replicas. */
  readonly leases: LeaseCoordinator;
  readonly groups: ConsumerGroupService;
}

/** Opens the state database pool and migrates the schema; the pool is closed again on failure. */
export async function openStateDatabase(config: Config, logger: Logger): Promise<pg.Pool> {
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
export function buildDomain(
  config: Config,
  pool: pg.Pool,
  logger: Logger,
  overrides: DomainOverrides,
  onServing: () => void,
): Domain {
  const metrics = createMetrics();
  const sources = new PgSourceStore(pool);
  const notifier = new PgNotifier(config.databaseUrl, logger.child({ component: "notifier" }));
  const recent = new RecentLog((tenant, sourceRef) => notifier.watching(tenant, sourceRef));
  const cursors = new PgCursorStore(pool, keepAndAnnounce(notifier, recent, logger));
  const fetchClient = overrides.fetchClient;
  const isUrlAllowed = createUrlAllowList(config.allowedOrigins);
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
    isUrlAllowed,
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
  const registry = buildRegistry(config, { sources, cursors, leases }, fetchClient);
  const reader = new PgChangeLog(pool, {
    recent,
    onRead: (outcome) => metrics.logReads.inc({ from: outcome === "hit" ? "memory" : "postgres" }),
  });
  const watch = buildWatchService(
    config,
    reader,
    { registry, notifier, leases, sources, metrics },
    overrides,
  );
  registerSourceMetrics(metrics, { bridges, watch, pool, maxSources: config.metricsMaxSources });
  const groups = buildConsumerGroups(config, pool, reader, { registry, notifier, leases }, logger);
  return { metrics, sources, registry, watch, notifier, bridges, leases, groups };
}

/**
 * What the cursor store tells of each commit: a commit's entries are kept for this process's
 * readers, and then they are told of them. The announcement happens whatever befalls the
 * keeping: until it does, the notifier holds the source's NOTIFYs back.
 */
function keepAndAnnounce(notifier: PgNotifier, recent: RecentLog, logger: Logger): CommitObserver {
  return (batch) => {
    const announce = notifier.localCommit(batch.tenant, batch.sourceRef, batch.incarnation);
    return (outcome) => {
      try {
        if (outcome && batch.incarnation !== undefined) recent.record(batch.incarnation, batch, outcome);
        else recent.forget(batch.tenant, batch.sourceRef);
      } catch (err) {
        recent.forget(batch.tenant, batch.sourceRef);
        logger.error({ err: { message: (err as Error).message } }, "keeping committed entries failed");
      } finally {
        announce(outcome && outcome.result.appended > 0 ? outcome.result.headSeq : undefined);
      }
    };
  };
}

/** The source registry: sources run through the leases, registrations probed and policed. */
function buildRegistry(
  config: Config,
  { sources, cursors, leases }: { sources: PgSourceStore; cursors: PgCursorStore; leases: LeaseCoordinator },
  fetchClient: typeof fetch | undefined,
): SourceRegistry {
  return new SourceRegistry({
    store: sources,
    cursors,
    bridges: leases,
    defaultShapeUrl: config.electricUrl,
    allowedOrigins: config.allowedOrigins,
    policy: config.policyFile
      ? startStep("policy file", () => loadPolicyFile(config.policyFile as string))
      : undefined,
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
}

/** The WatchWakes service: reads the log, follows notifications, runs snapshot starts over Electric. */
function buildWatchService(
  config: Config,
  reader: PgChangeLog,
  {
    registry,
    notifier,
    leases,
    sources,
    metrics,
  }: Pick<Domain, "registry" | "notifier" | "leases" | "sources" | "metrics">,
  { fetchClient }: DomainOverrides,
): WatchService {
  const isUrlAllowed = createUrlAllowList(config.allowedOrigins);
  return new WatchService({
    registry,
    reader,
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
    snapshots: {
      reader: createElectricSnapshotReader({ isUrlAllowed, ...(fetchClient ? { fetchClient } : {}) }),
      pageRows: config.snapshotPageRows,
      onPage: (rows) => {
        metrics.snapshotPages.inc();
        metrics.snapshotRows.inc(rows);
      },
    },
  });
}

/** The consumer groups: deliveries read from the log like WatchWakes, acknowledgements in Postgres. */
function buildConsumerGroups(
  config: Config,
  pool: pg.Pool,
  reader: PgChangeLog,
  { registry, notifier, leases }: Pick<Domain, "registry" | "notifier" | "leases">,
  logger: Logger,
): ConsumerGroupService {
  const groupLogger = logger.child({ component: "consumer-groups" });
  return new ConsumerGroupService({
    registry,
    store: new PgConsumerGroupStore(pool),
    reader,
    notifier,
    retain: (record) => leases.retain(record),
    limits: {
      windowSize: config.groupWindow,
      readPageSize: WATCH_READ_PAGE_SIZE,
      pollIntervalMs: config.groupPollIntervalMs,
      maxGroupsPerTenant: config.maxGroupsPerTenant,
      maxStreamsPerTenant: config.maxStreamsPerTenant,
    },
    onError: (err, context) =>
      groupLogger.warn(
        { ...context, err: { message: (err as Error).message } },
        "consumer group reader failed",
      ),
  });
}

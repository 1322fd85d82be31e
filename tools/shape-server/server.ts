/**
 * The shape server's composition root: `startShapeServer()` wires storage, publication and slot,
 * the shape registry, the replication client and ingest, and the HTTP server. Tests start it
 * in-process; `main.ts` is the CLI around it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { type Logger, pino } from "pino";
import {
  DEFAULT_CHUNK_BYTES_THRESHOLD,
  DEFAULT_LONG_POLL_TIMEOUT_MS,
  DEFAULT_PORT,
  DEFAULT_PUBLICATION,
  DEFAULT_SLOT_PREFIX,
  DEFAULT_SSE_KEEPALIVE_MS,
  DEFAULT_SSE_TIMEOUT_MS,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  DEFAULT_STORAGE_SCHEMA,
  DEFAULT_TAIL_BYTES_PER_SHAPE,
  DEFAULT_TAIL_BYTES_TOTAL,
  DISPLAY_SETTINGS,
  EVAL_POOL_SIZE,
  RETRY_AFTER_TEST_S,
  SNAPSHOT_POOL_SIZE,
  STORAGE_POOL_SIZE,
} from "./constants.js";
import { UnavailableError } from "./errors.js";
import type { ServerContext } from "./http/context.js";
import { createRouter } from "./http/router.js";
import { parseRelation } from "./identifiers.js";
import { Notifier } from "./notifier.js";
import { formatOffset } from "./offset.js";
import { Ingest, type IngestTiming, type Progress } from "./replication/ingest.js";
import { ensureSlot, Publication } from "./replication/publication.js";
import { ReplicationClient } from "./replication/replication-client.js";
import { ShapeRegistry } from "./shapes/shape-registry.js";
import { WhereEvaluator } from "./shapes/where-evaluator.js";
import { loadWhereGrammar } from "./shapes/where-grammar.js";
import { ShapeStore } from "./storage/shape-store.js";

/** Options of {@link startShapeServer}. */
export interface ShapeServerOptions {
  /** Postgres URL (`wal_level=logical`; the role needs REPLICATION and table ownership). */
  readonly databaseUrl: string;
  /** TCP port; 0 picks a free one. Default 3000. */
  readonly port?: number;
  /** Listening address. Default `127.0.0.1`. */
  readonly host?: string;
  /** How long a live request is held. Default 20 000 ms. */
  readonly longPollTimeoutMs?: number;
  /** How often the tables of live shapes are checked; a dropped table's shapes are removed. Default 1 s. */
  readonly schemaCheckMs?: number;
  /** Enables `DELETE /v1/shape` and `/v1/test/*`. Default false. */
  readonly testControls?: boolean;
  /** Logger. Default: silent. */
  readonly logger?: Logger;
  /** Bytes per snapshot/log chunk. Default 10 MiB. */
  readonly chunkBytesThreshold?: number;
  /** Interval of SSE keep-alive comments. Default 21 000 ms. */
  readonly sseKeepaliveMs?: number;
  /** Lifetime of an SSE connection. Default 60 000 ms. */
  readonly sseTimeoutMs?: number;
  /** Schema of the server's own tables. Default `electric_shapes`. */
  readonly storageSchema?: string;
  /** Publication name. Default `electric_shapes_pub`. */
  readonly publicationName?: string;
  /** Replication slot name. Default `electric_shapes_<database>`. */
  readonly slotName?: string;
  /** In-memory log tail per shape. Default 1 MiB. */
  readonly tailBytesPerShape?: number;
  /** In-memory log tail across shapes. Default 64 MiB. */
  readonly tailBytesTotal?: number;
  /**
   * `statement_timeout` of the sessions that run where clauses (each snapshot `FETCH`, each live
   * evaluation query). Default 10 000 ms; 0 disables it.
   */
  readonly statementTimeoutMs?: number;
  /**
   * Role the snapshot and evaluation sessions switch to (`SET ROLE`) before running where
   * clauses: a role with only SELECT on the served tables (see docs/shape-server.md). Default:
   * none (the connecting role).
   */
  readonly queryRole?: string;
}

/** Counters for tests and benchmarks. */
export interface ShapeServerStats {
  /** Live shapes. */
  readonly shapes: number;
  /** Live requests held. */
  readonly waiters: number;
  /** Live-response bodies built from memory (shared between waiters at one offset). */
  readonly bodyBuilds: number;
  /** Bytes of log tails in memory. */
  readonly tailBytes: number;
  /** Ingest batches written. */
  readonly ingestBatches: number;
  /** Ingest counters and cumulative durations. */
  readonly ingest: Readonly<IngestTiming>;
  /** Where-clause evaluations of live changes: in process (parse tree) and in Postgres. */
  readonly whereEvaluations: { readonly inProcess: number; readonly inPostgres: number };
  /** Replicated transactions waiting to be stored. */
  readonly queuedTransactions: number;
  /** `global_last_seen_lsn`. */
  readonly globalLsn: string;
}

/** A running shape server. */
export interface ShapeServer {
  /** `http://host:port`. */
  readonly url: string;
  /** Bound port. */
  readonly port: number;
  /** Replication slot in use. */
  readonly slotName: string;
  /** Resolves once replication is streaming. */
  ready(timeoutMs?: number): Promise<void>;
  /** Replaces the shape(s) with new handles (clients get 409); returns `[old, new]` pairs. */
  rotate(target: ShapeTarget): Promise<Array<{ from: string; to: string }>>;
  /** Removes the shape(s); returns the removed handles. */
  dropShapes(target: ShapeTarget): string[];
  /** Answers 503 (with `retry-after: retryAfterS`) for `ms`; 0 ends it. */
  setUnavailable(ms: number, retryAfterS?: number): void;
  /** The shapes: handle, table, where and last offset. */
  shapes(): Array<{ handle: string; table: string; where: string | null; offset: string }>;
  /** Counters. */
  stats(): ShapeServerStats;
  /** Stops serving, closes replication (the slot stays) and the pools. */
  close(): Promise<void>;
}

/** Selects shapes by handle and/or table (`name`, `schema.name`). */
export interface ShapeTarget {
  readonly handle?: string;
  readonly table?: string;
}

/** How often the tables of live shapes are checked for existence. */
const DEFAULT_SCHEMA_CHECK_MS = 1_000;

async function removeDroppedTables(pool: pg.Pool, registry: ShapeRegistry, logger: Logger): Promise<void> {
  const byTable = new Map<string, ReturnType<ShapeRegistry["list"]>>();
  for (const shape of registry.list()) {
    const key = JSON.stringify([shape.table.relation.schema, shape.table.relation.table]);
    byTable.set(key, [...(byTable.get(key) ?? []), shape]);
  }
  if (byTable.size === 0) return;
  const keys = [...byTable.keys()];
  const { rows } = await pool.query<{ key: string; exists: boolean }>(
    `SELECT k AS key, to_regclass(quote_ident(k::json->>0) || '.' || quote_ident(k::json->>1)) IS NOT NULL AS exists
       FROM unnest($1::text[]) AS k`,
    [keys],
  );
  for (const row of rows) {
    if (row.exists) continue;
    for (const shape of byTable.get(row.key) ?? []) {
      logger.info({ handle: shape.handle, table: row.key }, "table dropped: removing its shape");
      registry.remove(shape, "deleted");
    }
  }
}

function slotNameFor(databaseUrl: string): string {
  const db = decodeURIComponent(new URL(databaseUrl).pathname.slice(1)) || "postgres";
  return `${DEFAULT_SLOT_PREFIX}${db.toLowerCase().replace(/[^a-z0-9_]/g, "_")}`.slice(0, 63);
}

/**
 * Startup options of the sessions that run tenant where clauses: read-only by default, a
 * statement timeout, and the query role when one is configured.
 */
function tenantSqlOptions(options: ShapeServerOptions, readOnly: boolean): string {
  const settings: string[] = [];
  if (readOnly) settings.push("-c default_transaction_read_only=on");
  if (readOnly) settings.push(...DISPLAY_SETTINGS.map(([name, value]) => `-c ${name}=${value}`));
  settings.push(`-c statement_timeout=${options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS}`);
  if (options.queryRole !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(options.queryRole)) {
      throw new Error(`queryRole must be a plain role name, got ${JSON.stringify(options.queryRole)}`);
    }
    settings.push(`-c role=${options.queryRole}`);
  }
  return settings.join(" ");
}

/** Starts a shape server; resolves once it listens (replication may still be connecting). */
export async function startShapeServer(options: ShapeServerOptions): Promise<ShapeServer> {
  const logger = options.logger ?? pino({ level: "silent" });
  const storageSchema = options.storageSchema ?? DEFAULT_STORAGE_SCHEMA;
  const slotName = options.slotName ?? slotNameFor(options.databaseUrl);
  const chunkBytesThreshold = options.chunkBytesThreshold ?? DEFAULT_CHUNK_BYTES_THRESHOLD;
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: STORAGE_POOL_SIZE });
  const snapshotPool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: SNAPSHOT_POOL_SIZE,
    options: tenantSqlOptions(options, false),
  });
  const evalPool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: EVAL_POOL_SIZE,
    options: tenantSqlOptions(options, true),
  });
  const pools = [pool, snapshotPool, evalPool];
  for (const p of pools) p.on("error", (err) => logger.warn({ err }, "idle database connection failed"));

  const store = new ShapeStore(pool, storageSchema);
  const publication = new Publication(pool, options.publicationName ?? DEFAULT_PUBLICATION, logger);
  const evaluator = new WhereEvaluator(evalPool);
  const progress: Progress = { globalLsn: 0n, advanced: new Notifier() };
  const closing = new AbortController();
  let ingest: Ingest | null = null;
  let replication: ReplicationClient | null = null;
  let server: Server | null = null;

  try {
    await loadWhereGrammar();
    await store.migrate();
    await publication.ensureExists();
    const slot = await ensureSlot(pool, slotName);
    if (slot.created) await store.dropAll();
    await store.purgeNotReady();
    progress.globalLsn = await store.loadProgress();

    const dropQueue: string[] = [];
    const registry = new ShapeRegistry({
      pool,
      snapshotPool,
      store,
      storageSchema,
      evaluator,
      publication,
      chunkBytesThreshold,
      tailBytesPerShape: options.tailBytesPerShape ?? DEFAULT_TAIL_BYTES_PER_SHAPE,
      tailBytesTotal: options.tailBytesTotal ?? DEFAULT_TAIL_BYTES_TOTAL,
      onRemoved: (handle) => (ingest ? ingest.dropStorage(handle) : dropQueue.push(handle)),
      logger: logger.child({ component: "shape-registry" }),
      closing: closing.signal,
    });
    await registry.load();
    ingest = new Ingest({
      pool,
      store,
      registry,
      evaluator,
      progress,
      chunkBytesThreshold,
      logger: logger.child({ component: "ingest" }),
    });
    for (const handle of dropQueue) ingest.dropStorage(handle);
    const ingestRef = ingest;
    replication = new ReplicationClient({
      connectionString: options.databaseUrl,
      slotName,
      publicationName: publication.name,
      storedLsn: progress.globalLsn,
      onTransaction: (tx) => ingestRef.enqueue(tx),
      logger: logger.child({ component: "replication" }),
    });
    ingest.start(replication);
    replication.start();
    const replicationRef = replication;

    let unavailableUntil = 0;
    let unavailableRetryAfterS = RETRY_AFTER_TEST_S;
    const ctx: ServerContext = {
      registry,
      store,
      snapshotPool,
      progress,
      logger: logger.child({ component: "http" }),
      closing: closing.signal,
      options: {
        longPollTimeoutMs: options.longPollTimeoutMs ?? DEFAULT_LONG_POLL_TIMEOUT_MS,
        sseKeepaliveMs: options.sseKeepaliveMs ?? DEFAULT_SSE_KEEPALIVE_MS,
        sseTimeoutMs: options.sseTimeoutMs ?? DEFAULT_SSE_TIMEOUT_MS,
        testControls: options.testControls ?? false,
      },
      isReady: () => replicationRef.ready,
      ingestTiming: () => ({ ...ingestRef.timing }),
      unavailable: () =>
        Date.now() < unavailableUntil
          ? new UnavailableError("Service temporarily unavailable", unavailableRetryAfterS)
          : null,
      setUnavailable: (ms, retryAfterS) => {
        unavailableUntil = ms > 0 ? Date.now() + ms : 0;
        unavailableRetryAfterS = retryAfterS;
      },
    };

    const httpServer = createServer(createRouter(ctx));
    server = httpServer;
    httpServer.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(options.port ?? DEFAULT_PORT, options.host ?? "127.0.0.1", () => {
        httpServer.off("error", reject);
        resolve();
      });
    });
    const address = httpServer.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    logger.info({ url, slot: slotName }, "shape server listening");

    const select = (target: ShapeTarget) => {
      const relation = target.table ? parseRelation(target.table) : null;
      if (typeof relation === "string") throw new Error(relation);
      return registry.list().filter((shape) => {
        if (target.handle && shape.handle !== target.handle) return false;
        const r = shape.table.relation;
        return !relation || (r.schema === relation.schema && r.table === relation.table);
      });
    };
    let closed: Promise<void> | null = null;
    const ingestFinal = ingest;

    // Like Electric's schema reconciliation: a shape whose table was dropped is removed, so its
    // clients get 409 must-refetch and then 400 for the missing table when they refetch.
    const schemaCheckMs = options.schemaCheckMs ?? DEFAULT_SCHEMA_CHECK_MS;
    let checking = false;
    const schemaTimer = setInterval(() => {
      if (checking || closing.signal.aborted) return;
      checking = true;
      removeDroppedTables(pool, registry, logger)
        .catch((err: unknown) => logger.warn({ err: (err as Error).message }, "schema check failed"))
        .finally(() => {
          checking = false;
        });
    }, schemaCheckMs);
    schemaTimer.unref();

    return {
      url,
      port: address.port,
      slotName,
      async ready(timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        while (!replicationRef.ready) {
          if (Date.now() > deadline) {
            throw new Error(
              `replication not ready after ${timeoutMs} ms: ${replicationRef.lastError ?? "no error"}`,
            );
          }
          await Promise.race([replicationRef.readyChanged.wait(), new Promise((r) => setTimeout(r, 200))]);
        }
      },
      async rotate(target) {
        const out = [];
        for (const shape of select(target))
          out.push({ from: shape.handle, to: (await registry.rotate(shape)).handle });
        return out;
      },
      dropShapes(target) {
        const shapes = select(target);
        for (const shape of shapes) registry.remove(shape, "deleted");
        return shapes.map((s) => s.handle);
      },
      setUnavailable(ms, retryAfterS = RETRY_AFTER_TEST_S) {
        ctx.setUnavailable(ms, retryAfterS);
      },
      shapes() {
        return registry.list().map((shape) => ({
          handle: shape.handle,
          table: `${shape.table.relation.schema}.${shape.table.relation.table}`,
          where: shape.definition.where,
          offset: formatOffset(shape.lastOffset),
        }));
      },
      stats() {
        const shapes = registry.list();
        return {
          shapes: shapes.length,
          waiters: shapes.reduce((n, s) => n + s.waiters, 0),
          bodyBuilds: shapes.reduce((n, s) => n + s.bodyBuilds, 0),
          tailBytes: shapes.reduce((n, s) => n + s.tailBytes, 0),
          ingestBatches: ingestFinal.timing.batches,
          ingest: { ...ingestFinal.timing },
          whereEvaluations: evaluator.counts,
          queuedTransactions: ingestFinal.queuedTransactions,
          globalLsn: progress.globalLsn.toString(),
        };
      },
      close() {
        closed ??= (async () => {
          closing.abort();
          clearInterval(schemaTimer);
          httpServer.closeAllConnections();
          await new Promise<void>((resolve) => httpServer.close(() => resolve()));
          await replicationRef.stop();
          await ingestFinal.stop();
          await registry.drain();
          await Promise.all(pools.map((p) => p.end()));
          logger.info("shape server closed");
        })();
        return closed;
      },
    };
  } catch (err) {
    closing.abort();
    server?.close();
    await replication?.stop().catch(() => {});
    await ingest?.stop().catch(() => {});
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
    throw err;
  }
}

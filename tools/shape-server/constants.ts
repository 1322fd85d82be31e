/**
 * Protocol names (headers, query parameters, control messages), SQL names, environment variable
 * names and defaults of the shape server, in one place.
 */

/** Version reported in the `electric-server` header. */
export const SERVER_VERSION = "pg-sync-shape-server/0.1.0";

/** Response header names of the Electric shape protocol. */
export const HEADER = {
  handle: "electric-handle",
  offset: "electric-offset",
  schema: "electric-schema",
  upToDate: "electric-up-to-date",
  cursor: "electric-cursor",
  hasData: "electric-has-data",
  server: "electric-server",
  knownError: "electric-internal-known-error",
  snapshot: "electric-snapshot",
  requestId: "x-request-id",
  retryAfter: "retry-after",
  cacheControl: "cache-control",
  etag: "etag",
  ifNoneMatch: "if-none-match",
  contentType: "content-type",
  surrogateControl: "surrogate-control",
} as const;

/** Headers the browser may read, as Electric lists them. */
export const EXPOSED_HEADERS = [
  HEADER.cursor,
  HEADER.handle,
  HEADER.hasData,
  HEADER.offset,
  HEADER.schema,
  HEADER.upToDate,
  HEADER.knownError,
  HEADER.retryAfter,
].join(",");

/** Query parameter names of `GET /v1/shape`. */
export const PARAM = {
  table: "table",
  offset: "offset",
  handle: "handle",
  live: "live",
  liveSse: "live_sse",
  experimentalLiveSse: "experimental_live_sse",
  cursor: "cursor",
  where: "where",
  columns: "columns",
  replica: "replica",
  log: "log",
  /** Prefix of `params[N]` deep-object keys. */
  paramsPrefix: "params[",
  subsetPrefix: "subset__",
} as const;

/** Route paths. */
export const ROUTE = {
  root: "/",
  shape: "/v1/shape",
  health: "/v1/health",
  testRotate: "/v1/test/rotate",
  testUnavailable: "/v1/test/unavailable",
  testDrop: "/v1/test/drop",
  testShapes: "/v1/test/shapes",
  testStats: "/v1/test/stats",
} as const;

/** JSON content type of shape responses. */
export const CONTENT_TYPE_JSON = "application/json; charset=utf-8";
/** Content type of SSE responses. */
export const CONTENT_TYPE_SSE = "text/event-stream";

/** Cache-control values (§1.4). */
export const CACHE_CONTROL = {
  initial: "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746",
  nonLive: "public, max-age=60, stale-while-revalidate=300",
  live: "public, max-age=5, stale-while-revalidate=5",
  liveSse: "public, max-age=59",
  conflict: "public, max-age=60, must-revalidate",
  conflictNoHandle: "public, max-age=1, must-revalidate",
  error: "no-store",
  noCache: "no-cache",
  health: "no-cache, no-store, must-revalidate",
} as const;

/** Epoch of `electric-cursor` values: 2024-10-09T00:00:00Z, in ms. */
export const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
/** Largest random step added to a cursor that would not advance, in seconds. */
export const CURSOR_MAX_JITTER_S = 3600;

/** Listening port when `SHAPE_PORT` is not set. */
export const DEFAULT_PORT = 3000;
/** How long a live request is held before it answers up-to-date, Electric's default. */
export const DEFAULT_LONG_POLL_TIMEOUT_MS = 20_000;
/** Bytes of log or snapshot after which a chunk boundary is placed, Electric's default (10 MiB). */
export const DEFAULT_CHUNK_BYTES_THRESHOLD = 10 * 1024 * 1024;
/** Interval of SSE keep-alive comments, Electric's default. */
export const DEFAULT_SSE_KEEPALIVE_MS = 21_000;
/** Lifetime of one SSE connection, Electric's default. */
export const DEFAULT_SSE_TIMEOUT_MS = 60_000;
/** Schema holding the shape server's own tables. */
export const DEFAULT_STORAGE_SCHEMA = "electric_shapes";
/** Publication the shape server creates and owns. */
export const DEFAULT_PUBLICATION = "electric_shapes_pub";
/** Prefix of the default replication slot name (the database name is appended). */
export const DEFAULT_SLOT_PREFIX = "electric_shapes_";
/** Bytes of recent log entries kept in memory per shape to answer live requests without a query. */
export const DEFAULT_TAIL_BYTES_PER_SHAPE = 1024 * 1024;
/** Bytes of recent log entries kept in memory across all shapes. */
export const DEFAULT_TAIL_BYTES_TOTAL = 64 * 1024 * 1024;
/** Rows fetched from the snapshot cursor (and rows per stored page) at a time. */
export const SNAPSHOT_FETCH_ROWS = 1000;
/** Log rows read from storage per page when a response is streamed. */
export const LOG_PAGE_ROWS = 1000;
/** Changes queued from replication before the replication stream is paused. */
export const INGEST_QUEUE_MAX_CHANGES = 50_000;
/** Changes written to storage in one transaction at most. */
export const INGEST_BATCH_MAX_CHANGES = 20_000;
/** `retry-after` (s) while the server is starting or replication is down. */
export const RETRY_AFTER_NOT_READY_S = 5;
/** `retry-after` (s) when creating a shape failed on a database error. */
export const RETRY_AFTER_CREATE_FAILED_S = 1;
/** `retry-after` (s) for a snapshot or database error. */
export const RETRY_AFTER_DB_ERROR_S = 10;
/** `retry-after` (s) while the test control "unavailable" is active, unless the request names one. */
export const RETRY_AFTER_TEST_S = 1;
/** First delay before reconnecting replication. */
export const REPLICATION_RETRY_MIN_MS = 250;
/** Largest delay before reconnecting replication. */
export const REPLICATION_RETRY_MAX_MS = 5_000;
/** Interval of standby status updates sent to Postgres. */
export const STATUS_INTERVAL_MS = 5_000;
/** Connections in the general storage pool. */
export const STORAGE_POOL_SIZE = 8;
/**
 * Connections in the pool of snapshot transactions (how many snapshots run at once). Separate
 * from the storage pool, which snapshots need for writing their rows.
 */
export const SNAPSHOT_POOL_SIZE = 4;
/** Connections in the read-only pool that evaluates `where` clauses. */
export const EVAL_POOL_SIZE = 2;
/**
 * `statement_timeout` of the sessions that run tenant where clauses (snapshot fetches and live
 * evaluation): 10 000 ms. One snapshot `FETCH` or one evaluation query longer than this fails.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;

/**
 * Session settings of every connection whose output text reaches clients: the snapshot, the
 * replication connection and the where evaluator (Electric's `display_settings`, §1.11).
 */
export const DISPLAY_SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ["bytea_output", "hex"],
  ["DateStyle", "ISO,DMY"],
  ["TimeZone", "UTC"],
  ["extra_float_digits", "1"],
  ["IntervalStyle", "iso_8601"],
];

/** Largest POST body (subset parameters) read: 1 MiB; larger bodies answer 413. */
export const MAX_POST_BODY_BYTES = 1024 * 1024;

/** Environment variable names read by `main.ts`. */
export const ENV = {
  databaseUrl: "SHAPE_DATABASE_URL",
  port: "SHAPE_PORT",
  testControls: "SHAPE_TEST_CONTROLS",
  longPollTimeoutMs: "SHAPE_LONG_POLL_TIMEOUT_MS",
  logLevel: "SHAPE_LOG_LEVEL",
  queryRole: "SHAPE_QUERY_ROLE",
  statementTimeoutMs: "SHAPE_STATEMENT_TIMEOUT_MS",
} as const;

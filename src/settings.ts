/**
 * Every setting of pg-sync, declared once: its environment variable, default, bounds, whether it
 * is a secret, and its description. `loadConfig` parses from this table, `DEFAULT_CONFIG` and
 * the defaults other modules use come from it, and a unit test keeps README.md's configuration
 * table equal to it. This module imports nothing, so any layer may read its defaults.
 */

const DAY_MS = 86_400_000;

/** A whole-number setting, parsed and range-checked generically. */
export interface IntSetting {
  readonly kind: "int";
  /** Environment variable. */
  readonly env: string;
  /** Value when the variable is unset or empty. */
  readonly default: number;
  /** Smallest accepted value. */
  readonly min: number;
  /** Largest accepted value. */
  readonly max: number;
  /** True when the value must never be echoed. */
  readonly secret: false;
  /** What it does (markdown, as in README.md). */
  readonly description: string;
}

/** A setting with its own parsing rule in `loadConfig` (URLs, lists, flags, names). */
export interface TextSetting {
  readonly kind: "text";
  /** Environment variable. */
  readonly env: string;
  /** Value when unset; absent when the setting has no default (optional or required). */
  readonly default?: string;
  /** True when the server cannot start without it. */
  readonly required?: true;
  /** True when the value must never be echoed. */
  readonly secret: boolean;
  /** What it does (markdown, as in README.md). */
  readonly description: string;
}

/** One setting. */
export type Setting = IntSetting | TextSetting;

/** The settings, in the order README.md lists them. */
export const SETTINGS = {
  databaseUrl: {
    kind: "text",
    env: "PGSYNC_DATABASE_URL",
    required: true,
    secret: true,
    description: "state database (`postgres://…`); schema `pgsync` is created and migrated at start",
  },
  listen: {
    kind: "text",
    env: "PGSYNC_LISTEN",
    default: "127.0.0.1:50051",
    secret: false,
    description: "`host:port` for Connect, gRPC, gRPC-Web, health, reflection and `/metrics`",
  },
  electricUrl: {
    kind: "text",
    env: "PGSYNC_ELECTRIC_URL",
    secret: false,
    description: "default shape endpoint for sources without a `url` (e.g. `http://localhost:3000/v1/shape`)",
  },
  allowedUrls: {
    kind: "text",
    env: "PGSYNC_ALLOWED_URLS",
    secret: false,
    description:
      "comma-separated origins a source `url` may point to; the default URL's origin is always allowed",
  },
  authTokens: {
    kind: "text",
    env: "PGSYNC_AUTH_TOKENS",
    secret: true,
    description: "comma-separated `token=tenant` pairs",
  },
  jwtSecret: {
    kind: "text",
    env: "PGSYNC_JWT_SECRET",
    secret: true,
    description: "HS256/384/512 secret (≥ 32 chars); tenant from the `tenant` claim, else `sub`",
  },
  jwksFile: {
    kind: "text",
    env: "PGSYNC_JWKS_FILE",
    secret: false,
    description: "JWKS file with public keys for RS/ES/EdDSA JWTs",
  },
  jwtIssuer: {
    kind: "text",
    env: "PGSYNC_JWT_ISSUER",
    secret: false,
    description: "required `iss` claim of JWTs when set",
  },
  jwtAudience: {
    kind: "text",
    env: "PGSYNC_JWT_AUDIENCE",
    secret: false,
    description: "required `aud` claim of JWTs when set",
  },
  insecureNoAuth: {
    kind: "text",
    env: "PGSYNC_INSECURE_NO_AUTH",
    default: "0",
    secret: false,
    description: "`1`: no credentials, everyone is tenant `default`; refused unless listening on loopback",
  },
  logLevel: {
    kind: "text",
    env: "PGSYNC_LOG_LEVEL",
    default: "info",
    secret: false,
    description: "`trace` … `fatal`, `silent` (JSON lines on stdout; secrets redacted)",
  },
  shutdownGraceMs: {
    kind: "int",
    env: "PGSYNC_SHUTDOWN_GRACE_MS",
    default: 5_000,
    min: 0,
    max: 600_000,
    secret: false,
    description: "how long SIGTERM waits for streams and connections",
  },
  dbPoolSize: {
    kind: "int",
    env: "PGSYNC_DB_POOL_SIZE",
    default: 10,
    min: 1,
    max: 1_000,
    secret: false,
    description: "state database connections",
  },
  idleTtlMs: {
    kind: "int",
    env: "PGSYNC_IDLE_TTL_MS",
    default: DAY_MS,
    min: 0,
    max: 365 * DAY_MS,
    secret: false,
    description: "stop a source nobody registered or watched for this long (`IDLE`, cursor kept); `0` never",
  },
  gcIntervalMs: {
    kind: "int",
    env: "PGSYNC_GC_INTERVAL_MS",
    default: 60_000,
    min: 100,
    max: DAY_MS,
    secret: false,
    description: "how often the idle check and log retention run",
  },
  retentionMs: {
    kind: "int",
    env: "PGSYNC_RETENTION_MS",
    default: 7 * DAY_MS,
    min: 0,
    max: 3650 * DAY_MS,
    secret: false,
    description: "delete log entries older than this (7 days); `0` keeps them",
  },
  retentionMaxChanges: {
    kind: "int",
    env: "PGSYNC_RETENTION_MAX_CHANGES",
    default: 1_000_000,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    secret: false,
    description: "keep at most this many log entries per source; `0` unbounded",
  },
  probeTimeoutMs: {
    kind: "int",
    env: "PGSYNC_PROBE_TIMEOUT_MS",
    default: 10_000,
    min: 100,
    max: 600_000,
    secret: false,
    description: "timeout of the registration probe",
  },
  backoffInitialMs: {
    kind: "int",
    env: "PGSYNC_BACKOFF_INITIAL_MS",
    default: 250,
    min: 1,
    max: 600_000,
    secret: false,
    description: "first retry delay cap of a failing bridge (full jitter)",
  },
  backoffMaxMs: {
    kind: "int",
    env: "PGSYNC_BACKOFF_MAX_MS",
    default: 30_000,
    min: 1,
    max: 3_600_000,
    secret: false,
    description: "largest retry delay of a failing bridge",
  },
  watchBufferFrames: {
    kind: "int",
    env: "PGSYNC_WATCH_BUFFER_FRAMES",
    default: 1_000,
    min: 1,
    max: 1_000_000,
    secret: false,
    description: "frames buffered per WatchWakes stream",
  },
  watchBufferBytes: {
    kind: "int",
    env: "PGSYNC_WATCH_BUFFER_BYTES",
    default: 16_777_216,
    min: 1_024,
    max: 1_073_741_824,
    secret: false,
    description: "bytes (estimated) buffered per WatchWakes stream; a single larger frame is still sent",
  },
  watchStallTimeoutMs: {
    kind: "int",
    env: "PGSYNC_WATCH_STALL_TIMEOUT_MS",
    default: 30_000,
    min: 1,
    max: 3_600_000,
    secret: false,
    description: "a stream whose buffer stays full this long ends with `RESOURCE_EXHAUSTED` + resume token",
  },
  snapshotPageRows: {
    kind: "int",
    env: "PGSYNC_SNAPSHOT_PAGE_ROWS",
    default: 5_000,
    min: 1,
    max: 1_000_000,
    secret: false,
    description: "rows per snapshot page, read in one Electric subset request",
  },

  maxStreamsPerTenant: {
    kind: "int",
    env: "PGSYNC_MAX_STREAMS_PER_TENANT",
    default: 1_000,
    min: 1,
    max: 1_000_000,
    secret: false,
    description: "open WatchWakes streams per tenant",
  },
  maxGroupsPerTenant: {
    kind: "int",
    env: "PGSYNC_MAX_GROUPS_PER_TENANT",
    default: 100,
    min: 1,
    max: 1_000_000,
    secret: false,
    description: "consumer groups per tenant",
  },
  groupWindow: {
    kind: "int",
    env: "PGSYNC_GROUP_WINDOW",
    default: 1_000,
    min: 1,
    max: 1_000_000,
    secret: false,
    description: "unfinished deliveries a consumer group keeps per source before it pauses reading the log",
  },
  groupPollIntervalMs: {
    kind: "int",
    env: "PGSYNC_GROUP_POLL_INTERVAL_MS",
    default: 1_000,
    min: 10,
    max: 600_000,
    secret: false,
    description:
      "how often an idle group member or paused group reader re-checks for work from other replicas",
  },

  policyFile: {
    kind: "text",
    env: "PGSYNC_POLICY_FILE",
    secret: false,
    description:
      "authorization policy (YAML/JSON): tables, columns, row filters per tenant; see docs/security.md",
  },
  jwtMaxLifetimeMs: {
    kind: "int",
    env: "PGSYNC_JWT_MAX_LIFETIME_MS",
    default: 86_400_000,
    min: 1_000,
    max: 366 * DAY_MS,
    secret: false,
    description: "longest JWT lifetime, `exp − iat` (or `exp − now`); `exp` is required",
  },
  jwtClockSkewMs: {
    kind: "int",
    env: "PGSYNC_JWT_CLOCK_SKEW_MS",
    default: 30_000,
    min: 0,
    max: 600_000,
    secret: false,
    description: "clock skew tolerated on `exp`/`nbf`/`iat`",
  },
  maxRequestBytes: {
    kind: "int",
    env: "PGSYNC_MAX_REQUEST_BYTES",
    default: 4_194_304,
    min: 1_024,
    max: 1_073_741_824,
    secret: false,
    description: "largest request message, compressed and decompressed",
  },
  h2MaxConcurrentStreams: {
    kind: "int",
    env: "PGSYNC_H2_MAX_CONCURRENT_STREAMS",
    default: 100,
    min: 1,
    max: 10_000,
    secret: false,
    description: "concurrent streams per HTTP/2 connection",
  },
  h2MaxSessionMemoryMb: {
    kind: "int",
    env: "PGSYNC_H2_MAX_SESSION_MEMORY_MB",
    default: 10,
    min: 1,
    max: 4_096,
    secret: false,
    description: "memory per HTTP/2 session (MiB)",
  },
  idleConnectionTimeoutMs: {
    kind: "int",
    env: "PGSYNC_IDLE_CONNECTION_TIMEOUT_MS",
    default: 300_000,
    min: 0,
    max: DAY_MS,
    secret: false,
    description: "close connections with no open request after this; `0` never",
  },
  maxConnections: {
    kind: "int",
    env: "PGSYNC_MAX_CONNECTIONS",
    default: 10_000,
    min: 1,
    max: 1_000_000,
    secret: false,
    description: "open TCP connections",
  },
  maxHealthWatches: {
    kind: "int",
    env: "PGSYNC_MAX_HEALTH_WATCHES",
    default: 100,
    min: 0,
    max: 1_000_000,
    secret: false,
    description: "open unauthenticated `Health/Watch` streams, all callers together",
  },
  maxSourcesPerTenant: {
    kind: "int",
    env: "PGSYNC_MAX_SOURCES_PER_TENANT",
    default: 1_000,
    min: 1,
    max: 10_000_000,
    secret: false,
    description: "sources per tenant",
  },
  maxRegistrationsPerMinute: {
    kind: "int",
    env: "PGSYNC_MAX_REGISTRATIONS_PER_MINUTE",
    default: 600,
    min: 1,
    max: 10_000_000,
    secret: false,
    description: "RegisterSource calls per tenant per minute",
  },
  listMaxResponseBytes: {
    kind: "int",
    env: "PGSYNC_LIST_MAX_RESPONSE_BYTES",
    default: 4_194_304,
    min: 1_024,
    max: 1_073_741_824,
    secret: false,
    description: "largest ListSources response; pages are cut to fit",
  },
  otlpEndpoint: {
    kind: "text",
    env: "PGSYNC_OTLP_ENDPOINT",
    secret: false,
    description:
      "OTLP/HTTP collector for traces (`http://host:4318`); off unless this or `OTEL_EXPORTER_OTLP_ENDPOINT`",
  },
  replicaId: {
    kind: "text",
    env: "PGSYNC_REPLICA_ID",
    secret: false,
    description: "this replica's id, unique per live process (e.g. the pod name); unset: hostname-pid-random",
  },
  leaseTtlMs: {
    kind: "int",
    env: "PGSYNC_LEASE_TTL_MS",
    default: 10_000,
    min: 1_000,
    max: 600_000,
    secret: false,
    description: "source lease TTL (database clock), renewed every third; failover within about 4/3 of it",
  },
} as const satisfies Record<string, Setting>;

type Settings = typeof SETTINGS;

/** Name of a setting. */
export type SettingName = keyof Settings;

/** Names of the whole-number settings. */
export type IntSettingName = {
  [K in SettingName]: Settings[K] extends { readonly kind: "int" } ? K : never;
}[SettingName];

/** Every setting name, in table order. */
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** The whole-number settings, in table order. */
export const INT_SETTING_NAMES = SETTING_NAMES.filter(
  (name): name is IntSettingName => SETTINGS[name].kind === "int",
);

/** The environment variable of every setting. */
export const ENV = Object.freeze(
  Object.fromEntries(SETTING_NAMES.map((name) => [name, SETTINGS[name].env])),
) as { readonly [K in SettingName]: Settings[K]["env"] };

/** Defaults of every setting that has one; other modules import theirs from here. */
export const DEFAULT_CONFIG = Object.freeze(
  Object.fromEntries(
    SETTING_NAMES.flatMap((name) => {
      const setting: Setting = SETTINGS[name];
      return setting.default === undefined ? [] : [[name, setting.default]];
    }),
  ),
) as {
  readonly [K in SettingName as Settings[K] extends { default: unknown } ? K : never]: Settings[K] extends {
    default: infer D;
  }
    ? D
    : never;
};

/** Variables whose values are secrets: never echoed in errors. */
export const SECRET_VARS: ReadonlySet<string> = new Set(
  SETTING_NAMES.filter((name) => SETTINGS[name].secret).map((name) => SETTINGS[name].env),
);

/**
 * `PGSYNC_*` variables that are not server settings: read by pg-sync's scripts, tests, demo and
 * client examples, so the server does not warn about them.
 */
export const TOOLING_VARS: ReadonlySet<string> = new Set([
  "PGSYNC_ROOT",
  "PGSYNC_URL",
  "PGSYNC_TOKEN",
  "PGSYNC_PORT",
  "PGSYNC_REQUIRE_LIVE",
  "PGSYNC_REQUIRE_GENERATOR",
  "PGSYNC_STACK_LOG",
]);

/** Prefixes of tooling variables (`PGSYNC_TEST_PG_URL`, `PGSYNC_DEMO_DIR`, …). */
export const TOOLING_PREFIXES: readonly string[] = ["PGSYNC_TEST_", "PGSYNC_DEMO_"];

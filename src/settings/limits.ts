/**
 * Limits and deployment settings: authorization policy, request and connection limits, JWT
 * rules, tenant quotas, tracing and replicas. One part of the settings table of ../settings.ts, which README.md's configuration table
 * follows row for row.
 */
import type { Setting } from "../settings.js";

const DAY_MS = 86_400_000;

/** Limits, policy, tracing and replica settings, in README order. */
export const LIMIT_SETTINGS = {
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

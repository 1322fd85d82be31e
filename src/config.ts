import { z } from "zod";

/** Authentication settings: where tenants come from. */
export interface AuthConfig {
  /** Static bearer tokens mapped to tenants (`PGSYNC_AUTH_TOKENS`, `token=tenant,...`). */
  readonly tokens: ReadonlyMap<string, string>;
  /** HMAC secret for HS256/384/512 JWTs (`PGSYNC_JWT_SECRET`). */
  readonly jwtSecret: string | undefined;
  /** Path of a JWKS JSON file with public keys for JWTs (`PGSYNC_JWKS_FILE`). */
  readonly jwksFile: string | undefined;
  /** Required `iss` claim of JWTs, when set (`PGSYNC_JWT_ISSUER`). */
  readonly jwtIssuer: string | undefined;
  /** Required `aud` claim of JWTs, when set (`PGSYNC_JWT_AUDIENCE`). */
  readonly jwtAudience: string | undefined;
  /** Development only: no credentials, everyone is tenant `default` (`PGSYNC_INSECURE_NO_AUTH=1`). */
  readonly insecureNoAuth: boolean;
}

/** Address the server listens on. */
export interface ListenAddress {
  /** Host or IP (IPv6 without brackets). */
  readonly host: string;
  /** TCP port; 0 picks a free one. */
  readonly port: number;
}

/** The server's whole configuration, validated and frozen at start. */
export interface Config {
  /** State database (`PGSYNC_DATABASE_URL`). */
  readonly databaseUrl: string;
  /** Listen address (`PGSYNC_LISTEN`, default `127.0.0.1:50051`). */
  readonly listen: ListenAddress;
  /** Default shape endpoint for sources without a `url` (`PGSYNC_ELECTRIC_URL`). */
  readonly electricUrl: string | undefined;
  /** Origins a source `url` may point to (`PGSYNC_ALLOWED_URLS`); the default URL's origin is always allowed. */
  readonly allowedOrigins: readonly string[];
  /** Authentication. */
  readonly auth: AuthConfig;
  /** Log level (`PGSYNC_LOG_LEVEL`, default `info`). */
  readonly logLevel: LogLevel;
  /** How long shutdown waits for streams and connections (`PGSYNC_SHUTDOWN_GRACE_MS`, default 5_000). */
  readonly shutdownGraceMs: number;
  /** Size of the state database pool (`PGSYNC_DB_POOL_SIZE`, default 10). */
  readonly dbPoolSize: number;
  /** Stop a source nobody registered or watched for this long; 0 never (`PGSYNC_IDLE_TTL_MS`, default 86_400_000). */
  readonly idleTtlMs: number;
  /** Interval of the idle check and log retention (`PGSYNC_GC_INTERVAL_MS`, default 60_000). */
  readonly gcIntervalMs: number;
  /** Delete log entries older than this; 0 keeps them (`PGSYNC_RETENTION_MS`, default 604_800_000 = 7 days). */
  readonly retentionMs: number;
  /** Keep at most this many log entries per source; 0 unbounded (`PGSYNC_RETENTION_MAX_CHANGES`, default 1_000_000). */
  readonly retentionMaxChanges: number;
  /** Timeout of the registration probe (`PGSYNC_PROBE_TIMEOUT_MS`, default 10_000). */
  readonly probeTimeoutMs: number;
  /** First retry delay cap of a failing bridge (`PGSYNC_BACKOFF_INITIAL_MS`, default 250). */
  readonly backoffInitialMs: number;
  /** Largest retry delay of a failing bridge (`PGSYNC_BACKOFF_MAX_MS`, default 30_000). */
  readonly backoffMaxMs: number;
  /** Frames buffered per WatchWakes stream before it waits for its consumer (`PGSYNC_WATCH_BUFFER_FRAMES`, default 1_000). */
  readonly watchBufferFrames: number;
  /** How long a full stream buffer may wait before the stream is cut with RESOURCE_EXHAUSTED (`PGSYNC_WATCH_STALL_TIMEOUT_MS`, default 30_000). */
  readonly watchStallTimeoutMs: number;
  /** Most open WatchWakes streams per tenant (`PGSYNC_MAX_STREAMS_PER_TENANT`, default 1_000). */
  readonly maxStreamsPerTenant: number;
  /** This replica's id (`PGSYNC_REPLICA_ID`); undefined: host name, process id and a random suffix. */
  readonly replicaId: string | undefined;
  /** Lease TTL by the database clock, renewed every third of it (`PGSYNC_LEASE_TTL_MS`, default 10_000). */
  readonly leaseTtlMs: number;
}

/** Log levels accepted by `PGSYNC_LOG_LEVEL`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Defaults for every optional setting. */
export const DEFAULT_CONFIG = {
  listen: "127.0.0.1:50051",
  logLevel: "info",
  shutdownGraceMs: 5_000,
  dbPoolSize: 10,
  idleTtlMs: 86_400_000,
  gcIntervalMs: 60_000,
  retentionMs: 604_800_000,
  retentionMaxChanges: 1_000_000,
  probeTimeoutMs: 10_000,
  backoffInitialMs: 250,
  backoffMaxMs: 30_000,
  watchBufferFrames: 1_000,
  watchStallTimeoutMs: 30_000,
  maxStreamsPerTenant: 1_000,
  leaseTtlMs: 10_000,
} as const;

/** Names of the environment variables, in one place. */
export const ENV = {
  databaseUrl: "PGSYNC_DATABASE_URL",
  listen: "PGSYNC_LISTEN",
  electricUrl: "PGSYNC_ELECTRIC_URL",
  allowedUrls: "PGSYNC_ALLOWED_URLS",
  authTokens: "PGSYNC_AUTH_TOKENS",
  jwtSecret: "PGSYNC_JWT_SECRET",
  jwksFile: "PGSYNC_JWKS_FILE",
  jwtIssuer: "PGSYNC_JWT_ISSUER",
  jwtAudience: "PGSYNC_JWT_AUDIENCE",
  insecureNoAuth: "PGSYNC_INSECURE_NO_AUTH",
  logLevel: "PGSYNC_LOG_LEVEL",
  shutdownGraceMs: "PGSYNC_SHUTDOWN_GRACE_MS",
  dbPoolSize: "PGSYNC_DB_POOL_SIZE",
  idleTtlMs: "PGSYNC_IDLE_TTL_MS",
  gcIntervalMs: "PGSYNC_GC_INTERVAL_MS",
  retentionMs: "PGSYNC_RETENTION_MS",
  retentionMaxChanges: "PGSYNC_RETENTION_MAX_CHANGES",
  probeTimeoutMs: "PGSYNC_PROBE_TIMEOUT_MS",
  backoffInitialMs: "PGSYNC_BACKOFF_INITIAL_MS",
  backoffMaxMs: "PGSYNC_BACKOFF_MAX_MS",
  watchBufferFrames: "PGSYNC_WATCH_BUFFER_FRAMES",
  watchStallTimeoutMs: "PGSYNC_WATCH_STALL_TIMEOUT_MS",
  maxStreamsPerTenant: "PGSYNC_MAX_STREAMS_PER_TENANT",
  replicaId: "PGSYNC_REPLICA_ID",
  leaseTtlMs: "PGSYNC_LEASE_TTL_MS",
} as const;

/** Variables whose values are secrets: never echoed in errors. */
const SECRET_VARS: ReadonlySet<string> = new Set([ENV.authTokens, ENV.jwtSecret, ENV.databaseUrl]);

/** A configuration error: names the variable and, unless it is a secret, the bad value. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly variable: string,
    problem: string,
    value: string | undefined,
  ) {
    const shown = value === undefined || SECRET_VARS.has(variable) ? "" : ` (got ${JSON.stringify(value)})`;
    super(`${variable}: ${problem}${shown}`);
  }
}

const DAY_MS = 86_400_000;

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

/** True when `host` only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function parseListen(value: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)|([^[\]]*:[^[\]]*)):(\d+)$/.exec(value);
  if (!match)
    throw new ConfigError(ENV.listen, "expected host:port, e.g. 127.0.0.1:50051 or [::1]:50051", value);
  const host = (match[1] ?? match[2] ?? match[3] ?? "").trim();
  const port = Number(match[4]);
  if (!host) throw new ConfigError(ENV.listen, "host is empty", value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigError(ENV.listen, "port must be 0-65535", value);
  }
  return { host, port };
}

function parseHttpUrl(variable: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, "not a valid URL", value);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(variable, "must be an http(s) URL", value);
  }
  return url;
}

function parseTokens(value: string): Map<string, string> {
  const tokens = new Map<string, string>();
  for (const [i, raw] of value.split(",").entries()) {
    const pair = raw.trim();
    if (!pair) continue;
    const eq = pair.lastIndexOf("=");
    const token = pair.slice(0, eq).trim();
    const tenant = pair.slice(eq + 1).trim();
    if (eq <= 0 || !token || !tenant) {
      throw new ConfigError(ENV.authTokens, `entry ${i + 1} must be token=tenant`, undefined);
    }
    if (tokens.has(token)) throw new ConfigError(ENV.authTokens, `entry ${i + 1} repeats a token`, undefined);
    tokens.set(token, tenant);
  }
  return tokens;
}

const intSchema = (variable: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${variable}: must be a number` })
    .int({ error: `${variable}: must be a whole number` })
    .min(min, { error: `${variable}: must be at least ${min}` })
    .max(max, { error: `${variable}: must be at most ${max}` });

function parseIntVar(
  variable: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined || value.trim() === "") return fallback;
  const result = intSchema(variable, min, max).safeParse(value.trim());
  if (!result.success) {
    const message = result.error.issues[0]?.message ?? `${variable}: invalid`;
    throw new ConfigError(variable, message.slice(variable.length + 2), value);
  }
  return result.data;
}

/** Replica ids: what a host name or pod name may hold, at most 200 characters. */
const REPLICA_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

function parseReplicaId(value: string | undefined): string | undefined {
  const id = value?.trim();
  if (!id) return undefined;
  if (!REPLICA_ID_PATTERN.test(id)) {
    throw new ConfigError(
      ENV.replicaId,
      "must be 1-200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
      value,
    );
  }
  return id;
}

function parseFlag(variable: string, value: string | undefined): boolean {
  if (value === undefined || value === "" || value === "0" || value === "false") return false;
  if (value === "1" || value === "true") return true;
  throw new ConfigError(variable, "must be 1/true or 0/false", value);
}

/**
 * Reads and validates the configuration from environment variables. Pure: it reads only `env`.
 * Throws a {@link ConfigError} naming the variable on the first bad value.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const databaseUrl = env[ENV.databaseUrl]?.trim();
  if (!databaseUrl) throw new ConfigError(ENV.databaseUrl, "is required (the state database URL)", undefined);
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(ENV.databaseUrl, "must be a postgres:// or postgresql:// URL", undefined);
  }

  const listen = parseListen(env[ENV.listen]?.trim() || DEFAULT_CONFIG.listen);

  const electricRaw = env[ENV.electricUrl]?.trim();
  const electricUrl = electricRaw ? parseHttpUrl(ENV.electricUrl, electricRaw).toString() : undefined;

  const allowedOrigins = new Set<string>();
  for (const raw of (env[ENV.allowedUrls] ?? "").split(",")) {
    const entry = raw.trim();
    if (entry) allowedOrigins.add(parseHttpUrl(ENV.allowedUrls, entry).origin);
  }
  if (electricUrl) allowedOrigins.add(new URL(electricUrl).origin);

  const insecureNoAuth = parseFlag(ENV.insecureNoAuth, env[ENV.insecureNoAuth]);
  const tokens = parseTokens(env[ENV.authTokens] ?? "");
  const jwtSecret = env[ENV.jwtSecret] || undefined;
  const jwksFile = env[ENV.jwksFile]?.trim() || undefined;
  if (jwtSecret !== undefined && jwtSecret.length < 32) {
    throw new ConfigError(ENV.jwtSecret, "must be at least 32 characters", undefined);
  }
  if (insecureNoAuth && !isLoopbackHost(listen.host)) {
    throw new ConfigError(
      ENV.insecureNoAuth,
      `is refused unless ${ENV.listen} is a loopback address (listening on ${listen.host})`,
      env[ENV.insecureNoAuth],
    );
  }
  if (!insecureNoAuth && tokens.size === 0 && !jwtSecret && !jwksFile) {
    throw new ConfigError(
      ENV.authTokens,
      `no authentication configured: set ${ENV.authTokens}, ${ENV.jwtSecret} or ${ENV.jwksFile} (or ${ENV.insecureNoAuth}=1 on loopback for development)`,
      undefined,
    );
  }

  const logLevelRaw = (env[ENV.logLevel]?.trim() || DEFAULT_CONFIG.logLevel).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevelRaw)) {
    throw new ConfigError(ENV.logLevel, `must be one of ${LOG_LEVELS.join(", ")}`, env[ENV.logLevel]);
  }

  return Object.freeze({
    databaseUrl,
    listen: Object.freeze(listen),
    electricUrl,
    allowedOrigins: Object.freeze([...allowedOrigins]),
    auth: Object.freeze({
      tokens,
      jwtSecret,
      jwksFile,
      jwtIssuer: env[ENV.jwtIssuer]?.trim() || undefined,
      jwtAudience: env[ENV.jwtAudience]?.trim() || undefined,
      insecureNoAuth,
    }),
    logLevel: logLevelRaw as LogLevel,
    shutdownGraceMs: parseIntVar(
      ENV.shutdownGraceMs,
      env[ENV.shutdownGraceMs],
      DEFAULT_CONFIG.shutdownGraceMs,
      0,
      600_000,
    ),
    dbPoolSize: parseIntVar(ENV.dbPoolSize, env[ENV.dbPoolSize], DEFAULT_CONFIG.dbPoolSize, 1, 1_000),
    idleTtlMs: parseIntVar(ENV.idleTtlMs, env[ENV.idleTtlMs], DEFAULT_CONFIG.idleTtlMs, 0, 365 * DAY_MS),
    gcIntervalMs: parseIntVar(
      ENV.gcIntervalMs,
      env[ENV.gcIntervalMs],
      DEFAULT_CONFIG.gcIntervalMs,
      100,
      DAY_MS,
    ),
    retentionMs: parseIntVar(
      ENV.retentionMs,
      env[ENV.retentionMs],
      DEFAULT_CONFIG.retentionMs,
      0,
      3650 * DAY_MS,
    ),
    retentionMaxChanges: parseIntVar(
      ENV.retentionMaxChanges,
      env[ENV.retentionMaxChanges],
      DEFAULT_CONFIG.retentionMaxChanges,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    probeTimeoutMs: parseIntVar(
      ENV.probeTimeoutMs,
      env[ENV.probeTimeoutMs],
      DEFAULT_CONFIG.probeTimeoutMs,
      100,
      600_000,
    ),
    backoffInitialMs: parseIntVar(
      ENV.backoffInitialMs,
      env[ENV.backoffInitialMs],
      DEFAULT_CONFIG.backoffInitialMs,
      1,
      600_000,
    ),
    backoffMaxMs: parseIntVar(
      ENV.backoffMaxMs,
      env[ENV.backoffMaxMs],
      DEFAULT_CONFIG.backoffMaxMs,
      1,
      3_600_000,
    ),
    watchBufferFrames: parseIntVar(
      ENV.watchBufferFrames,
      env[ENV.watchBufferFrames],
      DEFAULT_CONFIG.watchBufferFrames,
      1,
      1_000_000,
    ),
    watchStallTimeoutMs: parseIntVar(
      ENV.watchStallTimeoutMs,
      env[ENV.watchStallTimeoutMs],
      DEFAULT_CONFIG.watchStallTimeoutMs,
      1,
      3_600_000,
    ),
    maxStreamsPerTenant: parseIntVar(
      ENV.maxStreamsPerTenant,
      env[ENV.maxStreamsPerTenant],
      DEFAULT_CONFIG.maxStreamsPerTenant,
      1,
      1_000_000,
    ),
    replicaId: parseReplicaId(env[ENV.replicaId]),
    leaseTtlMs: parseIntVar(ENV.leaseTtlMs, env[ENV.leaseTtlMs], DEFAULT_CONFIG.leaseTtlMs, 1_000, 600_000),
  });
}

import { z } from "zod";
import { tenantProblem } from "./domain/tenant.js";
import {
  DEFAULT_CONFIG,
  ENV,
  INT_SETTING_NAMES,
  type IntSetting,
  type IntSettingName,
  SECRET_VARS,
  SETTINGS,
} from "./settings.js";

export { DEFAULT_CONFIG, ENV, SETTINGS } from "./settings.js";

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
  /** Longest accepted JWT lifetime (`PGSYNC_JWT_MAX_LIFETIME_MS`). */
  readonly jwtMaxLifetimeMs: number;
  /** Clock skew tolerated on `exp`, `nbf` and `iat` (`PGSYNC_JWT_CLOCK_SKEW_MS`). */
  readonly jwtClockSkewMs: number;
}

/** Address the server listens on. */
export interface ListenAddress {
  /** Host or IP (IPv6 without brackets). */
  readonly host: string;
  /** TCP port; 0 picks a free one. */
  readonly port: number;
}

/** The whole-number settings (durations, sizes, limits); see {@link SETTINGS} for each one. */
export type IntSettings = { readonly [K in IntSettingName]: number };

/** The server's whole configuration, validated and frozen at start; every setting is in {@link SETTINGS}. */
export interface Config extends IntSettings {
  /** State database (`PGSYNC_DATABASE_URL`). */
  readonly databaseUrl: string;
  /** Listen address (`PGSYNC_LISTEN`). */
  readonly listen: ListenAddress;
  /** Default shape endpoint for sources without a `url` (`PGSYNC_ELECTRIC_URL`). */
  readonly electricUrl: string | undefined;
  /** Origins a source `url` may point to (`PGSYNC_ALLOWED_URLS`); the default URL's origin is always allowed. */
  readonly allowedOrigins: readonly string[];
  /** Authentication. */
  readonly auth: AuthConfig;
  /** Log level (`PGSYNC_LOG_LEVEL`). */
  readonly logLevel: LogLevel;
  /** This replica's id (`PGSYNC_REPLICA_ID`); undefined: host name, process id and a random suffix. */
  readonly replicaId: string | undefined;
  /** Authorization policy file (`PGSYNC_POLICY_FILE`); undefined: every table outside the reserved schemas. */
  readonly policyFile: string | undefined;
  /**
   * Where traces go (OTLP/HTTP, the full `/v1/traces` URL): `PGSYNC_OTLP_ENDPOINT`, else the
   * standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`; undefined: off.
   */
  readonly tracesUrl: string | undefined;
}

/** Log levels accepted by `PGSYNC_LOG_LEVEL`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

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
    const problem = tenantProblem(tenant);
    if (problem) throw new ConfigError(ENV.authTokens, `entry ${i + 1}: tenant ${problem}`, undefined);
    tokens.set(token, tenant);
  }
  return tokens;
}

function parseIntSetting(setting: IntSetting, value: string | undefined): number {
  const { env: variable, min, max } = setting;
  if (value === undefined || value.trim() === "") return setting.default;
  const result = z.coerce
    .number({ error: "must be a number" })
    .int({ error: "must be a whole number" })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .safeParse(value.trim());
  if (!result.success) throw new ConfigError(variable, result.error.issues[0]?.message ?? "invalid", value);
  return result.data;
}

/** Every whole-number setting from `env`, each checked against its bounds. */
function parseIntSettings(env: NodeJS.ProcessEnv): IntSettings {
  const values = {} as Record<IntSettingName, number>;
  for (const name of INT_SETTING_NAMES) values[name] = parseIntSetting(SETTINGS[name], env[ENV[name]]);
  return values;
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

/** The authentication settings; at least one way to authenticate must be configured. */
function parseAuth(env: NodeJS.ProcessEnv, listen: ListenAddress, ints: IntSettings): AuthConfig {
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

  return Object.freeze({
    tokens,
    jwtSecret,
    jwksFile,
    jwtIssuer: env[ENV.jwtIssuer]?.trim() || undefined,
    jwtAudience: env[ENV.jwtAudience]?.trim() || undefined,
    insecureNoAuth,
    jwtMaxLifetimeMs: ints.jwtMaxLifetimeMs,
    jwtClockSkewMs: ints.jwtClockSkewMs,
  });
}

/** The OTLP/HTTP traces URL: a base endpoint gets `/v1/traces`, the traces-specific one is used as is. */
function parseTracesUrl(env: NodeJS.ProcessEnv): string | undefined {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env[ENV.otlpEndpoint]?.trim();
  const variable = base ? ENV.otlpEndpoint : "OTEL_EXPORTER_OTLP_ENDPOINT";
  const endpoint = base || (specific ? undefined : env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
  if (!endpoint)
    return specific ? parseHttpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", specific).toString() : undefined;
  const url = parseHttpUrl(variable, endpoint);
  url.pathname = `${url.pathname.replace(/\/$/, "")}/v1/traces`;
  return url.toString();
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

  const ints = parseIntSettings(env);
  const auth = parseAuth(env, listen, ints);

  const logLevelRaw = (env[ENV.logLevel]?.trim() || DEFAULT_CONFIG.logLevel).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevelRaw)) {
    throw new ConfigError(ENV.logLevel, `must be one of ${LOG_LEVELS.join(", ")}`, env[ENV.logLevel]);
  }

  return Object.freeze({
    databaseUrl,
    listen: Object.freeze(listen),
    electricUrl,
    allowedOrigins: Object.freeze([...allowedOrigins]),
    auth,
    logLevel: logLevelRaw as LogLevel,
    replicaId: parseReplicaId(env[ENV.replicaId]),
    policyFile: env[ENV.policyFile]?.trim() || undefined,
    tracesUrl: parseTracesUrl(env),
    ...ints,
  });
}

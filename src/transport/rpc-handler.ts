import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Authenticator } from "./auth.js";
import { type HealthRegistry, registerHealth } from "./health.js";
import { createInterceptorChain } from "./interceptors.js";
import type { UniversalHandler } from "./listener.js";
import type { PgSyncServiceImpl } from "./pg-sync-service.js";
import { createPreAuthHandler } from "./pre-auth.js";
import { registerReflection } from "./reflection.js";
import { pgSyncRoutes } from "./routes.js";

/** Services callable without credentials (health and reflection). */
export const PUBLIC_SERVICES = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
] as const;

/** Largest request to a public service: health and reflection requests are tiny. */
export const PUBLIC_MAX_REQUEST_BYTES = 65_536;

/** URL prefix of the services that need credentials. */
const PROTECTED_PREFIX = "/pgsync.v1.";

/** What {@link createRpcHandler} serves and with which limits. */
export interface RpcHandlerOptions {
  readonly impl: PgSyncServiceImpl;
  readonly health: HealthRegistry;
  readonly reflection: { readonly descriptorSet: Uint8Array; readonly services: readonly string[] };
  readonly authenticator: Authenticator;
  readonly logger: Logger;
  readonly shutdownSignal: AbortSignal;
  /** Largest pgsync.v1 request, compressed and decompressed (`PGSYNC_MAX_REQUEST_BYTES`). */
  readonly maxRequestBytes: number;
  /** Most open Health.Watch streams (`PGSYNC_MAX_HEALTH_WATCHES`). */
  readonly maxHealthWatches: number;
  /** RPC metrics (`pgsync_rpc_*`). */
  readonly metrics?: Pick<Metrics, "rpcHandled" | "rpcSeconds">;
}

/**
 * The Node request handler for every RPC: credentials of pgsync.v1 calls are checked before
 * their body is read (see pre-auth.ts); then one Connect adapter serves pgsync.v1 with
 * `readMaxBytes = maxRequestBytes` and another serves health and reflection with
 * {@link PUBLIC_MAX_REQUEST_BYTES}. Connect applies `readMaxBytes` to the body as it arrives and
 * to zlib's output, so neither a large body nor a compression bomb is buffered past it.
 */
export function createRpcHandler(options: RpcHandlerOptions): UniversalHandler {
  const interceptors = createInterceptorChain({
    logger: options.logger,
    authenticator: options.authenticator,
    exemptServices: PUBLIC_SERVICES,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  const api = connectNodeAdapter({
    routes: (router: ConnectRouter) => pgSyncRoutes(options.impl)(router),
    shutdownSignal: options.shutdownSignal,
    readMaxBytes: options.maxRequestBytes,
    interceptors,
  });
  const open = connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      registerHealth(router, options.health, { maxWatches: options.maxHealthWatches });
      registerReflection(router, {
        descriptorSet: options.reflection.descriptorSet,
        services: [...options.reflection.services],
      });
    },
    shutdownSignal: options.shutdownSignal,
    readMaxBytes: PUBLIC_MAX_REQUEST_BYTES,
    interceptors,
  });
  const isPublic = (url: string | undefined) => PUBLIC_SERVICES.some((s) => url?.startsWith(`/${s}/`));
  return createPreAuthHandler(
    (req, res) => (isPublic(req.url) ? open : api)(req, res),
    options.authenticator,
    { protectedPrefixes: [PROTECTED_PREFIX] },
  );
}

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  Health,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";

/** Serving status of one health service name (grpc.health.v1). */
export const ServingStatus = HealthCheckResponse_ServingStatus;
export type ServingStatus = HealthCheckResponse_ServingStatus;

/** The statuses the health service reports, keyed by service name ("" is the whole server). */
export interface HealthRegistry {
  /** Sets a service's status; watchers are told only when it changes. */
  set(service: string, status: ServingStatus): void;
  /** The current status, or undefined for an unknown service name. */
  get(service: string): ServingStatus | undefined;
  /** Every known service with its status. */
  list(): ReadonlyMap<string, ServingStatus>;
  /** Calls `listener` on every change of `service`; returns the unsubscribe function. */
  subscribe(service: string, listener: (status: ServingStatus) => void): () => void;
  /** Marks every service NOT_SERVING for good (graceful shutdown); later `set` calls are ignored. */
  shutdown(): void;
}

/** Creates an empty registry. */
export function createHealthRegistry(): HealthRegistry {
  const statuses = new Map<string, ServingStatus>();
  const listeners = new Map<string, Set<(status: ServingStatus) => void>>();
  let down = false;
  const apply = (service: string, status: ServingStatus) => {
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    for (const listener of listeners.get(service) ?? []) listener(status);
  };
  return {
    set(service, status) {
      if (!down) apply(service, status);
    },
    get: (service) => statuses.get(service),
    list: () => new Map(statuses),
    subscribe(service, listener) {
      let set = listeners.get(service);
      if (!set) {
        set = new Set();
        listeners.set(service, set);
      }
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(service);
      };
    },
    shutdown() {
      down = true;
      for (const service of statuses.keys()) apply(service, ServingStatus.NOT_SERVING);
    },
  };
}

function response(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

/** Streams a service's status: the current one first, then every change, until the call ends. */
async function* watch(registry: HealthRegistry, service: string, ctx: HandlerContext) {
  const pending: ServingStatus[] = [registry.get(service) ?? ServingStatus.SERVICE_UNKNOWN];
  let wake: (() => void) | undefined;
  const unsubscribe = registry.subscribe(service, (status) => {
    pending.push(status);
    wake?.();
  });
  const onAbort = () => wake?.();
  ctx.signal.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const next = pending.shift();
      if (next !== undefined) {
        yield response(next);
        continue;
      }
      if (ctx.signal.aborted) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

/** Options of {@link registerHealth}. */
export interface HealthOptions {
  /** Most open Watch streams, all (unauthenticated) callers together; more get RESOURCE_EXHAUSTED. */
  readonly maxWatches?: number;
}

/** Serves grpc.health.v1.Health (Check, Watch, List) from a registry. */
export function registerHealth(
  router: ConnectRouter,
  registry: HealthRegistry,
  options: HealthOptions = {},
): void {
  let watching = 0;
  const max = options.maxWatches ?? Number.POSITIVE_INFINITY;
  async function* limitedWatch(service: string, ctx: HandlerContext) {
    if (watching >= max) {
      throw new ConnectError(
        `too many open health watches (limit ${max}); use Check, or retry later`,
        Code.ResourceExhausted,
      );
    }
    watching++;
    try {
      yield* watch(registry, service, ctx);
    } finally {
      watching--;
    }
  }
  router.service(Health, {
    check(req) {
      const status = registry.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return response(status);
    },
    watch: (req, ctx) => limitedWatch(req.service, ctx),
    list() {
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const [service, status] of registry.list()) statuses[service] = response(status);
      return create(HealthListResponseSchema, { statuses });
    },
  });
}

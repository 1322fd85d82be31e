import { createContextKey } from "@connectrpc/connect";
import type { Context as OtelContext } from "@opentelemetry/api";

/** The authenticated caller. The tenant comes only from credentials, never from request data. */
export interface Principal {
  /** Tenant every storage access is scoped to. */
  readonly tenant: string;
  /** How the caller authenticated. */
  readonly method: "token" | "jwt" | "insecure";
  /** The JWT subject, when authenticated by JWT. */
  readonly subject?: string;
  /** The verified JWT claims (row filters of the policy bind to them); absent for static tokens. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** Set by the auth interceptor for every pgsync.v1 call; handlers read it with `ctx.values.get`. */
export const principalKey = createContextKey<Principal | undefined>(undefined, {
  description: "authenticated principal",
});

/** Set by the request-id interceptor; echoed in the `x-request-id` response header. */
export const requestIdKey = createContextKey<string>("", { description: "request id" });

/** Set by the tracing interceptor: the OpenTelemetry context of the call's span (parent of its work). */
export const traceContextKey = createContextKey<OtelContext | undefined>(undefined, {
  description: "trace context",
});

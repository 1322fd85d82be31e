import type http from "node:http";
import type { HttpRoute } from "./listener.js";

/** Paths of the plain HTTP probes, for container health checks and load balancers. */
export const PROBE_PATHS = { live: "/healthz", ready: "/readyz" } as const;

function answer(req: Parameters<HttpRoute>[0], response: Parameters<HttpRoute>[1], ok: boolean): void {
  const res = response as http.ServerResponse;
  const body = ok ? "ok\n" : "not ready\n";
  res.writeHead(ok ? 200 : 503, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

/**
 * The liveness and readiness routes: `/healthz` answers 200 while the process serves HTTP at all;
 * `/readyz` answers 200 when `isReady()` (the state database answered the last health check and
 * the server is not shutting down), else 503. No credentials, no details: they are public.
 */
export function createProbeRoutes(isReady: () => boolean): Record<string, HttpRoute> {
  return {
    [PROBE_PATHS.live]: (req, res) => answer(req, res, true),
    [PROBE_PATHS.ready]: (req, res) => answer(req, res, isReady()),
  };
}

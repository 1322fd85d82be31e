import type { ConnectRouter } from "@connectrpc/connect";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import type { PgSyncServiceImpl } from "./pg-sync-service.js";

/**
 * `compressMinBytes` of the AckWakes and NackWakes answers: never compressed. They are small
 * (one status per id, ≈ 80 bytes each), frequent and on the consumer's critical path, so gzip
 * costs both sides more CPU than the bytes it saves on the connection. Requests may still arrive
 * compressed, and every other method keeps Connect's default (1 KiB).
 */
export const SETTLE_COMPRESS_MIN_BYTES = Number.MAX_SAFE_INTEGER;

/** Registers pgsync.v1.PgSyncService on a router. */
export function pgSyncRoutes(impl: PgSyncServiceImpl): (router: ConnectRouter) => void {
  return (router) => {
    router.service(PgSyncService, impl);
    // Registered again with their own options; the later registration of a path wins.
    const settle = { compressMinBytes: SETTLE_COMPRESS_MIN_BYTES };
    router.rpc(PgSyncService.method.ackWakes, (req, ctx) => impl.ackWakes(req, ctx), settle);
    router.rpc(PgSyncService.method.nackWakes, (req, ctx) => impl.nackWakes(req, ctx), settle);
  };
}

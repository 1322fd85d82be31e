import type { ConnectRouter } from "@connectrpc/connect";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import type { PgSyncServiceImpl } from "./pg-sync-service.js";

/** Registers pgsync.v1.PgSyncService on a router. */
export function pgSyncRoutes(impl: PgSyncServiceImpl): (router: ConnectRouter) => void {
  return (router) => {
    router.service(PgSyncService, impl);
  };
}

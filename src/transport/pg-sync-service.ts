import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { SourceRegistry } from "../domain/source-registry.js";
import {
  type DeleteSourceRequest,
  type DeleteSourceResponse,
  DeleteSourceResponseSchema,
  type GetCursorResponse,
  type GetSourceRequest,
  type GetSourceResponse,
  GetSourceResponseSchema,
  type ListSourcesRequest,
  type ListSourcesResponse,
  ListSourcesResponseSchema,
  type PgSyncService,
  type RegisterSourceRequest,
  type RegisterSourceResponse,
  RegisterSourceResponseSchema,
  type WatchWakesResponse,
} from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { principalKey } from "./context.js";
import { toConnectError } from "./errors.js";
import { sourceOptionsFromProto } from "./from-proto.js";
import { sourceToProto } from "./to-proto.js";

/** Dependencies of {@link PgSyncServiceImpl}. */
export interface PgSyncServiceDeps {
  /** The control plane. */
  readonly registry: SourceRegistry;
}

/** The tenant of the authenticated caller; the auth interceptor guarantees it is set. */
function tenantOf(ctx: HandlerContext): string {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new ConnectError("not authenticated", Code.Unauthenticated);
  return principal.tenant;
}

/** Runs a handler body, mapping every error at the edge. */
async function edge<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toConnectError(err);
  }
}

/**
 * pgsync.v1.PgSyncService: thin handlers that read the tenant from the context, call the domain,
 * and map results to proto.
 */
export class PgSyncServiceImpl implements ServiceImpl<typeof PgSyncService> {
  readonly #deps: PgSyncServiceDeps;

  constructor(deps: PgSyncServiceDeps) {
    this.#deps = deps;
  }

  registerSource(req: RegisterSourceRequest, ctx: HandlerContext): Promise<RegisterSourceResponse> {
    return edge(async () => {
      const tenant = tenantOf(ctx);
      const result = await this.#deps.registry.register(tenant, sourceOptionsFromProto(req.options));
      return create(RegisterSourceResponseSchema, {
        sourceRef: result.sourceRef,
        created: result.created,
        source: sourceToProto(result.source),
      });
    });
  }

  getSource(req: GetSourceRequest, ctx: HandlerContext): Promise<GetSourceResponse> {
    return edge(async () => {
      const record = await this.#deps.registry.get(tenantOf(ctx), req.sourceRef);
      return create(GetSourceResponseSchema, { source: sourceToProto(record) });
    });
  }

  listSources(req: ListSourcesRequest, ctx: HandlerContext): Promise<ListSourcesResponse> {
    return edge(async () => {
      const page = await this.#deps.registry.list(tenantOf(ctx), req.pageSize, req.pageToken);
      return create(ListSourcesResponseSchema, {
        sources: page.sources.map(sourceToProto),
        nextPageToken: page.nextPageToken,
      });
    });
  }

  deleteSource(req: DeleteSourceRequest, ctx: HandlerContext): Promise<DeleteSourceResponse> {
    return edge(async () => {
      await this.#deps.registry.delete(tenantOf(ctx), req.sourceRef);
      return create(DeleteSourceResponseSchema, { sourceRef: req.sourceRef });
    });
  }

  // biome-ignore lint/correctness/useYield: answers UNIMPLEMENTED until the WatchWakes issue lands.
  async *watchWakes(): AsyncGenerator<WatchWakesResponse> {
    throw new ConnectError("WatchWakes is not implemented yet", Code.Unimplemented);
  }

  async getCursor(): Promise<GetCursorResponse> {
    throw new ConnectError("GetCursor is not implemented yet", Code.Unimplemented);
  }
}

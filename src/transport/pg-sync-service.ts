import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  type DeleteSourceRequest,
  type DeleteSourceResponse,
  DeleteSourceResponseSchema,
  type GetCursorRequest,
  type GetCursorResponse,
  GetCursorResponseSchema,
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
  type WatchWakesRequest,
  type WatchWakesResponse,
} from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import type { SourceRegistry } from "../domain/source-registry.js";
import { ConsumerTooSlowError } from "../domain/watch-frames.js";
import type { WatchService } from "../domain/watch-service.js";
import type { Metrics } from "../metrics.js";
import type { ConsumerGroupHandlers } from "./consumer-group-handlers.js";
import { principalKey } from "./context.js";
import { ERROR_DOMAIN, toConnectError } from "./errors.js";
import { sourceOptionsFromProto, watchRequestFromProto } from "./from-proto.js";
import { cursorToProto, sourceToProto, watchFrameToProto } from "./to-proto.js";

/** Dependencies of {@link PgSyncServiceImpl}. */
export interface PgSyncServiceDeps {
  /** The control plane. */
  readonly registry: SourceRegistry;
  /** Opens WatchWakes streams. */
  readonly watch: WatchService;
  /** Metrics (open streams, wakes sent). */
  readonly metrics: Metrics;
  /** The consumer-group methods (issue 15). */
  readonly groups: ConsumerGroupHandlers;
}

/** Trailer carrying the resume token when a stream ends with an error. */
export const RESUME_TOKEN_TRAILER = "pgsync-resume-token";

/** The error ending a stream, with the token to resume from in a trailer and in ErrorInfo. */
function streamEndError(err: unknown, resumeToken: string): ConnectError {
  const base =
    err instanceof ConsumerTooSlowError
      ? new ConnectError(err.message, Code.ResourceExhausted, undefined, [
          {
            desc: ErrorInfoSchema,
            value: create(ErrorInfoSchema, {
              reason: err.reason,
              domain: ERROR_DOMAIN,
              metadata: { resume_token: resumeToken },
            }),
          },
        ])
      : toConnectError(err);
  // A copy: the shutdown reason is one ConnectError shared by every stream.
  const metadata = new Headers(base.metadata);
  metadata.set(RESUME_TOKEN_TRAILER, resumeToken);
  const copy = new ConnectError(base.rawMessage, base.code, metadata, undefined, base.cause);
  copy.details.push(...base.details);
  return copy;
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

  async *watchWakes(req: WatchWakesRequest, ctx: HandlerContext): AsyncGenerator<WatchWakesResponse> {
    const watch = await edge(() => this.#deps.watch.open(tenantOf(ctx), watchRequestFromProto(req)));
    const { metrics } = this.#deps;
    metrics.openStreams.inc();
    try {
      for await (const frame of watch.session.frames(ctx.signal)) {
        if (frame.type === "wake") metrics.wakesSent.inc();
        yield watchFrameToProto(frame);
      }
      const reason: unknown = ctx.signal.reason;
      if (ctx.signal.aborted && reason instanceof ConnectError) throw reason;
    } catch (err) {
      throw streamEndError(err, watch.session.resumeToken);
    } finally {
      watch.close();
      metrics.openStreams.dec();
    }
  }

  getCursor(req: GetCursorRequest, ctx: HandlerContext): Promise<GetCursorResponse> {
    return edge(async () => {
      const report = await this.#deps.registry.getCursor(tenantOf(ctx), req.sourceRef);
      return create(GetCursorResponseSchema, { cursor: cursorToProto(report) });
    });
  }

  // --- consumer groups (issue 15): delegated to ConsumerGroupHandlers ---
  consumeWakes(...args: Parameters<ConsumerGroupHandlers["consumeWakes"]>) {
    return this.#deps.groups.consumeWakes(...args);
  }
  ackWakes(...args: Parameters<ConsumerGroupHandlers["ackWakes"]>) {
    return this.#deps.groups.ackWakes(...args);
  }
  nackWakes(...args: Parameters<ConsumerGroupHandlers["nackWakes"]>) {
    return this.#deps.groups.nackWakes(...args);
  }
  getConsumerGroup(...args: Parameters<ConsumerGroupHandlers["getConsumerGroup"]>) {
    return this.#deps.groups.getConsumerGroup(...args);
  }
  deleteConsumerGroup(...args: Parameters<ConsumerGroupHandlers["deleteConsumerGroup"]>) {
    return this.#deps.groups.deleteConsumerGroup(...args);
  }
  // --- end consumer groups ---
}

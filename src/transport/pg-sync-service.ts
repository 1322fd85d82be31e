import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
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
import type { Caller } from "../domain/policy.js";
import type { SourceRegistry } from "../domain/source-registry.js";
import { WATCH_LIMITS, type WatchService } from "../domain/watch-service.js";
import type { Metrics } from "../metrics.js";
import { startWakeSpan } from "../tracing.js";
import type { ConsumerGroupHandlers } from "./consumer-group-handlers.js";
import { principalKey, traceContextKey } from "./context.js";
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

/**
 * The authenticated caller (tenant and JWT claims), which the authorization policy judges; the
 * auth interceptor guarantees it is set.
 */
function callerOf(ctx: HandlerContext): Caller {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new ConnectError("not authenticated", Code.Unauthenticated);
  return { tenant: principal.tenant, claims: principal.claims ?? {} };
}

/**
 * pgsync.v1.PgSyncService: thin handlers that read the tenant from the context, call the domain,
 * and map results to proto. They throw domain errors as they are: the error interceptor
 * (`createErrorInterceptor`) maps them to status codes.
 */
export class PgSyncServiceImpl implements ServiceImpl<typeof PgSyncService> {
  readonly #deps: PgSyncServiceDeps;

  constructor(deps: PgSyncServiceDeps) {
    this.#deps = deps;
  }

  async registerSource(req: RegisterSourceRequest, ctx: HandlerContext): Promise<RegisterSourceResponse> {
    const caller = callerOf(ctx);
    const result = await this.#deps.registry.register(
      caller.tenant,
      sourceOptionsFromProto(req.options),
      caller,
    );
    return create(RegisterSourceResponseSchema, {
      sourceRef: result.sourceRef,
      created: result.created,
      source: sourceToProto(result.source),
    });
  }

  async getSource(req: GetSourceRequest, ctx: HandlerContext): Promise<GetSourceResponse> {
    const caller = callerOf(ctx);
    const record = await this.#deps.registry.get(caller.tenant, req.sourceRef, caller);
    return create(GetSourceResponseSchema, { source: sourceToProto(record) });
  }

  async listSources(req: ListSourcesRequest, ctx: HandlerContext): Promise<ListSourcesResponse> {
    const caller = callerOf(ctx);
    const page = await this.#deps.registry.list(caller.tenant, req.pageSize, req.pageToken, caller);
    return create(ListSourcesResponseSchema, {
      sources: page.sources.map(sourceToProto),
      nextPageToken: page.nextPageToken,
    });
  }

  async deleteSource(req: DeleteSourceRequest, ctx: HandlerContext): Promise<DeleteSourceResponse> {
    const caller = callerOf(ctx);
    await this.#deps.registry.delete(caller.tenant, req.sourceRef, caller);
    return create(DeleteSourceResponseSchema, { sourceRef: req.sourceRef });
  }

  async *watchWakes(req: WatchWakesRequest, ctx: HandlerContext): AsyncGenerator<WatchWakesResponse> {
    const caller = callerOf(ctx);
    // Over the ref limit, the watch service refuses the request before any read.
    if (req.sourceRefs.length <= WATCH_LIMITS.maxSources) {
      await this.#deps.registry.checkAccess(caller, req.sourceRefs);
    }
    const watch = await this.#deps.watch.open(caller.tenant, watchRequestFromProto(req));
    const { metrics } = this.#deps;
    const traceParent = ctx.values.get(traceContextKey);
    metrics.openStreams.inc();
    try {
      for await (const frame of watch.session.frames(ctx.signal)) {
        if (frame.type !== "wake") {
          yield watchFrameToProto(frame);
          continue;
        }
        metrics.wakesSent.inc();
        const { wakeId, sourceRef, firstSeq, lastSeq } = frame;
        const wake = {
          tenant: caller.tenant,
          sourceRef,
          wakeId,
          firstSeq,
          lastSeq,
          changes: frame.changes.length,
        };
        const span = startWakeSpan(traceParent, wake);
        try {
          yield watchFrameToProto(frame);
        } finally {
          span.end();
        }
      }
      const reason: unknown = ctx.signal.reason;
      if (ctx.signal.aborted && reason instanceof ConnectError) throw reason;
    } catch (err) {
      // Sent with the error on every protocol; the error itself may be shared (shutdown).
      ctx.responseTrailer.set(RESUME_TOKEN_TRAILER, watch.session.resumeToken);
      throw err;
    } finally {
      watch.close();
      metrics.openStreams.dec();
    }
  }

  async getCursor(req: GetCursorRequest, ctx: HandlerContext): Promise<GetCursorResponse> {
    const caller = callerOf(ctx);
    const report = await this.#deps.registry.getCursor(caller.tenant, req.sourceRef, caller);
    return create(GetCursorResponseSchema, { cursor: cursorToProto(report) });
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

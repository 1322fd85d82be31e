import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  type AckWakesRequest,
  type AckWakesResponse,
  AckWakesResponseSchema,
  type ConsumeWakesRequest,
  type ConsumeWakesResponse,
  type DeleteConsumerGroupRequest,
  type DeleteConsumerGroupResponse,
  DeleteConsumerGroupResponseSchema,
  type GetConsumerGroupRequest,
  type GetConsumerGroupResponse,
  GetConsumerGroupResponseSchema,
  type NackWakesRequest,
  type NackWakesResponse,
  NackWakesResponseSchema,
} from "../../gen/pgsync/v1/consumer_group_pb.js";
import type { ConsumerGroupService } from "../domain/consumer-group-service.js";
import {
  consumeRequestFromProto,
  groupReportToProto,
  memberFrameToProto,
  settleResultsToProto,
} from "./consumer-group-proto.js";
import { principalKey } from "./context.js";
import { toConnectError } from "./errors.js";

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
 * The five consumer-group methods of pgsync.v1.PgSyncService (ConsumeWakes, AckWakes,
 * NackWakes, GetConsumerGroup, DeleteConsumerGroup), as thin handlers over
 * {@link ConsumerGroupService}. `PgSyncServiceImpl` delegates to these.
 */
export class ConsumerGroupHandlers {
  readonly #groups: ConsumerGroupService;

  constructor(groups: ConsumerGroupService) {
    this.#groups = groups;
  }

  /** ConsumeWakes: ends when the client cancels, the server shuts down or the group is deleted. */
  async *consumeWakes(req: ConsumeWakesRequest, ctx: HandlerContext): AsyncGenerator<ConsumeWakesResponse> {
    const open = await edge(async () => this.#groups.open(tenantOf(ctx), consumeRequestFromProto(req)));
    try {
      for await (const frame of open.member.frames(ctx.signal)) yield memberFrameToProto(frame);
      const reason: unknown = ctx.signal.reason;
      if (ctx.signal.aborted && reason instanceof ConnectError) throw reason;
    } catch (err) {
      throw toConnectError(err);
    } finally {
      open.close();
    }
  }

  /** AckWakes. */
  ackWakes(req: AckWakesRequest, ctx: HandlerContext): Promise<AckWakesResponse> {
    return edge(async () => {
      const statuses = await this.#groups.ack(tenantOf(ctx), req.group, req.deliveryIds);
      return create(AckWakesResponseSchema, { results: settleResultsToProto(req.deliveryIds, statuses) });
    });
  }

  /** NackWakes. */
  nackWakes(req: NackWakesRequest, ctx: HandlerContext): Promise<NackWakesResponse> {
    return edge(async () => {
      const statuses = await this.#groups.nack(
        tenantOf(ctx),
        req.group,
        req.deliveryIds,
        req.retryAfterMs,
        req.error,
      );
      return create(NackWakesResponseSchema, { results: settleResultsToProto(req.deliveryIds, statuses) });
    });
  }

  /** GetConsumerGroup. */
  getConsumerGroup(req: GetConsumerGroupRequest, ctx: HandlerContext): Promise<GetConsumerGroupResponse> {
    return edge(async () => {
      const report = await this.#groups.get(tenantOf(ctx), req.group, req.deadLetterLimit);
      return create(GetConsumerGroupResponseSchema, groupReportToProto(report));
    });
  }

  /** DeleteConsumerGroup. */
  deleteConsumerGroup(
    req: DeleteConsumerGroupRequest,
    ctx: HandlerContext,
  ): Promise<DeleteConsumerGroupResponse> {
    return edge(async () => {
      await this.#groups.delete(tenantOf(ctx), req.group);
      return create(DeleteConsumerGroupResponseSchema, { group: req.group });
    });
  }
}

import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ConsumeReadySchema,
  type ConsumerGroup,
  ConsumerGroupMemberSchema,
  ConsumerGroupSchema,
  type ConsumerGroupSettings,
  ConsumerGroupSettingsSchema,
  ConsumerGroupSourceSchema,
  type ConsumeWakesRequest,
  type ConsumeWakesResponse,
  ConsumeWakesResponseSchema,
  type DeadLetter,
  DeadLetterSchema,
  DeliverySchema,
  GapDeliverySchema,
  Ordering,
  type SettleResult,
  SettleResultSchema,
  SettleStatus,
} from "../../gen/pgsync/v1/consumer_group_pb.js";
import {
  type Gap,
  HeartbeatSchema,
  Operation,
  StartPosition,
  type Wake,
} from "../../gen/pgsync/v1/wake_pb.js";
import type {
  Ordering as DomainOrdering,
  SettleStatus as DomainSettleStatus,
  GroupSettings,
} from "../domain/consumer-group.js";
import type { MemberFrame } from "../domain/consumer-group-member.js";
import type { ConsumeRequest } from "../domain/consumer-group-request.js";
import type { DeadLetterReport, GroupReport } from "../domain/consumer-group-store.js";
import { InvalidRequestError } from "../domain/errors.js";
import type { Operation as DomainOperation } from "../domain/source-options.js";
import { watchFrameToProto } from "./to-proto.js";

const OPERATION_FROM_PROTO: Record<number, DomainOperation> = {
  [Operation.INSERT]: "insert",
  [Operation.UPDATE]: "update",
  [Operation.DELETE]: "delete",
};

const OPERATION_TO_PROTO: Record<DomainOperation, Operation> = {
  insert: Operation.INSERT,
  update: Operation.UPDATE,
  delete: Operation.DELETE,
};

const ORDERING_FROM_PROTO: Record<number, DomainOrdering | undefined> = {
  [Ordering.UNSPECIFIED]: undefined,
  [Ordering.SOURCE]: "source",
  [Ordering.KEY]: "key",
  [Ordering.NONE]: "none",
};

const ORDERING_TO_PROTO: Record<DomainOrdering, Ordering> = {
  source: Ordering.SOURCE,
  key: Ordering.KEY,
  none: Ordering.NONE,
};

const SETTLE_TO_PROTO: Record<DomainSettleStatus, SettleStatus> = {
  acknowledged: SettleStatus.ACKNOWLEDGED,
  released: SettleStatus.RELEASED,
  "dead-lettered": SettleStatus.DEAD_LETTERED,
  redriven: SettleStatus.REDRIVEN,
  discarded: SettleStatus.DISCARDED,
  "already-acknowledged": SettleStatus.ALREADY_ACKNOWLEDGED,
  stale: SettleStatus.STALE,
  unknown: SettleStatus.UNKNOWN,
};

/** Reads a ConsumeWakes request into the domain form (validated by the group service). */
export function consumeRequestFromProto(req: ConsumeWakesRequest): ConsumeRequest {
  if (!(req.ordering in ORDERING_FROM_PROTO)) {
    throw new InvalidRequestError("ordering", "must be ORDERING_SOURCE, ORDERING_KEY or ORDERING_NONE");
  }
  return {
    group: req.group,
    sourceRefs: req.sourceRefs,
    ops: req.ops.map((op) => OPERATION_FROM_PROTO[op] ?? "unspecified"),
    debounceMs: req.debounceMs,
    maxWaitMs: req.maxWaitMs,
    maxChangesPerWake: req.maxChangesPerWake,
    maxInFlight: req.maxInFlight,
    ackTimeoutMs: req.ackTimeoutMs,
    maxDeliveries: req.maxDeliveries,
    startPosition:
      req.startPosition === StartPosition.EARLIEST
        ? "earliest"
        : req.startPosition === StartPosition.SNAPSHOT
          ? "snapshot"
          : "now",
    ordering: ORDERING_FROM_PROTO[req.ordering],
    heartbeatIntervalMs: req.heartbeatIntervalMs,
    memberName: req.memberName,
  };
}

/** Group settings to proto. */
export function groupSettingsToProto(s: GroupSettings): ConsumerGroupSettings {
  return create(ConsumerGroupSettingsSchema, {
    ops: s.ops.map((op) => OPERATION_TO_PROTO[op]),
    debounceMs: s.debounceMs,
    maxWaitMs: s.maxWaitMs,
    maxChangesPerWake: s.maxChangesPerWake,
    ackTimeoutMs: s.ackTimeoutMs,
    maxDeliveries: s.maxDeliveries,
    ordering: ORDERING_TO_PROTO[s.ordering],
  });
}

/** A member frame to the ConsumeWakes response oneof. */
export function memberFrameToProto(frame: MemberFrame): ConsumeWakesResponse {
  switch (frame.type) {
    case "ready":
      return create(ConsumeWakesResponseSchema, {
        event: {
          case: "ready",
          value: create(ConsumeReadySchema, {
            memberId: frame.memberId,
            settings: groupSettingsToProto(frame.settings),
          }),
        },
      });
    case "delivery": {
      // The same Wake message WatchWakes sends, without a resume token.
      const wake = watchFrameToProto({ type: "wake", ...frame.wake, token: "" }).event.value as Wake;
      const value = create(DeliverySchema, {
        deliveryId: frame.deliveryId,
        attempt: frame.attempt,
        ackDeadline: timestampFromDate(frame.ackDeadline),
        wake,
      });
      return create(ConsumeWakesResponseSchema, { event: { case: "delivery", value } });
    }
    case "gap": {
      const gap = watchFrameToProto({ type: "gap", ...frame.gap, token: "" }).event.value as Gap;
      const value = create(GapDeliverySchema, {
        deliveryId: frame.deliveryId,
        attempt: frame.attempt,
        ackDeadline: timestampFromDate(frame.ackDeadline),
        gap,
      });
      return create(ConsumeWakesResponseSchema, { event: { case: "gap", value } });
    }
    case "heartbeat":
      return create(ConsumeWakesResponseSchema, {
        event: { case: "heartbeat", value: create(HeartbeatSchema, { time: timestampFromDate(frame.time) }) },
      });
  }
}

/** Per-id settle results to proto. */
export function settleResultsToProto(
  ids: readonly string[],
  statuses: readonly DomainSettleStatus[],
): SettleResult[] {
  return ids.map((deliveryId, i) =>
    create(SettleResultSchema, { deliveryId, status: SETTLE_TO_PROTO[statuses[i] ?? "unknown"] }),
  );
}

function deadLetterToProto(d: DeadLetterReport): DeadLetter {
  return create(DeadLetterSchema, {
    deliveryId: d.deliveryId,
    sourceRef: d.sourceRef,
    wakeId: d.wakeId,
    firstSeq: d.firstSeq,
    lastSeq: d.lastSeq,
    attempts: d.attempts,
    lastError: d.lastError,
    deadTime: timestampFromDate(d.deadAt),
  });
}

/** A group report to proto: the group and its dead letters. */
export function groupReportToProto(report: GroupReport): { group: ConsumerGroup; deadLetters: DeadLetter[] } {
  const group = create(ConsumerGroupSchema, {
    group: report.group.group,
    settings: groupSettingsToProto(report.group.settings),
    createTime: timestampFromDate(report.group.createdAt),
    sources: report.sources.map((s) =>
      create(ConsumerGroupSourceSchema, {
        sourceRef: s.sourceRef,
        acknowledgedSeq: s.acknowledgedSeq,
        deliveredSeq: s.deliveredSeq,
        pendingCount: s.pending,
        inFlightCount: s.inFlight,
        deadLetterCount: s.dead,
      }),
    ),
    members: report.members.map((m) =>
      create(ConsumerGroupMemberSchema, {
        memberId: m.memberId,
        memberName: m.memberName,
        inFlightCount: m.inFlight,
        connectTime: timestampFromDate(m.connectedAt),
      }),
    ),
  });
  return { group, deadLetters: report.deadLetters.map(deadLetterToProto) };
}

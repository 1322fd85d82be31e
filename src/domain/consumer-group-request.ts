import {
  GROUP_LIMITS,
  type GroupRecord,
  type GroupSettings,
  isOperation,
  type Ordering,
  validateGroupName,
} from "./consumer-group.js";
import { ConsumerGroupConflictError, InvalidRequestError } from "./errors.js";
import type { Operation } from "./source-options.js";
import type { StartPosition } from "./watch-frames.js";
import { WATCH_LIMITS } from "./watch-service.js";

/** A ConsumeWakes request in domain terms (before validation); 0 / empty / undefined = unset. */
export interface ConsumeRequest {
  readonly group: string;
  readonly sourceRefs: readonly string[];
  readonly ops: readonly (Operation | "unspecified")[];
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  readonly maxChangesPerWake: number;
  readonly maxInFlight: number;
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  readonly startPosition: StartPosition;
  readonly ordering: Ordering | undefined;
  readonly heartbeatIntervalMs: number;
  readonly memberName: string;
}

/** A validated request: the group settings it names (unset ones absent) and the member's options. */
export interface ValidConsume {
  readonly group: string;
  readonly sourceRefs: readonly string[];
  readonly requested: Partial<GroupSettings>;
  readonly maxInFlight: number;
  /** Snapshot starts are refused for groups (for now). */
  readonly startPosition: Exclude<StartPosition, "snapshot">;
  readonly heartbeatIntervalMs: number;
  readonly memberName: string;
}

function checkMax(field: string, value: number, max: number): void {
  if (value > max) throw new InvalidRequestError(field, `must be at most ${max} (got ${value})`);
}

function checkMinIfSet(field: string, value: number, min: number): void {
  if (value !== 0 && value < min)
    throw new InvalidRequestError(field, `must be 0 (default) or at least ${min}`);
}

/** Validates a ConsumeWakes request (field names as in the proto). */
export function validateConsumeRequest(req: ConsumeRequest): ValidConsume {
  validateGroupName(req.group);
  if (req.sourceRefs.length === 0) throw new InvalidRequestError("source_refs", "name at least one source");
  checkMax("source_refs", req.sourceRefs.length, WATCH_LIMITS.maxSources);
  const ops = req.ops.map((op, i) => {
    if (!isOperation(op)) {
      throw new InvalidRequestError(
        `ops[${i}]`,
        "must be OPERATION_INSERT, OPERATION_UPDATE or OPERATION_DELETE",
      );
    }
    return op;
  });
  checkMax("debounce_ms", req.debounceMs, WATCH_LIMITS.maxDebounceMs);
  checkMax("max_wait_ms", req.maxWaitMs, WATCH_LIMITS.maxWaitMs);
  checkMax("max_changes_per_wake", req.maxChangesPerWake, WATCH_LIMITS.maxChangesPerWake);
  checkMax("max_in_flight", req.maxInFlight, GROUP_LIMITS.maxMaxInFlight);
  checkMax("ack_timeout_ms", req.ackTimeoutMs, GROUP_LIMITS.maxAckTimeoutMs);
  checkMinIfSet("ack_timeout_ms", req.ackTimeoutMs, GROUP_LIMITS.minAckTimeoutMs);
  checkMax("max_deliveries", req.maxDeliveries, GROUP_LIMITS.maxMaxDeliveries);
  checkMax("heartbeat_interval_ms", req.heartbeatIntervalMs, WATCH_LIMITS.maxHeartbeatMs);
  checkMinIfSet("heartbeat_interval_ms", req.heartbeatIntervalMs, WATCH_LIMITS.minHeartbeatMs);
  checkMax("member_name", req.memberName.length, GROUP_LIMITS.maxGroupNameLength);
  const requested: { -readonly [K in keyof GroupSettings]?: GroupSettings[K] } = {};
  if (ops.length > 0) requested.ops = [...new Set(ops)].sort();
  if (req.debounceMs > 0) requested.debounceMs = req.debounceMs;
  if (req.maxWaitMs > 0) requested.maxWaitMs = req.maxWaitMs;
  if (req.maxChangesPerWake > 0) requested.maxChangesPerWake = req.maxChangesPerWake;
  if (req.ackTimeoutMs > 0) requested.ackTimeoutMs = req.ackTimeoutMs;
  if (req.maxDeliveries > 0) requested.maxDeliveries = req.maxDeliveries;
  if (req.ordering) requested.ordering = req.ordering;
  if (req.startPosition === "snapshot") {
    throw new InvalidRequestError(
      "start_position",
      "START_POSITION_SNAPSHOT is not supported by consumer groups yet; use WatchWakes for a snapshot start",
    );
  }
  return {
    group: req.group,
    sourceRefs: [...new Set(req.sourceRefs)],
    requested,
    maxInFlight: req.maxInFlight || GROUP_LIMITS.defaultMaxInFlight,
    startPosition: req.startPosition,
    heartbeatIntervalMs: req.heartbeatIntervalMs || WATCH_LIMITS.defaultHeartbeatMs,
    memberName: req.memberName,
  };
}

/** The settings a new group gets: the requested ones, defaults for the rest. */
export function settingsForNewGroup(requested: Partial<GroupSettings>): GroupSettings {
  return {
    ops: requested.ops ?? [],
    debounceMs: requested.debounceMs ?? 0,
    maxWaitMs: requested.maxWaitMs ?? 0,
    maxChangesPerWake: requested.maxChangesPerWake ?? WATCH_LIMITS.defaultMaxChangesPerWake,
    ackTimeoutMs: requested.ackTimeoutMs ?? GROUP_LIMITS.defaultAckTimeoutMs,
    maxDeliveries: requested.maxDeliveries ?? GROUP_LIMITS.defaultMaxDeliveries,
    ordering: requested.ordering ?? "source",
  };
}

const FIELD_NAMES: Record<keyof GroupSettings, string> = {
  ops: "ops",
  debounceMs: "debounce_ms",
  maxWaitMs: "max_wait_ms",
  maxChangesPerWake: "max_changes_per_wake",
  ackTimeoutMs: "ack_timeout_ms",
  maxDeliveries: "max_deliveries",
  ordering: "ordering",
};

/** Throws ConsumerGroupConflictError naming the first requested setting that differs from the group's. */
export function checkSettings(group: GroupRecord, requested: Partial<GroupSettings>): void {
  for (const key of Object.keys(requested) as (keyof GroupSettings)[]) {
    const mine = JSON.stringify(requested[key]);
    const theirs = JSON.stringify(key === "ops" ? [...group.settings.ops].sort() : group.settings[key]);
    if (mine !== theirs) throw new ConsumerGroupConflictError(FIELD_NAMES[key], group.group, theirs);
  }
}

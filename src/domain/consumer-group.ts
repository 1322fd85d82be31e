import type { GapReason } from "./change-log.js";
import { InvalidRequestError } from "./errors.js";
import { OPERATIONS, type Operation } from "./source-options.js";
import { wakeIdFor } from "./watch-frames.js";

/** Which deliveries of a group must not be in flight together (see consumer-group-ordering.ts). */
export type Ordering = "source" | "key" | "none";

/** All orderings. */
export const ORDERINGS: readonly Ordering[] = ["source", "key", "none"];

/** Limits and defaults of ConsumeWakes / AckWakes / NackWakes requests; documented in docs/api.md. */
export const GROUP_LIMITS = {
  maxGroupNameLength: 128,
  defaultMaxInFlight: 16,
  maxMaxInFlight: 10_000,
  defaultAckTimeoutMs: 30_000,
  minAckTimeoutMs: 100,
  maxAckTimeoutMs: 86_400_000,
  defaultMaxDeliveries: 5,
  maxMaxDeliveries: 1_000,
  maxIdsPerCall: 1_000,
  maxRetryAfterMs: 86_400_000,
  maxErrorLength: 1_000,
  defaultDeadLetterLimit: 100,
  maxDeadLetterLimit: 1_000,
} as const;

/** A group's settings: fixed when it is created. */
export interface GroupSettings {
  /** Operations that wake; empty = all. */
  readonly ops: readonly Operation[];
  readonly debounceMs: number;
  readonly maxWaitMs: number;
  readonly maxChangesPerWake: number;
  /** Time a member has to acknowledge a delivery. */
  readonly ackTimeoutMs: number;
  /** Deliveries of one wake before it is dead-lettered. */
  readonly maxDeliveries: number;
  readonly ordering: Ordering;
}

/** A stored group. */
export interface GroupRecord {
  readonly tenant: string;
  readonly group: string;
  readonly settings: GroupSettings;
  readonly createdAt: Date;
}

/** States of a delivery row (an acknowledged delivery has no row). */
export type DeliveryState = "pending" | "in_flight" | "dead";

/** A delivery as the claim logic sees it. */
export interface DeliveryView {
  readonly sourceRef: string;
  readonly firstSeq: bigint;
  readonly state: DeliveryState;
  /** Deliveries made so far (0 before the first). */
  readonly attempt: number;
  /** Row keys of its changes (ORDERING_KEY only). */
  readonly keys: readonly string[];
  /** Set while in flight. */
  readonly ackDeadline: Date | undefined;
  /** A pending delivery is not handed out before this (nack retry_after_ms). */
  readonly availableAt: Date;
}

/** A delivery materialised from the log, to be stored. */
export type NewDelivery =
  | {
      readonly kind: "wake";
      readonly firstSeq: bigint;
      readonly lastSeq: bigint;
      readonly changeCount: number;
      readonly keys: readonly string[];
    }
  | {
      readonly kind: "gap";
      readonly firstSeq: bigint;
      readonly lastSeq: bigint;
      readonly reason: GapReason;
      readonly detail: string;
    };

/** A delivery claimed for a member. */
export interface ClaimedDelivery {
  readonly sourceRef: string;
  readonly incarnation: string;
  readonly delivery: NewDelivery;
  /** This attempt's number (1 = first delivery). */
  readonly attempt: number;
  readonly ackDeadline: Date;
}

/** What AckWakes / NackWakes did with one id (mirrors the proto SettleStatus). */
export type SettleStatus =
  | "acknowledged"
  | "released"
  | "dead-lettered"
  | "redriven"
  | "discarded"
  | "already-acknowledged"
  | "stale"
  | "unknown";

/** A parsed delivery id. */
export interface DeliveryId {
  readonly sourceRef: string;
  readonly incarnation: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
  readonly attempt: number;
}

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Checks a group name; throws InvalidRequestError naming `group`. */
export function validateGroupName(group: string): string {
  if (group.length === 0) throw new InvalidRequestError("group", "is required");
  if (group.length > GROUP_LIMITS.maxGroupNameLength || !GROUP_NAME.test(group)) {
    throw new InvalidRequestError(
      "group",
      `must be 1-${GROUP_LIMITS.maxGroupNameLength} characters of A-Z a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
  return group;
}

/** The delivery id of an attempt: the wake id (stable across attempts) and the attempt number. */
export function deliveryIdFor(
  sourceRef: string,
  incarnation: string,
  firstSeq: bigint,
  lastSeq: bigint,
  attempt: number,
): string {
  return `${wakeIdFor(sourceRef, incarnation, firstSeq, lastSeq)}.${attempt}`;
}

const DELIVERY_ID = /^(.+)-(\d{1,19})-(\d{1,19})-(\d{1,19})\.(\d{1,9})$/;

/** Parses a delivery id; undefined when it is not one (reported as unknown, never an error). */
export function parseDeliveryId(id: string): DeliveryId | undefined {
  const m = DELIVERY_ID.exec(id);
  if (!m) return undefined;
  return {
    sourceRef: m[1] as string,
    incarnation: m[2] as string,
    firstSeq: BigInt(m[3] as string),
    lastSeq: BigInt(m[4] as string),
    attempt: Number(m[5]),
  };
}

/** Checks the ids of an AckWakes / NackWakes call. */
export function validateDeliveryIds(ids: readonly string[]): void {
  if (ids.length === 0) throw new InvalidRequestError("delivery_ids", "name at least one delivery id");
  if (ids.length > GROUP_LIMITS.maxIdsPerCall) {
    throw new InvalidRequestError(
      "delivery_ids",
      `at most ${GROUP_LIMITS.maxIdsPerCall} ids per call (got ${ids.length})`,
    );
  }
}

/** True when `op` is a real operation. */
export function isOperation(op: string): op is Operation {
  return (OPERATIONS as readonly string[]).includes(op);
}

/** A set of source refs as a comparable string (order and duplicates ignored). */
export function sourceSetKey(refs: readonly string[]): string {
  return [...new Set(refs)].sort().join("\u0000");
}

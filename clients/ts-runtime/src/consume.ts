import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ConsumerGroupSettings, Ordering, SettleStatus } from "../gen/pgsync/v1/consumer_group_pb.js";
import type { PgSyncService } from "../gen/pgsync/v1/pg_sync_service_pb.js";
import { type Gap, Operation, StartPosition, type Wake } from "../gen/pgsync/v1/wake_pb.js";
import { AckBatcher, type AckBatchOptions } from "./ack-batcher.js";
import { callSignal } from "./call-signal.js";
import type { OperationName } from "./watch.js";
import {
  DEFAULT_RECONNECT_INITIAL_DELAY_MS,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  reconnectDelayCapMs,
  sleep,
} from "./watch-resume.js";

/** Orderings by name (see `Ordering` in the proto). */
export type OrderingName = "source" | "key" | "none";

const ORDERING_BY_NAME: Record<OrderingName, Ordering> = {
  source: Ordering.SOURCE,
  key: Ordering.KEY,
  none: Ordering.NONE,
};

const OPERATION_BY_NAME: Record<OperationName, Operation> = {
  insert: Operation.INSERT,
  update: Operation.UPDATE,
  delete: Operation.DELETE,
};

/**
 * Options of {@link consume}. Group settings (marked) are fixed when the group is created.
 * `ackBatchWindowMs` / `ackBatchSize` (see {@link AckBatchOptions}) batch the member's `ack()`
 * calls into shared AckWakes calls; each `ack()` still resolves with its own outcome.
 */
export interface ConsumeOptions extends AckBatchOptions {
  /** The group's name (created on first use). */
  readonly group: string;
  /** Sources this member consumes. */
  readonly sourceRefs: readonly string[];
  /** Operations that wake; default all. Group setting. */
  readonly ops?: readonly OperationName[];
  /** Trailing debounce in ms; default 0. Group setting. */
  readonly debounceMs?: number;
  /** Longest a change may be held by debounce, in ms. Group setting. */
  readonly maxWaitMs?: number;
  /** Largest wake; server default 500. Group setting. */
  readonly maxChangesPerWake?: number;
  /** Unacknowledged deliveries this member holds at most; server default 16. */
  readonly maxInFlight?: number;
  /** Time to acknowledge a delivery, in ms; server default 30_000. Group setting. */
  readonly ackTimeoutMs?: number;
  /** Deliveries of one wake before it is dead-lettered; server default 5. Group setting. */
  readonly maxDeliveries?: number;
  /** Where a source starts when the group first consumes it: `"now"` (default) or `"earliest"`. */
  readonly start?: "now" | "earliest";
  /** Default `"source"`. Group setting. */
  readonly ordering?: OrderingName;
  /** Shown by GetConsumerGroup. */
  readonly memberName?: string;
  /** Stops the iteration (this member's unacknowledged deliveries go back to the group). */
  readonly signal?: AbortSignal;
  /** First reconnect delay cap in ms (full jitter). Default 200. */
  readonly reconnectInitialDelayMs?: number;
  /** Largest reconnect delay in ms. Default 10_000. */
  readonly reconnectMaxDelayMs?: number;
  /** Called before each reconnect, with the error that ended the stream. */
  readonly onReconnect?: (error: ConnectError, attempt: number, delayMs: number) => void;
}

/** Outcome of {@link GroupDelivery.ack} / {@link GroupDelivery.nack}. */
export type SettleOutcome =
  | "acknowledged"
  | "released"
  | "dead-lettered"
  | "redriven"
  | "discarded"
  | "already-acknowledged"
  | "stale"
  | "unknown";

const OUTCOME: Record<SettleStatus, SettleOutcome> = {
  [SettleStatus.UNSPECIFIED]: "unknown",
  [SettleStatus.ACKNOWLEDGED]: "acknowledged",
  [SettleStatus.RELEASED]: "released",
  [SettleStatus.DEAD_LETTERED]: "dead-lettered",
  [SettleStatus.REDRIVEN]: "redriven",
  [SettleStatus.DISCARDED]: "discarded",
  [SettleStatus.ALREADY_ACKNOWLEDGED]: "already-acknowledged",
  [SettleStatus.STALE]: "stale",
  [SettleStatus.UNKNOWN]: "unknown",
};

/** One delivery: a wake (or a gap) to handle, then `ack()` or `nack()`. */
export interface GroupDelivery {
  readonly deliveryId: string;
  /** 1 for the first delivery, +1 for each redelivery. */
  readonly attempt: number;
  /** Acknowledge before this, or the delivery goes back to the group. */
  readonly ackDeadline: Date;
  /** The wake (unset for a gap). */
  readonly wake: Wake | undefined;
  /** The gap (unset for a wake): changes in this range may be missing. */
  readonly gap: Gap | undefined;
  /**
   * Acknowledges the delivery (durable; never delivered again once this resolves). Acks made
   * close together share one AckWakes call (see `ackBatchWindowMs`); do not await one before
   * taking the next delivery unless the next must wait for it.
   */
  ack(): Promise<SettleOutcome>;
  /** Gives the delivery back, to be delivered again after `retryAfterMs` (default 0). */
  nack(options?: { readonly retryAfterMs?: number; readonly error?: string }): Promise<SettleOutcome>;
}

/** Codes after which the member reconnects (the group keeps its state on the server). */
const RETRYABLE: ReadonlySet<Code> = new Set([Code.Unavailable, Code.Unknown, Code.Internal, Code.Aborted]);

type RawClient = Client<typeof PgSyncService>;

function request(o: ConsumeOptions) {
  return {
    group: o.group,
    sourceRefs: [...o.sourceRefs],
    ops: (o.ops ?? []).map((op) => OPERATION_BY_NAME[op]),
    debounceMs: o.debounceMs ?? 0,
    maxWaitMs: o.maxWaitMs ?? 0,
    maxChangesPerWake: o.maxChangesPerWake ?? 0,
    maxInFlight: o.maxInFlight ?? 0,
    ackTimeoutMs: o.ackTimeoutMs ?? 0,
    maxDeliveries: o.maxDeliveries ?? 0,
    startPosition: o.start === "earliest" ? StartPosition.EARLIEST : StartPosition.NOW,
    ordering: o.ordering ? ORDERING_BY_NAME[o.ordering] : Ordering.UNSPECIFIED,
    memberName: o.memberName ?? "",
  };
}

function delivery(
  raw: RawClient,
  acks: AckBatcher<SettleOutcome>,
  group: string,
  head: {
    deliveryId: string;
    attempt: number;
    ackDeadline?: Parameters<typeof timestampDate>[0] | undefined;
  },
  payload: { wake?: Wake | undefined; gap?: Gap | undefined },
): GroupDelivery {
  const ids = [head.deliveryId];
  return {
    deliveryId: head.deliveryId,
    attempt: head.attempt,
    ackDeadline: head.ackDeadline ? timestampDate(head.ackDeadline) : new Date(0),
    wake: payload.wake,
    gap: payload.gap,
    ack() {
      return acks.ack(head.deliveryId);
    },
    async nack(options = {}) {
      const { results } = await raw.nackWakes({
        group,
        deliveryIds: ids,
        retryAfterMs: options.retryAfterMs ?? 0,
        error: options.error ?? "",
      });
      return OUTCOME[results[0]?.status ?? SettleStatus.UNKNOWN];
    },
  };
}

/**
 * Joins a consumer group and yields its deliveries, each to be acknowledged (`ack()`) or given
 * back (`nack()`). The server keeps every position and delivery, so on UNAVAILABLE (server
 * restart or shutdown) or a broken connection this simply reconnects after a full-jitter backoff:
 * what this member did not acknowledge is delivered again (to it or another member), with
 * `attempt` + 1. NOT_FOUND (group deleted, unknown source), INVALID_ARGUMENT, FAILED_PRECONDITION
 * (settings differ from the group's) and other definite errors end the iteration by throwing.
 * `onSettings` receives the group's settings in force each time the member joins.
 */
export async function* consume(
  client: RawClient | { readonly raw: RawClient },
  options: ConsumeOptions,
  onSettings?: (settings: ConsumerGroupSettings | undefined, memberId: string) => void,
): AsyncGenerator<GroupDelivery> {
  const raw = "raw" in client ? client.raw : client;
  const acks = new AckBatcher<SettleOutcome>(async (deliveryIds) => {
    const { results } = await raw.ackWakes({ group: options.group, deliveryIds });
    return deliveryIds.map((_, i) => OUTCOME[results[i]?.status ?? SettleStatus.UNKNOWN]);
  }, options);
  const initial = options.reconnectInitialDelayMs ?? DEFAULT_RECONNECT_INITIAL_DELAY_MS;
  const max = options.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS;
  let attempt = 0;
  while (!options.signal?.aborted) {
    const call = callSignal(options.signal);
    try {
      for await (const frame of raw.consumeWakes(request(options), { signal: call.signal })) {
        attempt = 0;
        const e = frame.event;
        if (e.case === "ready") onSettings?.(e.value.settings, e.value.memberId);
        else if (e.case === "delivery")
          yield delivery(raw, acks, options.group, e.value, { wake: e.value.wake });
        else if (e.case === "gap") yield delivery(raw, acks, options.group, e.value, { gap: e.value.gap });
      }
      return;
    } catch (err) {
      if (options.signal?.aborted) return;
      const error = ConnectError.from(err);
      if (!RETRYABLE.has(error.code)) throw error;
      attempt++;
      const delay = Math.floor(Math.random() * reconnectDelayCapMs(attempt, initial, max));
      options.onReconnect?.(error, attempt, delay);
      await sleep(delay, options.signal);
    } finally {
      call.end();
    }
  }
}

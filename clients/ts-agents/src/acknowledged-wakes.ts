import { consume, type GroupDelivery, type PgSyncClient, type WakeEvent } from "@pg-sync/runtime";

/** Default delay before a wake whose run failed is delivered again, in ms. */
export const DEFAULT_RUN_RETRY_AFTER_MS = 1_000;

/**
 * Consumer-group mode of the tools: wakes are consumed through a pg-sync consumer group instead of
 * a WatchWakes broadcast, so each wake goes to one agent process and is acknowledged only when the
 * agent's run for it ends.
 */
export interface ConsumerGroupToolOptions {
  /**
   * Group name prefix: each observation joins the group `<group>.<sourceRef>`, so every agent
   * process configured with the same `group` shares each source's wakes (one run per wake), and
   * observations with different wake options never conflict.
   */
  readonly group: string;
  /** Delay before a wake whose run threw is delivered again, in ms. Default 1_000. */
  readonly retryAfterMs?: number;
  /** Time a run has before its wake goes to another agent, in ms; server default 30_000. Group setting. */
  readonly ackTimeoutMs?: number;
  /** Runs of one wake before it is dead-lettered; server default 5. Group setting. */
  readonly maxDeliveries?: number;
  /** Shown by GetConsumerGroup. */
  readonly memberName?: string;
}

/** Handles one wake; with a consumer group its promise is the agent's run. */
export type WakeHandler<O> = (
  event: WakeEvent,
  observation: O,
  delivery?: GroupDelivery,
) => void | Promise<void>;

/** The consumer group an observation of `sourceRef` joins. */
export function groupNameFor(options: ConsumerGroupToolOptions, sourceRef: string): string {
  return `${options.group}.${sourceRef}`;
}

/**
 * Consumes an observation's source through its consumer group until `signal` aborts. Each
 * delivery is handed to `onWake`; when the returned promise (the agent's run) resolves the wake is
 * acknowledged, when it rejects the wake is given back with the error, to be delivered again after
 * `retryAfterMs` (to this or another agent) until the group's `maxDeliveries`. A run still going
 * when the process dies is delivered again after the group's ack timeout.
 */
export async function consumeAcknowledged<O extends { readonly sourceRef: string }>(
  client: PgSyncClient,
  observation: O,
  wake: {
    readonly ops?: readonly ("insert" | "update" | "delete")[] | undefined;
    readonly debounceMs?: number | undefined;
  },
  options: ConsumerGroupToolOptions,
  onWake: WakeHandler<O>,
  signal: AbortSignal,
): Promise<void> {
  const deliveries = consume(client, {
    group: groupNameFor(options, observation.sourceRef),
    sourceRefs: [observation.sourceRef],
    ...(wake.ops ? { ops: wake.ops } : {}),
    ...(wake.debounceMs !== undefined ? { debounceMs: wake.debounceMs } : {}),
    ...(options.ackTimeoutMs !== undefined ? { ackTimeoutMs: options.ackTimeoutMs } : {}),
    ...(options.maxDeliveries !== undefined ? { maxDeliveries: options.maxDeliveries } : {}),
    ...(options.memberName !== undefined ? { memberName: options.memberName } : {}),
    maxInFlight: 1,
    signal,
  });
  for await (const delivery of deliveries) {
    const event: WakeEvent = delivery.wake
      ? { type: "wake", wake: delivery.wake }
      : { type: "gap", gap: delivery.gap as NonNullable<GroupDelivery["gap"]> };
    let failure: unknown;
    try {
      await onWake(event, observation, delivery);
    } catch (err) {
      failure = err ?? new Error("run failed");
    }
    if (failure === undefined) await delivery.ack();
    else {
      const error = failure instanceof Error ? failure.message : String(failure);
      await delivery.nack({
        retryAfterMs: options.retryAfterMs ?? DEFAULT_RUN_RETRY_AFTER_MS,
        error: error.slice(0, 1_000),
      });
    }
  }
}

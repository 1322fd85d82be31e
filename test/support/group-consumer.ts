import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type {
  ConsumeWakesRequestSchema,
  ConsumeWakesResponse,
  Delivery,
  GapDelivery,
} from "../../gen/pgsync/v1/consumer_group_pb.js";
import type { PgSyncClient } from "./stack-fixture.js";
import { waitFor } from "./wait.js";

/** A ConsumeWakes stream read by a background loop; `onDelivery` may ack or nack. */
export function consume(
  client: PgSyncClient,
  req: MessageInitShape<typeof ConsumeWakesRequestSchema>,
  onDelivery?: (d: Delivery) => void | Promise<void>,
) {
  const aborter = new AbortController();
  const frames: ConsumeWakesResponse[] = [];
  let error: ConnectError | undefined;
  let ended = false;
  const done = (async () => {
    try {
      for await (const frame of client.consumeWakes(req, { signal: aborter.signal })) {
        frames.push(frame);
        if (frame.event.case === "delivery") await onDelivery?.(frame.event.value);
      }
    } catch (err) {
      if (!aborter.signal.aborted) error = ConnectError.from(err);
    } finally {
      ended = true;
    }
  })();
  const deliveries = (): Delivery[] =>
    frames.flatMap((f) => (f.event.case === "delivery" ? [f.event.value] : []));
  const gaps = (): GapDelivery[] => frames.flatMap((f) => (f.event.case === "gap" ? [f.event.value] : []));
  return {
    frames,
    deliveries,
    gaps,
    get error() {
      return error;
    },
    get ended() {
      return ended;
    },
    /** The member id from the Ready frame. */
    async ready(): Promise<string> {
      return waitFor(
        () => {
          const ready = frames.find((f) => f.event.case === "ready");
          if (ready?.event.case === "ready") return ready.event.value.memberId;
          if (error) throw error;
          return undefined;
        },
        { what: "ConsumeReady" },
      );
    },
    /** Waits for at least `n` deliveries. */
    async waitDeliveries(n: number, timeoutMs = 10_000): Promise<Delivery[]> {
      return waitFor(
        () => {
          if (error) throw error;
          return deliveries().length >= n ? deliveries() : undefined;
        },
        { what: `${n} deliveries`, timeoutMs },
      );
    },
    async close() {
      aborter.abort();
      await done;
    },
    done,
  };
}

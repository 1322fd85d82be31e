/**
 * Consumer-group client (a separate process) for P11, on one source whose log already holds the
 * backlog.
 *
 * - `--mode group`: `--members` ConsumeWakes streams of group `--group` (start earliest,
 *   `max_changes_per_wake` 1, debounce 0, ordering `--ordering`, `--max-in-flight` each), one
 *   HTTP/2 connection per member. Every member handles its deliveries one after another and
 *   acknowledges each with its own AckWakes call (awaited) before taking the next; with
 *   `--pipeline` it sends each delivery's own AckWakes call as soon as the delivery is handled and
 *   takes the next without waiting for the answer (the server's max_in_flight bounds how many are
 *   outstanding); with `--ack-batch B > 1` it instead acknowledges once B deliveries are waiting
 *   or no further delivery is buffered. Prints `ready <epoch ms>` when every member received ConsumeReady, and
 *   `done <epoch ms> {stats}` once `--expect` deliveries are acknowledged.
 * - `--mode client`: the same members through the TypeScript client's `consume()`, each delivery
 *   `ack()`ed as soon as it arrives and not awaited before the next (the client batches the acks
 *   made within one timer turn into one AckWakes call; each ack resolves with its own outcome).
 * - `--mode watch`: one WatchWakes stream (start earliest, `max_changes_per_wake` 1, debounce 0);
 *   `done` once `--expect` wakes arrived. The baseline.
 *
 * Stats: first frame time, ack round trips, per-member cycle times (a delivery's arrival → its
 * ack answered → the next delivery's arrival on that member: the time a member waits for work
 * when it handles deliveries instantly), duplicate acknowledgements, deliveries per member.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Command } from "commander";
import { consume, createPgSyncClient, type GroupDelivery } from "../../clients/ts-runtime/src/index.js";
import { Ordering, SettleStatus } from "../../gen/pgsync/v1/consumer_group_pb.js";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { StartPosition } from "../../gen/pgsync/v1/wake_pb.js";
import { quantiles } from "../lib/metrics.js";

const program = new Command()
  .requiredOption("--url <url>", "pg-sync base URL")
  .requiredOption("--token <token>", "bearer token")
  .requiredOption("--ref <ref>", "source ref")
  .option("--mode <mode>", "group, client or watch", "group")
  .option("--group <name>", "group name", "p11")
  .option("--members <n>", "members (group mode)", Number, 4)
  .option("--max-in-flight <n>", "max_in_flight per member", Number, 16)
  .option("--ordering <o>", "key, source or none", "key")
  .option("--ack-batch <n>", "deliveries acknowledged per AckWakes call at most", Number, 1)
  .option("--pipeline", "ack each delivery with its own call without awaiting it", false)
  .requiredOption("--expect <n>", "deliveries (or wakes) to wait for", Number)
  .parse();
const o = program.opts<{
  url: string;
  token: string;
  ref: string;
  mode: "group" | "client" | "watch";
  group: string;
  members: number;
  maxInFlight: number;
  ordering: "key" | "source" | "none";
  ackBatch: number;
  pipeline: boolean;
  expect: number;
}>();

const ORDERING = { key: Ordering.KEY, source: Ordering.SOURCE, none: Ordering.NONE } as const;
const now = (): number => performance.timeOrigin + performance.now();
const connect = () =>
  createClient(
    PgSyncService,
    createConnectTransport({
      baseUrl: o.url,
      httpVersion: "2",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${o.token}`);
          return next(req);
        },
      ],
    }),
  );

const abort = new AbortController();
let firstFrameAt = 0;
let acknowledged = 0;
let duplicates = 0;
const ackRttMs: number[] = [];
const cycleMs: number[] = [];
const perMember: number[] = [];
const wakeIds = new Set<string>();

function finish(extra: Record<string, unknown> = {}): never {
  const stats = {
    first_frame_at: firstFrameAt,
    acknowledged,
    duplicates,
    per_member: perMember,
    ack_rtt_ms: quantiles(ackRttMs),
    cycle_ms: quantiles(cycleMs),
    // This process's own CPU (user + system), so a run bound by the client shows.
    client_cpu_s: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 10_000) / 100,
    ...extra,
  };
  console.log(`done ${Date.now()} ${JSON.stringify(stats)}`);
  abort.abort();
  process.exit(0);
}

async function watch(): Promise<void> {
  let wakes = 0;
  const stream = connect().watchWakes(
    {
      sourceRefs: [o.ref],
      debounceMs: 0,
      maxChangesPerWake: 1,
      start: { case: "startPosition", value: StartPosition.EARLIEST },
    },
    { signal: abort.signal, timeoutMs: 0 },
  );
  console.log(`ready ${Date.now()}`);
  for await (const frame of stream) {
    if (frame.event.case !== "wake") continue;
    firstFrameAt ||= now();
    if (++wakes >= o.expect) finish({ wakes });
  }
}

let ready = 0;

async function member(index: number): Promise<void> {
  const client = connect();
  perMember[index] = 0;
  const pending: { id: string; wakeId: string }[] = [];
  let flushing: Promise<void> | undefined;
  let scheduled = false;
  const settle = async (batch: { id: string; wakeId: string }[]) => {
    if (batch.length === 0) return;
    const sent = now();
    const { results } = await client.ackWakes({ group: o.group, deliveryIds: batch.map((b) => b.id) });
    ackRttMs.push(now() - sent);
    results.forEach((r, i) => {
      if (r.status !== SettleStatus.ACKNOWLEDGED) return;
      const wakeId = batch[i]!.wakeId;
      if (wakeIds.has(wakeId)) duplicates++;
      wakeIds.add(wakeId);
      acknowledged++;
      perMember[index]!++;
    });
    if (acknowledged >= o.expect) finish();
  };
  const flush = () => settle(pending.splice(0, pending.length));
  // Batched mode: acknowledge when B deliveries wait, or once the frames already buffered are read.
  const later = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flushing = (flushing ?? Promise.resolve()).then(flush).catch(fail);
    });
  };
  const stream = client.consumeWakes(
    {
      group: o.group,
      sourceRefs: [o.ref],
      debounceMs: 0,
      maxChangesPerWake: 1,
      maxInFlight: o.maxInFlight,
      ordering: ORDERING[o.ordering],
      startPosition: StartPosition.EARLIEST,
      memberName: `m${index}`,
    },
    { signal: abort.signal, timeoutMs: 0 },
  );
  let lastAt = 0;
  for await (const frame of stream) {
    const e = frame.event;
    if (e.case === "ready") {
      if (++ready === o.members) console.log(`ready ${Date.now()}`);
      continue;
    }
    if (e.case !== "delivery") continue;
    const at = now();
    firstFrameAt ||= at;
    if (lastAt > 0) cycleMs.push(at - lastAt);
    lastAt = at;
    const handled = { id: e.value.deliveryId, wakeId: e.value.wake?.wakeId ?? "" };
    if (o.pipeline) {
      void settle([handled]).catch(fail);
      continue;
    }
    pending.push(handled);
    if (o.ackBatch <= 1) await flush();
    else if (pending.length >= o.ackBatch) flushing = (flushing ?? Promise.resolve()).then(flush).catch(fail);
    else later();
  }
}

/** A member through the TypeScript client: ack() every delivery at once, without awaiting it. */
async function clientMember(index: number): Promise<void> {
  perMember[index] = 0;
  const client = createPgSyncClient({ baseUrl: o.url, token: o.token });
  let lastAt = 0;
  const settle = async (d: GroupDelivery, sent: number) => {
    const outcome = await d.ack();
    ackRttMs.push(now() - sent);
    if (outcome !== "acknowledged") return;
    const wakeId = d.wake?.wakeId ?? "";
    if (wakeIds.has(wakeId)) duplicates++;
    wakeIds.add(wakeId);
    acknowledged++;
    perMember[index]!++;
    if (acknowledged >= o.expect) finish();
  };
  const deliveries = consume(
    client,
    {
      group: o.group,
      sourceRefs: [o.ref],
      maxChangesPerWake: 1,
      maxInFlight: o.maxInFlight,
      ordering: o.ordering,
      start: "earliest",
      memberName: `m${index}`,
      signal: abort.signal,
    },
    () => {
      if (++ready === o.members) console.log(`ready ${Date.now()}`);
    },
  );
  for await (const d of deliveries) {
    const at = now();
    firstFrameAt ||= at;
    if (lastAt > 0) cycleMs.push(at - lastAt);
    lastAt = at;
    void settle(d, at).catch(fail);
  }
}

process.on("SIGTERM", () => {
  abort.abort();
  process.exit(0);
});
function fail(err: unknown): void {
  if (abort.signal.aborted || ConnectError.from(err).code === Code.Canceled) return;
  console.error(String(err));
  process.exit(1);
}
if (o.mode === "watch") await watch().catch(fail);
else {
  const run = o.mode === "client" ? clientMember : member;
  await Promise.all(Array.from({ length: o.members }, (_, i) => run(i).catch(fail)));
}

/**
 * WatchWakes client (a separate process): opens `--streams` streams (stream i watches
 * `refs[i % refs.length]`) spread over `--connections` HTTP/2 connections, with `debounce_ms` 0.
 * Prints `ready <epoch ms>` when every stream has received its Ready frame. With `--expect N`, prints
 * `done <epoch ms> {"wakes","changes"}` once every stream has received N changes, then
 * `latency {...}` (receive time − the row's `ts` column, ms) when `--latency`, and exits; without
 * it, holds the streams open until SIGTERM.
 */
import { readFileSync } from "node:fs";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Command } from "commander";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { StartPosition } from "../../gen/pgsync/v1/wake_pb.js";
import { evenSample, quantiles } from "../lib/metrics.js";

const program = new Command()
  .requiredOption("--url <url>", "pg-sync base URL")
  .requiredOption("--token <token>", "bearer token")
  .option("--refs <refs>", "comma-separated source refs")
  .option("--refs-file <file>", "file with one source ref per line")
  .option("--streams <n>", "streams to open", Number, 1)
  .option("--connections <n>", "HTTP/2 connections", Number, 1)
  .option("--expect <n>", "changes each stream must receive before `done` (0: run until SIGTERM)", Number, 0)
  .option("--latency", "measure receive time − row ts", false)
  .parse();
const o = program.opts<{
  url: string;
  token: string;
  refs?: string;
  refsFile?: string;
  streams: number;
  connections: number;
  expect: number;
  latency: boolean;
}>();

const refs = (o.refsFile ? readFileSync(o.refsFile, "utf8").split("\n") : (o.refs ?? "").split(",")).filter(
  (r) => r !== "",
);
if (refs.length === 0) throw new Error("no refs");
const clients = Array.from({ length: o.connections }, () =>
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
  ),
);

const abort = new AbortController();
const latencies: number[] = [];
let ready = 0;
let finished = 0;
let wakes = 0;
let changes = 0;
const now = (): number => performance.timeOrigin + performance.now();

async function watch(i: number): Promise<void> {
  const client = clients[i % clients.length]!;
  let received = 0;
  let done = o.expect === 0;
  const stream = client.watchWakes(
    {
      sourceRefs: [refs[i % refs.length]!],
      debounceMs: 0,
      start: { case: "startPosition", value: StartPosition.NOW },
    },
    { signal: abort.signal, timeoutMs: 0 },
  );
  for await (const frame of stream) {
    const event = frame.event;
    if (event.case === "wake") {
      const at = now();
      wakes++;
      changes += event.value.changes.length;
      received += event.value.changes.length;
      if (o.latency) {
        for (const change of event.value.changes) {
          const ts = change.value?.ts;
          if (typeof ts === "number") latencies.push(at - ts);
        }
      }
      if (!done && received >= o.expect) {
        done = true;
        if (++finished === o.streams) finish();
      }
    } else if (event.case === "ready") {
      if (++ready === o.streams) console.log(`ready ${Date.now()}`);
    }
  }
}

function finish(): void {
  console.log(`done ${Date.now()} ${JSON.stringify({ wakes, changes })}`);
  if (o.latency) console.log(`latency ${JSON.stringify(quantiles(latencies))}`);
  if (o.latency) console.log(`latency_samples ${JSON.stringify(evenSample(latencies))}`);
  abort.abort();
  process.exit(0);
}

process.on("SIGTERM", () => {
  abort.abort();
  process.exit(0);
});
await Promise.all(
  Array.from({ length: o.streams }, (_, i) =>
    watch(i).catch((err: unknown) => {
      if (abort.signal.aborted || ConnectError.from(err).code === Code.Canceled) return;
      console.error(`stream ${i}: ${String(err)}`);
      process.exit(1);
    }),
  ),
);

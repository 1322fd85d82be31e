/**
 * Unary latency client (a separate process): on one HTTP/2 connection, `--calls` rounds of
 * RegisterSource (options of an existing source), GetCursor and grpc.health.v1 Check, one call
 * at a time (interleaved so that all three see the same conditions), after `--warmup` rounds.
 * Prints `result {"register":{p50,p99,…},"getCursor":…,"health":…}` in ms and exits.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Command } from "commander";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { quantiles } from "../lib/metrics.js";

const program = new Command()
  .requiredOption("--url <url>", "pg-sync base URL")
  .requiredOption("--token <token>", "bearer token")
  .requiredOption("--table <name>", "table of the (existing) source to register again")
  .option("--calls <n>", "measured rounds", Number, 2_000)
  .option("--warmup <n>", "unmeasured rounds first", Number, 200)
  .parse();
const o = program.opts<{ url: string; token: string; table: string; calls: number; warmup: number }>();

const transport = createConnectTransport({
  baseUrl: o.url,
  httpVersion: "2",
  interceptors: [
    (next) => (req) => {
      req.header.set("authorization", `Bearer ${o.token}`);
      return next(req);
    },
  ],
});
const client = createClient(PgSyncService, transport);
const health = createClient(Health, transport);

const first = await client.registerSource({ options: { table: o.table } });
const sourceRef = first.sourceRef;
const samples = { register: [] as number[], getCursor: [] as number[], health: [] as number[] };

async function timed(into: number[] | undefined, call: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  await call();
  into?.push(performance.now() - start);
}

for (let i = 0; i < o.warmup + o.calls; i++) {
  const measured = i >= o.warmup;
  await timed(measured ? samples.register : undefined, async () => {
    const res = await client.registerSource({ options: { table: o.table } });
    if (res.created) throw new Error("RegisterSource created a new source: the ref was not existing");
  });
  await timed(measured ? samples.getCursor : undefined, () => client.getCursor({ sourceRef }));
  await timed(measured ? samples.health : undefined, () => health.check({ service: "" }));
}
console.log(
  `result ${JSON.stringify({
    register: quantiles(samples.register),
    getCursor: quantiles(samples.getCursor),
    health: quantiles(samples.health),
  })}`,
);
process.exit(0);

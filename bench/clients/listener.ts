/**
 * Trigger + LISTEN/NOTIFY baseline (a separate process): a plain `pg` client LISTENing on
 * `--channel`, whose payload is the row's `ts` (epoch ms, sent by an AFTER INSERT trigger). Prints
 * `ready` once listening, `done <epoch ms> <count>` after `--expect` notifications, then
 * `latency {...}` (receive time − ts, ms) and exits.
 */
import { Command } from "commander";
import pg from "pg";
import { evenSample, quantiles } from "../lib/metrics.js";

const program = new Command()
  .requiredOption("--url <url>", "database URL")
  .requiredOption("--channel <name>", "channel")
  .requiredOption("--expect <n>", "notifications to wait for", Number)
  .parse();
const o = program.opts<{ url: string; channel: string; expect: number }>();

const client = new pg.Client({ connectionString: o.url });
await client.connect();
const latencies: number[] = [];
let count = 0;
client.on("notification", (msg) => {
  const at = performance.timeOrigin + performance.now();
  latencies.push(at - Number(msg.payload));
  if (++count === o.expect) {
    console.log(`done ${Date.now()} ${count}`);
    console.log(`latency ${JSON.stringify(quantiles(latencies))}`);
    console.log(`latency_samples ${JSON.stringify(evenSample(latencies))}`);
    void client.end().then(() => process.exit(0));
  }
});
await client.query(`LISTEN ${o.channel}`);
console.log("ready");
process.on("SIGTERM", () => void client.end().then(() => process.exit(0)));

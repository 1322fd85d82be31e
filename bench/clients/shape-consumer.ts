/**
 * Raw ShapeStream consumer (a separate process): one official `@electric-sql/client` ShapeStream on
 * `--table` of the shape server, counting change messages. Prints `ready` once the shape is up to
 * date and `done <epoch ms> <count>` after `--expect` changes, then (with `--latency`)
 * `latency {...}` (receive time − the row's `ts` column, ms), and exits.
 */
import { type ChangeMessage, isChangeMessage, type Row, ShapeStream } from "@electric-sql/client";
import { Command } from "commander";
import { evenSample, quantiles } from "../lib/metrics.js";

const program = new Command()
  .requiredOption("--url <url>", "shape URL (…/v1/shape)")
  .requiredOption("--table <name>", "table")
  .requiredOption("--expect <n>", "changes to wait for", Number)
  .option("--where <where>", "shape where clause")
  .option("--latency", "measure receive time − row ts", false)
  .parse();
const o = program.opts<{ url: string; table: string; where?: string; expect: number; latency: boolean }>();

const abort = new AbortController();
const stream = new ShapeStream<Row>({
  url: o.url,
  params: { table: o.table, ...(o.where ? { where: o.where } : {}) },
  signal: abort.signal,
});
let count = 0;
let upToDate = false;
const latencies: number[] = [];
stream.subscribe(
  (messages) => {
    const at = performance.timeOrigin + performance.now();
    for (const m of messages) {
      if (isChangeMessage(m as ChangeMessage<Row>)) {
        const ts = (m as ChangeMessage<Row>).value.ts;
        if (o.latency && typeof ts === "number") latencies.push(at - ts);
        if (++count === o.expect) {
          console.log(`done ${Date.now()} ${count}`);
          if (o.latency) console.log(`latency ${JSON.stringify(quantiles(latencies))}`);
          if (o.latency) console.log(`latency_samples ${JSON.stringify(evenSample(latencies))}`);
          abort.abort();
          process.exit(0);
        }
      } else if (!upToDate && "control" in m.headers && m.headers.control === "up-to-date") {
        upToDate = true;
        console.log("ready");
      }
    }
  },
  (err) => {
    console.error(String(err));
    process.exit(1);
  },
);
process.on("SIGTERM", () => {
  abort.abort();
  process.exit(0);
});

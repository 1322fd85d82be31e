/**
 * Start time and idle RSS of pg-sync, run through tsx (development) and compiled (`dist/`, what
 * `npm start` runs): `node --import tsx bench/startup.ts [--rounds 5]`. Builds dist/ when stale,
 * starts its own throwaway Postgres, then alternates the two runtimes round by round so that both
 * see the same machine load. Start time is spawn → the "pg-sync listening" log line; idle RSS is the
 * peak VmRSS of 10 samples over 1 s, taken 2 s after listening. Prints the medians as JSON.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Command } from "commander";
import { pgSyncEnv, ROOT, type Runtime, startPgSyncProcess } from "../scripts/lib/processes.js";
import { track } from "./lib/child.js";
import { rssMB } from "./lib/metrics.js";
import { Cleanup, startCluster } from "./lib/stack.js";

const SETTLE_MS = 2_000;
const RSS_SAMPLES = 10;
const RSS_SAMPLE_INTERVAL_MS = 100;
/** An address nothing listens on: start-up does not contact the shape endpoint. */
const UNUSED_SHAPE_URL = "http://127.0.0.1:9/v1/shape";

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids whose parent is `pid` (tsx runs an esbuild service as a child process). */
function childPids(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

interface Sample {
  startMs: number;
  /** The server process alone. */
  rssMB: number;
  /** The server and its child processes. */
  treeRssMB: number;
}

async function measure(databaseUrl: string, runtime: Runtime): Promise<Sample> {
  const began = performance.now();
  const { child } = await startPgSyncProcess(
    pgSyncEnv(databaseUrl, UNUSED_SHAPE_URL, 0, { PGSYNC_LOG_LEVEL: "info" }),
    runtime,
  );
  const startMs = performance.now() - began;
  track(child.process);
  try {
    await sleep(SETTLE_MS);
    const pid = child.process.pid!;
    let peak = 0;
    let treePeak = 0;
    for (let i = 0; i < RSS_SAMPLES; i++) {
      const own = await rssMB(pid);
      let tree = own;
      for (const c of childPids(pid)) tree += await rssMB(c).catch(() => 0);
      peak = Math.max(peak, own);
      treePeak = Math.max(treePeak, tree);
      await sleep(RSS_SAMPLE_INTERVAL_MS);
    }
    return { startMs, rssMB: peak, treeRssMB: treePeak };
  } finally {
    await child.stop("SIGTERM");
  }
}

async function main(): Promise<void> {
  const { rounds } = new Command()
    .option("--rounds <n>", "rounds per runtime", (v) => Number(v), 5)
    .parse()
    .opts<{ rounds: number }>();
  execFileSync("bash", ["scripts/build.sh", "--if-stale"], { cwd: ROOT, stdio: "inherit" });
  const cleanup = new Cleanup();
  try {
    const cluster = await startCluster(cleanup, false);
    const databaseUrl = await cluster.createDatabase("startup");
    // One start to apply the migrations, so that no measured start pays for them.
    await measure(databaseUrl, "compiled");
    const runs: Record<Runtime, Sample[]> = { tsx: [], compiled: [] };
    for (let round = 0; round < rounds; round++) {
      for (const runtime of round % 2 ? (["compiled", "tsx"] as const) : (["tsx", "compiled"] as const)) {
        runs[runtime].push(await measure(databaseUrl, runtime));
      }
    }
    const summary = Object.fromEntries(
      (Object.keys(runs) as Runtime[]).map((r) => [
        r,
        {
          start_ms_median: Math.round(median(runs[r].map((x) => x.startMs))),
          start_ms: runs[r].map((x) => Math.round(x.startMs)),
          idle_rss_mb_median: Math.round(median(runs[r].map((x) => x.rssMB))),
          idle_rss_mb: runs[r].map((x) => Math.round(x.rssMB)),
          idle_rss_with_children_mb_median: Math.round(median(runs[r].map((x) => x.treeRssMB))),
        },
      ]),
    );
    console.log(JSON.stringify(summary, null, 2));
  } finally {
    await cleanup.run();
  }
}

await main();

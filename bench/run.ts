/**
 * Benchmark harness: `npm run bench [-- --quick] [-- --only sync,many] [-- --profile sync]`.
 *
 * Starts its own Postgres (scripts/pg.sh) and, per scenario group, the shape server and pg-sync as
 * separate processes, with the load generator and the clients in processes of their own. Every
 * figure is measured against a baseline in the same run. Prints progress lines and a markdown
 * table, and writes `bench/results/latest.json` plus a dated copy. Child processes and the
 * cluster are cleaned up on success, failure and Ctrl-C.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { formatProfile, newestProfile, summariseProfile } from "./lib/profile.js";
import { type BenchResult, printTable, writeResults } from "./lib/report.js";
import { BENCH_RUNTIME, buildIfStale, Cleanup, startCluster } from "./lib/stack.js";
import { commitParams, runCommit } from "./scenarios/commit.js";
import type { Context } from "./scenarios/context.js";
import { failoverParams, runFailover } from "./scenarios/failover.js";
import { groupsParams, runGroups } from "./scenarios/groups.js";
import { manyParams, runManySources } from "./scenarios/many-sources.js";
import { retentionParams, runRetention } from "./scenarios/retention.js";
import { runScale, scaleParams } from "./scenarios/scale.js";
import { runShapeServer, shapeParams } from "./scenarios/shape-server.js";
import { runSnapshot, snapshotParams } from "./scenarios/snapshot.js";
import { runStall, stallParams } from "./scenarios/stall.js";
import { runSync, syncParams } from "./scenarios/sync.js";

const ROOT = resolve(import.meta.dirname, "..");
const GROUPS = [
  "sync",
  "many",
  "shape",
  "stall",
  "snapshot",
  "groups",
  "failover",
  "commit",
  "retention",
  "scale",
] as const;
type Group = (typeof GROUPS)[number];

const program = new Command()
  .name("bench")
  .option("--quick", "smaller loads (a smoke run, under 2 minutes)", false)
  .option("--only <groups>", `comma-separated groups to run: ${GROUPS.join(", ")}`, GROUPS.join(","))
  .option("--parts <parts>", "sync group only: ingest,fanout,latency,unary (default all)")
  .option("--profile <group>", "write a CPU profile of pg-sync during this group (bench/results/profiles)")
  .option("--no-write", "do not write bench/results")
  .option("--keep-pg", "leave the Postgres cluster running", false)
  .option("--heap", "many group: heap snapshots of pg-sync, summarised per source and per stream", false)
  .option("--scale-sources <n>", "scale group: number of sources (default 10,000; 2,000 with --quick)")
  .parse();
const opts = program.opts<{
  quick: boolean;
  only: string;
  parts?: string;
  profile?: string;
  write: boolean;
  keepPg: boolean;
  heap: boolean;
  scaleSources?: string;
}>();
const groups = opts.only.split(",").map((g) => g.trim()) as Group[];
for (const g of [...groups, ...(opts.profile ? [opts.profile] : [])]) {
  if (!GROUPS.includes(g as Group)) throw new Error(`unknown group ${g}; groups: ${GROUPS.join(", ")}`);
}
const began = Date.now();
const log = (message: string): void => {
  console.log(`[bench ${((Date.now() - began) / 1000).toFixed(1).padStart(6)} s] ${message}`);
};

function packageVersion(name: string): string {
  const file = join(ROOT, "node_modules", name, "package.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: cleaning up`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const results: BenchResult[] = [];
  const breakdown: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = { quick: opts.quick, groups, runtime: BENCH_RUNTIME };
  const profiles: Record<string, unknown> = {};
  let pgVersion = "unknown";
  try {
    buildIfStale(log);
    log("starting Postgres");
    const cluster = await startCluster(cleanup, opts.keepPg);
    pgVersion = cluster.version;
    log(`Postgres ${cluster.version} at ${cluster.adminUrl}`);
    const run = async (group: Group, body: (ctx: Context) => Promise<void>): Promise<void> => {
      if (!groups.includes(group)) return;
      const profileDir = opts.profile === group ? join(ROOT, "bench/results/profiles", group) : undefined;
      if (profileDir) mkdirSync(profileDir, { recursive: true });
      const started = Date.now();
      log(`— group ${group}${profileDir ? ` (profiling pg-sync into ${profileDir})` : ""}`);
      await body({ quick: opts.quick, cluster, cleanup, results, breakdown, parameters, profileDir, log });
      log(`— group ${group} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (profileDir) {
        const file = newestProfile(profileDir);
        if (file) {
          const summary = summariseProfile(file);
          profiles[group] = summary;
          console.log(`\n${formatProfile(summary)}\n`);
        }
      }
    };
    const parts = opts.parts ? { parts: opts.parts.split(",") } : {};
    await run("sync", (ctx) => runSync(ctx, { ...syncParams(opts.quick), ...parts }));
    await run("many", (ctx) => runManySources(ctx, { ...manyParams(), heapSnapshots: opts.heap }));
    await run("shape", (ctx) => runShapeServer(ctx, shapeParams(opts.quick)));
    await run("stall", (ctx) => runStall(ctx, stallParams(opts.quick)));
    await run("snapshot", (ctx) => runSnapshot(ctx, snapshotParams(opts.quick)));
    await run("groups", (ctx) => runGroups(ctx, groupsParams(opts.quick)));
    await run("failover", (ctx) => runFailover(ctx, failoverParams()));
    await run("commit", (ctx) => runCommit(ctx, commitParams(opts.quick)));
    await run("retention", (ctx) => runRetention(ctx, retentionParams(opts.quick)));
    await run("scale", (ctx) =>
      runScale(ctx, scaleParams(opts.quick, opts.scaleSources ? Number(opts.scaleSources) : undefined)),
    );
  } finally {
    await cleanup.run();
  }

  const report = {
    machine: {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? "unknown",
      memory_gib: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
      os: `${process.platform} ${release()}`,
    },
    versions: {
      node: process.versions.node,
      postgres: pgVersion,
      "@electric-sql/client": packageVersion("@electric-sql/client"),
      "@connectrpc/connect-node": packageVersion("@connectrpc/connect-node"),
      pg: packageVersion("pg"),
    },
    parameters,
    results,
    breakdown,
    ...(Object.keys(profiles).length > 0 ? { profiles } : {}),
    elapsed_s: Math.round((Date.now() - began) / 1000),
    date: new Date().toISOString(),
  };
  printTable(results);
  console.log("\nBreakdown:");
  console.log(JSON.stringify(breakdown, null, 2));
  if (opts.write) {
    mkdirSync(join(ROOT, "bench/results"), { recursive: true });
    const files = writeResults(join(ROOT, "bench/results"), report);
    log(`wrote ${files.join(", ")}`);
  }
  log(`finished in ${((Date.now() - began) / 1000).toFixed(0)} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

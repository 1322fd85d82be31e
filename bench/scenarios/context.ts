/** What every scenario gets from the orchestrator, and helpers shared by scenarios. */
import { Child } from "../lib/child.js";
import { evenSample } from "../lib/metrics.js";
import type { BenchResult } from "../lib/report.js";
import type { Cleanup, Cluster } from "../lib/stack.js";

/** Scenario context. */
export interface Context {
  readonly quick: boolean;
  readonly cluster: Cluster;
  /** Closers of this run (processes, cluster), run at the end even on failure. */
  readonly cleanup: Cleanup;
  readonly results: BenchResult[];
  /** Extra figures (components, CPU, raw quantiles) for latest.json. */
  readonly breakdown: Record<string, unknown>;
  /** Parameters of the run, recorded in latest.json. */
  readonly parameters: Record<string, unknown>;
  /** When set, pg-sync processes of this scenario write a CPU profile here. */
  readonly profileDir: string | undefined;
  log(message: string): void;
}

/** Adds a result; ratio = value / baseline; `met` from `goal` and the comparison `cmp`. */
export function addResult(
  ctx: Context,
  r: {
    id: string;
    name: string;
    value: number;
    unit: string;
    baseline: number | null;
    goal: number | null;
    cmp?: ">=" | "<=";
  },
): void {
  const ratio = r.baseline ? r.value / r.baseline : null;
  const met = r.goal === null ? null : r.cmp === "<=" ? r.value <= r.goal : r.value >= r.goal;
  ctx.results.push({
    id: r.id,
    name: r.name,
    value: r.value,
    unit: r.unit,
    baseline: r.baseline,
    ratio,
    goal: r.goal,
    met,
  });
  const goal = r.goal === null ? "" : ` (goal ${r.cmp ?? ">="} ${r.goal}: ${met ? "met" : "NOT met"})`;
  ctx.log(
    `  ${r.id} = ${round(r.value)} ${r.unit}, baseline ${r.baseline === null ? "–" : round(r.baseline)}${goal}`,
  );
}

/** Rounds for display: 2 significant decimals below 10, integers above. */
export function round(x: number): number {
  return Math.abs(x) < 10 ? Math.round(x * 100) / 100 : Math.round(x);
}

/** Rate per second of `count` events between two epoch-ms instants. */
export function rate(count: number, fromMs: number, toMs: number): number {
  return (count / Math.max(1, toMs - fromMs)) * 1000;
}

/** Load generator run: epoch ms of the first insert and after the last commit. */
export interface LoadResult {
  readonly start: number;
  readonly done: number;
}

/** Starts the load generator (a separate process); `result` resolves when it has committed everything. */
export function startLoad(
  ctx: Context,
  url: string,
  table: string,
  load: { rows: number; batch?: number; connections?: number; buckets?: number; rate?: number },
): { child: Child; started: Promise<number>; result: Promise<LoadResult> } {
  const args = ["--url", url, "--table", table, "--rows", String(load.rows)];
  if (load.batch !== undefined) args.push("--batch", String(load.batch));
  if (load.connections !== undefined) args.push("--connections", String(load.connections));
  if (load.buckets !== undefined) args.push("--buckets", String(load.buckets));
  if (load.rate !== undefined) args.push("--rate", String(load.rate));
  const child = new Child("bench/load-generator.ts", args);
  const stop = ctx.cleanup.add("load generator", () => child.stop());
  const started = child.line(/^start (\d+)$/).then((m) => Number(m[1]));
  const result = (async () => {
    const start = await started;
    const done = Number((await child.line(/^done (\d+)/, 600_000))[1]);
    await child.exited();
    await stop();
    return { start, done };
  })();
  return { child, started, result };
}

/** Starts a bench client (bench/clients/NAME.ts) as a child process, stopped at cleanup. */
export function startClient(ctx: Context, name: string, args: string[]): Child {
  // BENCH_CLIENT_NODE_OPTIONS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", applies to the clients.
  const extra = process.env.BENCH_CLIENT_NODE_OPTIONS;
  const env = extra ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${extra}`.trim() } : {};
  const child = new Child(`bench/clients/${name}.ts`, args, env);
  ctx.cleanup.add(name, () => child.stop());
  return child;
}

/** Distributions (raw samples by series) for the HTML report, under `breakdown.distributions`. */
export function recordDistribution(
  ctx: Context,
  title: string,
  unit: string,
  series: Record<string, readonly number[]>,
): void {
  ctx.breakdown.distributions = ctx.breakdown.distributions ?? {};
  const all = ctx.breakdown.distributions as Record<string, unknown>;
  all[title] = {
    unit,
    series: Object.fromEntries(Object.entries(series).map(([k, v]) => [k, evenSample(v)])),
  };
}

/** A cumulative count over time (ms since the start, count) for the HTML report, under `breakdown.timeseries`. */
export function recordSeries(
  ctx: Context,
  title: string,
  unit: string,
  points: readonly [number, number][],
): void {
  ctx.breakdown.timeseries = ctx.breakdown.timeseries ?? {};
  const all = ctx.breakdown.timeseries as Record<string, unknown>;
  all[title] = { unit, points };
}

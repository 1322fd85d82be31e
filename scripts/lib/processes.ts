import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";

/** Repository root. */
export const ROOT = resolve(import.meta.dirname, "../..");

/** A child process started by {@link startProcess}. */
export interface Child {
  readonly process: ChildProcess;
  /** Everything it printed so far (stdout and stderr), for diagnostics. */
  output(): string;
  /** Resolves with the first match of `pattern` in its output (already printed or to come). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code when the process exits by itself. */
  exit(): Promise<number | null>;
  /** Sends `signal` and waits for exit (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/**
 * How an entry point runs: `tsx` compiles the TypeScript source on the fly (tests, development);
 * `compiled` runs its build in `dist/` with source maps (what `npm start` runs; build it first with
 * `scripts/build.sh`).
 */
export type Runtime = "tsx" | "compiled";

/**
 * V8 flags the server runs with, here and in `scripts/start.sh` and `deploy/Dockerfile`: 4 MB
 * semi-spaces (an 8 MB new space) instead of V8's default, which on a 64-bit machine lets the
 * new space grow to 128 MB and keeps it committed. Measured in bench/README.md ("Memory per source
 * and per stream"); see docs/operations.md, "Memory".
 */
export const SERVER_V8_FLAGS = "--max-semi-space-size=4";

/** The node arguments that run `entry` (a `.ts` path relative to the root) with `runtime`. */
export function nodeArgs(entry: string, runtime: Runtime = "tsx"): string[] {
  if (runtime === "compiled") {
    return ["--enable-source-maps", resolve(ROOT, "dist", entry.replace(/\.ts$/, ".js"))];
  }
  return ["--import", "tsx", resolve(ROOT, entry)];
}

/** Starts `entry` (through tsx unless `runtime` is `compiled`) with `env`, collecting its output. */
export function startProcess(
  entry: string,
  env: Record<string, string>,
  args: string[] = [],
  runtime: Runtime = "tsx",
): Child {
  const child = spawn(process.execPath, [...nodeArgs(entry, runtime), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const waiters = new Set<() => void>();
  // TEE_OUTPUT_DIR: also append everything the child prints to a file there (post-mortems).
  const tee = process.env.TEE_OUTPUT_DIR
    ? join(process.env.TEE_OUTPUT_DIR, `${basename(entry, extname(entry))}-${child.pid}.log`)
    : undefined;
  const onData = (chunk: Buffer) => {
    if (tee) appendFileSync(tee, chunk);
    out += chunk.toString("utf8");
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
    for (const w of [...waiters]) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    process: child,
    output: () => out,
    exit: () => exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) {
            cleanup();
            resolvePromise(m);
          }
        };
        const onExit = () => {
          cleanup();
          reject(new Error(`${entry} exited before printing ${pattern}:\n${out.slice(-4_000)}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`${entry} did not print ${pattern} within ${timeoutMs} ms:\n${out.slice(-4_000)}`),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off("exit", onExit);
        };
        waiters.add(check);
        child.once("exit", onExit);
        check();
      });
    },
    async stop(signal = "SIGTERM", graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Test tokens: tenant A and tenant B. */
export const TOKENS = { a: "token-tenant-a", b: "token-tenant-b" } as const;

/** Environment for a pg-sync process on `databaseUrl` with the shape server at `electricUrl`. */
export function pgSyncEnv(
  databaseUrl: string,
  electricUrl: string,
  port = 0,
  extra: Record<string, string> = {},
) {
  return {
    PGSYNC_DATABASE_URL: databaseUrl,
    PGSYNC_LISTEN: `127.0.0.1:${port}`,
    PGSYNC_ELECTRIC_URL: electricUrl,
    PGSYNC_AUTH_TOKENS: `${TOKENS.a}=tenant-a,${TOKENS.b}=tenant-b`,
    PGSYNC_LOG_LEVEL: "info",
    PGSYNC_BACKOFF_INITIAL_MS: "50",
    PGSYNC_BACKOFF_MAX_MS: "500",
    ...extra,
  };
}

/** Starts pg-sync as a child process; resolves with its URL once it listens. */
export async function startPgSyncProcess(
  env: Record<string, string>,
  runtime: Runtime = "tsx",
): Promise<{ child: Child; url: string }> {
  // Flags given in `env` come after the server's own, so they win (benches compare settings).
  const nodeOptions = `${SERVER_V8_FLAGS} ${env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? ""}`.trim();
  const child = startProcess("src/main.ts", { ...env, NODE_OPTIONS: nodeOptions }, [], runtime);
  const m = await child.waitFor(
    /"msg":"pg-sync listening"[^\n]*"port":(\d+)|"port":(\d+)[^\n]*"msg":"pg-sync listening"/,
  );
  const port = m[1] ?? m[2];
  return { child, url: `http://127.0.0.1:${port}` };
}

/** Starts the bundled shape server as a child process; resolves with its shape URL. */
export async function startShapeServerProcess(
  databaseUrl: string,
  extra: Record<string, string> = {},
  runtime: Runtime = "tsx",
): Promise<{ child: Child; url: string; origin: string }> {
  const env = { SHAPE_DATABASE_URL: databaseUrl, SHAPE_PORT: "0", SHAPE_TEST_CONTROLS: "1", ...extra };
  const child = startProcess("tools/shape-server/main.ts", env, [], runtime);
  const m = await child.waitFor(/listening on (http:\/\/[0-9.:[\]a-z]+)/);
  const origin = (m[1] as string).replace(/\/$/, "");
  // Listening is not serving: wait until replication streams (health says "active").
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await fetch(`${origin}/v1/health`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) {
      await child.stop("SIGTERM");
      throw new Error(`shape server at ${origin} was not ready within 30 s:\n${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: `${origin}/v1/shape`, origin };
}

/**
 * `npm start` and `npm run shape-server` as a process supervisor runs them: the npm process in its
 * own process group, SIGTERM sent to the npm process only. The server must get the signal, drain,
 * exit 0, and leave no process behind (the old `sh -c` wrapper died and orphaned the server).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgSyncEnv, ROOT, startShapeServerProcess, TOKENS } from "../../scripts/lib/processes.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { connectClient } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

const BUILD_TIMEOUT_MS = 180_000;

/** An npm script started the way a supervisor starts it: its own process group, output collected. */
interface Supervised {
  readonly npm: ChildProcess;
  output(): string;
  /** Exit code and signal of the npm process. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True while any process of the group is alive. */
  groupAlive(): boolean;
  /** SIGKILLs whatever is left of the group. */
  kill(): void;
}

function superviseNpm(args: string[], env: Record<string, string>): Supervised {
  const npm = spawn("npm", args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // a new process group, led by npm: pgid = npm's pid
  });
  let out = "";
  const collect = (chunk: Buffer) => {
    out += chunk.toString("utf8");
  };
  npm.stdout?.on("data", collect);
  npm.stderr?.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const pgid = npm.pid as number;
  const groupAlive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    npm,
    output: () => out,
    exited,
    groupAlive,
    kill() {
      if (groupAlive()) process.kill(-pgid, "SIGKILL");
    },
  };
}

/** Sends SIGTERM to the npm process alone and waits for npm to exit and the group to be empty. */
async function terminate(s: Supervised) {
  s.npm.kill("SIGTERM");
  const exit = await Promise.race([
    s.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`npm did not exit after SIGTERM:\n${s.output()}`)), 30_000),
    ),
  ]);
  await waitFor(() => !s.groupAlive(), {
    timeoutMs: 15_000,
    what: `every process of the npm group to exit (orphaned server?); output:\n${s.output()}`,
  });
  return exit;
}

let db: TestDatabase;

beforeAll(async () => {
  // Build once up front so each test's start is not a compile (npm start would build anyway).
  await promisify(execFile)("bash", ["scripts/build.sh", "--if-stale"], {
    cwd: ROOT,
    timeout: BUILD_TIMEOUT_MS,
  });
  db = await createTestDatabase("signals");
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await db?.drop();
});

describe("npm scripts under a supervisor", () => {
  it("should drain the shape server and leave no process when npm run shape-server gets SIGTERM", async () => {
    const s = superviseNpm(["run", "shape-server"], { SHAPE_DATABASE_URL: db.url, SHAPE_PORT: "0" });
    try {
      await waitFor(() => /listening on http/.test(s.output()), {
        timeoutMs: 60_000,
        what: `the shape server to listen; output:\n${s.output()}`,
      });
      const exit = await terminate(s);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(s.output()).toContain('"msg":"shape server closed"');
    } finally {
      s.kill();
    }
  });

  it("should stop the bridges, exit 0 and leave no process when npm start gets SIGTERM", async () => {
    const shape = await startShapeServerProcess(db.url, { SHAPE_LONG_POLL_TIMEOUT_MS: "1000" });
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const s = superviseNpm(["start"], pgSyncEnv(db.url, shape.url));
    try {
      await sql.query("CREATE TABLE IF NOT EXISTS signal_items (id int PRIMARY KEY)");
      const listening =
        /"msg":"pg-sync listening"[^\n]*"port":(\d+)|"port":(\d+)[^\n]*"msg":"pg-sync listening"/;
      const m = await waitFor(() => s.output().match(listening) ?? undefined, {
        timeoutMs: 60_000,
        what: `pg-sync to listen; output:\n${s.output()}`,
      });
      const client = connectClient(`http://127.0.0.1:${m[1] ?? m[2]}`, TOKENS.a);
      const { sourceRef } = await client.registerSource({ options: { table: "signal_items" } });
      const stateOf = async () =>
        (
          await sql.query<{ state: string }>("SELECT state FROM pgsync.sources WHERE source_ref = $1", [
            sourceRef,
          ])
        ).rows[0]?.state;
      await waitFor(async () => (await stateOf()) === "LIVE", { what: "the bridge to be LIVE" });

      const exit = await terminate(s);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(s.output()).toContain('"msg":"pg-sync stopped"');
      // Drained: the bridge was stopped and said so before the process exited.
      expect(await stateOf()).toBe("STOPPED");
    } finally {
      s.kill();
      await sql.end();
      await shape.child.stop("SIGTERM");
    }
  });
});

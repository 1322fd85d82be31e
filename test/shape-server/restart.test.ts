import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../support/db.js";
import { waitFor } from "../support/wait.js";
import {
  changesOf,
  dropSlots,
  rawGet,
  type ShapeFixture,
  StreamRecorder,
  startFixture,
  syncToUpToDate,
} from "./support/harness.js";

const MAIN = resolve(import.meta.dirname, "../../tools/shape-server/main.ts");

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_restart");
  await fx.sql.query(`
    CREATE TABLE notes (id int PRIMARY KEY, body text);
    INSERT INTO notes VALUES (1, 'a'), (2, 'b');
  `);
});

afterAll(async () => {
  await fx?.close();
});

interface Child {
  readonly process: ChildProcess;
  readonly url: string;
}

async function startChild(databaseUrl: string): Promise<Child> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", MAIN, "--port", "0", "--long-poll-timeout-ms", "1000"],
    {
      env: { ...process.env, SHAPE_DATABASE_URL: databaseUrl, SHAPE_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(out)?.[1], {
    what: `the listening line (stderr: ${err})`,
    timeoutMs: 30_000,
  });
  return { process: child, url };
}

describe("restart", () => {
  it("should let a client resume with handle and offset across a shape server restart (#25)", async () => {
    const first = new StreamRecorder({ url: fx.shapeUrl, params: { table: "notes" } });
    await first.until((r) => r.upToDates >= 1 && r.changes.length === 2, "initial sync");
    await fx.sql.query("UPDATE notes SET body = 'A' WHERE id = 1");
    await first.until((r) => r.changes.length === 3 && r.upToDates >= 2, "a live change");
    first.stop();
    const handle = first.stream.shapeHandle!;
    const offset = first.stream.lastOffset;

    await fx.server.close();
    // written while the shape server is down: replication picks them up from the slot
    await fx.sql.query("INSERT INTO notes VALUES (3, 'c')");
    await fx.sql.query("DELETE FROM notes WHERE id = 2");
    await fx.restart();
    await fx.sql.query("UPDATE notes SET body = 'C' WHERE id = 3");

    const second = new StreamRecorder({ url: fx.shapeUrl, params: { table: "notes" }, handle, offset });
    try {
      const changes = await second.untilChanges(3);
      expect(changes.map((c) => [c.headers.operation, c.value])).toEqual([
        ["insert", { id: 3, body: "c" }],
        ["delete", { id: 2 }],
        ["update", { id: 3, body: "C" }],
      ]);
      expect(second.stream.shapeHandle).toBe(handle);
      expect(second.mustRefetches).toBe(0);
      expect(second.errors).toEqual([]);
      // the snapshot survives too
      const again = await syncToUpToDate(fx.shapeUrl, { table: "notes" });
      expect(again.handle).toBe(handle);
      expect(again.changes.map((c) => [c.headers.operation ?? "", c.value?.id])).toEqual([
        ["insert", "1"],
        ["insert", "2"],
        ["update", "1"],
        ["insert", "3"],
        ["delete", "2"],
        ["update", "3"],
      ]);
    } finally {
      second.stop();
    }
  });

  it("should run as a child process, exit 0 on SIGTERM, and lose nothing when killed (#25)", async () => {
    const db = await createTestDatabase("shape_child");
    const sql = new pg.Pool({ connectionString: db.url, max: 2 });
    let child: Child | undefined;
    try {
      await sql.query(
        "CREATE TABLE jobs (id int PRIMARY KEY, state text); INSERT INTO jobs VALUES (1, 'new')",
      );
      child = await startChild(db.url);
      await waitFor(async () => (await fetch(`${child!.url}/v1/health`)).status === 200, { what: "health" });
      const { handle, offset } = await syncToUpToDate(`${child.url}/v1/shape`, { table: "jobs" });
      await sql.query("UPDATE jobs SET state = 'running' WHERE id = 1");
      const firstChange = await waitFor(async () => {
        const res = await rawGet(`${child!.url}/v1/shape`, { table: "jobs", handle, offset });
        return changesOf(res).length > 0 ? res : undefined;
      });
      const resumeAt = firstChange.headers.get("electric-offset")!;

      child.process.kill("SIGTERM");
      const [code] = await once(child.process, "exit");
      expect(code).toBe(0);

      child = await startChild(db.url);
      await sql.query("INSERT INTO jobs VALUES (2, 'new')");
      const afterRestart = await waitFor(async () => {
        const res = await rawGet(`${child!.url}/v1/shape`, { table: "jobs", handle, offset: resumeAt });
        return res.status === 200 && changesOf(res).length > 0 ? res : undefined;
      });
      expect(changesOf(afterRestart).map((c) => [c.headers.operation, c.value?.id])).toEqual([
        ["insert", "2"],
      ]);
      const crashAt = afterRestart.headers.get("electric-offset")!;

      child.process.kill("SIGKILL");
      await once(child.process, "exit");
      await sql.query("UPDATE jobs SET state = 'done' WHERE id = 2");
      child = await startChild(db.url);
      const afterCrash = await waitFor(async () => {
        const res = await rawGet(`${child!.url}/v1/shape`, { table: "jobs", handle, offset: crashAt });
        return res.status === 200 && changesOf(res).length > 0 ? res : undefined;
      });
      expect(changesOf(afterCrash).map((c) => [c.headers.operation, c.value])).toEqual([
        ["update", { id: "2", state: "done" }],
      ]);
    } finally {
      if (child && child.process.exitCode === null) {
        child.process.kill("SIGTERM");
        await once(child.process, "exit");
      }
      await dropSlots(sql);
      await sql.end();
      await db.drop();
    }
  });
});

import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/lib/processes.js";
import { waitFor } from "../support/wait.js";

describe("npm run demo", () => {
  it("should run to its first printed wake and stop cleanly on Ctrl-C", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pgsync-demo-"));
    chmodSync(dir, 0o755); // the cluster runs as the postgres OS user, which must reach it
    const child = spawn("bash", [join(ROOT, "scripts/demo.sh")], {
      cwd: ROOT,
      env: { ...process.env, PGSYNC_DEMO_DIR: dir, PGSYNC_DEMO_PORT: "0", PGSYNC_DEMO_SHAPE_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      await waitFor(() => (/wake \S+: insert todos/.test(out) ? true : undefined), {
        what: `the demo's first wake; output so far:\n${out}`,
        timeoutMs: 90_000,
        intervalMs: 100,
      });
      await waitFor(() => (/grpcurl -plaintext/.test(out) ? true : undefined), {
        what: "the try-it commands",
        timeoutMs: 30_000,
      });
      expect(out).toMatch(/wake \S+: update todos/);
      expect(out).toMatch(/wake \S+: delete todos/);
      // Two workers shared the group: the first job failed, was given back and done on attempt 2.
      expect(out).toMatch(/worker-\d: job \d+ '[a-z ]+' \(attempt 1\) failed → released/);
      expect(out).toMatch(/worker-\d: job \d+ '[a-z ]+' \(attempt 2\) done → acknowledged/);
      expect(out).toMatch(/group demo-workers: .*0 in flight, 0 dead letters; members worker-\d, worker-\d/);
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(out).toContain("stopped.");
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

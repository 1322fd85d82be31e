import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProcess, TOKENS } from "../../scripts/lib/processes.js";
import { SETTINGS, type Setting } from "../../src/settings.js";
import { BUILD_INFO } from "../../src/version.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

const BIN = "bin/pg-sync.js";
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("cli");
});

afterAll(async () => {
  await db?.drop();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PGSYNC_DATABASE_URL: db.url,
    PGSYNC_LISTEN: "127.0.0.1:0",
    PGSYNC_AUTH_TOKENS: `${TOKENS.a}=tenant-a`,
    ...extra,
  };
}

describe("the pg-sync command", () => {
  it("should print the package version with --version", async () => {
    const child = startProcess(BIN, {}, ["--version"]);
    expect(await child.exit()).toBe(0);
    expect(child.output().trim()).toBe(BUILD_INFO.version);
  });

  it("should list every setting with --help", async () => {
    const child = startProcess(BIN, {}, ["--help"]);
    expect(await child.exit()).toBe(0);
    for (const setting of Object.values(SETTINGS) as Setting[]) expect(child.output()).toContain(setting.env);
  });

  it("should refuse an unknown argument", async () => {
    const child = startProcess(BIN, {}, ["--frobnicate"]);
    expect(await child.exit()).not.toBe(0);
    expect(child.output()).toMatch(/unknown option '--frobnicate'/);
  });

  it("should log the effective configuration with secrets masked and warn about a misspelt variable", async () => {
    const child = startProcess(BIN, env({ PGSYNC_AUTH_TOKEN: "oops", PGSYNC_DB_POOL_SIZE: "3" }));
    try {
      await child.waitFor(/"msg":"pg-sync listening"/);
      const lines = child
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const start = lines.find((l) => l.msg === "pg-sync starting");
      expect(start?.version).toBe(BUILD_INFO.version);
      const config = start?.config as Record<string, string>;
      expect(config.PGSYNC_DB_POOL_SIZE).toBe("3");
      expect(config.PGSYNC_AUTH_TOKENS).toBe("[redacted]");
      expect(child.output()).not.toContain(TOKENS.a);
      const warning = lines.find((l) => l.variable === "PGSYNC_AUTH_TOKEN");
      expect(warning?.level).toBe("warn");
      expect(warning?.did_you_mean).toBe("PGSYNC_AUTH_TOKENS");
    } finally {
      await child.stop("SIGTERM");
    }
  });

  it.each<[string, () => Record<string, string>, RegExp]>([
    [
      "an unreachable state database",
      () => env({ PGSYNC_DATABASE_URL: "postgres://u:pw@127.0.0.1:1/db" }),
      /^pg-sync: failed to start: state database: .*ECONNREFUSED/m,
    ],
    [
      "a broken policy file",
      () => {
        const file = join(mkdtempSync(join(tmpdir(), "pgsync-policy-")), "policy.yaml");
        writeFileSync(file, "tenants: [unclosed");
        return env({ PGSYNC_POLICY_FILE: file });
      },
      /^pg-sync: failed to start: policy file: /m,
    ],
    [
      "a port in use",
      () => env({ PGSYNC_LISTEN: new URL(db.url).host }),
      /^pg-sync: failed to start: listener: .*EADDRINUSE/m,
    ],
  ])("should name the component when start-up fails on %s", async (_name, makeEnv, message) => {
    const child = startProcess(BIN, makeEnv());
    expect(await child.exit()).toBe(1);
    expect(child.output()).toMatch(message);
    expect(child.output()).not.toMatch(/:pw@/);
  });
});

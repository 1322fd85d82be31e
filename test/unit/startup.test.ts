import { describe, expect, it } from "vitest";
import { settingsHelp } from "../../src/cli.js";
import { loadConfig } from "../../src/config.js";
import { SETTINGS, type Setting } from "../../src/settings.js";
import { configSummary, StartupError, startStep, unknownVariables } from "../../src/startup.js";

const BASE = {
  PGSYNC_DATABASE_URL: "postgres://u:secretpw@127.0.0.1:5432/db",
  PGSYNC_AUTH_TOKENS: "tok-secret=acme",
};

describe("unknownVariables", () => {
  it("should name unknown PGSYNC_* variables with the setting they most likely meant", () => {
    expect(
      unknownVariables({
        ...BASE,
        PGSYNC_AUTH_TOKEN: "x",
        PGSYNC_LISTN: "y",
        PGSYNC_FROBNICATE_EVERYTHING: "z",
      }),
    ).toEqual([
      { name: "PGSYNC_AUTH_TOKEN", didYouMean: "PGSYNC_AUTH_TOKENS" },
      { name: "PGSYNC_FROBNICATE_EVERYTHING", didYouMean: undefined },
      { name: "PGSYNC_LISTN", didYouMean: "PGSYNC_LISTEN" },
    ]);
  });

  it("should ignore settings, the scripts' tooling variables and other prefixes", () => {
    const env = { ...BASE, PGSYNC_ROOT: "/x", PGSYNC_TEST_PG_URL: "p", PGSYNC_DEMO_DIR: "d", HOME: "/h" };
    expect(unknownVariables(env)).toEqual([]);
  });
});

describe("configSummary", () => {
  it("should list the effective settings with secrets masked and the database password scrubbed", () => {
    const env = { ...BASE, PGSYNC_JWT_SECRET: "j".repeat(40), PGSYNC_DB_POOL_SIZE: "7" };
    const summary = configSummary(env, loadConfig(env));
    expect(summary.PGSYNC_DATABASE_URL).toBe("postgres://u:***@127.0.0.1:5432/db");
    expect(summary.PGSYNC_AUTH_TOKENS).toBe("[redacted]");
    expect(summary.PGSYNC_JWT_SECRET).toBe("[redacted]");
    expect(summary.PGSYNC_DB_POOL_SIZE).toBe("7");
    expect(summary.PGSYNC_LISTEN).toBe("127.0.0.1:50051");
    expect(JSON.stringify(summary)).not.toMatch(/secretpw|tok-secret|jjjj/);
  });
});

describe("startStep", () => {
  it("should name the component of a failed step, sync or async", async () => {
    expect(() =>
      startStep("policy file", () => {
        throw new Error("bad yaml");
      }),
    ).toThrow("policy file: bad yaml");
    const err = await startStep("state database", async () => {
      throw new Error("connect ECONNREFUSED 127.0.0.1:1");
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).component).toBe("state database");
    expect((err as Error).message).toBe("state database: connect ECONNREFUSED 127.0.0.1:1");
    expect(startStep("x", () => 42)).toBe(42);
  });
});

describe("settingsHelp", () => {
  it("should list every setting of the settings table", () => {
    const help = settingsHelp();
    for (const setting of Object.values(SETTINGS) as Setting[]) expect(help).toContain(setting.env);
  });
});

describe("traces URL", () => {
  it.each<[Record<string, string>, string | undefined]>([
    [{}, undefined],
    [{ PGSYNC_OTLP_ENDPOINT: "http://c:4318" }, "http://c:4318/v1/traces"],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://o:4318/" }, "http://o:4318/v1/traces"],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t:4318/custom" }, "http://t:4318/custom"],
    [
      { PGSYNC_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_ENDPOINT: "http://o:4318" },
      "http://c:4318/v1/traces",
    ],
  ])("should resolve %j to %s", (env, url) => {
    expect(loadConfig({ ...BASE, ...env }).tracesUrl).toBe(url);
  });

  it("should name the variable of a bad endpoint", () => {
    expect(() => loadConfig({ ...BASE, PGSYNC_OTLP_ENDPOINT: "grpc://c" })).toThrow(/^PGSYNC_OTLP_ENDPOINT/);
  });
});

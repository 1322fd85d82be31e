import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { INT_SETTING_NAMES, SETTING_NAMES, SETTINGS, type Setting } from "../../src/settings.js";

const BASE = {
  PGSYNC_DATABASE_URL: "postgres://u:secretpw@127.0.0.1:5432/db",
  PGSYNC_AUTH_TOKENS: "tok1=acme",
};

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("should apply defaults", () => {
    const config = loadConfig(BASE);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 50051 });
    expect(config.logLevel).toBe("info");
    expect(config.auth.tokens.get("tok1")).toBe("acme");
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("should always allow the default electric URL's origin", () => {
    const config = loadConfig({
      ...BASE,
      PGSYNC_ELECTRIC_URL: "http://localhost:3000/v1/shape",
      PGSYNC_ALLOWED_URLS: "https://e.example.com/v1/shape, http://other:9/",
    });
    expect([...config.allowedOrigins].sort()).toEqual([
      "http://localhost:3000",
      "http://other:9",
      "https://e.example.com",
    ]);
  });

  it.each<[string, Record<string, string>, string]>([
    ["missing database url", { PGSYNC_AUTH_TOKENS: "a=b" }, "PGSYNC_DATABASE_URL"],
    ["bad listen", { ...BASE, PGSYNC_LISTEN: "nope" }, "PGSYNC_LISTEN"],
    ["bad port", { ...BASE, PGSYNC_LISTEN: "127.0.0.1:99999" }, "PGSYNC_LISTEN"],
    ["bad electric url", { ...BASE, PGSYNC_ELECTRIC_URL: "postgres://x" }, "PGSYNC_ELECTRIC_URL"],
    ["bad token pair", { ...BASE, PGSYNC_AUTH_TOKENS: "justatoken" }, "PGSYNC_AUTH_TOKENS"],
    ["short jwt secret", { ...BASE, PGSYNC_JWT_SECRET: "short" }, "PGSYNC_JWT_SECRET"],
    [
      "insecure off loopback",
      { ...BASE, PGSYNC_INSECURE_NO_AUTH: "1", PGSYNC_LISTEN: "0.0.0.0:50051" },
      "PGSYNC_INSECURE_NO_AUTH",
    ],
    ["no auth at all", { PGSYNC_DATABASE_URL: BASE.PGSYNC_DATABASE_URL }, "PGSYNC_AUTH_TOKENS"],
    ["bad log level", { ...BASE, PGSYNC_LOG_LEVEL: "loud" }, "PGSYNC_LOG_LEVEL"],
    ["bad grace", { ...BASE, PGSYNC_SHUTDOWN_GRACE_MS: "soon" }, "PGSYNC_SHUTDOWN_GRACE_MS"],
  ])("should reject %s naming the variable", (_name, env, variable) => {
    const err = errorOf(env);
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
  });

  it("should never echo secrets", () => {
    expect(errorOf({ ...BASE, PGSYNC_AUTH_TOKENS: "supersecret" }).message).not.toContain("supersecret");
    expect(errorOf({ ...BASE, PGSYNC_JWT_SECRET: "tiny-secret" }).message).not.toContain("tiny-secret");
  });

  it("should allow insecure mode on loopback", () => {
    const config = loadConfig({
      PGSYNC_DATABASE_URL: BASE.PGSYNC_DATABASE_URL,
      PGSYNC_INSECURE_NO_AUTH: "1",
    });
    expect(config.auth.insecureNoAuth).toBe(true);
  });
});

/** The README row a setting should have: variable, default, accepted range, meaning. */
function readmeRow(setting: Setting): string[] {
  let fallback = "—";
  if (setting.kind === "text" && setting.required) fallback = "(required)";
  else if (setting.default !== undefined) fallback = `\`${setting.default}\``;
  let range = "";
  if (setting.kind === "int") {
    range = setting.max === Number.MAX_SAFE_INTEGER ? `≥ ${setting.min}` : `${setting.min}–${setting.max}`;
  }
  return [`\`${setting.env}\``, fallback, range, setting.description];
}

/** The rows of README.md's configuration table, as cells. */
function readmeTable(): string[][] {
  const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
  const section = readme.split("\n## Configuration\n")[1]?.split("\n## ")[0] ?? "";
  return section
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .map((line) =>
      line
        .slice(1, -1)
        .split(" | ")
        .map((cell) => cell.trim()),
    );
}

describe("settings table", () => {
  it("should match README.md's configuration table: same variables, defaults, ranges, meanings and order", () => {
    expect(readmeTable()).toEqual(SETTING_NAMES.map((name) => readmeRow(SETTINGS[name])));
  });

  it("should give every whole-number setting a default within its bounds", () => {
    for (const name of INT_SETTING_NAMES) {
      const { default: fallback, min, max } = SETTINGS[name];
      expect(fallback).toBeGreaterThanOrEqual(min);
      expect(fallback).toBeLessThanOrEqual(max);
      expect(loadConfig(BASE)[name]).toBe(fallback);
    }
  });

  it("should name the variable and its bounds when a whole number is out of range", () => {
    const err = errorOf({ ...BASE, PGSYNC_DB_POOL_SIZE: "0" });
    expect(err.message).toBe('PGSYNC_DB_POOL_SIZE: must be at least 1 (got "0")');
  });
});

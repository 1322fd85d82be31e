import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

const BASE = {
  PGSYNC_DATABASE_URL: "postgres://u:secretpw@127.0.0.1:5432/db",
  PGSYNC_AUTH_TOKENS: "tok1=acme",
};

describe("loadConfig: replicas", () => {
  it("should default to a 10 s lease and a generated replica id", () => {
    const config = loadConfig(BASE);
    expect(config.leaseTtlMs).toBe(10_000);
    expect(config.replicaId).toBeUndefined();
  });

  it("should take a pod-style replica id and a lease TTL", () => {
    const config = loadConfig({
      ...BASE,
      PGSYNC_REPLICA_ID: "pg-sync-7d9f8-abc12",
      PGSYNC_LEASE_TTL_MS: "2000",
    });
    expect(config.replicaId).toBe("pg-sync-7d9f8-abc12");
    expect(config.leaseTtlMs).toBe(2_000);
  });

  it("should name the variable for a bad replica id or TTL", () => {
    expect(() => loadConfig({ ...BASE, PGSYNC_REPLICA_ID: "has space" })).toThrow(
      /^PGSYNC_REPLICA_ID: must be 1-200 letters/,
    );
    expect(() => loadConfig({ ...BASE, PGSYNC_LEASE_TTL_MS: "500" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...BASE, PGSYNC_LEASE_TTL_MS: "500" })).toThrow(
      /^PGSYNC_LEASE_TTL_MS: must be at least 1000/,
    );
  });
});

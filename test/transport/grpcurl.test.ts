import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKENS } from "../../scripts/lib/processes.js";
import { grpcurl, grpcurlPath, grpcurlStream } from "../support/grpcurl.js";
import { type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

// Ops use grpcurl against the same port as every client: reflection, health and the API.
let stack: Stack;
let address: string;
const auth = ["-H", `authorization: Bearer ${TOKENS.a}`];

beforeAll(async () => {
  grpcurlPath(); // install (once per machine) before the clock of any test starts
  stack = await startStack();
  address = new URL(stack.url).host;
  await stack.sql.query("CREATE TABLE gadgets (id int PRIMARY KEY, name text)");
}, 300_000);

afterAll(async () => {
  await stack?.close();
});

describe("grpcurl", () => {
  it("should list every service through reflection", async () => {
    const r = await grpcurl(["-plaintext", address, "list"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "pgsync.v1.PgSyncService",
    ]);
  });

  it("should describe methods and messages with their proto comments", async () => {
    const method = await grpcurl(["-plaintext", address, "describe", "pgsync.v1.PgSyncService.WatchWakes"]);
    expect(method.code, method.stderr).toBe(0);
    expect(method.stdout).toMatch(
      /rpc WatchWakes \( \.pgsync\.v1\.WatchWakesRequest \) returns \( stream \.pgsync\.v1\.WatchWakesResponse \)/,
    );
    expect(method.stdout).toMatch(/^\/\/ /m);
    const message = await grpcurl(["-plaintext", address, "describe", "pgsync.v1.SourceOptions"]);
    expect(message.code, message.stderr).toBe(0);
    expect(message.stdout).toMatch(/string table = \d+;/);
    expect(message.stdout).toMatch(/^\s*\/\/ /m);
  });

  it("should fail to describe an unknown symbol with a clear message", async () => {
    const r = await grpcurl(["-plaintext", address, "describe", "pgsync.v1.NoSuchThing"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/NoSuchThing/);
  });

  it("should check health without credentials", async () => {
    for (const service of ["", "pgsync.v1.PgSyncService", "pgsync.bridges"]) {
      const r = await grpcurl([
        "-plaintext",
        "-d",
        JSON.stringify({ service }),
        address,
        "grpc.health.v1.Health/Check",
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ status: "SERVING" });
    }
    const unknown = await grpcurl([
      "-plaintext",
      "-d",
      '{"service":"nope"}',
      address,
      "grpc.health.v1.Health/Check",
    ]);
    expect(unknown.stderr).toMatch(/NotFound/);
  });

  it("should refuse the API without a token", async () => {
    const r = await grpcurl(["-plaintext", "-d", "{}", address, "pgsync.v1.PgSyncService/ListSources"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Unauthenticated/);
  });

  it("should register, watch and receive a wake for an insert", async () => {
    const reg = await grpcurl([
      "-plaintext",
      ...auth,
      "-d",
      JSON.stringify({ options: { table: "gadgets" } }),
      address,
      "pgsync.v1.PgSyncService/RegisterSource",
    ]);
    expect(reg.code, reg.stderr).toBe(0);
    const { sourceRef } = JSON.parse(reg.stdout) as { sourceRef: string };
    expect(sourceRef).toMatch(/^[0-9a-f]{16}$/);
    const watch = grpcurlStream([
      "-plaintext",
      ...auth,
      "-d",
      JSON.stringify({ source_refs: [sourceRef] }),
      address,
      "pgsync.v1.PgSyncService/WatchWakes",
    ]);
    try {
      await waitFor(() => /"ready"/.test(watch.output()), {
        what: `Ready from grpcurl; output:\n${watch.output()}`,
      });
      await stack.sql.query("INSERT INTO gadgets VALUES (1, 'sprocket')");
      await waitFor(() => /"sprocket"/.test(watch.output()), { what: "the wake in grpcurl's output" });
      expect(watch.output()).toMatch(/"OPERATION_INSERT"/);
      expect(watch.output()).toMatch(/"resumeToken"/);
    } finally {
      watch.stop();
    }
    const cursor = await grpcurl([
      "-plaintext",
      ...auth,
      "-d",
      JSON.stringify({ source_ref: sourceRef }),
      address,
      "pgsync.v1.PgSyncService/GetCursor",
    ]);
    expect(cursor.code, cursor.stderr).toBe(0);
    expect(JSON.parse(cursor.stdout).cursor.state).toBe("SOURCE_STATE_LIVE");
  });
});

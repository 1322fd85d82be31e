import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection as ServerReflectionAlpha,
  ServerReflectionRequestSchema,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { pgSyncEnv, startPgSyncProcess, startProcess, TOKENS } from "../../scripts/lib/processes.js";
import { bearer, connectClient, type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

const JWT_SECRET = "a-test-secret-that-is-long-enough-for-hs256!";
let stack: Stack;
let jwksFile: string;
let ecPrivate: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  ecPrivate = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  jwksFile = join(mkdtempSync(join(tmpdir(), "pgsync-jwks-")), "jwks.json");
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  stack = await startStack({
    env: {
      PGSYNC_JWT_SECRET: JWT_SECRET,
      PGSYNC_JWKS_FILE: jwksFile,
      PGSYNC_JWT_ISSUER: "https://issuer.test",
    },
  });
  await stack.sql.query("CREATE TABLE widgets (id int PRIMARY KEY, name text)");
});

afterAll(async () => {
  await stack?.close();
});

function hsToken(claims: Record<string, unknown>, { expiresIn = "5m", issuer = "https://issuer.test" } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setIssuer(issuer)
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(JWT_SECRET));
}

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("authentication", () => {
  it("should take the tenant from a JWT's tenant claim: same tenant as its static token", async () => {
    const { sourceRef } = await stack.a.registerSource({ options: { table: "widgets" } });
    const viaJwt = connectClient(stack.url, await hsToken({ tenant: "tenant-a", sub: "agent-7" }));
    const { source } = await viaJwt.getSource({ sourceRef });
    expect(source?.sourceRef).toBe(sourceRef);
    const other = connectClient(stack.url, await hsToken({ tenant: "tenant-z" }));
    expect(await codeOf(other.getSource({ sourceRef }))).toBe(Code.NotFound);
  });

  it("should fall back to sub when there is no tenant claim", async () => {
    const { sourceRef } = await stack.a.registerSource({ options: { table: "widgets", where: "id > 1" } });
    const asSub = connectClient(stack.url, await hsToken({ sub: "tenant-a" }));
    expect(await codeOf(asSub.getSource({ sourceRef }))).toBe("ok");
  });

  it("should accept a JWT signed by a key of the JWKS file", async () => {
    const token = await new SignJWT({ tenant: "tenant-a" })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer("https://issuer.test")
      .setExpirationTime("5m")
      .sign(ecPrivate);
    expect(await codeOf(connectClient(stack.url, token).listSources({}))).toBe("ok");
  });

  it.each([
    ["expired", () => hsToken({ tenant: "tenant-a" }, { expiresIn: "-1m" })],
    ["wrong issuer", () => hsToken({ tenant: "tenant-a" }, { issuer: "https://evil.test" })],
    [
      "wrong secret",
      () =>
        new SignJWT({ tenant: "tenant-a" })
          .setProtectedHeader({ alg: "HS256" })
          .setIssuer("https://issuer.test")
          .setExpirationTime("5m")
          .sign(new TextEncoder().encode("x".repeat(48))),
    ],
    ["no tenant nor sub", () => hsToken({})],
    [
      "alg none",
      async () =>
        `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"tenant":"tenant-a"}').toString("base64url")}.`,
    ],
  ])("should refuse a JWT that is %s with UNAUTHENTICATED", async (_name, make) => {
    const client = connectClient(stack.url, await make());
    expect(await codeOf(client.listSources({}))).toBe(Code.Unauthenticated);
  });

  it("should refuse a non-Bearer authorization header", async () => {
    const client = createClient(
      PgSyncService,
      createConnectTransport({
        baseUrl: stack.url,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Basic ${Buffer.from("a:b").toString("base64")}`);
            return next(req);
          },
        ],
      }),
    );
    expect(await codeOf(client.listSources({}))).toBe(Code.Unauthenticated);
  });
});

describe("health and reflection", () => {
  it("should answer reflection v1alpha with the file, its imports and its comments", async () => {
    const client = createClient(
      ServerReflectionAlpha,
      createConnectTransport({ baseUrl: stack.url, httpVersion: "2" }),
    );
    async function* requests() {
      yield create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } });
      yield create(ServerReflectionRequestSchema, {
        messageRequest: { case: "fileContainingSymbol", value: "pgsync.v1.PgSyncService" },
      });
      yield create(ServerReflectionRequestSchema, {
        messageRequest: { case: "fileByFilename", value: "nope.proto" },
      });
    }
    const answers = [];
    for await (const res of client.serverReflectionInfo(requests())) answers.push(res);
    expect(answers).toHaveLength(3);
    const list = answers[0]?.messageResponse;
    expect(list?.case).toBe("listServicesResponse");
    if (list?.case === "listServicesResponse") {
      expect(list.value.service.map((s) => s.name)).toContain("pgsync.v1.PgSyncService");
    }
    const files = answers[1]?.messageResponse;
    expect(files?.case).toBe("fileDescriptorResponse");
    if (files?.case === "fileDescriptorResponse") {
      const decoded = files.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
      const main = decoded[0]!;
      expect(main.service.map((s) => s.name)).toContain("PgSyncService");
      for (const dep of main.dependency) expect(decoded.map((f) => f.name)).toContain(dep);
      const comments = main.sourceCodeInfo?.location.map((l) => l.leadingComments).join("") ?? "";
      expect(comments.length).toBeGreaterThan(100);
    }
    const missing = answers[2]?.messageResponse;
    expect(missing?.case).toBe("errorResponse");
    if (missing?.case === "errorResponse") expect(missing.value.errorCode).toBe(Code.NotFound);
  });

  it("should list statuses and serve GET /metrics", async () => {
    const health = createClient(Health, createConnectTransport({ baseUrl: stack.url, httpVersion: "1.1" }));
    const { statuses } = await health.list({});
    expect(Object.keys(statuses).sort()).toEqual([
      "",
      "pgsync.bridges",
      "pgsync.leases",
      "pgsync.v1.PgSyncService",
    ]);
    const metrics = await fetch(`${stack.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^pgsync_bridges\{state="LIVE"\} \d+/m);
    expect(metrics).toMatch(/^pgsync_leases_held \d+/m);
    expect(metrics).toMatch(/^pgsync_fenced_commits_total \d+/m);
    expect(metrics).toMatch(/^pgsync_changes_logged_total \d+/m);
  });
});

describe("process", () => {
  it("should stop with one clear line naming the variable on a bad configuration", async () => {
    const child = startProcess("src/main.ts", {
      ...pgSyncEnv(stack.db.url, stack.shape.url),
      PGSYNC_LISTEN: "nowhere",
    });
    expect(await child.exit()).toBe(1);
    const lines = child.output().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/PGSYNC_LISTEN/);
  });

  it("should refuse PGSYNC_INSECURE_NO_AUTH off loopback", async () => {
    const child = startProcess("src/main.ts", {
      ...pgSyncEnv(stack.db.url, stack.shape.url),
      PGSYNC_LISTEN: "0.0.0.0:0",
      PGSYNC_AUTH_TOKENS: "",
      PGSYNC_INSECURE_NO_AUTH: "1",
    });
    expect(await child.exit()).toBe(1);
    expect(child.output()).toMatch(/PGSYNC_INSECURE_NO_AUTH/);
  });

  it("should drain on SIGTERM: streams end UNAVAILABLE with a token, health goes NOT_SERVING, idle HTTP/2 sessions close, exit 0", async () => {
    const pgsync = await startPgSyncProcess(pgSyncEnv(stack.db.url, stack.shape.url));
    const transport = createConnectTransport({
      baseUrl: pgsync.url,
      httpVersion: "2",
      interceptors: [bearer(TOKENS.a)],
    });
    const client = createClient(PgSyncService, transport);
    // An idle HTTP/2 session: one call, then nothing.
    const { sourceRef } = await client.registerSource({ options: { table: "widgets", where: "id > 2" } });
    const watchFrames: string[] = [];
    let watchError: ConnectError | undefined;
    const watching = (async () => {
      try {
        for await (const f of client.watchWakes({ sourceRefs: [sourceRef] }))
          watchFrames.push(f.event.case ?? "");
      } catch (err) {
        watchError = ConnectError.from(err);
      }
    })();
    const statuses: HealthCheckResponse_ServingStatus[] = [];
    const health = createClient(Health, transport);
    const healthWatch = (async () => {
      try {
        for await (const r of health.watch({ service: "" })) statuses.push(r.status);
      } catch {
        // ends with the server
      }
    })();
    await waitFor(() => watchFrames.includes("ready") && statuses.length > 0, {
      what: "Ready and a health status",
    });
    expect(statuses[0]).toBe(HealthCheckResponse_ServingStatus.SERVING);

    pgsync.child.process.kill("SIGTERM");
    const code = await Promise.race([
      pgsync.child.exit(),
      new Promise<"hung">((r) => setTimeout(() => r("hung"), 10_000).unref()),
    ]);
    expect(code).toBe(0);
    await watching;
    await healthWatch;
    expect(watchError?.code).toBe(Code.Unavailable);
    expect(watchError?.metadata.get("pgsync-resume-token")).toBeTruthy();
    expect(statuses).toContain(HealthCheckResponse_ServingStatus.NOT_SERVING);
  });
});

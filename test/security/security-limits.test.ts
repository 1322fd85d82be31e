/**
 * Issue 12 findings 2, 8 and 9 against a real pg-sync process: credentials are checked before a
 * body is read, request and decompression limits hold, memory (RSS from /proc) stays within
 * {@link RSS_GROWTH_BOUND_BYTES} of its level before the attack, JWTs need `exp` and a sane
 * tenant, HTTP/2 and health-watch limits apply.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { createGzip } from "node:zlib";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { type Child, pgSyncEnv, startPgSyncProcess, TOKENS } from "../../scripts/lib/processes.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { connectClient } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

const MB = 1024 * 1024;
/** How much the server's RSS may grow while it refuses an attack (the old code grew ~430-500 MB). */
const RSS_GROWTH_BOUND_BYTES = 64 * MB;
/** How fast a refusal must come. */
const REFUSAL_DEADLINE_MS = 5_000;
const JWT_SECRET = "a-test-secret-that-is-long-enough-for-hs256!";
const REGISTER_PATH = "/pgsync.v1.PgSyncService/RegisterSource";

let db: TestDatabase;
let server: { child: Child; url: string };

function rssBytes(): number {
  const status = readFileSync(`/proc/${server.child.process.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}

/** Runs `attack` while sampling the server's RSS; returns its result and the peak growth. */
async function measured<T>(attack: () => Promise<T>): Promise<{ result: T; growth: number; ms: number }> {
  const before = rssBytes();
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes());
  }, 10);
  const started = Date.now();
  try {
    const result = await attack();
    return { result, growth: Math.max(peak, rssBytes()) - before, ms: Date.now() - started };
  } finally {
    clearInterval(sampler);
  }
}

/** POSTs `total` bytes over HTTP/1.1 (chunks of `chunk`), stopping when the response arrives. */
function postHuge(headers: Record<string, string>, chunk: Buffer, total: number) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    let answered = false;
    const req = http.request(`${server.url}${REGISTER_PATH}`, {
      method: "POST",
      headers: { ...headers, "content-length": String(total) },
    });
    req.on("response", (res) => {
      answered = true;
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", (err) => {
      if (!answered) reject(err);
    });
    let sent = 0;
    const pump = () => {
      while (sent < total && !answered && !req.destroyed) {
        const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
        sent += part.length;
        if (!req.write(part)) {
          req.once("drain", pump);
          return;
        }
      }
      if (sent >= total) req.end();
    };
    pump();
  });
}

/** A gzip body of `inflated` zero bytes (about 1000:1). */
async function gzipBomb(inflated: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gzip.on("data", (c: Buffer) => parts.push(c));
  const done = new Promise((r) => gzip.on("end", r));
  const zeros = Buffer.alloc(MB);
  for (let i = 0; i < inflated / MB; i++)
    if (!gzip.write(zeros)) await new Promise((r) => gzip.once("drain", r));
  gzip.end();
  await done;
  return Buffer.concat(parts);
}

function jwt(
  claims: Record<string, unknown>,
  build: (j: SignJWT) => SignJWT = (j) => j.setExpirationTime("5m"),
) {
  return build(new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt()).sign(
    new TextEncoder().encode(JWT_SECRET),
  );
}

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

beforeAll(async () => {
  db = await createTestDatabase("security_limits");
  server = await startPgSyncProcess(
    pgSyncEnv(db.url, "http://127.0.0.1:9/v1/shape", 0, {
      PGSYNC_JWT_SECRET: JWT_SECRET,
      PGSYNC_MAX_HEALTH_WATCHES: "2",
      PGSYNC_H2_MAX_CONCURRENT_STREAMS: "7",
      PGSYNC_IDLE_CONNECTION_TIMEOUT_MS: "500",
      PGSYNC_JWT_MAX_LIFETIME_MS: "3600000",
    }),
  );
  // Warm up (JIT, pools) so the baseline is the serving process.
  await codeOf(connectClient(server.url, TOKENS.a).getSource({ sourceRef: "0123456789abcdef" }));
});

afterAll(async () => {
  const exitCode = server?.child.process.exitCode;
  await server?.child.stop("SIGTERM");
  await db?.drop();
  expect(exitCode, "the server stayed up through every attack").toBeNull();
});

describe("limits before work", () => {
  it("should refuse a 200 MB unauthenticated Connect body with 401 UNAUTHENTICATED quickly, RSS bounded", async () => {
    const { result, growth, ms } = await measured(() =>
      postHuge({ "content-type": "application/json" }, Buffer.alloc(MB, 0x20), 200 * MB),
    );
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body)).toMatchObject({ code: "unauthenticated" });
    expect(ms).toBeLessThan(REFUSAL_DEADLINE_MS);
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND_BYTES);
  });

  it("should refuse a 200 MB unauthenticated gRPC body over HTTP/2 with grpc-status 16 quickly", async () => {
    const session = http2.connect(server.url);
    try {
      const { result, growth, ms } = await measured(
        () =>
          new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
            const stream = session.request({
              ":method": "POST",
              ":path": REGISTER_PATH,
              "content-type": "application/grpc",
              te: "trailers",
            });
            stream.on("response", resolve);
            stream.on("error", reject);
            const chunk = Buffer.alloc(MB);
            let sent = 0;
            const pump = () => {
              while (sent < 200 * MB && !stream.destroyed) {
                sent += MB;
                if (!stream.write(chunk)) return void stream.once("drain", pump);
              }
            };
            pump();
          }),
      );
      expect(result["grpc-status"]).toBe("16");
      expect(ms).toBeLessThan(REFUSAL_DEADLINE_MS);
      expect(growth).toBeLessThan(RSS_GROWTH_BOUND_BYTES);
    } finally {
      session.destroy();
    }
  });

  it("should refuse a gzip bomb: UNAUTHENTICATED without credentials, bounded by the request limit with them", async () => {
    const bomb = await gzipBomb(300 * MB);
    expect(bomb.length).toBeLessThan(400 * 1024);
    const headers = { "content-type": "application/json", "content-encoding": "gzip" };
    const anonymous = await measured(() => postHuge(headers, bomb, bomb.length));
    expect(anonymous.result.status).toBe(401);
    expect(anonymous.growth).toBeLessThan(RSS_GROWTH_BOUND_BYTES);
    const authed = await measured(() =>
      postHuge({ ...headers, authorization: `Bearer ${TOKENS.a}` }, bomb, bomb.length),
    );
    expect(authed.result.status).not.toBe(200);
    expect(JSON.parse(authed.result.body).code).toMatch(/resource_exhausted|invalid_argument/);
    expect(authed.ms).toBeLessThan(REFUSAL_DEADLINE_MS);
    expect(authed.growth).toBeLessThan(RSS_GROWTH_BOUND_BYTES);
  });

  it("should advertise the HTTP/2 stream limit and close idle HTTP/2 connections", async () => {
    const session = http2.connect(server.url);
    const settings = await new Promise<http2.Settings>((r) => session.once("remoteSettings", r));
    expect(settings.maxConcurrentStreams).toBe(7);
    await waitFor(() => session.closed || session.destroyed, {
      what: "idle session closed",
      timeoutMs: 5_000,
    });
  });

  it("should cap unauthenticated Health.Watch streams and free a slot when one ends", async () => {
    const health = createClient(Health, createConnectTransport({ baseUrl: server.url, httpVersion: "2" }));
    const aborters = [new AbortController(), new AbortController()];
    const open = aborters.map((a) =>
      health.watch({ service: "" }, { signal: a.signal })[Symbol.asyncIterator](),
    );
    for (const it of open) await it.next();
    const third = async () => {
      for await (const _ of health.watch({ service: "" })) return;
    };
    expect(await codeOf(third())).toBe(Code.ResourceExhausted);
    aborters[0]?.abort();
    await waitFor(async () => (await codeOf(third())) === "ok", { what: "a free health watch slot" });
    aborters[1]?.abort();
  });
});

describe("JWT", () => {
  const call = async (token: string) =>
    codeOf(connectClient(server.url, token).getSource({ sourceRef: "0123456789abcdef" }));

  it("should accept a well-formed token (control)", async () => {
    expect(await call(await jwt({ tenant: "tenant-a" }))).toBe(Code.NotFound);
  });

  it("should refuse a token without exp, or living longer than the maximum", async () => {
    expect(await call(await jwt({ tenant: "tenant-a" }, (j) => j))).toBe(Code.Unauthenticated);
    expect(await call(await jwt({ tenant: "tenant-a" }, (j) => j.setExpirationTime("2h")))).toBe(
      Code.Unauthenticated,
    );
  });

  it("should refuse tenant claims with NUL, 8 KB or outside the charset with UNAUTHENTICATED, not INTERNAL", async () => {
    for (const tenant of ["a\u0000b", "x".repeat(8192), "ténant", "a b"]) {
      expect(await call(await jwt({ tenant })), JSON.stringify(tenant.slice(0, 10))).toBe(
        Code.Unauthenticated,
      );
    }
  });
});

/**
 * Issue 12 finding 7: per-tenant quotas refuse with RESOURCE_EXHAUSTED and an ErrorInfo reason at
 * their limit, leave other tenants alone, and recover below it. (Recovery of the registration
 * rate over time is in security-policy-rules.test.ts, with a fake clock.)
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { type Stack, startStack } from "../support/stack-fixture.js";

let stack: Stack;

async function refusal(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    const info = e.findDetails(ErrorInfoSchema)[0];
    return { code: e.code, reason: info?.reason, metadata: info?.metadata ?? {} };
  }
  throw new Error("expected a refusal");
}

async function sourceRows(): Promise<number> {
  const { rows } = await stack.server.pool.query<{ n: string }>("SELECT count(*) AS n FROM pgsync.sources");
  return Number(rows[0]?.n);
}

const options = (n: number, pad = 0) => ({
  table: "items",
  metadata: { n: String(n), pad: "x".repeat(pad) },
});

beforeAll(async () => {
  stack = await startStack({ env: { PGSYNC_MAX_SOURCES_PER_TENANT: "2" } });
  await stack.sql.query("CREATE TABLE items (id int PRIMARY KEY)");
});

afterAll(async () => {
  await stack?.close();
});

describe("quotas", () => {
  it("should refuse a tenant's source over the limit, store nothing, and recover after a delete", async () => {
    const first = await stack.a.registerSource({ options: options(1) });
    await stack.a.registerSource({ options: options(2) });
    const before = await sourceRows();
    expect(await refusal(stack.a.registerSource({ options: options(3) }))).toMatchObject({
      code: Code.ResourceExhausted,
      reason: "SOURCE_QUOTA_EXCEEDED",
      metadata: { limit: "2" },
    });
    expect(await sourceRows()).toBe(before);
    // Re-registering an existing source and other tenants are unaffected.
    expect((await stack.a.registerSource({ options: options(1) })).created).toBe(false);
    expect((await stack.b.registerSource({ options: options(3) })).created).toBe(true);
    await stack.a.deleteSource({ sourceRef: first.sourceRef });
    expect((await stack.a.registerSource({ options: options(3) })).created).toBe(true);
  });

  it("should refuse RegisterSource calls over the per-minute rate with a retry hint", async () => {
    await stack.restart({ PGSYNC_MAX_REGISTRATIONS_PER_MINUTE: "3", PGSYNC_MAX_SOURCES_PER_TENANT: "100" });
    for (let i = 0; i < 3; i++) await stack.a.registerSource({ options: options(10) });
    const r = await refusal(stack.a.registerSource({ options: options(10) }));
    expect(r).toMatchObject({ code: Code.ResourceExhausted, reason: "REGISTRATION_RATE_EXCEEDED" });
    expect(Number(r.metadata.retry_after_ms)).toBeGreaterThan(0);
    expect((await stack.b.registerSource({ options: options(10) })).sourceRef).toMatch(/^[0-9a-f]{16}$/);
  });

  it("should cut ListSources pages to the byte limit, continue with the token, and refuse one source over it", async () => {
    await stack.restart({ PGSYNC_LIST_MAX_RESPONSE_BYTES: "2048", PGSYNC_MAX_SOURCES_PER_TENANT: "100" });
    const refs = new Set<string>();
    for (let i = 20; i < 26; i++)
      refs.add((await stack.b.registerSource({ options: options(i, 600) })).sourceRef);
    const { rows } = await stack.server.pool.query<{ source_ref: string }>(
      "SELECT source_ref FROM pgsync.sources WHERE tenant = 'tenant-b'",
    );
    for (const row of rows) refs.add(row.source_ref);
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await stack.b.listSources({ pageSize: 1000, pageToken: token });
      expect(page.sources.length).toBeGreaterThan(0);
      seen.push(...page.sources.map((s) => s.sourceRef));
      token = page.nextPageToken;
      pages++;
    } while (token);
    expect(pages).toBeGreaterThan(1);
    expect(new Set(seen)).toEqual(refs);

    const huge = await stack.b.registerSource({
      options: { table: "items", metadata: { a: "y".repeat(1000), b: "z".repeat(1000) } },
    });
    const refused = await waitForRefusal(huge.sourceRef);
    expect(refused).toMatchObject({ code: Code.ResourceExhausted, reason: "RESPONSE_TOO_LARGE" });
    await stack.b.deleteSource({ sourceRef: huge.sourceRef });
    await listAll();
  });
});

/** Lists page by page until the page that starts with `ref` is refused. */
async function waitForRefusal(ref: string) {
  let token = "";
  for (;;) {
    try {
      const page = await stack.b.listSources({ pageSize: 1000, pageToken: token });
      if (page.sources.some((s) => s.sourceRef === ref) || !page.nextPageToken)
        throw new Error(`${ref} listed`);
      token = page.nextPageToken;
    } catch (err) {
      if (err instanceof ConnectError) return refusal(Promise.reject(err));
      throw err;
    }
  }
}

async function listAll(): Promise<void> {
  let token = "";
  do token = (await stack.b.listSources({ pageSize: 1000, pageToken: token })).nextPageToken;
  while (token);
}

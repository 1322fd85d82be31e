import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WatchWakesResponse } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { type PgSyncClient, type Stack, startStack } from "../support/stack-fixture.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PGSYNC_MAX_STREAMS_PER_TENANT: "2" } });
  await stack.sql.query("CREATE TABLE limited (id int PRIMARY KEY)");
});

afterAll(async () => {
  await stack?.close();
});

/** Opens a stream and returns its first frame (or error) and a way to cancel it. */
async function open(client: PgSyncClient, sourceRef: string) {
  const aborter = new AbortController();
  const it = client
    .watchWakes({ sourceRefs: [sourceRef] }, { signal: aborter.signal })
    [Symbol.asyncIterator]();
  let first: WatchWakesResponse | ConnectError;
  try {
    first = (await it.next()).value as WatchWakesResponse;
  } catch (err) {
    first = ConnectError.from(err);
  }
  return { first, cancel: () => aborter.abort() };
}

describe("open streams per tenant", () => {
  it("should refuse a tenant's stream over its limit with RESOURCE_EXHAUSTED, leave other tenants alone, and free the slot on cancel", async () => {
    const refA = (await stack.a.registerSource({ options: { table: "limited" } })).sourceRef;
    const refB = (await stack.b.registerSource({ options: { table: "limited" } })).sourceRef;
    const s1 = await open(stack.a, refA);
    const s2 = await open(stack.a, refA);
    expect(s1.first).not.toBeInstanceOf(ConnectError);
    expect(s2.first).not.toBeInstanceOf(ConnectError);
    const s3 = await open(stack.a, refA);
    expect(s3.first).toBeInstanceOf(ConnectError);
    expect((s3.first as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((s3.first as ConnectError).rawMessage).toMatch(/stream/i);
    const other = await open(stack.b, refB);
    expect(other.first).not.toBeInstanceOf(ConnectError);
    s1.cancel();
    let s4: Awaited<ReturnType<typeof open>> | undefined;
    const deadline = Date.now() + 10_000;
    // The slot is released when the server sees the cancel: retry until it does (with a deadline).
    while (Date.now() < deadline) {
      s4 = await open(stack.a, refA);
      if (!(s4.first instanceof ConnectError)) break;
      s4.cancel();
    }
    expect(s4?.first).not.toBeInstanceOf(ConnectError);
    for (const s of [s2, other, s4]) s?.cancel();
  });
});

/**
 * Issue 12 finding 1, end to end: reserved schemas are never observable, the policy file decides
 * tables and columns per tenant, and its row filter really restricts the wakes (real Postgres,
 * the bundled shape server, pg-sync in process).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { WatchWakesResponse } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { StartPosition } from "../../gen/pgsync/v1/wake_pb.js";
import { sourceRefFor } from "../../src/domain/source-ref.js";
import { connectClient, type PgSyncClient, type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

const JWT_SECRET = "a-test-secret-that-is-long-enough-for-hs256!";
const POLICY = `
tenants:
  - tenant: "org-*"
    tables:
      - table: public.items
        row_filter: "org = $claim.org"
      - table: public.notes
        columns: [id, body]
  - tenant: tenant-a
    tables:
      - table: public.items
`;

let stack: Stack;
let clean: Stack;

async function refusal(
  p: Promise<unknown>,
): Promise<{ code: Code; reason: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, reason: e.findDetails(ErrorInfoSchema)[0]?.reason, message: e.rawMessage };
  }
  throw new Error("expected a refusal");
}

function jwtClient(url: string, tenant: string, claims: Record<string, unknown>): Promise<PgSyncClient> {
  return new SignJWT({ tenant, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(JWT_SECRET))
    .then((token) => connectClient(url, token));
}

async function sourceRows(s: Stack): Promise<number> {
  const { rows } = await s.server.pool.query<{ n: string }>("SELECT count(*) AS n FROM pgsync.sources");
  return Number(rows[0]?.n);
}

beforeAll(async () => {
  const file = join(mkdtempSync(join(tmpdir(), "pgsync-policy-")), "policy.yaml");
  writeFileSync(file, POLICY);
  [stack, clean] = await Promise.all([
    startStack({ env: { PGSYNC_POLICY_FILE: file, PGSYNC_JWT_SECRET: JWT_SECRET } }),
    startStack(),
  ]);
  for (const s of [stack, clean]) {
    await s.sql.query("CREATE TABLE items (id int PRIMARY KEY, org text NOT NULL, v int)");
    await s.sql.query("CREATE TABLE notes (id int PRIMARY KEY, body text, secret text)");
  }
});

afterAll(async () => {
  await Promise.all([stack?.close(), clean?.close()]);
});

describe("without a policy file", () => {
  it("should refuse pg-sync's own tables and the catalogs with PERMISSION_DENIED naming the table, storing nothing", async () => {
    const before = await sourceRows(clean);
    for (const table of [
      "pgsync.changes",
      "pgsync.sources",
      "PgSync.Cursors",
      '"pgsync"."changes"',
      "electric_shapes.shapes",
      "pg_catalog.pg_authid",
      "information_schema.tables",
    ]) {
      const r = await refusal(clean.a.registerSource({ options: { table, replica: 2 } }));
      expect(r, table).toMatchObject({ code: Code.PermissionDenied, reason: "TABLE_NOT_ALLOWED" });
      expect(r.message).toContain(table);
    }
    expect(await sourceRows(clean)).toBe(before);
  });

  it("should let any tenant observe an ordinary table, with the upstream ref", async () => {
    const options = { table: "public.items" };
    const res = await clean.b.registerSource({ options });
    expect(res.sourceRef).toBe(sourceRefFor(options));
  });
});

describe("with a policy file", () => {
  it("should refuse tables and columns the policy does not allow, naming them", async () => {
    const denied = await refusal(stack.b.registerSource({ options: { table: "items" } }));
    expect(denied).toMatchObject({ code: Code.PermissionDenied, reason: "TABLE_NOT_ALLOWED" });
    expect(denied.message).toContain("items");
    const org = await jwtClient(stack.url, "org-1", { org: "o1" });
    expect(await refusal(org.registerSource({ options: { table: "notes" } }))).toMatchObject({
      code: Code.PermissionDenied,
      reason: "COLUMN_NOT_ALLOWED",
    });
    expect(
      await refusal(org.registerSource({ options: { table: "notes", columns: ["id", "secret"] } })),
    ).toMatchObject({ code: Code.PermissionDenied, reason: "COLUMN_NOT_ALLOWED" });
    const noClaim = await jwtClient(stack.url, "org-2", {});
    expect(await refusal(noClaim.registerSource({ options: { table: "items" } }))).toMatchObject({
      code: Code.PermissionDenied,
      reason: "POLICY_CLAIM_MISSING",
    });
    expect(await sourceRows(stack)).toBe(0);
  });

  it("should keep the upstream ref for a tenant the policy does not filter", async () => {
    const options = { table: "public.items", where: "v > 0" };
    const res = await stack.a.registerSource({ options });
    expect(res.sourceRef).toBe(sourceRefFor(options));
  });

  it("should deliver only the rows the forced filter allows, and hide the source from other claims", async () => {
    const o1 = await jwtClient(stack.url, "org-x", { org: "o1" });
    const o2 = await jwtClient(stack.url, "org-x", { org: "o2" });
    const res = await o1.registerSource({ options: { table: "items" } });
    expect(res.sourceRef).not.toBe(sourceRefFor({ table: "items" }));
    expect(res.source?.options?.where).toBe("org = $1");
    expect(await refusal(o2.getSource({ sourceRef: res.sourceRef }))).toMatchObject({ code: Code.NotFound });
    expect(
      await refusal(
        (async () => {
          for await (const _ of o2.watchWakes({ sourceRefs: [res.sourceRef] })) return;
        })(),
      ),
    ).toMatchObject({ code: Code.NotFound });
    expect((await o2.listSources({})).sources).toHaveLength(0);

    const aborter = new AbortController();
    const frames: WatchWakesResponse[] = [];
    const reading = (async () => {
      for await (const f of o1.watchWakes(
        { sourceRefs: [res.sourceRef], start: { case: "startPosition", value: StartPosition.EARLIEST } },
        { signal: aborter.signal },
      ))
        frames.push(f);
    })().catch(() => {});
    await stack.sql.query("INSERT INTO items VALUES (1, 'o2', 1), (2, 'o1', 2), (3, 'o2', 3), (4, 'o1', 4)");
    const keys = () =>
      frames.flatMap((f) => (f.event.case === "wake" ? f.event.value.changes.map((c) => c.value) : []));
    await waitFor(() => keys().length >= 2, { what: "o1's two rows" });
    await stack.sql.query("INSERT INTO items VALUES (5, 'o1', 5)");
    await waitFor(() => keys().length >= 3, { what: "o1's third row" });
    aborter.abort();
    await reading;
    const orgs = keys().map((v) => (v as { org: string }).org);
    expect(orgs).toEqual(["o1", "o1", "o1"]);
  });

  it("should refuse a where that could escape the forced filter's parentheses", async () => {
    const o1 = await jwtClient(stack.url, "org-x", { org: "o1" });
    expect(
      await refusal(o1.registerSource({ options: { table: "items", where: "true) OR (true" } })),
    ).toMatchObject({
      code: Code.InvalidArgument,
      reason: "INVALID_SOURCE_OPTIONS",
    });
  });
});

import { describe, expect, it } from "vitest";
import {
  ColumnNotAllowedError,
  InvalidSourceOptionsError,
  PolicyClaimMissingError,
  SourceNotFoundError,
  TableNotAllowedError,
} from "../../src/domain/errors.js";
import { authorizeSource, checkSourceAccess, type Policy } from "../../src/domain/policy.js";
import { TenantRateLimiter } from "../../src/domain/rate-limiter.js";
import { isReservedSchema, parseRelation } from "../../src/domain/relation.js";
import { unsafeWhereProblem } from "../../src/domain/row-filter.js";
import { sourceRefFor } from "../../src/domain/source-ref.js";
import { tenantProblem } from "../../src/domain/tenant.js";
import { PolicyFileError, parsePolicy } from "../../src/policy-file.js";

const caller = (tenant: string, claims: Record<string, unknown> = {}) => ({ tenant, claims });

const POLICY = parsePolicy(
  `# test policy
tenants:
  - tenant: "acme-*"
    tables:
      - table: public.items
        row_filter: "org = $claim.org AND owner <> $tenant"
      - table: public.notes
        columns: [id, body]
      - table: '"Reports".*'
  - tenant: solo
    tables:
      - table: items
`,
  "policy.yaml",
);

describe("table names (quoting and case)", () => {
  it("should fold unquoted names and keep quoted ones, defaulting to public", () => {
    expect(parseRelation("PGSYNC.Changes")).toEqual({ schema: "pgsync", table: "changes" });
    expect(parseRelation('"PgSync".x')).toEqual({ schema: "PgSync", table: "x" });
    expect(parseRelation('"a""b"."T"')).toEqual({ schema: 'a"b', table: "T" });
    expect(parseRelation("changes")).toEqual({ schema: "public", table: "changes" });
    expect(parseRelation('"unterminated')).toBeUndefined();
    expect(parseRelation("a.b.c")).toBeUndefined();
  });

  it("should reserve pg-sync's, the shape server's and the catalogs' schemas", () => {
    for (const s of [
      "pgsync",
      "electric_shapes",
      "pg_catalog",
      "pg_toast",
      "pg_temp_3",
      "information_schema",
    ]) {
      expect(isReservedSchema(s), s).toBe(true);
    }
    for (const s of ["public", "PgSync", "pgsync2", "app"]) expect(isReservedSchema(s), s).toBe(false);
  });
});

describe("authorizeSource", () => {
  it("should refuse pg-sync's own tables without a policy, however they are spelled", () => {
    for (const table of [
      "pgsync.changes",
      "pgsync.sources",
      "PGSYNC.CHANGES",
      '"pgsync"."sources"',
      "pg_catalog.pg_authid",
      "electric_shapes.shapes",
    ]) {
      expect(() => authorizeSource(undefined, caller("t"), { table }), table).toThrow(TableNotAllowedError);
    }
  });

  it("should leave an unrestricted tenant's options (and so its upstream ref) untouched", () => {
    const options = { table: "public.changes", where: "id > $1", params: ["3"] };
    const result = authorizeSource(undefined, caller("t"), options);
    expect(result).toEqual({ options, accessKey: undefined });
    expect(sourceRefFor(result.options)).toBe(sourceRefFor(options));
    const quoted = authorizeSource(undefined, caller("t"), { table: '"PgSync".x' });
    expect(quoted.options.table).toBe('"PgSync".x');
  });

  it("should allow only the policy's tables, by tenant name or glob, naming the table", () => {
    expect(() => authorizeSource(POLICY, caller("other"), { table: "items" })).toThrow(
      /items is not allowed/,
    );
    expect(() => authorizeSource(POLICY, caller("solo"), { table: "public.notes" })).toThrow(
      TableNotAllowedError,
    );
    expect(authorizeSource(POLICY, caller("solo"), { table: "ITEMS" }).accessKey).toBeUndefined();
    expect(authorizeSource(POLICY, caller("acme-1"), { table: '"Reports".daily' }).accessKey).toBeUndefined();
    expect(() => authorizeSource(POLICY, caller("acme-1"), { table: "reports.daily" })).toThrow(
      TableNotAllowedError,
    );
  });

  it("should allow only the policy's columns, and require a column list", () => {
    expect(() => authorizeSource(POLICY, caller("acme-1"), { table: "notes" })).toThrow(
      ColumnNotAllowedError,
    );
    expect(() =>
      authorizeSource(POLICY, caller("acme-1"), { table: "notes", columns: ["id", "secret"] }),
    ).toThrow(/options.columns\[1\]: column "secret"/);
    expect(
      authorizeSource(POLICY, caller("acme-1"), { table: "notes", columns: ["id"] }).options.columns,
    ).toEqual(["id"]);
  });

  it("should AND the bound row filter in as params numbered after the caller's", () => {
    const bound = authorizeSource(POLICY, caller("acme-1", { org: "o1" }), {
      table: "items",
      where: "v > $1",
      params: ["5"],
    });
    expect(bound.options.where).toBe("(org = $2 AND owner <> $3) AND (v > $1)");
    expect(bound.options.params).toEqual(["5", "o1", "acme-1"]);
    const named = authorizeSource(POLICY, caller("acme-1", { org: 7 }), {
      table: "items",
      params: { "4": "x" },
    });
    expect(named.options.params).toEqual({ "4": "x", "5": "7", "6": "acme-1" });
    const alone = authorizeSource(POLICY, caller("acme-1", { org: "o1" }), { table: "items" });
    expect(alone.options).toMatchObject({ where: "org = $1 AND owner <> $2", params: ["o1", "acme-1"] });
    // Claim values never reach the SQL text.
    const hostile = authorizeSource(POLICY, caller("acme-1", { org: "x' OR true --" }), { table: "items" });
    expect(hostile.options.where).toBe("org = $1 AND owner <> $2");
  });

  it("should refuse a caller without the claim, and a where that could escape the parentheses", () => {
    expect(() => authorizeSource(POLICY, caller("acme-1"), { table: "items" })).toThrow(
      PolicyClaimMissingError,
    );
    for (const where of [
      "true) OR (true",
      "true --",
      "true /*",
      "x = 'a",
      "x = $$a$$",
      "1=1; select 1",
      "(true",
    ]) {
      expect(
        () => authorizeSource(POLICY, caller("acme-1", { org: "o1" }), { table: "items", where }),
        where,
      ).toThrow(InvalidSourceOptionsError);
    }
    expect(unsafeWhereProblem("name = 'it''s (' AND \"we)ird\" = E'\\'' AND (a OR b)")).toBeUndefined();
  });

  it("should refuse reads by a caller of the same tenant whose bound filter differs", () => {
    const o1 = caller("acme-1", { org: "o1" });
    const { options, accessKey } = authorizeSource(POLICY, o1, { table: "items" });
    const stored = { sourceRef: sourceRefFor(options), options, accessKey };
    expect(() => checkSourceAccess(POLICY, o1, stored)).not.toThrow();
    expect(() => checkSourceAccess(POLICY, caller("acme-1", { org: "o2" }), stored)).toThrow(
      SourceNotFoundError,
    );
    const revoked: Policy = { tenants: [] };
    expect(() => checkSourceAccess(revoked, o1, stored)).toThrow(TableNotAllowedError);
  });
});

describe("policy file", () => {
  const bad = (text: string) => {
    try {
      parsePolicy(text, "p.yaml");
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyFileError);
      return (err as Error).message;
    }
    throw new Error("accepted");
  };

  it("should name the line of every kind of mistake", () => {
    expect(
      bad("tenants:\n  - tenant: a\n    tables:\n      - table: public.x\n        colums: [a]\n"),
    ).toMatch(/^p.yaml:4: .*colums/);
    expect(bad("tenants:\n  - tenant: a\n    tables:\n      - table: pgsync.changes\n")).toMatch(
      /^p.yaml:4: .*reserved/,
    );
    expect(
      bad("tenants:\n  - tenant: a\n    tables:\n      - table: x\n        row_filter: org = $claims\n"),
    ).toMatch(/^p.yaml:5: .*\$tenant and \$claim/);
    expect(
      bad('tenants:\n  - tenant: a\n    tables:\n      - table: x\n\n        row_filter: "a = $1"\n'),
    ).toMatch(/^p.yaml:6:/);
    expect(bad("tenants: [\n")).toMatch(/^p.yaml:\d+:/);
    expect(bad('{"tenants": [\n {"tenant": "a",\n  "tables": [{"table": 5}]}]}')).toMatch(/^p.yaml:3:/);
  });

  it("should read JSON as well as YAML", () => {
    const policy = parsePolicy('{"tenants": [{"tenant": "a", "tables": [{"table": "public.t"}]}]}', "p.json");
    expect(policy.tenants[0]?.matches("a")).toBe(true);
  });
});

describe("tenant names", () => {
  it("should accept ordinary names and refuse NUL, long and non-ASCII ones", () => {
    for (const t of ["tenant-a", "default", "auth0|123", "a@b.com"])
      expect(tenantProblem(t), t).toBeUndefined();
    for (const t of ["", "a\u0000b", "x".repeat(129), "ténant", "a b", "-a"])
      expect(tenantProblem(t), t).toBeDefined();
  });
});

describe("registration rate limiter", () => {
  it("should refuse at the limit and recover as time passes, per tenant", () => {
    let now = 0;
    const limiter = new TenantRateLimiter({ limit: 3, now: () => now });
    expect([limiter.take("a"), limiter.take("a"), limiter.take("a")]).toEqual([0, 0, 0]);
    expect(limiter.take("a")).toBe(20_000);
    expect(limiter.take("b")).toBe(0);
    now += 20_000;
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBeGreaterThan(0);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalJson,
  canonicalSourceOptions,
  fnv1a64,
  identityMetadata,
  isSourceRef,
  sourceRefFor,
} from "../../src/domain/source-ref.js";
import { SOURCE_REF_VECTORS } from "../support/vectors.js";

describe("source_ref", () => {
  it.each(SOURCE_REF_VECTORS.vectors.map((v) => [v.name, v] as const))(
    "should match vector: %s",
    (_name, v) => {
      expect(canonicalJson(v.options)).toBe(v.canonical);
      expect(sourceRefFor(v.options)).toBe(v.source_ref);
    },
  );

  it("should hash the empty string to the FNV-1a offset basis", () => {
    expect(fnv1a64("")).toBe(SOURCE_REF_VECTORS.empty_string_hash);
  });

  it("should hash UTF-16 code units, not UTF-8 bytes", () => {
    // U+00E9 is one code unit (0xE9) but two UTF-8 bytes; hashing bytes would differ.
    const oneUnit = fnv1a64("\u00e9");
    let h = 0xcbf29ce484222325n;
    h ^= 0xe9n;
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    expect(oneUnit).toBe(h.toString(16).padStart(16, "0"));
  });

  it("should ignore named params key order", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.integer({ min: 1, max: 500 }).map(String), fc.string({ maxLength: 8 }), {
          minKeys: 1,
          maxKeys: 8,
        }),
        (params) => {
          const reversed = Object.fromEntries(Object.entries(params).reverse());
          expect(sourceRefFor({ table: "t", params })).toBe(sourceRefFor({ table: "t", params: reversed }));
        },
      ),
    );
  });

  it("should change the ref when any identity field changes", () => {
    const base = { url: "http://a/v1/shape", table: "todos", where: "x = $1", params: ["1"] };
    const refs = new Set([
      sourceRefFor(base),
      sourceRefFor({ ...base, url: "http://b/v1/shape" }),
      sourceRefFor({ ...base, table: "todo" }),
      sourceRefFor({ ...base, where: "x = $1 " }),
      sourceRefFor({ ...base, params: ["2"] }),
      sourceRefFor({ ...base, replica: "full" as const }),
      sourceRefFor({ ...base, columns: ["id"] }),
      sourceRefFor({ ...base, metadata: { principalId: "p" } }),
    ]);
    expect(refs.size).toBe(8);
  });

  it("should ignore ephemeral metadata and keep identity metadata", () => {
    expect(identityMetadata({ wakeId: "w", runtimeConsumerId: "c", streamPath: "/s" })).toBeUndefined();
    expect(identityMetadata({ b: "2", wakeId: "w", a: "1" })).toEqual({ a: "1", b: "2" });
    expect(sourceRefFor({ table: "t", metadata: { wakeId: "w1" } })).toBe(sourceRefFor({ table: "t" }));
  });

  it("should produce canonical JSON that round-trips and a well-formed ref for any options", () => {
    const options = fc.record(
      {
        url: fc.constantFrom("http://localhost:3000/v1/shape", "https://e.example/v1/shape"),
        table: fc.string({ minLength: 1, maxLength: 20 }),
        columns: fc.array(fc.string({ minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 4 }),
        where: fc.string({ maxLength: 30 }),
        params: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
        replica: fc.constantFrom("default" as const, "full" as const),
      },
      { requiredKeys: ["table"] },
    );
    fc.assert(
      fc.property(options, (o) => {
        const json = canonicalJson(o);
        expect(JSON.parse(json)).toEqual(canonicalSourceOptions(o));
        expect(isSourceRef(sourceRefFor(o))).toBe(true);
      }),
    );
  });
});

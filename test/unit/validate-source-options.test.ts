import { describe, expect, it } from "vitest";
import { InvalidSourceOptionsError } from "../../src/domain/errors.js";
import type { SourceOptions } from "../../src/domain/source-options.js";
import { validateSourceOptions } from "../../src/domain/validate-source-options.js";

function fieldOf(options: SourceOptions): string {
  try {
    validateSourceOptions(options);
  } catch (err) {
    if (err instanceof InvalidSourceOptionsError) return err.field;
    throw err;
  }
  throw new Error("expected a validation error");
}

describe("validateSourceOptions", () => {
  it.each([["todos"], ["public.todos"], ['"My Schema"."Todo Items"'], ['"weird""quote"'], ["tâches"]])(
    "should accept table %s",
    (table) => {
      expect(validateSourceOptions({ table })).toEqual({ table });
    },
  );

  it.each<[string, SourceOptions, string]>([
    ["blank table", { table: "  " }, "options.table"],
    ["table with spaces", { table: "my table" }, "options.table"],
    ["table with semicolon", { table: "t; drop table x" }, "options.table"],
    ["too long table", { table: "t".repeat(300) }, "options.table"],
    ["postgres url", { table: "t", url: "postgres://u@h/db" }, "options.url"],
    ["ftp url", { table: "t", url: "ftp://h/x" }, "options.url"],
    ["not a url", { table: "t", url: "nope" }, "options.url"],
    ["url with credentials", { table: "t", url: "http://u:p@h/v1/shape" }, "options.url"],
    ["blank column", { table: "t", columns: ["id", " "] }, "options.columns[1]"],
    ["repeated column", { table: "t", columns: ["id", "id"] }, "options.columns[1]"],
    ["blank where", { table: "t", where: "" }, "options.where"],
    ["NUL in where", { table: "t", where: "a\u0000" }, "options.where"],
    ["param key zero", { table: "t", params: { "0": "x" } }, 'options.named_params.values["0"]'],
    [
      "param key with leading zero",
      { table: "t", params: { "01": "x" } },
      'options.named_params.values["01"]',
    ],
    ["param key not a number", { table: "t", params: { a: "x" } }, 'options.named_params.values["a"]'],
    [
      "too many params",
      { table: "t", params: Array.from({ length: 101 }, () => "x") },
      "options.positional_params.values",
    ],
    ["huge param", { table: "t", params: ["x".repeat(9000)] }, "options.positional_params.values[0]"],
    [
      "too many metadata",
      { table: "t", metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])) },
      "options.metadata",
    ],
    ["blank metadata key", { table: "t", metadata: { " ": "v" } }, 'options.metadata[" "]'],
  ])("should reject %s naming the field", (_name, options, field) => {
    expect(fieldOf(options)).toBe(field);
  });

  it("should name the field in the message", () => {
    expect(() => validateSourceOptions({ table: "t", columns: ["a", ""] })).toThrow(
      /^options\.columns\[1\]: /,
    );
  });

  it("should accept blank param values (they are data)", () => {
    expect(() => validateSourceOptions({ table: "t", where: "a = $1", params: [""] })).not.toThrow();
  });
});

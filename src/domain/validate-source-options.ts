import { InvalidSourceOptionsError } from "./errors.js";
import { SOURCE_LIMITS } from "./limits.js";
import type { SourceOptions } from "./source-options.js";

const IDENT_UNQUOTED = String.raw`[\p{L}_][\p{L}\p{N}_$]*`;
const IDENT_QUOTED = String.raw`"(?:[^"]|"")+"`;
const IDENT = `(?:${IDENT_UNQUOTED}|${IDENT_QUOTED})`;
/** `name`, `schema.name`, with either part quoted. */
const TABLE_PATTERN = new RegExp(`^${IDENT}(?:\\.${IDENT})?$`, "u");
const PARAM_KEY_PATTERN = /^[1-9][0-9]*$/;

function fail(field: string, problem: string): never {
  throw new InvalidSourceOptionsError(field, problem);
}

function checkText(field: string, value: string, maxChars: number, { allowBlank = false } = {}): void {
  if (!allowBlank && value.trim() === "") fail(field, "must not be blank");
  if (value.length > maxChars) fail(field, `must be at most ${maxChars} characters (got ${value.length})`);
  if (value.includes("\u0000")) fail(field, "must not contain NUL characters");
}

function checkUrl(url: string): void {
  const field = "options.url";
  checkText(field, url, SOURCE_LIMITS.urlMaxChars);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(
      field,
      "is not a valid URL; expected an Electric shape endpoint such as http://localhost:3000/v1/shape",
    );
  }
  if (parsed.protocol === "postgres:" || parsed.protocol === "postgresql:") {
    fail(field, "must be an HTTP(S) Electric shape endpoint, not a database connection string");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    fail(field, `must be an http or https URL (got ${parsed.protocol.replace(/:$/, "")})`);
  }
  if (parsed.username || parsed.password) fail(field, "must not embed credentials");
  if (parsed.hash) fail(field, "must not have a #fragment");
}

function checkParams(params: NonNullable<SourceOptions["params"]>): void {
  if (Array.isArray(params)) {
    const list = params as readonly string[];
    if (list.length > SOURCE_LIMITS.paramsMaxCount) {
      fail(
        "options.positional_params.values",
        `at most ${SOURCE_LIMITS.paramsMaxCount} values (got ${list.length})`,
      );
    }
    list.forEach((v, i) => {
      checkText(`options.positional_params.values[${i}]`, v, SOURCE_LIMITS.paramValueMaxChars, {
        allowBlank: true,
      });
    });
    return;
  }
  const named = params as Readonly<Record<string, string>>;
  const keys = Object.keys(named);
  if (keys.length > SOURCE_LIMITS.paramsMaxCount) {
    fail(
      "options.named_params.values",
      `at most ${SOURCE_LIMITS.paramsMaxCount} entries (got ${keys.length})`,
    );
  }
  for (const key of keys) {
    const field = `options.named_params.values[${JSON.stringify(key)}]`;
    if (!PARAM_KEY_PATTERN.test(key) || Number(key) > SOURCE_LIMITS.paramKeyMax) {
      fail(
        field,
        `key must be a positive integer placeholder number ("1", "2", ...) up to ${SOURCE_LIMITS.paramKeyMax}`,
      );
    }
    checkText(field, named[key] as string, SOURCE_LIMITS.paramValueMaxChars, { allowBlank: true });
  }
}

/**
 * Validates source options, throwing {@link InvalidSourceOptionsError} naming the first bad field
 * (proto field paths, e.g. `options.columns[1]`). Returns the options unchanged: validation never
 * normalises, because the canonical form (and so the `source_ref`) must match upstream's.
 */
export function validateSourceOptions(options: SourceOptions): SourceOptions {
  if (options.url !== undefined) checkUrl(options.url);

  checkText("options.table", options.table, SOURCE_LIMITS.tableMaxChars);
  if (!TABLE_PATTERN.test(options.table)) {
    fail(
      "options.table",
      'must be a table name, schema.table, or quoted identifiers such as "My Schema"."My Table"',
    );
  }

  if (options.columns) {
    if (options.columns.length > SOURCE_LIMITS.columnsMaxCount) {
      fail(
        "options.columns",
        `at most ${SOURCE_LIMITS.columnsMaxCount} columns (got ${options.columns.length})`,
      );
    }
    const seen = new Set<string>();
    options.columns.forEach((column, i) => {
      checkText(`options.columns[${i}]`, column, SOURCE_LIMITS.columnMaxChars);
      if (seen.has(column)) fail(`options.columns[${i}]`, `repeats column ${JSON.stringify(column)}`);
      seen.add(column);
    });
  }

  if (options.where !== undefined) {
    checkText("options.where", options.where, SOURCE_LIMITS.whereMaxChars);
  }
  if (options.params !== undefined) checkParams(options.params);

  if (options.metadata) {
    const keys = Object.keys(options.metadata);
    if (keys.length > SOURCE_LIMITS.metadataMaxCount) {
      fail("options.metadata", `at most ${SOURCE_LIMITS.metadataMaxCount} entries (got ${keys.length})`);
    }
    for (const key of keys) {
      const field = `options.metadata[${JSON.stringify(key)}]`;
      checkText(field, key, SOURCE_LIMITS.metadataKeyMaxChars);
      checkText(field, options.metadata[key] as string, SOURCE_LIMITS.metadataValueMaxChars, {
        allowBlank: true,
      });
    }
  }
  return options;
}

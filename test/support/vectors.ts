import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { SourceOptions } from "../../src/domain/source-options.js";

/** One source_ref vector. */
export interface SourceRefVector {
  readonly name: string;
  readonly options: SourceOptions;
  readonly canonical: string;
  readonly source_ref: string;
}

/** The shared vector file every client tests against. */
export const SOURCE_REF_VECTORS: {
  readonly vectors: readonly SourceRefVector[];
  readonly empty_string_hash: string;
} = JSON.parse(readFileSync(resolve(import.meta.dirname, "../vectors/source-ref.json"), "utf8"));

import {
  type CanonicalSourceOptions,
  canonicalSourceOptions,
  type SourceOptions,
  sourceRefFor,
} from "./source-ref.js";

/** A source described with upstream `pgSync()` options, with its ref computed offline. */
export interface PgSyncSource {
  /** The options as given. */
  readonly options: SourceOptions;
  /** Their canonical form (what the ref hashes). */
  readonly canonical: CanonicalSourceOptions;
  /** The ref the server will return for these options, computed locally. */
  readonly sourceRef: string;
}

/** Describes a source with upstream `pgSync()` options; `sourceRef` is computed offline, exactly as the server does. */
export function pgSync(options: SourceOptions): PgSyncSource {
  return Object.freeze({
    options,
    canonical: canonicalSourceOptions(options),
    sourceRef: sourceRefFor(options),
  });
}

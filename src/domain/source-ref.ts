/**
 * Canonical form and source_ref: re-exported from the runtime client package, so the server and
 * every TypeScript client compute refs with the same code.
 */
export {
  type CanonicalSourceOptions,
  canonicalJson,
  canonicalSourceOptions,
  EPHEMERAL_METADATA_KEYS,
  fnv1a64,
  identityMetadata,
  isSourceRef,
  sourceRefFor,
} from "@pg-sync/runtime/source-ref";

/**
 * Upstream `pgSync()` options (ElectricSQL agents #4421/#4576). `params` is either a positional
 * list or a numbered map, as upstream accepts them: the two forms hash differently.
 */
export interface SourceOptions {
  /** Electric shape endpoint; absent means the server default (and is left out of the hash). */
  readonly url?: string | undefined;
  /** Table: `name`, `schema.name` or quoted identifiers. */
  readonly table: string;
  /** Columns, order kept; absent or empty means all columns. */
  readonly columns?: readonly string[] | undefined;
  /** Row filter with `$n` placeholders. */
  readonly where?: string | undefined;
  /** Placeholder values: positional list or numbered map. */
  readonly params?: readonly string[] | Readonly<Record<string, string>> | undefined;
  /** Update/delete payload mode; absent means `default`. */
  readonly replica?: "default" | "full" | undefined;
  /** Identity metadata (hashed with the #4576 rule). */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

/*
 * The one implementation of upstream's canonical form and source_ref hash: the pg-sync server
 * imports this module too, so clients and server can never disagree.
 */

/**
 * Canonical options as upstream builds them: fields in this insertion order, undefined fields left
 * out, `replica` always present, named params with sorted keys, identity metadata last.
 */
export interface CanonicalSourceOptions {
  url?: string;
  table: string;
  columns?: string[];
  where?: string;
  params?: string[] | Record<string, string>;
  replica: "default" | "full";
  metadata?: Record<string, string>;
}

/** Metadata keys that identify a request, not a source: never hashed (upstream #4576). */
export const EPHEMERAL_METADATA_KEYS: ReadonlySet<string> = new Set([
  "wakeId",
  "runtimeConsumerId",
  "streamPath",
]);

const FNV_OFFSET_BASIS = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK_64 = 0xffffffffffffffffn;

/**
 * 64-bit FNV-1a over the UTF-16 code units of `value`, as 16 lowercase hex digits: upstream's
 * `hashString`, byte for byte (code units, not UTF-8 bytes).
 */
export function fnv1a64(value: string): string {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < value.length; i++) {
    hash ^= BigInt(value.charCodeAt(i));
    hash = (hash * FNV_PRIME) & MASK_64;
  }
  return hash.toString(16).padStart(16, "0");
}

/** Identity metadata: keys sorted, ephemeral keys and undefined values dropped; undefined when empty. */
export function identityMetadata(
  metadata: Readonly<Record<string, string | undefined>> | undefined,
): Record<string, string> | undefined {
  if (!metadata) return undefined;
  const keys = Object.keys(metadata)
    .filter((k) => !EPHEMERAL_METADATA_KEYS.has(k) && metadata[k] !== undefined)
    .sort();
  if (keys.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = metadata[k] as string;
  return out;
}

/**
 * Builds the canonical form of `options` (upstream `canonicalPgSyncOptions` plus #4576's metadata
 * rule). Empty `columns` count as absent, as the proto cannot tell them apart.
 */
export function canonicalSourceOptions(options: SourceOptions): CanonicalSourceOptions {
  // Rebuild in upstream's insertion order; JSON.stringify keeps it.
  const ordered: Record<string, unknown> = {};
  if (options.url !== undefined) ordered.url = options.url;
  ordered.table = options.table;
  if (options.columns !== undefined && options.columns.length > 0) ordered.columns = [...options.columns];
  if (options.where !== undefined) ordered.where = options.where;
  if (options.params !== undefined) {
    if (Array.isArray(options.params)) {
      ordered.params = [...(options.params as readonly string[])];
    } else {
      const named = options.params as Readonly<Record<string, string>>;
      const sorted: Record<string, string> = {};
      for (const k of Object.keys(named).sort()) sorted[k] = named[k] as string;
      ordered.params = sorted;
    }
  }
  ordered.replica = options.replica ?? "default";
  const metadata = identityMetadata(options.metadata);
  if (metadata) ordered.metadata = metadata;
  return ordered as unknown as CanonicalSourceOptions;
}

/** The exact string upstream hashes: `JSON.stringify` of the canonical options. */
export function canonicalJson(options: SourceOptions): string {
  return JSON.stringify(canonicalSourceOptions(options));
}

/** The deterministic `source_ref` of `options`: 16 lowercase hex digits, identical to upstream's. */
export function sourceRefFor(options: SourceOptions): string {
  return fnv1a64(canonicalJson(options));
}

/** True when `value` has the shape of a source_ref. */
export function isSourceRef(value: string): boolean {
  return /^[0-9a-f]{16}$/.test(value);
}

import { InvalidRequestError, NoShapeUrlError, SourceNotFoundError, UrlNotAllowedError } from "./errors.js";
import { LIST_LIMITS } from "./limits.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import type { SourceRecord, SourceStore } from "./source.js";
import type { SourceOptions } from "./source-options.js";
import { canonicalSourceOptions, isSourceRef, sourceRefFor } from "./source-ref.js";
import { validateSourceOptions } from "./validate-source-options.js";

/** Dependencies of {@link SourceRegistry}. */
export interface SourceRegistryDeps {
  /** Source persistence. */
  readonly store: SourceStore;
  /** Default shape endpoint for sources without a url. */
  readonly defaultShapeUrl: string | undefined;
  /** Origins a source url may point to (the default URL's origin included). */
  readonly allowedOrigins: readonly string[];
}

/** Result of {@link SourceRegistry.register}. */
export interface RegisterResult {
  readonly sourceRef: string;
  readonly created: boolean;
  readonly source: SourceRecord;
}

/** A page of sources. */
export interface SourcePage {
  readonly sources: readonly SourceRecord[];
  readonly nextPageToken: string;
}

/**
 * The control plane's use cases: register, get, list and delete sources, always scoped to the
 * caller's tenant. Pure of transport; persistence through {@link SourceStore}.
 */
export class SourceRegistry {
  readonly #deps: SourceRegistryDeps;
  readonly #allowed: ReadonlySet<string>;

  constructor(deps: SourceRegistryDeps) {
    this.#deps = deps;
    this.#allowed = new Set(deps.allowedOrigins);
  }

  /** Resolves the shape endpoint for `options` and checks it against the allow-list. */
  resolveShapeUrl(options: SourceOptions): string {
    const url = options.url ?? this.#deps.defaultShapeUrl;
    if (url === undefined) throw new NoShapeUrlError();
    const origin = new URL(url).origin;
    if (!this.#allowed.has(origin)) throw new UrlNotAllowedError(origin);
    return url;
  }

  /** Validates, computes the ref, and upserts. Idempotent: same options, same ref, `created=false`. */
  async register(tenant: string, options: SourceOptions): Promise<RegisterResult> {
    validateSourceOptions(options);
    const shapeUrl = this.resolveShapeUrl(options);
    const sourceRef = sourceRefFor(options);
    const { record, created } = await this.#deps.store.upsert({
      tenant,
      sourceRef,
      options: canonicalSourceOptions(options),
      shapeUrl,
    });
    return { sourceRef, created, source: record };
  }

  /** The tenant's source; SourceNotFoundError when unknown or another tenant's. */
  async get(tenant: string, sourceRef: string): Promise<SourceRecord> {
    checkRef(sourceRef);
    const record = await this.#deps.store.get(tenant, sourceRef);
    if (!record) throw new SourceNotFoundError(sourceRef);
    return record;
  }

  /** A page of the tenant's sources, ordered by ref. */
  async list(tenant: string, pageSize: number, pageToken: string): Promise<SourcePage> {
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > LIST_LIMITS.maxPageSize) {
      throw new InvalidRequestError("page_size", `must be between 0 and ${LIST_LIMITS.maxPageSize} (got ${pageSize})`);
    }
    const limit = pageSize === 0 ? LIST_LIMITS.defaultPageSize : pageSize;
    const afterRef = pageToken ? decodePageToken(pageToken) : undefined;
    const rows = await this.#deps.store.list(tenant, { afterRef, limit: limit + 1 });
    const sources = rows.slice(0, limit);
    const last = sources.at(-1);
    const nextPageToken = rows.length > limit && last ? encodePageToken(last.sourceRef) : "";
    return { sources, nextPageToken };
  }

  /** Deletes the tenant's source with its cursor and log; SourceNotFoundError when unknown. */
  async delete(tenant: string, sourceRef: string): Promise<void> {
    checkRef(sourceRef);
    if (!(await this.#deps.store.delete(tenant, sourceRef))) throw new SourceNotFoundError(sourceRef);
  }
}

/** A malformed ref cannot exist: NOT_FOUND, like any unknown ref (no hint about the format needed). */
function checkRef(sourceRef: string): void {
  if (sourceRef === "") throw new InvalidRequestError("source_ref", "is required");
  if (!isSourceRef(sourceRef)) throw new SourceNotFoundError(sourceRef);
}

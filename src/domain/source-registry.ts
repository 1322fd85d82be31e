import type { BridgeStatus } from "./bridge-state.js";
import type { StoredCursor } from "./change-log.js";
import { InvalidRequestError, NoShapeUrlError, SourceNotFoundError, UrlNotAllowedError } from "./errors.js";
import { LIST_LIMITS } from "./limits.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { authorizeSource, type Caller, checkSourceAccess, type Policy } from "./policy.js";
import type { BridgeControl, CursorStore, ProbedCursor, ShapeProber, SourceStore } from "./ports.js";
import {
  checkListBytes,
  checkSourceCount,
  type RegistryQuotas,
  takeRegistration,
} from "./registry-quotas.js";
import type { SourceRecord } from "./source.js";
import { sourceKey } from "./source-key.js";
import type { SourceOptions } from "./source-options.js";
import {
  type CanonicalSourceOptions,
  canonicalSourceOptions,
  isSourceRef,
  sourceRefFor,
} from "./source-ref.js";
import { validateSourceOptions } from "./validate-source-options.js";

/** Dependencies of {@link SourceRegistry}. */
export interface SourceRegistryDeps {
  /** Source persistence. */
  readonly store: SourceStore;
  /** Default shape endpoint for sources without a url. */
  readonly defaultShapeUrl: string | undefined;
  /** Origins a source url may point to (the default URL's origin included). */
  readonly allowedOrigins: readonly string[];
  /** Probes the shape endpoint on first registration (and on re-registration of a FAILED source). */
  readonly probe: ShapeProber;
  /** Starts and stops bridges. */
  readonly bridges: BridgeControl;
  /** Cursors and log bounds. */
  readonly cursors: CursorStore;
  /** Authorization policy; undefined: every table outside the reserved schemas. */
  readonly policy?: Policy | undefined;
  /** Per-tenant quotas; each unlimited when absent. */
  readonly quotas?: RegistryQuotas;
}

/** The caller when only the tenant is known (static tokens, internal calls): no claims. */
function callerOf(tenant: string, caller: Caller | undefined): Caller {
  return caller ?? { tenant, claims: {} };
}

/** Where a source stands (GetCursor). */
export interface CursorReport {
  readonly source: SourceRecord;
  readonly cursor: StoredCursor;
  /** The live state when this process runs the bridge, else the stored one. */
  readonly status: BridgeStatus;
  readonly upToDateAt: Date | undefined;
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
  /** In-flight probes by tenant and ref: concurrent registrations of a new source probe once. */
  readonly #probes = new Map<string, Promise<ProbedCursor>>();

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

  /**
   * Validates, computes the ref, probes the shape endpoint when the source is new (or FAILED),
   * upserts with the probe's cursor, and ensures the bridge runs. Idempotent: same options, same
   * ref, `created=false`, no second probe or bridge. Returns only once the first cursor is stored.
   */
  async register(tenant: string, requested: SourceOptions, caller?: Caller): Promise<RegisterResult> {
    this.#takeRegistration(tenant);
    validateSourceOptions(requested);
    // The policy may AND a row filter in: the stored, hashed and requested options are the
    // effective ones, so the bridge asks Electric for exactly what the policy allows.
    const { options, accessKey } = authorizeSource(this.#deps.policy, callerOf(tenant, caller), requested);
    const shapeUrl = this.resolveShapeUrl(options);
    const sourceRef = sourceRefFor(options);
    const canonical = canonicalSourceOptions(options);
    const existing = await this.#deps.store.get(tenant, sourceRef);
    if (existing === undefined) await this.#checkSourceQuota(tenant);
    const initialCursor =
      existing === undefined || existing.state === "FAILED"
        ? await this.#probeOnce(tenant, sourceRef, existing?.shapeUrl ?? shapeUrl, canonical)
        : undefined;
    const { record, created } = await this.#deps.store.upsert({
      tenant,
      sourceRef,
      options: canonical,
      shapeUrl,
      ...(accessKey !== undefined ? { accessKey } : {}),
      ...(initialCursor ? { initialCursor } : {}),
    });
    await this.#deps.bridges.ensure(record);
    return { sourceRef, created, source: record };
  }

  #takeRegistration(tenant: string): void {
    const limiter = this.#deps.quotas?.registrations;
    if (limiter) takeRegistration(limiter, tenant);
  }

  async #checkSourceQuota(tenant: string): Promise<void> {
    const max = this.#deps.quotas?.maxSourcesPerTenant;
    if (max === undefined) return;
    checkSourceCount(await this.#deps.store.count(tenant), max);
  }

  /**
   * Checks the caller may read each of its tenant's sources under the policy (table still
   * allowed, same row filter); NOT_FOUND or PERMISSION_DENIED otherwise. Free without a policy.
   */
  async checkAccess(caller: Caller, sourceRefs: readonly string[]): Promise<void> {
    if (!this.#deps.policy) return;
    for (const ref of new Set(sourceRefs)) await this.get(caller.tenant, ref, caller);
  }

  #probeOnce(
    tenant: string,
    sourceRef: string,
    shapeUrl: string,
    options: CanonicalSourceOptions,
  ): Promise<ProbedCursor> {
    const key = sourceKey(tenant, sourceRef);
    let pending = this.#probes.get(key);
    if (!pending) {
      pending = this.#deps.probe(shapeUrl, options).finally(() => this.#probes.delete(key));
      this.#probes.set(key, pending);
    }
    return pending;
  }

  /** The tenant's source; SourceNotFoundError when unknown or another tenant's. */
  async get(tenant: string, sourceRef: string, caller?: Caller): Promise<SourceRecord> {
    checkRef(sourceRef);
    const record = await this.#deps.store.get(tenant, sourceRef);
    if (!record) throw new SourceNotFoundError(sourceRef);
    if (caller && this.#deps.policy) checkSourceAccess(this.#deps.policy, caller, record);
    return record;
  }

  /** A page of the tenant's sources, ordered by ref. */
  async list(tenant: string, pageSize: number, pageToken: string, caller?: Caller): Promise<SourcePage> {
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > LIST_LIMITS.maxPageSize) {
      throw new InvalidRequestError(
        "page_size",
        `must be between 0 and ${LIST_LIMITS.maxPageSize} (got ${pageSize})`,
      );
    }
    const limit = pageSize === 0 ? LIST_LIMITS.defaultPageSize : pageSize;
    const afterRef = pageToken ? decodePageToken(pageToken) : undefined;
    const maxBytes = this.#deps.quotas?.listMaxResponseBytes;
    const rows = await this.#deps.store.list(tenant, {
      afterRef,
      limit: limit + 1,
      ...(maxBytes === undefined ? {} : { maxBytes }),
    });
    // A byte-limited page may hold fewer than `limit` rows: the token then continues after it.
    const truncated = rows.length <= limit && maxBytes !== undefined && rows.length > 0;
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const more = rows.length > limit || (truncated && (await this.#hasMore(tenant, last)));
    if (maxBytes !== undefined && page.length === 1) checkListBytes(page[0] as SourceRecord, maxBytes);
    const sources = page.filter((r) => this.#readable(r, caller));
    const nextPageToken = more && last ? encodePageToken(last.sourceRef) : "";
    return { sources, nextPageToken };
  }

  async #hasMore(tenant: string, last: SourceRecord | undefined): Promise<boolean> {
    if (!last) return false;
    return (
      (await this.#deps.store.list(tenant, { afterRef: last.sourceRef, limit: 1, maxBytes: 0 })).length > 0
    );
  }

  #readable(record: SourceRecord, caller: Caller | undefined): boolean {
    if (!caller || !this.#deps.policy) return true;
    try {
      checkSourceAccess(this.#deps.policy, caller, record);
      return true;
    } catch {
      return false;
    }
  }

  /** The persisted cursor, log bounds and state of the tenant's source. */
  async getCursor(tenant: string, sourceRef: string, caller?: Caller): Promise<CursorReport> {
    const source = await this.get(tenant, sourceRef, caller);
    const cursor = await this.#deps.cursors.get(tenant, sourceRef);
    if (!cursor) throw new SourceNotFoundError(sourceRef);
    const view = this.#deps.bridges.view(tenant, sourceRef);
    return {
      source,
      cursor,
      status: view?.status ?? storedStatus(source, cursor),
      upToDateAt: view?.upToDateAt ?? cursor.upToDateAt,
    };
  }

  /** Deletes the tenant's source with its cursor and log; SourceNotFoundError when unknown. */
  async delete(tenant: string, sourceRef: string, caller?: Caller): Promise<void> {
    await this.get(tenant, sourceRef, caller);
    await this.#deps.bridges.remove(tenant, sourceRef);
    if (!(await this.#deps.store.delete(tenant, sourceRef))) throw new SourceNotFoundError(sourceRef);
  }
}

/** States in which some replica should be running the source's bridge. */
const RUNNING_STATES: ReadonlySet<string> = new Set(["STARTING", "LIVE", "BACKING_OFF"]);

/**
 * The stored state, unless it claims a running bridge whose lease has expired: then nobody runs
 * it (its replica died or lost the state database) and saying LIVE would hide that.
 */
function storedStatus(source: SourceRecord, cursor: StoredCursor): BridgeStatus {
  if (RUNNING_STATES.has(source.state) && cursor.leaseExpiresAt !== undefined && !cursor.leaseLive) {
    return {
      state: "BACKING_OFF",
      lastError: `no replica holds the source's lease (expired at ${cursor.leaseExpiresAt.toISOString()}); another replica takes it over`,
    };
  }
  return { state: source.state, lastError: source.lastError };
}

/** A malformed ref cannot exist: NOT_FOUND, like any unknown ref (no hint about the format needed). */
function checkRef(sourceRef: string): void {
  if (sourceRef === "") throw new InvalidRequestError("source_ref", "is required");
  if (!isSourceRef(sourceRef)) throw new SourceNotFoundError(sourceRef);
}

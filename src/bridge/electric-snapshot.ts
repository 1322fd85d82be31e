import { FetchError, type Row, ShapeStream, type SubsetParams } from "@electric-sql/client";
import { UnavailableError } from "../domain/errors.js";
import type { SnapshotPage, SnapshotPageRequest, SnapshotReader } from "../domain/snapshot-feed.js";
import type { KeyColumn, KeyKind, KeyValues } from "../domain/snapshot-splice.js";
import type { SourceRecord } from "../domain/source.js";
import { ELECTRIC_HEADERS, ELECTRIC_PARAMS, OFFSET_NOW } from "./electric-constants.js";
import { createElectricFetch } from "./electric-fetch.js";
import { JSON_SAFE_PARSER, NO_CLIENT_RETRIES, type ShapeBatchesOptions } from "./shape-batches.js";
import { applyShapeParams, shapeParamsFor } from "./shape-params.js";

/** Dependencies of {@link createElectricSnapshotReader}. */
export interface ElectricSnapshotDeps {
  /** Fetch used for Electric requests; injected by tests. Default global fetch. */
  readonly fetchClient?: typeof fetch;
  /** Whether the source's shape URL is still allowed (checked before each page). Default: allowed. */
  readonly isUrlAllowed?: (shapeUrl: string) => boolean;
}

/** Electric column types whose order JavaScript reproduces exactly (see KeyKind). */
const KEY_KINDS: Readonly<Record<string, KeyKind>> = {
  int2: "integer",
  int4: "integer",
  int8: "integer",
  uuid: "uuid",
};

/** The log mode every source's shape is requested with (probe and bridge), so this is the same shape. */
const LOG_MODE = "changes_only";

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The primary key from an `electric-schema` header, in key order; undefined when a key column's
 * type cannot be ordered exactly here (or there is no key).
 */
export function keyColumnsFromSchema(header: string | null): KeyColumn[] | undefined {
  if (!header) return undefined;
  let schema: Record<string, { type?: unknown; pk_index?: unknown; dims?: unknown }>;
  try {
    schema = JSON.parse(header);
  } catch {
    return undefined;
  }
  const key: { name: string; kind: KeyKind; index: number }[] = [];
  for (const [name, info] of Object.entries(schema)) {
    if (typeof info?.pk_index !== "number") continue;
    const kind = typeof info.type === "string" && !info.dims ? KEY_KINDS[info.type] : undefined;
    if (!kind) return undefined;
    key.push({ name, kind, index: info.pk_index });
  }
  if (key.length === 0) return undefined;
  return key.sort((a, b) => a.index - b.index).map(({ name, kind }) => ({ name, kind }));
}

/**
 * The subset of one page: rows after `after` in key order (`(a > $1) OR (a = $1 AND b > $2)`),
 * at most `limit`; with no key, every row.
 */
export function pageSubset(
  keyColumns: readonly KeyColumn[] | undefined,
  after: KeyValues | undefined,
  limit: number,
): SubsetParams {
  if (!keyColumns) return { where: "true" };
  const orderBy = keyColumns.map((c) => quote(c.name)).join(", ");
  if (!after) return { orderBy, limit };
  const terms = keyColumns.map((column, i) => {
    const equal = keyColumns.slice(0, i).map((c, j) => `${quote(c.name)} = $${j + 1}`);
    return [...equal, `${quote(column.name)} > $${i + 1}`].join(" AND ");
  });
  const params = Object.fromEntries(after.map((v, i) => [String(i + 1), v]));
  return { where: terms.map((t) => `(${t})`).join(" OR "), params, orderBy, limit };
}

/** Why a snapshot page could not be read, without URL or values (tenants read it). */
function unavailable(err: unknown): UnavailableError {
  const status = err instanceof FetchError ? ` (${err.status})` : "";
  const name = err instanceof Error ? err.name : "error";
  return new UnavailableError(
    `the source's snapshot could not be read from its shape endpoint${status}: ${name}; resume with the last resume token`,
  );
}

/**
 * Reads snapshot pages of a source's shape from Electric: the shape's primary key from an
 * `offset=now` request's schema header, then subset snapshots (`fetchSnapshot` of the Electric
 * client) with exactly the bridge's shape params and log mode, parsed as the bridge parses
 * changes. Every request goes through the electric fetch (no redirects, shape headers required).
 */
export function createElectricSnapshotReader(deps: ElectricSnapshotDeps = {}): SnapshotReader {
  const electricFetch = createElectricFetch(deps.fetchClient);
  const keyColumnsOf = async (record: SourceRecord, signal: AbortSignal) => {
    const url = applyShapeParams(new URL(record.shapeUrl), shapeParamsFor(record.options), LOG_MODE);
    url.searchParams.set(ELECTRIC_PARAMS.offset, OFFSET_NOW);
    const response = await electricFetch(url, { signal });
    await response.body?.cancel().catch(() => {});
    if (!response.ok)
      throw new FetchError(response.status, undefined, undefined, {}, "", "schema request failed");
    return keyColumnsFromSchema(response.headers.get(ELECTRIC_HEADERS.schema));
  };
  return {
    async readPage(
      record: SourceRecord,
      request: SnapshotPageRequest,
      signal: AbortSignal,
    ): Promise<SnapshotPage> {
      if (deps.isUrlAllowed && !deps.isUrlAllowed(record.shapeUrl)) {
        throw new UnavailableError(
          "the source's shape endpoint is no longer allowed; no snapshot can be read",
        );
      }
      try {
        const keyColumns = request.keyColumns ?? (await keyColumnsOf(record, signal));
        const options: ShapeBatchesOptions = {
          url: record.shapeUrl,
          params: shapeParamsFor(record.options) as unknown as ShapeBatchesOptions["params"],
          log: LOG_MODE,
          offset: OFFSET_NOW,
          parser: JSON_SAFE_PARSER,
          backoffOptions: NO_CLIENT_RETRIES,
          fetchClient: electricFetch,
        };
        const stream = new ShapeStream<Row<unknown>>({ ...options, signal });
        const { metadata, data } = await stream.fetchSnapshot(
          pageSubset(keyColumns, request.after, request.limit),
        );
        return {
          rows: data.map((m) => ({ key: m.key, value: m.value as Record<string, unknown> })),
          xids: {
            xmin: String(metadata.xmin),
            xmax: String(metadata.xmax),
            xip: metadata.xip_list.map(String),
          },
          keyColumns,
        };
      } catch (err) {
        if (signal.aborted) throw err;
        throw unavailable(err);
      }
    },
  };
}

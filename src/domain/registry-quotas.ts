import { LimitExceededError } from "./errors.js";
import type { TenantRateLimiter } from "./rate-limiter.js";
import type { SourceRecord } from "./source.js";

/** Per-tenant quotas of the registry (all RESOURCE_EXHAUSTED when reached). */
export interface RegistryQuotas {
  /** Most sources a tenant may have. */
  readonly maxSourcesPerTenant?: number;
  /** RegisterSource calls per tenant per minute. */
  readonly registrations?: TenantRateLimiter;
  /** Largest ListSources page, in bytes (estimated as stored JSON + URL + 256 per source). */
  readonly listMaxResponseBytes?: number;
}

/** Bytes a source adds to a ListSources response, estimated (fixed fields as a flat 256). */
export const LIST_SOURCE_OVERHEAD_BYTES = 256;

/** Bytes `record` adds to a ListSources response, estimated: options JSON + URL + 256. */
export function estimatedBytes(record: SourceRecord): number {
  const encoder = new TextEncoder();
  return (
    encoder.encode(JSON.stringify(record.options)).length +
    encoder.encode(record.shapeUrl).length +
    LIST_SOURCE_OVERHEAD_BYTES
  );
}

/** Takes one registration from the tenant's bucket; REGISTRATION_RATE_EXCEEDED when empty. */
export function takeRegistration(limiter: TenantRateLimiter, tenant: string): void {
  const waitMs = limiter.take(tenant);
  if (waitMs > 0) {
    throw new LimitExceededError(
      "REGISTRATION_RATE_EXCEEDED",
      `too many RegisterSource calls (limit ${limiter.limit} per minute per tenant); retry in ${waitMs} ms`,
      limiter.limit,
      waitMs,
    );
  }
}

/** SOURCE_QUOTA_EXCEEDED when a tenant with `count` sources may not add another. */
export function checkSourceCount(count: number, max: number): void {
  if (count >= max) {
    throw new LimitExceededError(
      "SOURCE_QUOTA_EXCEEDED",
      `tenant has ${count} sources (limit ${max}); delete some before registering new ones`,
      max,
    );
  }
}

/** RESPONSE_TOO_LARGE when a single source does not fit in a ListSources response. */
export function checkListBytes(record: SourceRecord, maxBytes: number): void {
  if (estimatedBytes(record) > maxBytes) {
    throw new LimitExceededError(
      "RESPONSE_TOO_LARGE",
      `source ${record.sourceRef} alone is larger than the ListSources response limit of ${maxBytes} bytes; read it with GetSource`,
      maxBytes,
    );
  }
}

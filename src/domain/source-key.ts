/**
 * The in-memory map key of a tenant's source. Sources are identified by (tenant, source_ref);
 * NUL cannot occur in either (tenants come from credentials, refs are 16 hex digits), so the
 * joined string is unambiguous.
 */
export function sourceKey(tenant: string, sourceRef: string): string {
  return `${tenant}\u0000${sourceRef}`;
}

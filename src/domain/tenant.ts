/**
 * Tenant names, from static tokens or JWT claims: 1-128 characters, ASCII letters and digits
 * first, then also `.`, `_`, `-`, `:`, `@`, `|`, `+` and `=` (so e-mail addresses and identity
 * provider subjects such as `auth0|123` fit). Anything else (NUL, spaces, quotes, non-ASCII,
 * longer names) is refused at authentication: tenants go into log lines, SQL parameters and the
 * 8000-byte NOTIFY payloads.
 */
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@|+=-]{0,127}$/;

/** Longest tenant name, in characters. */
export const TENANT_MAX_CHARS = 128;

/** Why `tenant` is not a valid tenant name, or undefined when it is. */
export function tenantProblem(tenant: string): string | undefined {
  if (tenant.length === 0) return "is empty";
  if (tenant.length > TENANT_MAX_CHARS) return `is longer than ${TENANT_MAX_CHARS} characters`;
  if (!TENANT_PATTERN.test(tenant)) {
    return "may only contain ASCII letters, digits and . _ - : @ | + = (starting with a letter or digit)";
  }
  return undefined;
}

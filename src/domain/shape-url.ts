/**
 * Query parameters that carry credentials in a shape URL: Electric's own `secret` (and the older
 * `api_secret`), tokens, passwords, keys, signatures. Matched on the name, case-insensitively.
 */
const SECRET_PARAM = /secret|token|passw|pwd|key|auth|credential|signature|^sig$|session/i;

/**
 * The form of a shape URL that tenants may read (`Source.shape_url`, error messages): without
 * userinfo and without any query parameter whose name suggests a credential
 * (`PGSYNC_ELECTRIC_URL=...?secret=...` is Electric's own way to authenticate). Unparseable input
 * gives a placeholder rather than the raw text.
 */
export function publicShapeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "<invalid url>";
  }
  url.username = "";
  url.password = "";
  for (const name of [...url.searchParams.keys()]) {
    if (SECRET_PARAM.test(name)) url.searchParams.delete(name);
  }
  return url.toString();
}

/**
 * A check of shape URLs against the allow-list of origins (`PGSYNC_ALLOWED_URLS` plus the default
 * URL's origin), for URLs stored before the list changed. Unparseable URLs are not allowed.
 */
export function createUrlAllowList(allowedOrigins: readonly string[]): (shapeUrl: string) => boolean {
  const allowed = new Set(allowedOrigins);
  return (shapeUrl) => {
    try {
      return allowed.has(new URL(shapeUrl).origin);
    } catch {
      return false;
    }
  };
}

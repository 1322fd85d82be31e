import { ELECTRIC_HEADERS } from "./electric-constants.js";

/** Headers without which a successful response is not an Electric shape log. */
const REQUIRED_SHAPE_HEADERS = [ELECTRIC_HEADERS.handle, ELECTRIC_HEADERS.offset] as const;

/**
 * A successful response without Electric's shape headers: the endpoint is not an Electric shape
 * log (a web page, a proxy stripping headers). Named, unlike the Electric client's own
 * `MissingHeadersError`, so the bridge can recognise it; the message never carries the URL.
 */
export class NotAShapeEndpointError extends Error {
  override name = "NotAShapeEndpointError";
  constructor(
    /** HTTP status of the response. */
    readonly status: number,
  ) {
    super(`the endpoint answered ${status} without ${REQUIRED_SHAPE_HEADERS.join(" and ")} headers`);
  }
}

/**
 * The shape endpoint answered with a redirect. pg-sync never follows one: the allow-list is
 * checked on the source's URL, and a redirect could lead anywhere (SSRF).
 */
export class ShapeEndpointRedirectError extends Error {
  override name = "ShapeEndpointRedirectError";
  constructor(
    /** HTTP status of the redirect (3xx). */
    readonly status: number,
  ) {
    super(
      `the shape endpoint answered ${status} (a redirect); pg-sync does not follow redirects, so the source's url must name the shape endpoint itself`,
    );
  }
}

/**
 * Wraps `base` for requests to a shape endpoint: redirects are not followed (a 3xx fails with
 * {@link ShapeEndpointRedirectError}), and a successful response must carry Electric's shape
 * headers, else the request fails with {@link NotAShapeEndpointError}. Bodies of refused
 * responses are discarded unread.
 */
export function createElectricFetch(base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const response = await base(input, { ...init, redirect: "manual" });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => {});
      throw new ShapeEndpointRedirectError(response.status);
    }
    if (response.ok && REQUIRED_SHAPE_HEADERS.some((h) => !response.headers.has(h))) {
      await response.body?.cancel().catch(() => {});
      throw new NotAShapeEndpointError(response.status);
    }
    return response;
  };
}

/**
 * Reads at most `maxBytes` of `response`'s body as text and cancels the rest, so a hostile or
 * broken endpoint cannot make pg-sync buffer an unbounded body. Read errors give what was read.
 */
export async function readBodyCapped(response: Response, maxBytes: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = value.subarray(0, maxBytes - size);
      chunks.push(part);
      size += part.length;
    }
  } catch {
    // a body cut short: use what arrived
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).toString("utf8");
}

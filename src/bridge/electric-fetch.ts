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
 * Wraps `base` for requests to a shape endpoint: a successful response must carry Electric's
 * shape headers, else the request fails with {@link NotAShapeEndpointError} (its body is
 * discarded unread).
 */
export function createElectricFetch(base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const response = await base(input, init);
    if (response.ok && REQUIRED_SHAPE_HEADERS.some((h) => !response.headers.has(h))) {
      await response.body?.cancel().catch(() => {});
      throw new NotAShapeEndpointError(response.status);
    }
    return response;
  };
}

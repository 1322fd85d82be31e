import { InvalidRequestError } from "./errors.js";
import { isSourceRef } from "./source-ref.js";

const PAGE_TOKEN_VERSION = 1;

/** Encodes the position after `lastRef` as an opaque page token. */
export function encodePageToken(lastRef: string): string {
  return Buffer.from(JSON.stringify({ v: PAGE_TOKEN_VERSION, after: lastRef })).toString("base64url");
}

/** Decodes a page token from {@link encodePageToken}; throws InvalidRequestError naming `page_token`. */
export function decodePageToken(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as {
      v?: unknown;
      after?: unknown;
    };
    if (parsed.v === PAGE_TOKEN_VERSION && typeof parsed.after === "string" && isSourceRef(parsed.after)) {
      return parsed.after;
    }
  } catch {
    // fall through to the error below
  }
  throw new InvalidRequestError(
    "page_token",
    "is not a token returned by ListSources; omit it for the first page",
  );
}

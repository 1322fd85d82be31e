import { InvalidRequestError } from "./errors.js";
import type { SpliceState } from "./snapshot-splice.js";
import { isSourceRef } from "./source-ref.js";
import { decodeSplice, encodeSplice } from "./splice-token.js";

/** Version 2 adds an optional snapshot splice per source; version 1 tokens still decode. */
const TOKEN_VERSION = 2;
const DECODABLE_VERSIONS: readonly unknown[] = [1, 2];

/** How far a stream has delivered one source: everything up to `seq` of that incarnation. */
export interface TokenPosition {
  readonly sourceRef: string;
  /** The source's registration lifetime; a different one means the source was reset. */
  readonly incarnation: string;
  readonly seq: bigint;
  /** A snapshot being delivered or spliced with the log from `seq`; absent otherwise. */
  readonly splice?: SpliceState;
}

/** Encodes positions as an opaque, URL-safe resume token. */
export function encodeResumeToken(positions: Iterable<TokenPosition>): string {
  const p = [...positions].map((x) => {
    const entry: unknown[] = [x.sourceRef, x.incarnation, x.seq.toString()];
    if (x.splice) entry.push(encodeSplice(x.splice));
    return entry;
  });
  return Buffer.from(JSON.stringify({ v: TOKEN_VERSION, p })).toString("base64url");
}

/** Decodes a token from {@link encodeResumeToken}; throws InvalidRequestError naming `resume_token`. */
export function decodeResumeToken(token: string): Map<string, TokenPosition> {
  const bad = () =>
    new InvalidRequestError(
      "resume_token",
      "is not a token issued by WatchWakes; start with start_position instead",
    );
  let parsed: { v?: unknown; p?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!DECODABLE_VERSIONS.includes(parsed.v) || !Array.isArray(parsed.p)) throw bad();
  const positions = new Map<string, TokenPosition>();
  for (const entry of parsed.p) {
    if (!Array.isArray(entry) || entry.length < 3 || entry.length > 4) throw bad();
    const [sourceRef, incarnation, seq, encodedSplice] = entry as unknown[];
    if (typeof sourceRef !== "string" || !isSourceRef(sourceRef)) throw bad();
    if (typeof incarnation !== "string" || !/^\d+$/.test(incarnation)) throw bad();
    if (typeof seq !== "string" || !/^\d+$/.test(seq)) throw bad();
    const splice = entry.length === 4 ? decodeSplice(encodedSplice) : undefined;
    if (entry.length === 4 && !splice) throw bad();
    positions.set(sourceRef, { sourceRef, incarnation, seq: BigInt(seq), ...(splice ? { splice } : {}) });
  }
  return positions;
}

import { InvalidRequestError } from "./errors.js";
import { isSourceRef } from "./source-ref.js";

const TOKEN_VERSION = 1;

/** How far a stream has delivered one source: everything up to `seq` of that incarnation. */
export interface TokenPosition {
  readonly sourceRef: string;
  /** The source's registration lifetime; a different one means the source was reset. */
  readonly incarnation: string;
  readonly seq: bigint;
}

/** Encodes positions as an opaque, URL-safe resume token. */
export function encodeResumeToken(positions: Iterable<TokenPosition>): string {
  const p = [...positions].map((x) => [x.sourceRef, x.incarnation, x.seq.toString()]);
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
  if (parsed.v !== TOKEN_VERSION || !Array.isArray(parsed.p)) throw bad();
  const positions = new Map<string, TokenPosition>();
  for (const entry of parsed.p) {
    if (!Array.isArray(entry) || entry.length !== 3) throw bad();
    const [sourceRef, incarnation, seq] = entry as unknown[];
    if (typeof sourceRef !== "string" || !isSourceRef(sourceRef)) throw bad();
    if (typeof incarnation !== "string" || !/^\d+$/.test(incarnation)) throw bad();
    if (typeof seq !== "string" || !/^\d+$/.test(seq)) throw bad();
    positions.set(sourceRef, { sourceRef, incarnation, seq: BigInt(seq) });
  }
  return positions;
}

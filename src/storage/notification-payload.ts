import { z } from "zod";
import type { LogEvent } from "../domain/log-entry.js";
import { SOURCE_STATES } from "../domain/source.js";
import { isSourceRef } from "../domain/source-ref.js";

/** Largest head seq a payload may carry (Postgres bigint). */
const MAX_SEQ = 2n ** 63n - 1n;

const target = {
  t: z.string().min(1),
  r: z.string().refine(isSourceRef, "is not a source_ref"),
};

/** `pgsync_changes`: `{"t": tenant, "r": source_ref, "h": head_seq}` (h a JSON integer or digits). */
const changesPayload = z.object({
  ...target,
  h: z.union([z.int().nonnegative(), z.string().regex(/^\d{1,19}$/)]),
});

/** `pgsync_sources`: `{"t", "r", "s": state, "d": deleted}`; s and d are checked, then not trusted. */
const sourcesPayload = z.object({
  ...target,
  s: z.enum(SOURCE_STATES as [string, ...string[]]).optional(),
  d: z.boolean().optional(),
});

/** A notification's event, or why its payload was refused. */
export type ParsedNotification =
  | { readonly ok: true; readonly event: Exclude<LogEvent, { type: "resync" }> }
  | { readonly ok: false; readonly problem: string };

/**
 * Validates a NOTIFY payload of one of pg-sync's channels. Anything else than what pg-sync itself
 * sends is refused with a short description of the first problem (never the payload itself).
 */
export function parseNotification(channel: "changes" | "sources", payload: string): ParsedNotification {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return { ok: false, problem: "not JSON" };
  }
  if (channel === "changes") {
    const parsed = changesPayload.safeParse(json);
    if (!parsed.success) return { ok: false, problem: describe(parsed.error) };
    const headSeq = BigInt(parsed.data.h);
    if (headSeq > MAX_SEQ) return { ok: false, problem: "h: out of range" };
    return {
      ok: true,
      event: { type: "appended", tenant: parsed.data.t, sourceRef: parsed.data.r, headSeq },
    };
  }
  const parsed = sourcesPayload.safeParse(json);
  if (!parsed.success) return { ok: false, problem: describe(parsed.error) };
  return { ok: true, event: { type: "source", tenant: parsed.data.t, sourceRef: parsed.data.r } };
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  const path = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `${path}${issue.message}`;
}

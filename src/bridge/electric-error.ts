/** Longest part of a shape endpoint's error body quoted in a message. */
export const ELECTRIC_ERROR_MAX_CHARS = 500;

/** Electric's error body: `{"message": ..., "errors": {field: [messages]}}`. */
interface ElectricErrorBody {
  readonly message?: unknown;
  readonly errors?: unknown;
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The one formatter of a shape endpoint's error answer, for the probe and the bridge: Electric's
 * field errors (`where: unknown column x`) when present, else its `message`, else the start of the
 * body's text, else `HTTP <status>`. `json` is the parsed body when the caller has it; otherwise
 * `text` is parsed when it is JSON.
 */
export function formatElectricError(
  status: number,
  body: { json?: unknown; text?: string | undefined },
): string {
  const json = (body.json ?? parseJson(body.text)) as ElectricErrorBody | undefined;
  if (json && typeof json === "object") {
    if (json.errors && typeof json.errors === "object") {
      const parts = Object.entries(json.errors).map(
        ([field, msgs]) => `${field}: ${Array.isArray(msgs) ? msgs.join("; ") : JSON.stringify(msgs)}`,
      );
      if (parts.length > 0) return parts.join("; ").slice(0, ELECTRIC_ERROR_MAX_CHARS);
    }
    if (typeof json.message === "string") return json.message.slice(0, ELECTRIC_ERROR_MAX_CHARS);
  }
  return (body.text ?? "").slice(0, ELECTRIC_ERROR_MAX_CHARS) || `HTTP ${status}`;
}

import { InvalidSourceOptionsError } from "../domain/errors.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";

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

/** The proto field of the source's params: the form it uses, positional when it has none. */
function paramsField(options: CanonicalSourceOptions): string {
  return options.params === undefined || Array.isArray(options.params)
    ? "options.positional_params"
    : "options.named_params";
}

/**
 * Electric's field errors that are about the source options, with the option they name. A where
 * error about a `$n` that was not supplied is the params' fault, not the clause's.
 */
const OPTION_FIELDS: Readonly<Record<string, (options: CanonicalSourceOptions, message: string) => string>> =
  {
    where: (options, message) =>
      /\bparameters? \$\d+/i.test(message) ? paramsField(options) : "options.where",
    columns: () => "options.columns",
    params: (options) => paramsField(options),
  };

/**
 * The {@link InvalidSourceOptionsError} for a shape endpoint's 400 whose field errors name a source
 * option (`where`, `columns`, `params`), with Electric's message kept; undefined for any other
 * answer (an unknown table, a protocol error), which stays a probe failure.
 */
export function invalidOptionsFrom(
  status: number,
  text: string | undefined,
  options: CanonicalSourceOptions,
): InvalidSourceOptionsError | undefined {
  if (status !== 400) return undefined;
  const json = parseJson(text) as ElectricErrorBody | undefined;
  if (!json || typeof json.errors !== "object" || json.errors === null) return undefined;
  for (const [key, messages] of Object.entries(json.errors)) {
    const field = OPTION_FIELDS[key];
    if (!field) continue;
    const message = Array.isArray(messages) ? messages.map(String).join("; ") : JSON.stringify(messages);
    return new InvalidSourceOptionsError(field(options, message), message.slice(0, ELECTRIC_ERROR_MAX_CHARS));
  }
  return undefined;
}

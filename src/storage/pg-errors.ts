/**
 * How a failed state-database call bears on its caller:
 * - `unavailable`: the database cannot be reached or is going away (connection exceptions, class
 *   08; admin or crash shutdown and cannot-connect-now, 57P01-57P03; too many connections, 53300;
 *   a refused, reset or timed-out socket; node-postgres's own code-less connection errors).
 *   Retrying later helps.
 * - `query`: Postgres answered with any other SQLSTATE (a constraint, a bad statement, a
 *   serialization failure).
 */
export type PgErrorKind = "unavailable" | "query";

const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set(["57P01", "57P02", "57P03", "53300"]);
const UNAVAILABLE_SOCKET_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT"]);
/** node-postgres's errors for a dropped or unobtainable connection carry no code, only these messages. */
const CODELESS_CONNECTION_FAILURE = /^(Connection terminated|timeout exceeded when trying to connect)/;
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Classifies an error thrown by node-postgres; undefined when it is not a Postgres error at all.
 * The one rule for "is the state database down" in pg-sync (transport and bridges use it).
 */
export function classifyPgError(err: unknown): PgErrorKind | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") {
    const message = (err as { message?: unknown } | null)?.message;
    return typeof message === "string" && CODELESS_CONNECTION_FAILURE.test(message)
      ? "unavailable"
      : undefined;
  }
  if (code.startsWith("08") || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code)) {
    return "unavailable";
  }
  return SQLSTATE.test(code) ? "query" : undefined;
}

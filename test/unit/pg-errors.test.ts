import { describe, expect, it } from "vitest";
import { classifyPgError } from "../../src/storage/pg-errors.js";

/** An error shaped like node-postgres's: a message and, for server or socket errors, a code. */
function pgError(message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

describe("classifyPgError", () => {
  it.each<[string, unknown, ReturnType<typeof classifyPgError>]>([
    ["a connection exception (class 08)", pgError("connection failure", "08006"), "unavailable"],
    [
      "an admin shutdown",
      pgError("terminating connection due to administrator command", "57P01"),
      "unavailable",
    ],
    ["a crash shutdown", pgError("terminating connection", "57P02"), "unavailable"],
    ["cannot connect now", pgError("the database system is starting up", "57P03"), "unavailable"],
    ["too many connections", pgError("sorry, too many clients already", "53300"), "unavailable"],
    ["a refused socket", pgError("connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED"), "unavailable"],
    ["a reset socket", pgError("read ECONNRESET", "ECONNRESET"), "unavailable"],
    ["a dropped connection (no code)", pgError("Connection terminated unexpectedly"), "unavailable"],
    ["a pool timeout (no code)", pgError("timeout exceeded when trying to connect"), "unavailable"],
    ["a unique violation", pgError("duplicate key value", "23505"), "query"],
    ["a serialization failure", pgError("could not serialize access", "40001"), "query"],
    ["a plain error", new Error("boom"), undefined],
    ["a fetch failure", new TypeError("fetch failed"), undefined],
    ["a non-error", "text", undefined],
    ["null", null, undefined],
  ])("should classify %s", (_name, err, kind) => {
    expect(classifyPgError(err)).toBe(kind);
  });
});

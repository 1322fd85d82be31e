import { FetchBackoffAbortError, FetchError, type Row, ShapeStream } from "@electric-sql/client";
import { describe, expect, it } from "vitest";
import { classifyError } from "../../src/bridge/classify-error.js";
import { formatElectricError } from "../../src/bridge/electric-error.js";
import { NotAShapeEndpointError } from "../../src/bridge/electric-fetch.js";
import { FencedError } from "../../src/domain/errors.js";
import { FakeFetch, shapeResponse } from "../support/fake-electric.js";

const SECRET_URL = "http://shape.internal:3999/v1/shape?table=t&secret=s3cr3t";

/**
 * The Electric client's own MissingHeadersError (not exported): what its ShapeStream reports when
 * a 200 lacks `electric-schema`.
 */
async function clientMissingHeadersError(): Promise<Error> {
  const fake = new FakeFetch(() => shapeResponse({ offset: "0_0", omit: ["electric-schema"] }));
  const aborter = new AbortController();
  try {
    return await new Promise<Error>((resolve) => {
      const stream = new ShapeStream<Row<unknown>>({
        url: SECRET_URL,
        params: { table: "t" },
        signal: aborter.signal,
        fetchClient: fake.fetch,
        onError: (err) => {
          resolve(err);
        },
      });
      stream.subscribe(() => {});
    });
  } finally {
    aborter.abort();
  }
}

function fetchError(status: number, body: { json?: object; text?: string }, headers = {}): FetchError {
  return new FetchError(status, body.text, body.json, headers, SECRET_URL);
}

describe("classifyError", () => {
  it("should retry 5xx and 429 with the server's retry-after as the floor", () => {
    expect(classifyError(fetchError(503, { text: "starting" }, { "retry-after": "2" }))).toEqual({
      kind: "retryable",
      message: "shape endpoint answered 503: starting",
      retryAfterMs: 2_000,
    });
    const tooMany = classifyError(fetchError(429, { json: { message: "slow down" } }));
    expect(tooMany).toMatchObject({ kind: "retryable", retryAfterMs: 0 });
    expect(tooMany.kind === "retryable" && tooMany.message).toContain("slow down");
  });

  it("should fail other 4xx permanently, quoting Electric's field errors", () => {
    const verdict = classifyError(
      fetchError(400, { json: { message: "Invalid request", errors: { where: ["unknown column x"] } } }),
    );
    expect(verdict).toEqual({
      kind: "permanent",
      message: "shape endpoint rejected the shape (400): where: unknown column x",
    });
  });

  it("should fail a non-Electric endpoint permanently (MissingHeadersError has no name of its own)", async () => {
    const err = await clientMissingHeadersError();
    expect(err.name).toBe("Error"); // the client forgets to name it; we must not rely on the name
    expect(err.message).toContain("required headers");
    for (const e of [err, new NotAShapeEndpointError(200)]) {
      const verdict = classifyError(e);
      expect(verdict.kind).toBe("permanent");
      expect(verdict.kind === "permanent" && verdict.message).toMatch(/not an Electric shape log/);
    }
  });

  it("should never put the endpoint URL or its secret into a message", async () => {
    const errors: unknown[] = [
      await clientMissingHeadersError(),
      new Error(`request to ${SECRET_URL} failed`),
      new TypeError("fetch failed", { cause: { code: "ECONNREFUSED", message: `connect ${SECRET_URL}` } }),
    ];
    for (const err of errors) {
      const verdict = classifyError(err);
      const message = "message" in verdict ? verdict.message : "";
      expect(message).not.toContain("shape.internal");
      expect(message).not.toContain("s3cr3t");
    }
  });

  it("should report a network failure as unreachable without its cause", () => {
    const verdict = classifyError(new TypeError("fetch failed", { cause: { code: "ENOTFOUND" } }));
    expect(verdict).toEqual({ kind: "retryable", message: "shape endpoint unreachable", retryAfterMs: 0 });
  });

  it("should retry state-database errors and end on fencing and aborts", () => {
    const pgError = Object.assign(new Error("connection terminated"), { code: "57P01" });
    expect(classifyError(pgError)).toMatchObject({ kind: "retryable" });
    expect(classifyError(new FencedError("r1", 3n))).toMatchObject({ kind: "fenced" });
    expect(classifyError(new FetchBackoffAbortError())).toEqual({ kind: "aborted" });
    expect(classifyError(new DOMException("aborted", "AbortError"))).toEqual({ kind: "aborted" });
  });
});

describe("formatElectricError", () => {
  it.each<[string, { json?: unknown; text?: string }, string]>([
    [
      "field errors",
      { json: { message: "Invalid", errors: { where: ["bad"], table: "x" } } },
      'where: bad; table: "x"',
    ],
    ["field errors in text", { text: '{"errors":{"columns":["nope"]}}' }, "columns: nope"],
    ["a message", { json: { message: "Shape gone", errors: {} } }, "Shape gone"],
    ["plain text, capped", { text: "x".repeat(600) }, "x".repeat(500)],
    ["nothing", {}, "HTTP 502"],
  ])("should format %s", (_, body, expected) => {
    expect(formatElectricError(502, body)).toBe(expected);
  });
});

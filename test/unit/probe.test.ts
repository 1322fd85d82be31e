import { describe, expect, it } from "vitest";
import { probeShape } from "../../src/bridge/probe.js";
import { createBackoff } from "../../src/domain/backoff.js";
import {
  InvalidSourceOptionsError,
  ShapeProbeFailedError,
  UnavailableError,
} from "../../src/domain/errors.js";
import type { CanonicalSourceOptions } from "../../src/domain/source-ref.js";
import { FakeFetch, shapeResponse } from "../support/fake-electric.js";

const URL_ = "http://shape.test:3000/v1/shape";
const OPTIONS: CanonicalSourceOptions = {
  table: "todos",
  where: "done = $1",
  params: ["false"],
  replica: "default",
};

/** A fake clock the probe's sleeps advance, so retries take no real time. */
function fakeTime() {
  let t = 1_000_000;
  const slept: number[] = [];
  const now = () => t;
  const backoff = createBackoff({
    initialDelayMs: 100,
    maxDelayMs: 1_000,
    random: () => 0.5,
    now,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  });
  return { now, backoff, slept };
}

const jsonError = (status: number, body: object, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

describe("probeShape", () => {
  it("should ask for the shape at offset=now with log=changes_only and return the first cursor", async () => {
    const fake = new FakeFetch(() => shapeResponse({ handle: "h9", offset: "5_0" }));
    const result = await probeShape(URL_, OPTIONS, { fetchFn: fake.fetch });
    expect(result).toEqual({ shapeHandle: "h9", shapeOffset: "5_0", logMode: "changes_only" });
    const url = fake.urls[0] as URL;
    expect(Object.fromEntries(url.searchParams)).toEqual({
      table: "todos",
      where: "done = $1",
      "params[1]": "false",
      replica: "default",
      log: "changes_only",
      offset: "now",
    });
  });

  it("should retry 503 within its budget, honouring Retry-After as the floor", async () => {
    const time = fakeTime();
    const fake = new FakeFetch((_, n) =>
      n < 2
        ? jsonError(503, { message: "starting" }, { "retry-after": "2" })
        : shapeResponse({ offset: "0_0" }),
    );
    const result = await probeShape(URL_, OPTIONS, { fetchFn: fake.fetch, ...time });
    expect(result.shapeOffset).toBe("0_0");
    expect(time.slept).toEqual([2_000, 2_000]);
  });

  it("should end as UNAVAILABLE when the endpoint stays unavailable for the whole budget", async () => {
    const time = fakeTime();
    const fake = new FakeFetch(() => jsonError(503, { message: "starting" }));
    const err = await probeShape(URL_, OPTIONS, { fetchFn: fake.fetch, timeoutMs: 1_000, ...time }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/temporarily unavailable \(503: starting\)/);
    expect(time.slept.reduce((a, b) => a + b, 0)).toBeLessThan(1_000);
  });

  it("should quote Electric's field errors when it rejects the shape", async () => {
    const fake = new FakeFetch(() =>
      jsonError(400, { message: "Invalid request", errors: { table: ["relation todos does not exist"] } }),
    );
    const err = await probeShape(URL_, OPTIONS, { fetchFn: fake.fetch }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShapeProbeFailedError);
    expect((err as Error).message).toBe(
      "registration probe failed: the shape endpoint rejected the shape (400): table: relation todos does not exist",
    );
  });

  it.each<[string, object, CanonicalSourceOptions, string, string]>([
    ["a where error", { where: ["unknown column done"] }, OPTIONS, "options.where", "unknown column done"],
    ["a columns error", { columns: ["unknown column x"] }, OPTIONS, "options.columns", "unknown column x"],
    [
      "a where error about a missing parameter",
      { where: ["At location 5: parameter $2 was not provided"] },
      OPTIONS,
      "options.positional_params",
      "At location 5: parameter $2 was not provided",
    ],
    [
      "a params error on named params",
      { params: ["must be strings"] },
      { ...OPTIONS, params: { "1": "x" } },
      "options.named_params",
      "must be strings",
    ],
  ])(
    "should turn %s into INVALID_SOURCE_OPTIONS naming the option, keeping Electric's message",
    async (_n, errors, options, field, message) => {
      const fake = new FakeFetch(() => jsonError(400, { message: "Invalid request", errors }));
      const err = await probeShape(URL_, options, { fetchFn: fake.fetch }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidSourceOptionsError);
      expect((err as InvalidSourceOptionsError).field).toBe(field);
      expect((err as Error).message).toBe(`${field}: ${message}`);
    },
  );

  it("should say where shape endpoints usually are when the answer is not a shape log", async () => {
    const fake = new FakeFetch(() => new Response("<html>hello</html>", { status: 200 }));
    const err = await probeShape(URL_, OPTIONS, { fetchFn: fake.fetch }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShapeProbeFailedError);
    expect((err as Error).message).toMatch(/not an Electric shape log.*at the path \/v1\/shape$/);
    expect((err as Error).message).not.toContain("shape.test");
  });

  it("should not follow a redirect and name its status", async () => {
    const fake = new FakeFetch(
      () => new Response("moved", { status: 307, headers: { location: "http://10.0.0.1/v1/shape" } }),
    );
    const err = await probeShape(`${URL_}?secret=abc`, OPTIONS, { fetchFn: fake.fetch }).catch(
      (e: unknown) => e,
    );
    expect(fake.inits[0]?.redirect).toBe("manual");
    expect(err).toBeInstanceOf(ShapeProbeFailedError);
    // The endpoint is named once, without its URL (the default endpoint is internal).
    expect((err as Error).message).toMatch(
      /^registration probe failed: the shape endpoint answered 307 \(a redirect\); pg-sync does not follow redirects/,
    );
    expect((err as Error).message.match(/shape endpoint/g)).toHaveLength(1);
    expect((err as Error).message).not.toContain("shape.test");
    expect((err as Error).message).not.toContain("abc");
  });
});

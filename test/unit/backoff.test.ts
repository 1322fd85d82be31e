import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { abortableSleep, createBackoff, parseRetryAfterMs } from "../../src/domain/backoff.js";

describe("backoff", () => {
  it("should grow the cap exponentially up to the maximum (full jitter)", () => {
    const backoff = createBackoff({
      initialDelayMs: 100,
      maxDelayMs: 1_000,
      multiplier: 2,
      random: () => 0.999999,
    });
    expect([0, 1, 2, 3, 4, 10].map((a) => backoff.delayMs(a))).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it("should stay within [floor, cap] for any random value and attempt", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        fc.nat(100),
        fc.nat(5_000),
        (r, attempt, floor) => {
          const backoff = createBackoff({ initialDelayMs: 50, maxDelayMs: 2_000, random: () => r });
          const d = backoff.delayMs(attempt, floor);
          expect(d).toBeGreaterThanOrEqual(floor);
          expect(d).toBeLessThanOrEqual(Math.max(floor, 2_000));
        },
      ),
    );
  });

  it("should honour a server floor (Retry-After)", () => {
    const backoff = createBackoff({ random: () => 0 });
    expect(backoff.delayMs(0, 1_500)).toBe(1_500);
  });

  it("should sleep through the injected sleep and report the delay", async () => {
    const slept: number[] = [];
    const backoff = createBackoff({
      initialDelayMs: 10,
      random: () => 0.5,
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    expect(await backoff.wait(2)).toBe(20);
    expect(slept).toEqual([20]);
  });

  it("should end an abortable sleep early and clean up on abort", async () => {
    const aborter = new AbortController();
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const sleeping = abortableSleep(60_000, aborter.signal);
    aborter.abort();
    await sleeping;
    const after = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    expect(after).toBe(before);
  });

  it("should read Retry-After as seconds or as an HTTP date against the injected clock", () => {
    const now = () => Date.parse("2026-01-01T00:00:00Z");
    const backoff = createBackoff({ now });
    expect(backoff.retryAfterMs("3")).toBe(3_000);
    expect(backoff.retryAfterMs("Thu, 01 Jan 2026 00:00:05 GMT")).toBe(5_000);
    expect(backoff.retryAfterMs("Wed, 31 Dec 2025 23:59:00 GMT")).toBe(0);
    expect(backoff.retryAfterMs("soon")).toBeUndefined();
    expect(parseRetryAfterMs(null)).toBeUndefined();
    expect(parseRetryAfterMs("-4")).toBe(0);
  });
});

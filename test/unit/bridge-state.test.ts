import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BridgeEvent,
  type BridgeStatus,
  isTerminal,
  transition,
} from "../../src/domain/bridge-state.js";
import type { SourceState } from "../../src/domain/source.js";

const s = (state: SourceState, lastError?: string): BridgeStatus => ({ state, lastError });

describe("bridge state machine", () => {
  it.each<[BridgeStatus, BridgeEvent, SourceState, string]>([
    [s("IDLE"), { type: "start" }, "STARTING", "open-stream"],
    [s("FAILED", "x"), { type: "start" }, "STARTING", "open-stream"],
    [s("STARTING"), { type: "committed", upToDate: true }, "LIVE", "none"],
    [s("STARTING"), { type: "committed", upToDate: false }, "STARTING", "none"],
    [s("BACKING_OFF", "503"), { type: "committed", upToDate: false }, "STARTING", "none"],
    [s("BACKING_OFF", "503"), { type: "committed", upToDate: true }, "LIVE", "none"],
    [s("LIVE"), { type: "retryable-error", message: "503" }, "BACKING_OFF", "schedule-retry"],
    [s("LIVE"), { type: "permanent-error", message: "400" }, "FAILED", "close-stream"],
    [s("LIVE"), { type: "stop" }, "STOPPED", "close-stream"],
    [s("LIVE"), { type: "idle" }, "IDLE", "close-stream"],
    [s("FAILED", "400"), { type: "idle" }, "FAILED", "none"],
    [s("STOPPED"), { type: "committed", upToDate: true }, "STOPPED", "none"],
    [s("STOPPED"), { type: "retryable-error", message: "x" }, "STOPPED", "none"],
  ])("should go from %j on %j to %s (%s)", (from, event, state, action) => {
    const next = transition(from, event);
    expect(next.status.state).toBe(state);
    expect(next.action).toBe(action);
  });

  it.each<[BridgeStatus, BridgeEvent, SourceState, string, boolean]>([
    [s("BACKING_OFF", "503"), { type: "retry" }, "BACKING_OFF", "open-stream", false],
    [s("LIVE"), { type: "fenced", message: "gen 3" }, "STOPPED", "close-stream", false],
    [s("BACKING_OFF", "x"), { type: "source-gone" }, "STOPPED", "close-stream", false],
    [s("LIVE"), { type: "stop" }, "STOPPED", "close-stream", true],
    [s("STARTING"), { type: "permanent-error", message: "p" }, "FAILED", "close-stream", true],
    [s("FAILED", "p"), { type: "retryable-error", message: "e" }, "FAILED", "none", false],
    [s("IDLE"), { type: "fenced", message: "f" }, "IDLE", "none", false],
  ])("should go from %j on %j to %s (%s, persist %s)", (from, event, state, action, persist) => {
    const next = transition(from, event);
    expect([next.status.state, next.action, next.persist]).toEqual([state, action, persist]);
  });

  it("should end the bridge exactly in FAILED, STOPPED and IDLE", () => {
    const ended = (["STARTING", "LIVE", "BACKING_OFF", "FAILED", "STOPPED", "IDLE"] as const).filter((st) =>
      isTerminal(s(st)),
    );
    expect(ended).toEqual(["FAILED", "STOPPED", "IDLE"]);
  });

  it("should keep the error visible while backing off and clear it when live", () => {
    const backingOff = transition(s("LIVE"), {
      type: "retryable-error",
      message: "shape endpoint answered 503",
    });
    expect(backingOff.status.lastError).toBe("shape endpoint answered 503");
    expect(
      transition(backingOff.status, { type: "committed", upToDate: true }).status.lastError,
    ).toBeUndefined();
  });

  it("should report a change only when state or error changes", () => {
    expect(transition(s("LIVE"), { type: "committed", upToDate: true }).changed).toBe(false);
    expect(transition(s("STARTING"), { type: "committed", upToDate: true }).changed).toBe(true);
  });

  it("should never leave STOPPED except by start, for any event sequence", () => {
    const event = fc.oneof(
      fc.constant<BridgeEvent>({ type: "committed", upToDate: true }),
      fc.constant<BridgeEvent>({ type: "committed", upToDate: false }),
      fc.constant<BridgeEvent>({ type: "retryable-error", message: "e" }),
      fc.constant<BridgeEvent>({ type: "permanent-error", message: "p" }),
      fc.constant<BridgeEvent>({ type: "idle" }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => {
        let status = s("STOPPED");
        for (const e of events) {
          status = transition(status, e).status;
          expect(status.state).toBe("STOPPED");
        }
      }),
    );
  });

  it("should only reach FAILED through a permanent error", () => {
    const event = fc.oneof(
      fc.constant<BridgeEvent>({ type: "start" }),
      fc.constant<BridgeEvent>({ type: "committed", upToDate: true }),
      fc.constant<BridgeEvent>({ type: "retryable-error", message: "e" }),
      fc.constant<BridgeEvent>({ type: "permanent-error", message: "p" }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => {
        let status = s("STARTING");
        for (const e of events) {
          const before = status.state;
          status = transition(status, e).status;
          if (status.state === "FAILED" && before !== "FAILED") expect(e.type).toBe("permanent-error");
        }
      }),
    );
  });
});

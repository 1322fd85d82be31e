import { describe, expect, it } from "vitest";
import { parseNotification } from "../../src/storage/notification-payload.js";

const REF = "0123456789abcdef";

describe("parseNotification", () => {
  it.each([
    ["changes", `{"t":"tenant-a","r":"${REF}","h":7}`, { type: "appended", headSeq: 7n }],
    ["changes", `{"t":"tenant-a","r":"${REF}","h":"9223372036854775807"}`, { headSeq: 9223372036854775807n }],
    ["sources", `{"t":"tenant-a","r":"${REF}","s":"FAILED"}`, { type: "source", sourceRef: REF }],
    [
      "sources",
      `{"t":"tenant-a","r":"${REF}","s":"STOPPED","d":true}`,
      { type: "source", tenant: "tenant-a" },
    ],
  ] as const)("should accept what pg-sync sends on %s: %s", (channel, payload, event) => {
    const parsed = parseNotification(channel, payload);
    expect(parsed.ok && parsed.event).toMatchObject(event);
  });

  it.each([
    ["changes", `{"t":"tenant-a","r":"${REF}","h":"zz"}`, /^h: /],
    ["changes", `{"t":"tenant-a","r":"${REF}","h":"1e5"}`, /^h: /],
    ["changes", `{"t":"tenant-a","r":"${REF}","h":1.5}`, /^h: /],
    ["changes", `{"t":"tenant-a","r":"${REF}","h":-1}`, /^h: /],
    ["changes", `{"t":"tenant-a","r":"${REF}","h":"9223372036854775808"}`, /^h: out of range/],
    ["changes", `{"t":"tenant-a","r":"${REF}"}`, /^h: /],
    ["changes", `{"t":"","r":"${REF}","h":1}`, /^t: /],
    ["changes", `{"t":"tenant-a","r":"XYZ","h":1}`, /^r: is not a source_ref/],
    ["changes", "null", /./],
    ["changes", "[]", /./],
    ["changes", "not json", /^not JSON$/],
    ["changes", "", /^not JSON$/],
    ["sources", `{"t":"tenant-a","r":"${REF}","s":"BOGUS"}`, /^s: /],
    ["sources", `{"t":"tenant-a","r":"${REF}","d":"yes"}`, /^d: /],
    ["sources", `{"t":5,"r":"${REF}"}`, /^t: /],
  ] as const)("should refuse on %s: %s", (channel, payload, problem) => {
    const parsed = parseNotification(channel, payload);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problem).toMatch(problem);
    // The problem never echoes the payload.
    if (!parsed.ok && payload.length > 4) expect(parsed.problem).not.toContain(payload);
  });
});

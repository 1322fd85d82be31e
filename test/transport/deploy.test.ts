import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ROOT } from "../../scripts/lib/processes.js";
import { familyNames, type Sample, scrape } from "../support/prometheus.js";
import { type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

/** The alert rules and dashboard operators deploy (docs/operations.md). */
const RULES_FILE = join(ROOT, "deploy/prometheus/alerts.yaml");
const DASHBOARD_FILE = join(ROOT, "deploy/grafana/pg-sync.json");

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = new Set(["instance", "job"]);

interface Rule {
  alert?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

function ruleExprs(): string[] {
  const doc = parse(readFileSync(RULES_FILE, "utf8")) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => r.expr as string));
}

function dashboardExprs(): string[] {
  const doc = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as {
    panels: { targets?: { expr: string }[] }[];
    templating: { list: { query?: unknown }[] };
  };
  const queries = doc.templating.list.flatMap((v) =>
    typeof v.query === "string" && v.query.includes("(") ? [v.query] : [],
  );
  return [...doc.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...queries];
}

/** Every pg-sync, process or Node.js metric an expression names, with its label matchers. */
function metricRefs(expr: string): { name: string; labels: string[] }[] {
  return [...expr.matchAll(/\b((?:pgsync|process|nodejs)_[a-zA-Z0-9_]+)(?:\{([^}]*)\})?/g)].map((m) => ({
    name: m[1] as string,
    labels: [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map(
      (l) => l[1] as string,
    ),
  }));
}

function balanced(expr: string): boolean {
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  const stack: string[] = [];
  for (const ch of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if ("([{".includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0;
}

let stack: Stack;
let exposition: { text: string; samples: Sample[] };

beforeAll(async () => {
  stack = await startStack();
  await stack.sql.query("CREATE TABLE deployed (id int PRIMARY KEY)");
  // A watched source, so the per-source series have samples whose labels can be checked.
  const { sourceRef } = await stack.a.registerSource({ options: { table: "deployed" } });
  const aborter = new AbortController();
  const frames = stack.a
    .watchWakes({ sourceRefs: [sourceRef] }, { signal: aborter.signal })
    [Symbol.asyncIterator]();
  await frames.next();
  await stack.sql.query("INSERT INTO deployed VALUES (1)");
  await frames.next();
  exposition = await waitFor(
    async () => {
      const scraped = await scrape(stack.url);
      return scraped.samples.some((s) => s.name === "pgsync_source_lag_seconds") ? scraped : undefined;
    },
    { what: "a lag sample" },
  );
  aborter.abort();
});

afterAll(async () => {
  await stack?.close();
});

/** Sample names the server exposes: every family, with the suffixes of histograms and summaries. */
function exposedNames(): Set<string> {
  const names = familyNames(exposition.text);
  for (const s of exposition.samples) names.add(s.name);
  return names;
}

/** The label names a metric's samples carry (a histogram's through its `_bucket`/`_count`). */
function labelsOf(name: string): Set<string> {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const labels = new Set<string>(TARGET_LABELS);
  for (const s of exposition.samples) {
    if (s.name === name || s.name.replace(/_(bucket|sum|count)$/, "") === base) {
      for (const key of Object.keys(s.labels)) labels.add(key);
    }
  }
  return labels;
}

describe.each([
  ["the alert rules", ruleExprs],
  ["the dashboard", dashboardExprs],
])("%s", (_name, exprs) => {
  it("should name only metrics and labels the server's /metrics exposes", () => {
    const names = exposedNames();
    const refs = exprs().flatMap(metricRefs);
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs) {
      expect(names.has(ref.name), `${ref.name} in /metrics`).toBe(true);
      const known = labelsOf(ref.name);
      for (const label of ref.labels) expect(known.has(label), `${ref.name} has label ${label}`).toBe(true);
    }
  });

  it("should have balanced brackets in every expression", () => {
    for (const expr of exprs()) expect(balanced(expr), expr).toBe(true);
  });
});

describe("the alert rules file", () => {
  it("should be Prometheus rule groups: named alerts with an expression, a duration, a severity and a summary", () => {
    const doc = parse(readFileSync(RULES_FILE, "utf8")) as { groups?: { name?: unknown; rules?: Rule[] }[] };
    expect(Array.isArray(doc.groups) && doc.groups.length > 0).toBe(true);
    const alerts = new Set<string>();
    for (const group of doc.groups ?? []) {
      expect(typeof group.name).toBe("string");
      for (const rule of group.rules ?? []) {
        expect(
          Object.keys(rule).every((k) => ["alert", "expr", "for", "labels", "annotations"].includes(k)),
        ).toBe(true);
        expect(rule.alert).toMatch(/^PgSync[A-Za-z]+$/);
        expect(alerts.has(rule.alert as string), `${rule.alert} is unique`).toBe(false);
        alerts.add(rule.alert as string);
        expect(typeof rule.expr).toBe("string");
        if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smhd]$/);
        expect(["warning", "critical"]).toContain(rule.labels?.severity);
        expect(typeof rule.annotations?.summary).toBe("string");
      }
    }
    // What operators asked to be alerted on: lag, FAILED sources, gaps, stalled streams.
    const exprs = ruleExprs().join("\n");
    for (const metric of [
      "pgsync_source_lag_seconds",
      'pgsync_bridges{state="FAILED"}',
      "pgsync_gaps_logged_total",
      "pgsync_watch_backlog_entries",
    ]) {
      expect(exprs).toContain(metric);
    }
  });

  it("should label FAILED and BACKING_OFF with states the server reports", () => {
    const states = new Set(
      exposition.samples.filter((s) => s.name === "pgsync_bridges").map((s) => s.labels.state),
    );
    for (const m of ruleExprs()
      .join("\n")
      .matchAll(/pgsync_bridges\{state="([A-Z_]+)"\}/g)) {
      expect(states.has(m[1])).toBe(true);
    }
  });
});

/** The benchmark report: a markdown table on stdout and JSON files under bench/results. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HtmlReportInput, renderHtmlReport } from "./html-report.js";

/** One measured figure. */
export interface BenchResult {
  /** Stable id. */
  readonly id: string;
  /** What was measured. */
  readonly name: string;
  /** Measured value. */
  readonly value: number;
  /** Unit of `value`. */
  readonly unit: string;
  /** Baseline measured in the same run, if any. */
  readonly baseline: number | null;
  /** `value / baseline`. */
  readonly ratio: number | null;
  /** Target, if any. */
  readonly goal: number | null;
  /** Whether the target is met (null without a goal). */
  readonly met: boolean | null;
}

function fmt(value: number | null, fixed?: number): string {
  if (value === null || Number.isNaN(value)) return "–";
  const digits = fixed ?? (Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0);
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Prints the results as a markdown table. */
export function printTable(results: readonly BenchResult[]): void {
  console.log("\n| id | measurement | value | baseline | ratio | goal | met |");
  console.log("|---|---|---:|---:|---:|---:|:---:|");
  for (const r of results) {
    const met = r.met === null ? "–" : r.met ? "yes" : "no";
    console.log(
      `| ${r.id} | ${r.name} | ${fmt(r.value)} ${r.unit} | ${fmt(r.baseline)} | ${fmt(r.ratio, 2)} | ${fmt(r.goal)} | ${met} |`,
    );
  }
}

/** Writes `latest.json`, a dated copy and `report.html`; returns their paths. */
export function writeResults(dir: string, report: HtmlReportInput): string[] {
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const files = [join(dir, "latest.json"), join(dir, `${stamp}.json`)];
  for (const file of files) writeFileSync(file, text);
  const html = join(dir, "report.html");
  writeFileSync(html, renderHtmlReport(report));
  return [...files, html];
}

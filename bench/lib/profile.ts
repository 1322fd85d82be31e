/** Summary of a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function and by package. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One line of the summary. */
export interface ProfileEntry {
  readonly name: string;
  readonly selfMs: number;
  readonly share: number;
}

/** Top self-time functions and packages of a profile. */
export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  readonly functions: ProfileEntry[];
  readonly packages: ProfileEntry[];
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) return path.slice(nm + "node_modules/".length);
  const src = path.search(/\/(src|tools|bench|gen)\//);
  return src >= 0 ? path.slice(src + 1) : path;
}

function packageOf(url: string): string {
  if (url === "") return "(native / V8)";
  if (url.startsWith("node:")) return "node: core";
  const short = shortUrl(url);
  if (url.includes("node_modules/")) {
    const parts = short.split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return short.split("/").slice(0, 2).join("/");
}

function top(map: Map<string, number>, total: number, n: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, share: us / total }));
}

/** Summarises `file`: self time (ms) of the top `n` functions and packages; idle time excluded. */
export function summariseProfile(file: string, n = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)" || functionName === "(program)") return;
    total += us;
    const fn = `${functionName || "(anonymous)"} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ""}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const pkg = functionName === "(garbage collector)" ? "(garbage collector)" : packageOf(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  });
  return {
    file,
    totalMs: Math.round(total / 1000),
    functions: top(byFunction, total, n),
    packages: top(byPackage, total, n),
  };
}

/** The newest `.cpuprofile` in `dir`. */
export function newestProfile(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(dir, f));
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** Markdown rendering of a summary. */
export function formatProfile(s: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
  const lines = [
    `CPU profile ${s.file}: ${s.totalMs} ms of non-idle samples`,
    "",
    "| self ms | share | package |",
  ];
  lines.push("|---:|---:|---|");
  for (const e of s.packages) lines.push(`| ${e.selfMs} | ${pct(e.share)} | ${e.name} |`);
  lines.push("", "| self ms | share | function |", "|---:|---:|---|");
  for (const e of s.functions) lines.push(`| ${e.selfMs} | ${pct(e.share)} | \`${e.name}\` |`);
  return lines.join("\n");
}

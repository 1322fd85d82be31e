/**
 * `bench/results/report.html`: the results table, latency distributions as CDFs and throughput
 * over time, as inline SVG (no scripts, no CDN). Reads what scenarios put in the report:
 * `results`, `breakdown.distributions` (raw samples per series) and `breakdown.timeseries`
 * (cumulative counts over time).
 */
import type { BenchResult } from "./report.js";

interface Distribution {
  readonly unit: string;
  readonly series: Record<string, number[]>;
}
interface TimeSeries {
  readonly unit: string;
  readonly points: [number, number][];
}
/** What the HTML report reads from latest.json. */
export interface HtmlReportInput {
  readonly machine: Record<string, unknown>;
  readonly versions: Record<string, unknown>;
  readonly results: readonly BenchResult[];
  readonly breakdown: Record<string, unknown>;
  readonly date: string;
}

const W = 640;
const H = 300;
const PAD = { left: 60, right: 180, top: 20, bottom: 40 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

const esc = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
const num = (x: number | null): string =>
  x === null || Number.isNaN(x) ? "–" : x.toLocaleString("en-US", { maximumSignificantDigits: 4 });

/** An SVG chart frame with axes, ticks and a legend; `lines` are [label, points in data space]. */
function chart(
  lines: [string, [number, number][]][],
  axes: { x: string; y: string; logX?: boolean },
): string {
  const all = lines.flatMap(([, pts]) => pts);
  if (all.length === 0) return "<p>(no data)</p>";
  const fx = (x: number) => (axes.logX ? Math.log10(Math.max(x, 1e-3)) : x);
  const xs = all.map(([x]) => fx(x));
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys)];
  const sx = (x: number) => PAD.left + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => H - PAD.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - PAD.top - PAD.bottom);
  const ticks = Array.from({ length: 5 }, (_, i) => i / 4);
  const xTicks = ticks.map((t) => {
    const v = x0 + t * (x1 - x0);
    const label = axes.logX ? 10 ** v : v;
    const px = PAD.left + t * (W - PAD.left - PAD.right);
    return `<text x="${px}" y="${H - PAD.bottom + 16}" text-anchor="middle">${num(label)}</text>`;
  });
  const yTicks = ticks.map((t) => {
    const v = y0 + t * (y1 - y0);
    return `<text x="${PAD.left - 6}" y="${sy(v) + 4}" text-anchor="end">${num(v)}</text><line x1="${PAD.left}" x2="${W - PAD.right}" y1="${sy(v)}" y2="${sy(v)}" stroke="#eee"/>`;
  });
  const paths = lines.map(([label, pts], i) => {
    const colour = COLOURS[i % COLOURS.length];
    const d = pts
      .map(([x, y], j) => `${j === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join("");
    const ly = PAD.top + 16 * i;
    return `<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5"/><rect x="${W - PAD.right + 10}" y="${ly}" width="10" height="10" fill="${colour}"/><text x="${W - PAD.right + 24}" y="${ly + 9}">${esc(label)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="11" font-family="sans-serif">
<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#333"/>
<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#333"/>
${yTicks.join("")}${xTicks.join("")}${paths.join("")}
<text x="${(W - PAD.right + PAD.left) / 2}" y="${H - 6}" text-anchor="middle">${esc(axes.x)}</text>
<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">${esc(axes.y)}</text></svg>`;
}

/** A CDF per series (log x when the values span more than two decades), with its quantiles. */
function cdfSection(title: string, d: Distribution): string {
  const lines = Object.entries(d.series).map(([label, values]): [string, [number, number][]] => {
    const sorted = [...values].sort((a, b) => a - b);
    return [label, sorted.map((v, i) => [v, (i + 1) / sorted.length])];
  });
  const positive = lines.flatMap(([, p]) => p.map(([x]) => x)).filter((x) => x > 0);
  const logX = positive.length > 0 && Math.max(...positive) / Math.min(...positive) > 100;
  const q = (values: number[], p: number) => {
    const s = [...values].sort((a, b) => a - b);
    return s.length ? (s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] as number) : Number.NaN;
  };
  const rows = Object.entries(d.series)
    .map(
      ([label, v]) =>
        `<tr><td>${esc(label)}</td><td>${v.length}</td><td>${num(q(v, 0.5))}</td><td>${num(q(v, 0.9))}</td><td>${num(q(v, 0.99))}</td><td>${num(q(v, 1))}</td></tr>`,
    )
    .join("");
  return `<h3>${esc(title)}</h3>${chart(lines, { x: `${d.unit}${logX ? " (log scale)" : ""}`, y: "fraction ≤ x", logX })}
<table><tr><th>series</th><th>samples</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>${rows}</table>`;
}

/** Rate per second over time from cumulative counts, in windows of about `windowMs`. */
function throughputSection(title: string, s: TimeSeries, windowMs = 250): string {
  const rates: [number, number][] = [];
  let last = s.points[0];
  for (const p of s.points.slice(1)) {
    if (!last || p[0] - last[0] < windowMs) continue;
    rates.push([p[0] / 1000, ((p[1] - last[1]) / (p[0] - last[0])) * 1000]);
    last = p;
  }
  const cumulative: [number, number][] = s.points.map(([t, n]) => [t / 1000, n]);
  return `<h3>${esc(title)}</h3>${chart([[`${s.unit}/s`, rates]], { x: "s since the load started", y: `${s.unit}/s` })}
${chart([[`${s.unit} (cumulative)`, cumulative]], { x: "s since the load started", y: s.unit })}`;
}

/** The whole page. */
export function renderHtmlReport(r: HtmlReportInput): string {
  const results = r.results
    .map(
      (x) =>
        `<tr><td>${esc(x.id)}</td><td>${esc(x.name)}</td><td>${num(x.value)} ${esc(x.unit)}</td><td>${num(x.baseline)}</td><td>${num(x.ratio)}</td><td>${num(x.goal)}</td><td>${x.met === null ? "–" : x.met ? "yes" : "<b>no</b>"}</td></tr>`,
    )
    .join("\n");
  const dists = (r.breakdown.distributions ?? {}) as Record<string, Distribution>;
  const series = (r.breakdown.timeseries ?? {}) as Record<string, TimeSeries>;
  return `<!doctype html><html><head><meta charset="utf-8"><title>pg-sync bench ${esc(r.date)}</title>
<style>body{font-family:sans-serif;max-width:1000px;margin:1em auto}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style></head><body>
<h1>pg-sync benchmarks</h1><p>${esc(r.date)} · ${esc(JSON.stringify(r.machine))} · ${esc(JSON.stringify(r.versions))}</p>
<h2>Figures (baseline measured in the same run)</h2>
<table><tr><th>id</th><th>measurement</th><th>value</th><th>baseline</th><th>ratio</th><th>goal</th><th>met</th></tr>${results}</table>
<h2>Latency distributions (CDF)</h2>${
    Object.entries(dists)
      .map(([t, d]) => cdfSection(t, d))
      .join("\n") || "<p>none in this run</p>"
  }
<h2>Throughput over time</h2>${
    Object.entries(series)
      .map(([t, s]) => throughputSection(t, s))
      .join("\n") || "<p>none in this run</p>"
  }
</body></html>\n`;
}

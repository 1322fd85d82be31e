/**
 * What a V8 heap snapshot holds, by constructor: shallow (self) sizes summed per node type and
 * name, and the difference between two snapshots divided by a count (e.g. bytes per source).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../scripts/lib/processes.js";
import { pollUntil } from "./metrics.js";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size in bytes and object count per `type:name`. */
export function heapByConstructor(file: string): Map<string, { bytes: number; count: number }> {
  const s = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const stride = fields.length;
  const [typeAt, nameAt, sizeAt] = [
    fields.indexOf("type"),
    fields.indexOf("name"),
    fields.indexOf("self_size"),
  ];
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < s.nodes.length; i += stride) {
    const type = types[s.nodes[i + typeAt] as number] ?? "?";
    // Strings and arrays are named by content or are anonymous: group them by type alone.
    const named = type === "object" || type === "closure" || type === "native" || type === "code";
    const key = named ? `${type}:${(s.strings[s.nodes[i + nameAt] as number] ?? "").slice(0, 80)}` : type;
    const entry = out.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += s.nodes[i + sizeAt] as number;
    entry.count += 1;
    out.set(key, entry);
  }
  return out;
}

/** One row of a per-unit heap breakdown. */
export interface HeapRow {
  readonly what: string;
  readonly bytesPerUnit: number;
  readonly objectsPerUnit: number;
}

/** Heap growth from `before` to `after` per unit (e.g. per source): total and the top `top` constructors. */
export function summariseHeapSnapshot(
  before: string,
  after: string,
  units: number,
  top = 20,
): { totalBytesPerUnit: number; rows: HeapRow[] } {
  const a = heapByConstructor(before);
  const b = heapByConstructor(after);
  const rows: HeapRow[] = [];
  let total = 0;
  for (const [what, { bytes, count }] of b) {
    const was = a.get(what) ?? { bytes: 0, count: 0 };
    const grew = (bytes - was.bytes) / units;
    total += grew;
    rows.push({
      what,
      bytesPerUnit: Math.round(grew),
      objectsPerUnit: Math.round(((count - was.count) / units) * 10) / 10,
    });
  }
  rows.sort((x, y) => y.bytesPerUnit - x.bytesPerUnit);
  return { totalBytesPerUnit: Math.round(total), rows: rows.slice(0, top) };
}

/**
 * Sends SIGUSR2 to `pid` (started with `--heapsnapshot-signal=SIGUSR2`, so it writes a snapshot
 * into its working directory, the repository root) and waits for the new file to be complete.
 */
export async function heapSnapshot(pid: number): Promise<string> {
  const before = new Set(readdirSync(ROOT).filter((f) => f.endsWith(".heapsnapshot")));
  process.kill(pid, "SIGUSR2");
  let file = "";
  let size = -1;
  await pollUntil(
    async () => {
      file = readdirSync(ROOT).find((f) => f.endsWith(".heapsnapshot") && !before.has(f)) ?? "";
      if (!file) return false;
      const now = statSync(join(ROOT, file)).size;
      const stable = now > 0 && now === size;
      size = now;
      return stable;
    },
    { timeoutMs: 300_000, intervalMs: 1_000, what: "heap snapshot written" },
  );
  return join(ROOT, file);
}

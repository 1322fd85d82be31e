/** CPU time of processes from /proc (Linux), to see where a benchmark's time goes. */
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100;

function statOf(pid: number): { ppid: number; cpu: number; reaped: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state): ppid is field 4, utime/stime 14/15, cutime/cstime 16/17
    return {
      ppid: Number(fields[1]),
      cpu: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
      reaped: (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND,
    };
  } catch {
    return null;
  }
}

/** CPU seconds used so far by `pid`. */
export function cpuSeconds(pid: number): number {
  return statOf(pid)?.cpu ?? 0;
}

/**
 * CPU seconds used so far by `pid` and its children, live or exited (e.g. a postmaster and its
 * backends).
 */
export function treeCpuSeconds(pid: number): number {
  const root = statOf(pid);
  let total = root ? root.cpu + root.reaped : 0;
  for (const entry of readdirSync("/proc")) {
    const child = Number(entry);
    if (!Number.isInteger(child)) continue;
    const stat = statOf(child);
    if (stat?.ppid === pid) total += stat.cpu;
  }
  return total;
}

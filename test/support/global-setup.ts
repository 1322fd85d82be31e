import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin URL of the run's throwaway Postgres cluster. */
    pgUrl: string;
  }
}

const ROOT = resolve(import.meta.dirname, "../..");
const PG_SCRIPT = join(ROOT, "scripts/pg.sh");

/** Starts one Postgres cluster for the run (unless PGSYNC_TEST_PG_URL is set) and provides its URL. */
export default function setup(project: TestProject): () => void {
  const given = process.env.PGSYNC_TEST_PG_URL;
  if (given) {
    project.provide("pgUrl", given);
    return () => {};
  }
  const dir = mkdtempSync(join(tmpdir(), "pgsync-vitest-"));
  const url = execFileSync("bash", [PG_SCRIPT, "start", dir], { encoding: "utf8" }).trim();
  project.provide("pgUrl", url);
  return () => {
    execFileSync("bash", [PG_SCRIPT, "destroy", dir], { stdio: "inherit" });
  };
}

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** What this build is: reported by `pg-sync --version`, the start-up line and `pgsync_build_info`. */
export interface BuildInfo {
  /** The package version (package.json). */
  readonly version: string;
  /** The Node.js version running it. */
  readonly nodeVersion: string;
}

/**
 * The package.json of pg-sync: the nearest one above this module named `pg-sync` (the sources
 * run from `src/`, the build from `dist/src/`, so the depth differs).
 */
function readPackageVersion(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "pg-sync" && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) return "unknown";
  }
}

/** This process's build. */
export const BUILD_INFO: BuildInfo = Object.freeze({
  version: readPackageVersion(import.meta.dirname),
  nodeVersion: process.versions.node,
});

import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** The workspace client packages' entry points, as TypeScript sources. */
export const WORKSPACE_SOURCES = [
  { find: /^@pg-sync\/runtime\/source-ref$/, replacement: source("./clients/ts-runtime/src/source-ref.ts") },
  { find: /^@pg-sync\/runtime$/, replacement: source("./clients/ts-runtime/src/index.ts") },
  { find: /^@pg-sync\/agents$/, replacement: source("./clients/ts-agents/src/index.ts") },
];

/**
 * All tests: unit, integration (real Postgres) and full-server tests. The global setup starts one
 * throwaway Postgres cluster per run (unless `PGSYNC_TEST_PG_URL` names one) and each test file
 * creates its own database on it.
 */
export default defineConfig({
  // The workspace clients (@pg-sync/runtime, @pg-sync/agents) resolve to their built dist/ in
  // Node; tests run their TypeScript sources instead. Aliases, not a custom resolve condition:
  // replacing vite's SSR conditions made Node load OpenTelemetry's extensionless ESM build.
  resolve: { alias: WORKSPACE_SOURCES },
  test: {
    include: ["test/**/*.test.ts", "clients/ts-*/test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Memory assertions compare the live heap after a full GC.
    execArgv: ["--expose-gc"],
    maxWorkers: 2,
  },
});

import { defineConfig } from "vitest/config";

/**
 * All tests: unit, integration (real Postgres) and full-server tests. The global setup starts one
 * throwaway Postgres cluster per run (unless `PGSYNC_TEST_PG_URL` names one) and each test file
 * creates its own database on it.
 */
export default defineConfig({
  // The workspace clients (@pg-sync/runtime, @pg-sync/agents) export their TypeScript sources
  // under the "@pg-sync/source" condition and their built dist/ otherwise: tests run the source.
  ssr: { resolve: { conditions: ["@pg-sync/source", "module", "node", "development|production"] } },
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

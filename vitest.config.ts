import { defineConfig } from "vitest/config";

/**
 * All tests: unit, integration (real Postgres) and full-server tests. The global setup starts one
 * throwaway Postgres cluster per run (unless `PGSYNC_TEST_PG_URL` names one) and each test file
 * creates its own database on it.
 */
export default defineConfig({
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

import { defineConfig } from "vitest/config";

/** Unit tests only: no I/O, no global setup. */
export default defineConfig({
  // The workspace clients (@pg-sync/runtime, @pg-sync/agents) export their TypeScript sources
  // under the "@pg-sync/source" condition and their built dist/ otherwise: tests run the source.
  ssr: { resolve: { conditions: ["@pg-sync/source", "module", "node", "development|production"] } },
  test: {
    include: ["test/unit/**/*.test.ts"],
  },
});

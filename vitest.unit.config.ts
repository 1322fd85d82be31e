import { defineConfig } from "vitest/config";
import { WORKSPACE_SOURCES } from "./vitest.config.js";

/** Unit tests only: no I/O, no global setup. */
export default defineConfig({
  // The workspace clients (@pg-sync/runtime, @pg-sync/agents) resolve to their built dist/ in
  // Node; tests run their TypeScript sources instead. Aliases, not a custom resolve condition:
  // replacing vite's SSR conditions made Node load OpenTelemetry's extensionless ESM build.
  resolve: { alias: WORKSPACE_SOURCES },
  test: {
    include: ["test/unit/**/*.test.ts"],
  },
});

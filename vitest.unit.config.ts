import { defineConfig } from "vitest/config";

/** Unit tests only: no I/O, no global setup. */
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts"],
  },
});

#!/usr/bin/env node
// The `pg-sync` command: runs the compiled build (npm run build) when present, else the
// TypeScript sources through tsx (a checkout without a build).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = new URL("../dist/src/main.js", import.meta.url);
if (existsSync(fileURLToPath(compiled))) {
  const { runCommand } = await import(compiled.href);
  runCommand(process.argv);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const { runCommand } = await import(new URL("../src/main.ts", import.meta.url).href);
  runCommand(process.argv);
}

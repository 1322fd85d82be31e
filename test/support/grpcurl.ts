import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../scripts/lib/processes.js";

let cached: string | undefined;

/** Path of grpcurl, installed once into .tools/go/bin by scripts/tools.sh (go install). */
export function grpcurlPath(): string {
  cached ??= execFileSync("bash", [join(ROOT, "scripts/tools.sh"), "grpcurl"], { encoding: "utf8" }).trim();
  return cached;
}

/** Result of one grpcurl run. */
export interface GrpcurlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts grpcurl; stdout and stderr are collected apart. */
function spawnGrpcurl(args: string[]) {
  const child = spawn(grpcurlPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return { child, stdout: () => stdout, stderr: () => stderr };
}

/** Runs grpcurl with `args` against a plaintext address; resolves when it exits (killed after `timeoutMs`). */
export function grpcurl(args: string[], timeoutMs = 20_000): Promise<GrpcurlResult> {
  return new Promise((resolve, reject) => {
    const run = spawnGrpcurl(args);
    const timer = setTimeout(() => run.child.kill("SIGKILL"), timeoutMs);
    run.child.once("error", reject);
    run.child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: run.stdout(), stderr: run.stderr() });
    });
  });
}

/** A long-running grpcurl (e.g. a server stream) whose output (stdout then stderr) can be awaited. */
export function grpcurlStream(args: string[]) {
  const run = spawnGrpcurl(args);
  return {
    output: () => run.stdout() + run.stderr(),
    stop: () => run.child.kill("SIGTERM"),
  };
}

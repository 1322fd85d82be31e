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

/** Runs grpcurl with `args` against a plaintext address; resolves when it exits (killed after `timeoutMs`). */
export function grpcurl(args: string[], timeoutMs = 20_000): Promise<GrpcurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(grpcurlPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running grpcurl (e.g. a server stream) whose output can be awaited. */
export function grpcurlStream(args: string[]) {
  const child = spawn(grpcurlPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return {
    output: () => out,
    stop: () => child.kill("SIGTERM"),
  };
}

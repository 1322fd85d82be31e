/** Child processes of the benchmark: spawned TypeScript entry points whose stdout lines we await. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

/** Every child still running, killed (SIGKILL) if the orchestrator exits without stopping them. */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Registers a process started elsewhere so that it is killed when the orchestrator exits. */
export function track(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  live.add(child);
  child.once("exit", () => live.delete(child));
}

/** A running child with its output lines. */
export class Child {
  readonly #process: ChildProcess;
  readonly #lines: string[] = [];
  #stderr = "";
  readonly #waiters = new Set<() => void>();

  /** Spawns `node --import tsx <entry> ...args` (entry relative to the repository root). */
  constructor(entry: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
    this.#process = spawn(process.execPath, ["--import", "tsx", resolve(ROOT, entry), ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    track(this.#process);
    let partial = "";
    this.#process.stdout!.on("data", (data: Buffer) => {
      partial += data.toString();
      const parts = partial.split("\n");
      partial = parts.pop()!;
      this.#lines.push(...parts);
      for (const waiter of this.#waiters) waiter();
    });
    this.#process.stderr!.on("data", (data: Buffer) => {
      this.#stderr = (this.#stderr + data.toString()).slice(-4000);
    });
    this.#process.on("exit", () => {
      for (const waiter of this.#waiters) waiter();
    });
  }

  /** Process id. */
  get pid(): number {
    return this.#process.pid!;
  }

  /** Resolves with the first output line matching `pattern` (its match), or fails on exit/timeout. */
  async line(pattern: RegExp, timeoutMs = 120_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.#lines) {
        const match = pattern.exec(line);
        if (match) return match;
      }
      if (this.#process.exitCode !== null || this.#process.signalCode !== null) {
        throw new Error(`child exited (${this.#process.exitCode}) before ${pattern}: ${this.#stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}: ${this.#stderr}`);
      await new Promise<void>((done) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          done();
        };
        const timer = setTimeout(wake, 1000);
        this.#waiters.add(wake);
      });
    }
  }

  /** Parses the JSON after `<prefix> ` on the first line starting with it. */
  async json<T>(prefix: string, timeoutMs = 120_000): Promise<T> {
    const match = await this.line(new RegExp(`^${prefix} (.*)$`), timeoutMs);
    return JSON.parse(match[1]!) as T;
  }

  /** Waits for the process to exit by itself; returns its code. */
  async exited(): Promise<number | null> {
    if (this.#process.exitCode !== null) return this.#process.exitCode;
    const [code] = await once(this.#process, "exit");
    return code as number | null;
  }

  /** Sends SIGTERM and waits for the exit (SIGKILL after `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#process.exitCode !== null || this.#process.signalCode !== null) return;
    const exited = once(this.#process, "exit");
    this.#process.kill("SIGTERM");
    const timer = setTimeout(() => this.#process.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

import { type Config, ENV, SETTINGS } from "./config.js";
import { scrubUrl } from "./logger.js";
import { type Setting, type SettingName, TOOLING_PREFIXES, TOOLING_VARS } from "./settings.js";

/** A `PGSYNC_*` variable that is no setting, with the setting it most likely meant. */
export interface UnknownVariable {
  readonly name: string;
  /** The closest setting's variable, when one is close enough to be a misspelling. */
  readonly didYouMean: string | undefined;
}

/** Edit distance (insertions, deletions, substitutions) between two short strings. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The `PGSYNC_*` variables of `env` that are neither a setting nor one of the scripts' tooling
 * variables, each with the closest setting when it is within a third of its length (a typo, a
 * missing `S`, a swapped word).
 */
export function unknownVariables(env: NodeJS.ProcessEnv): UnknownVariable[] {
  const known = new Set(Object.values(ENV) as string[]);
  const names = Object.keys(env).filter(
    (name) =>
      name.startsWith("PGSYNC_") &&
      !known.has(name) &&
      !TOOLING_VARS.has(name) &&
      !TOOLING_PREFIXES.some((prefix) => name.startsWith(prefix)),
  );
  return names.sort().map((name) => {
    let best: { variable: string; distance: number } | undefined;
    for (const variable of known) {
      const distance = editDistance(name, variable);
      if (!best || distance < best.distance) best = { variable, distance };
    }
    const close = best && best.distance <= Math.max(2, Math.floor(name.length / 3));
    return { name, didYouMean: close ? best?.variable : undefined };
  });
}

/** What a secret shows as in the summary: whether it is set, never its value. */
const MASK = "[redacted]";

/**
 * The effective configuration for the start-up log line: every setting by its variable, with the
 * value in force (the environment's or the default); secrets show as `[redacted]` (the state
 * database URL keeps its host and database, without password), unset optional ones are omitted.
 */
export function configSummary(env: NodeJS.ProcessEnv, config: Config): Record<string, string> {
  const summary: Record<string, string> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting][]) {
    const raw = env[setting.env]?.trim();
    const value = raw ? raw : setting.default === undefined ? undefined : String(setting.default);
    if (value === undefined) continue;
    if (name === "databaseUrl") summary[setting.env] = scrubUrl(config.databaseUrl);
    else summary[setting.env] = setting.secret ? MASK : value;
  }
  if (config.tracesUrl) summary.OTEL_TRACES_URL = scrubUrl(config.tracesUrl);
  return summary;
}

/** A start-up step failed; `component` says which part (state database, listener, policy file…). */
export class StartupError extends Error {
  override name = "StartupError";
  constructor(
    readonly component: string,
    cause: unknown,
  ) {
    super(`${component}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

function named(component: string, err: unknown): StartupError {
  return err instanceof StartupError ? err : new StartupError(component, err);
}

/**
 * Runs one start-up step, synchronous or not; a failure (a throw or a rejection) becomes a
 * {@link StartupError} naming `component`, so "connect ECONNREFUSED" says it was the state database.
 */
export function startStep<T>(component: string, step: () => T): T {
  let result: T;
  try {
    result = step();
  } catch (err) {
    throw named(component, err);
  }
  if (result instanceof Promise) {
    return result.catch((err: unknown) => {
      throw named(component, err);
    }) as T;
  }
  return result;
}

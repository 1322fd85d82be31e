/**
 * Every setting of pg-sync, declared once: its environment variable, default, bounds, whether it
 * is a secret, and its description. `loadConfig` parses from this table, `DEFAULT_CONFIG` and
 * the defaults other modules use come from it, and a unit test keeps README.md's configuration
 * table equal to it. The rows live in settings/service.ts and settings/limits.ts; nothing here
 * imports other pg-sync modules, so any layer may read its defaults.
 */
import { LIMIT_SETTINGS } from "./settings/limits.js";
import { SERVICE_SETTINGS } from "./settings/service.js";

/** A whole-number setting, parsed and range-checked generically. */
export interface IntSetting {
  readonly kind: "int";
  /** Environment variable. */
  readonly env: string;
  /** Value when the variable is unset or empty. */
  readonly default: number;
  /** Smallest accepted value. */
  readonly min: number;
  /** Largest accepted value. */
  readonly max: number;
  /** True when the value must never be echoed. */
  readonly secret: false;
  /** What it does (markdown, as in README.md). */
  readonly description: string;
}

/** A setting with its own parsing rule in `loadConfig` (URLs, lists, flags, names). */
export interface TextSetting {
  readonly kind: "text";
  /** Environment variable. */
  readonly env: string;
  /** Value when unset; absent when the setting has no default (optional or required). */
  readonly default?: string;
  /** True when the server cannot start without it. */
  readonly required?: true;
  /** True when the value must never be echoed. */
  readonly secret: boolean;
  /** What it does (markdown, as in README.md). */
  readonly description: string;
}

/** One setting. */
export type Setting = IntSetting | TextSetting;

/** The settings, in the order README.md lists them. */
export const SETTINGS = { ...SERVICE_SETTINGS, ...LIMIT_SETTINGS } as const;

type Settings = typeof SETTINGS;

/** Name of a setting. */
export type SettingName = keyof Settings;

/** Names of the whole-number settings. */
export type IntSettingName = {
  [K in SettingName]: Settings[K] extends { readonly kind: "int" } ? K : never;
}[SettingName];

/** Every setting name, in table order. */
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** The whole-number settings, in table order. */
export const INT_SETTING_NAMES = SETTING_NAMES.filter(
  (name): name is IntSettingName => SETTINGS[name].kind === "int",
);

/** The environment variable of every setting. */
export const ENV = Object.freeze(
  Object.fromEntries(SETTING_NAMES.map((name) => [name, SETTINGS[name].env])),
) as { readonly [K in SettingName]: Settings[K]["env"] };

/** Defaults of every setting that has one; other modules import theirs from here. */
export const DEFAULT_CONFIG = Object.freeze(
  Object.fromEntries(
    SETTING_NAMES.flatMap((name) => {
      const setting: Setting = SETTINGS[name];
      return setting.default === undefined ? [] : [[name, setting.default]];
    }),
  ),
) as {
  readonly [K in SettingName as Settings[K] extends { default: unknown } ? K : never]: Settings[K] extends {
    default: infer D;
  }
    ? D
    : never;
};

/** Variables whose values are secrets: never echoed in errors. */
export const SECRET_VARS: ReadonlySet<string> = new Set(
  SETTING_NAMES.filter((name) => SETTINGS[name].secret).map((name) => SETTINGS[name].env),
);

/**
 * `PGSYNC_*` variables that are not server settings: read by pg-sync's scripts, tests, demo and
 * client examples, so the server does not warn about them.
 */
export const TOOLING_VARS: ReadonlySet<string> = new Set([
  "PGSYNC_ROOT",
  "PGSYNC_URL",
  "PGSYNC_TOKEN",
  "PGSYNC_PORT",
  "PGSYNC_REQUIRE_LIVE",
  "PGSYNC_REQUIRE_GENERATOR",
  "PGSYNC_STACK_LOG",
]);

/** Prefixes of tooling variables (`PGSYNC_TEST_PG_URL`, `PGSYNC_DEMO_DIR`, …). */
export const TOOLING_PREFIXES: readonly string[] = ["PGSYNC_TEST_", "PGSYNC_DEMO_"];

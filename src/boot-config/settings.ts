import { eachInvalidSetting } from "../config/config.js";
import { ConfigError, type Env } from "../config/config-error.js";
import { ALL_SETTINGS, loadSettings } from "../settings.js";

/** The names of every setting the agent reads: the settings table's. */
export function settingNames(): ReadonlySet<string> {
  return new Set(Object.keys(ALL_SETTINGS));
}

/**
 * Every reason the agent would refuse `env`, not only the first: the settings table reports each
 * invalid setting, and cross-setting rules (two LEDs on one line) once the single values are valid.
 */
export function configErrors(env: Env): ConfigError[] {
  try {
    loadSettings(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...eachInvalidSetting(error)];
    throw error;
  }
}

/** Names that hold something a finder of the card must not read; blanked in the files left on it. */
export { isSecretName } from "../config/settings.js";

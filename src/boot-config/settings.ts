import { loadConfig } from "../config/config.js";
import { ConfigError, type Env } from "../config/config-error.js";
import { loadIndicatorConfig } from "../indicators/config.js";

/** Variables systemd sets for the unit; they are not settings a technician writes. */
const UNIT_PROVIDED = new Set(["STATE_DIRECTORY", "RUNTIME_DIRECTORY"]);

/** A required setting that is missing gets this stand-in, so the remaining settings still get checked. */
const STAND_IN = "localhost";

/** Both readers the agent runs at start (`cw-agent run`): what they accept is what the service accepts. */
function loadAll(env: Env): void {
  loadConfig(env);
  loadIndicatorConfig(env);
}

let names: ReadonlySet<string> | undefined;

/**
 * The names of every setting the agent reads, learned by watching its own readers on a valid
 * environment rather than kept as a second list that could drift from them (some names, such as
 * the LEDs' `_ACTIVE_LOW`, are composed at run time).
 */
export function settingNames(): ReadonlySet<string> {
  if (names !== undefined) return names;
  const seen = new Set<string>();
  const base: Record<string, string> = { CYBUS_AGENT_NAME: STAND_IN, CYBUS_MQTT_HOST: STAND_IN };
  const env = new Proxy(base, {
    get(target, property) {
      if (typeof property === "string") seen.add(property);
      return typeof property === "string" ? target[property] : undefined;
    },
  });
  loadAll(env);
  for (const name of UNIT_PROVIDED) seen.delete(name);
  names = seen;
  return names;
}

/**
 * Every reason the agent would refuse `env`, not only the first: after each ConfigError the
 * offending variable is dropped (a required one replaced by a stand-in) and the readers run again.
 * Cross-setting rules (e.g. two LEDs on one line) still apply, since the whole environment is read.
 */
export function configErrors(env: Env): ConfigError[] {
  const current: Record<string, string | undefined> = { ...env };
  const errors: ConfigError[] = [];
  const reported = new Set<string>();
  for (let round = 0; round <= settingNames().size; round++) {
    try {
      loadAll(current);
      return errors;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      if (reported.has(error.variable)) {
        // Dropping it did not help; the readers' rule involves another variable. Report and stop.
        return errors;
      }
      reported.add(error.variable);
      errors.push(error);
      const missing = current[error.variable] === undefined || current[error.variable]?.trim() === "";
      current[error.variable] = missing || isRequired(error.variable) ? STAND_IN : undefined;
    }
  }
  return errors;
}

function isRequired(variable: string): boolean {
  const probe: Record<string, string> = { CYBUS_AGENT_NAME: STAND_IN, CYBUS_MQTT_HOST: STAND_IN };
  delete probe[variable];
  try {
    loadAll(probe);
    return false;
  } catch (error) {
    return error instanceof ConfigError && error.variable === variable;
  }
}

/** Names that hold something a finder of the card must not read; blanked in the files left on it. */
export function isSecretName(name: string): boolean {
  return /(PASSWORD|PASSPHRASE|SECRET|TOKEN|_KEY|ENROL(L)?MENT_CODE)$/i.test(name);
}

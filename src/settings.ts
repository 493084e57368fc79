import { type AgentConfig, agentConfigFrom, throwIfInvalid } from "./config/config.js";
import { ConfigError, type Env } from "./config/config-error.js";
import { isSecretName, parseSettings, SETTINGS, type Setting } from "./config/settings.js";
import { INDICATOR_SETTINGS, type IndicatorConfig, indicatorConfigFrom } from "./indicators/config.js";

/** Every setting of the agent, in the order of the environment template. */
export const ALL_SETTINGS: Readonly<Record<string, Setting<unknown>>> = {
  ...SETTINGS,
  ...INDICATOR_SETTINGS,
};

export interface Settings {
  readonly agent: AgentConfig;
  readonly indicators: IndicatorConfig;
}

/**
 * Reads every setting of the agent and its indicators at once. Throws ConfigError (ConfigErrors
 * when there are several) naming every invalid setting, so one look at the log shows them all.
 */
export function loadSettings(env: Env): Settings {
  const agent = parseSettings(SETTINGS, env);
  const indicators = parseSettings(INDICATOR_SETTINGS, env);
  const errors = [...agent.errors, ...indicators.errors];
  let agentConfig: AgentConfig | undefined;
  if (agent.errors.length === 0) {
    try {
      agentConfig = agentConfigFrom(agent.values, env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
    }
  }
  let indicatorConfig: IndicatorConfig | undefined;
  if (indicators.errors.length === 0) {
    try {
      indicatorConfig = indicatorConfigFrom(indicators.values);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
    }
  }
  throwIfInvalid(errors);
  return { agent: agentConfig as AgentConfig, indicators: indicatorConfig as IndicatorConfig };
}

/** A setting whose value is never printed: marked secret in the table, or named like a secret. */
export function isSecretSetting(name: string): boolean {
  return ALL_SETTINGS[name]?.secret === true || isSecretName(name);
}

/** A setting that is missing or invalid. The message names the variable, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string | undefined,
    readonly allowed: string,
  ) {
    super(
      value === undefined || value === ""
        ? `${variable} is required but not set: expected ${allowed}`
        : `${variable}=${JSON.stringify(value)} is invalid: expected ${allowed}`,
    );
    this.name = "ConfigError";
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Small typed readers shared by every module that owns settings, so errors read alike. */
export const read = {
  string(env: Env, variable: string, fallback?: string): string {
    const value = env[variable]?.trim();
    if (value) return value;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(variable, env[variable], "a non-empty value");
  },

  optionalString(env: Env, variable: string): string | undefined {
    const value = env[variable]?.trim();
    return value ? value : undefined;
  },

  oneOf<T extends string>(env: Env, variable: string, allowed: readonly T[], fallback: T): T {
    const value = env[variable]?.trim();
    if (!value) return fallback;
    const match = allowed.find((candidate) => candidate === value.toLowerCase());
    if (match === undefined) throw new ConfigError(variable, value, `one of ${allowed.join(", ")}`);
    return match;
  },

  boolean(env: Env, variable: string, fallback: boolean): boolean {
    const value = env[variable]?.trim().toLowerCase();
    if (!value) return fallback;
    if (["true", "1", "yes", "on"].includes(value)) return true;
    if (["false", "0", "no", "off"].includes(value)) return false;
    throw new ConfigError(variable, env[variable], "true or false");
  },

  integer(env: Env, variable: string, fallback: number, min: number, max: number, unit = ""): number {
    const value = env[variable]?.trim();
    if (!value) return fallback;
    const range = `an integer from ${min} to ${max}${unit ? ` (${unit})` : ""}`;
    if (!/^\d+$/.test(value)) throw new ConfigError(variable, value, range);
    const parsed = Number(value);
    if (parsed < min || parsed > max) throw new ConfigError(variable, value, range);
    return parsed;
  },
};

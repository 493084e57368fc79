import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { ConfigError } from "../../src/config/config-error.js";

const minimal = { CYBUS_AGENT_NAME: "press-line-7", CYBUS_MQTT_HOST: "connectware.local" };

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("applies the documented defaults", () => {
    const config = loadConfig(minimal);
    expect(config.username).toBe("press-line-7");
    expect(config.mqtt).toMatchObject({ scheme: "mqtt", host: "connectware.local", port: 1883 });
    expect(config.registry.baseUrl.href).toBe("https://connectware.local/");
    expect(config.stateDir).toBe("/var/lib/cw-agent");
    expect(config.topicPrefix).toBe("cw-agent/press-line-7");
    expect(config.logLevel).toBe("info");
    expect(config.tls.trustAllCerts).toBe(false);
    expect(config.mqtt.authRejectWindowMs).toBeGreaterThanOrEqual(30_000);
  });

  it("uses 8883 for mqtts, the ingress host for the registry and systemd's STATE_DIRECTORY", () => {
    const config = loadConfig({
      ...minimal,
      CYBUS_MQTT_SCHEME: "mqtts",
      CYBUS_HOSTNAME_INGRESS: "ingress.plant",
      STATE_DIRECTORY: "/var/lib/cw-agent/line7:/var/lib/other",
    });
    expect(config.mqtt.port).toBe(8883);
    expect(config.registry.baseUrl.host).toBe("ingress.plant");
    expect(config.stateDir).toBe("/var/lib/cw-agent/line7");
  });

  it("accepts IPv6 brokers with or without brackets and stores the bare address", () => {
    for (const host of ["::1", "[::1]"]) {
      const config = loadConfig({ ...minimal, CYBUS_MQTT_HOST: host });
      expect(config.mqtt.host).toBe("::1");
      expect(config.registry.baseUrl.href).toBe("https://[::1]/");
    }
    expect(configError({ ...minimal, CYBUS_MQTT_HOST: "[not-v6]" }).variable).toBe("CYBUS_MQTT_HOST");
  });

  it.each([
    [{ CYBUS_MQTT_HOST: "x" }, "CYBUS_AGENT_NAME", "is required"],
    [{ CYBUS_AGENT_NAME: "ab", CYBUS_MQTT_HOST: "x" }, "CYBUS_AGENT_NAME", '"ab"'],
    [{ CYBUS_AGENT_NAME: "a/b+c", CYBUS_MQTT_HOST: "x" }, "CYBUS_AGENT_NAME", "letters, digits"],
    [{ CYBUS_AGENT_NAME: "agent" }, "CYBUS_MQTT_HOST", "is required"],
    [{ ...minimal, CYBUS_MQTT_HOST: "mqtt://host:1883" }, "CYBUS_MQTT_HOST", "without scheme"],
    [{ ...minimal, CYBUS_MQTT_PORT: "70000" }, "CYBUS_MQTT_PORT", "from 1 to 65535"],
    [{ ...minimal, CYBUS_MQTT_PORT: "12ab" }, "CYBUS_MQTT_PORT", "integer"],
    [{ ...minimal, CYBUS_MQTT_SCHEME: "ws" }, "CYBUS_MQTT_SCHEME", "mqtt, mqtts"],
    [{ ...minimal, CYBUS_AGENT_MODE: "central" }, "CYBUS_AGENT_MODE", "distributed"],
    [{ ...minimal, CYBUS_TRUST_ALL_CERTS: "maybe" }, "CYBUS_TRUST_ALL_CERTS", "true or false"],
    [{ ...minimal, CYBUS_LOG_LEVEL: "verbose" }, "CYBUS_LOG_LEVEL", "one of trace"],
    [{ ...minimal, CW_AGENT_STATE_DIR: "relative/dir" }, "CW_AGENT_STATE_DIR", "absolute path"],
    [{ ...minimal, CW_AGENT_REGISTRY_URL: "ftp://x" }, "CW_AGENT_REGISTRY_URL", "http:// or https://"],
    [
      { ...minimal, CW_AGENT_REGISTRY_URL: "https://user:pw@x" },
      "CW_AGENT_REGISTRY_URL",
      "without credentials",
    ],
    [
      { ...minimal, CW_AGENT_REGISTRY_URL: "https://connectware.local//evil.example" },
      "CW_AGENT_REGISTRY_URL",
      'may not contain "//"',
    ],
    [
      { ...minimal, CW_AGENT_REGISTRY_URL: "https://connectware.local/a/\\evil.example" },
      "CW_AGENT_REGISTRY_URL",
      'may not contain "//"',
    ],
    [{ ...minimal, CW_AGENT_TOPIC_PREFIX: "plant/#" }, "CW_AGENT_TOPIC_PREFIX", "without wildcards"],
    [{ ...minimal, CW_AGENT_TOPIC_PREFIX: "$SYS/agents" }, "CW_AGENT_TOPIC_PREFIX", "not starting with '$'"],
    [{ ...minimal, CW_AGENT_AUTH_REJECT_WINDOW_MS: "5000" }, "CW_AGENT_AUTH_REJECT_WINDOW_MS", "30000"],
    [{ ...minimal, CW_AGENT_CA_FILE: "/nonexistent/ca.pem" }, "CW_AGENT_CA_FILE", "ENOENT"],
  ])("rejects %j naming %s", (env, variable, fragment) => {
    const error = configError(env as Record<string, string>);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(variable);
    expect(error.message).toContain(fragment);
  });

  it("rejects a CA file without a certificate", () => {
    const dir = mkdtempSync(join(tmpdir(), "cw-agent-config-"));
    const file = join(dir, "ca.pem");
    writeFileSync(file, "not a certificate");
    expect(configError({ ...minimal, CW_AGENT_CA_FILE: file }).message).toContain("CERTIFICATE");
  });
});

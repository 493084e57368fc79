import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_CANTCREAT, EXIT_CONFIG, EXIT_DATABASE_TOO_NEW } from "../../src/exit-codes.js";
import { ALL_SETTINGS } from "../../src/settings.js";

const UNIT_DIR = new URL("../../systemd/", import.meta.url).pathname;
const SERVICE = readFileSync(join(UNIT_DIR, "cw-agent.service"), "utf8");
const TEMPLATE = readFileSync(join(UNIT_DIR, "cw-agent@.service"), "utf8");
const ENV_TEMPLATE = readFileSync(join(UNIT_DIR, "cw-agent.env"), "utf8");
const INSTANCE_ENV_TEMPLATE = readFileSync(join(UNIT_DIR, "cw-agent@.env"), "utf8");
const MAX_EXPOSURE = 2.0;

const HAVE_ANALYZE = spawnSync("systemd-analyze", ["--version"], { stdio: "ignore" }).status === 0;
if (!HAVE_ANALYZE) {
  console.warn(
    "test/systemd/units: systemd-analyze not found, skipping verify and security (apt-get install systemd)",
  );
}

/** The directive lines of a unit, without comments and blank lines. */
function directives(unit: string): string[] {
  return unit.split("\n").filter((line) => line.trim() !== "" && !/^[#;]/.test(line.trim()));
}

describe("unit files", () => {
  it.each([
    ["cw-agent.service", SERVICE],
    ["cw-agent@.service", TEMPLATE],
  ])("%s: notify type, node run directly, no restart loop on a configuration error", (_name, unit) => {
    const lines = directives(unit);
    expect(lines).toContain("Type=notify");
    expect(lines).toContain("NotifyAccess=all");
    expect(lines).toContain("ExecStart=/usr/bin/node /opt/cw-agent/dist/src/cli.js run");
    expect(lines).toContain(
      `RestartPreventExitStatus=${EXIT_DATABASE_TOO_NEW} ${EXIT_CANTCREAT} ${EXIT_CONFIG}`,
    );
    expect(lines).toContain("Restart=on-failure");
    expect(lines).toContain("After=network-online.target time-sync.target");
    expect(lines).toContain("DevicePolicy=closed");
    expect(lines).toContain("SupplementaryGroups=gpio i2c");
    // V8's JIT needs writable and executable memory.
    expect(lines.some((line) => line.startsWith("MemoryDenyWriteExecute="))).toBe(false);
    expect(lines.some((line) => line.startsWith("PrivateDevices="))).toBe(false);
  });

  it("the template differs from the plain unit only in its per-instance settings", () => {
    const plain = directives(SERVICE);
    const template = directives(TEMPLATE);
    expect(plain.filter((line) => !template.includes(line))).toEqual([
      "Description=Cybus Connectware edge agent",
      "EnvironmentFile=/etc/cw-agent/cw-agent.env",
      "SyslogIdentifier=cw-agent",
      "StateDirectory=cw-agent",
      "RuntimeDirectory=cw-agent",
      "CacheDirectory=cw-agent",
      "Environment=NODE_COMPILE_CACHE=%C/cw-agent",
    ]);
    expect(template.filter((line) => !plain.includes(line))).toEqual([
      "Description=Cybus Connectware edge agent %i",
      "Environment=CYBUS_AGENT_NAME=%i",
      "EnvironmentFile=/etc/cw-agent/cw-agent@%i.env",
      "SyslogIdentifier=cw-agent@%i",
      "StateDirectory=cw-agent@%i",
      "RuntimeDirectory=cw-agent@%i",
      "CacheDirectory=cw-agent@%i",
      "Environment=NODE_COMPILE_CACHE=%C/cw-agent@%i",
    ]);
  });

  it.each([
    ["cw-agent.service", SERVICE],
    ["cw-agent@.service", TEMPLATE],
  ])("%s: the start rate limit trips on a unit that keeps failing", (_name, unit) => {
    const value = (key: string) =>
      directives(unit)
        .find((line) => line.startsWith(`${key}=`))
        ?.split("=")[1];
    const seconds = (text: string | undefined) => {
      const match = /^(\d+)(s|min)?$/.exec(text ?? "");
      if (!match) throw new Error(`unexpected time span ${text}`);
      return Number(match[1]) * (match[2] === "min" ? 60 : 1);
    };
    const restartSec = seconds(value("RestartSec"));
    const interval = seconds(value("StartLimitIntervalSec"));
    const burst = Number(value("StartLimitBurst"));
    // Failing starts come at most every RestartSec: the burst must fit into the interval.
    expect(burst * restartSec).toBeLessThan(interval);
    expect(burst).toBeGreaterThanOrEqual(3);
  });

  it.each([
    "cw-agent.service",
    "cw-agent@.service",
    "cw-agent-boot-config.service",
    "cw-agent-i2c-refresh.service",
  ])("%s: Documentation= names the agent's own man page first", (name) => {
    const lines = directives(readFileSync(join(UNIT_DIR, name), "utf8"));
    const documentation = lines.filter((line) => line.startsWith("Documentation="));
    expect(documentation).toHaveLength(1);
    expect(documentation[0]).toMatch(/^Documentation=man:cw-agent\(8\)( |$)/);
  });

  it("no instance name can reach the default agent's files: every instance path carries the '@'", () => {
    const paths = directives(TEMPLATE).filter((line) =>
      /^(EnvironmentFile|StateDirectory|RuntimeDirectory|CacheDirectory|Environment=NODE_COMPILE_CACHE)=/.test(
        line,
      ),
    );
    expect(paths).toHaveLength(5);
    for (const line of paths) expect(line).toMatch(/cw-agent@%i(\.env)?$/);
  });

  it("the environment template assigns only the required settings, empty, and names every variable the agent reads", () => {
    // The required settings are the only assignments, empty: the agent refuses to start until
    // they are set (test/systemd/env-template.test.ts); everything else is a comment.
    const required = Object.keys(ALL_SETTINGS).filter(
      (name) => ALL_SETTINGS[name]?.defaultText === "(required)",
    );
    expect(required).toEqual(["CYBUS_AGENT_NAME", "CYBUS_MQTT_HOST"]);
    expect(directives(ENV_TEMPLATE)).toEqual(required.map((name) => `${name}=`));
    // An instance's file leaves the agent name to the unit (Environment=CYBUS_AGENT_NAME=%i).
    expect(directives(INSTANCE_ENV_TEMPLATE)).toEqual(["CYBUS_MQTT_HOST="]);
    expect(INSTANCE_ENV_TEMPLATE).toMatch(/^#CYBUS_AGENT_NAME=%i$/m);
    // Every variable the sources mention (prefixes like CW_AGENT_LED_ aside) is in the settings table...
    const sources = execFileSync("grep", ["-rhoE", "\\b(CYBUS|CW_AGENT)_[A-Z0-9_]*[A-Z0-9]\\b", "src"], {
      cwd: new URL("../../", import.meta.url).pathname,
      encoding: "utf8",
    });
    const mentioned = new Set(sources.split("\n").filter((name) => name !== ""));
    expect([...mentioned].filter((name) => !(name in ALL_SETTINGS))).toEqual([]);
    expect(Object.keys(ALL_SETTINGS).length).toBeGreaterThan(30);
    // ...and every other setting is in the template with its default.
    const documented = new Set([...ENV_TEMPLATE.matchAll(/^#([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect(Object.keys(ALL_SETTINGS).filter((variable) => !documented.has(variable))).toEqual(required);
  });
});

describe.skipIf(!HAVE_ANALYZE)("systemd-analyze", () => {
  let dir: string;

  beforeAll(() => {
    // `verify` checks that the ExecStart= binary exists; CI may have node elsewhere than
    // /usr/bin/node (install.sh rewrites the path the same way), so the copies name this node.
    dir = mkdtempSync(join(tmpdir(), "cw-agent-units-"));
    for (const [name, unit] of [
      ["cw-agent.service", SERVICE],
      ["cw-agent@.service", TEMPLATE],
    ] as const) {
      writeFileSync(
        join(dir, name),
        unit.replace("ExecStart=/usr/bin/node ", `ExecStart=${process.execPath} `),
      );
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(["cw-agent.service", "cw-agent@line1.service"])("verify %s: no errors, no warnings", (unit) => {
    // --man=no: Documentation= man pages need not be installed on the test machine.
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, unit)], {
      encoding: "utf8",
    });
    const ours = result.stderr.split("\n").filter((line) => line.includes("cw-agent"));
    expect(ours).toEqual([]);
    expect(result.status).toBe(0);
  });

  it.each(["cw-agent.service", "cw-agent@line1.service"])(
    `security %s: exposure ${MAX_EXPOSURE} or lower`,
    (unit) => {
      const output = execFileSync(
        "systemd-analyze",
        ["security", "--offline=true", "--no-pager", join(dir, unit)],
        {
          encoding: "utf8",
        },
      );
      const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(output);
      expect(match, output).not.toBeNull();
      expect(Number(match?.[1])).toBeLessThanOrEqual(MAX_EXPOSURE);
    },
  );
});

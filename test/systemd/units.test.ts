import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_CONFIG } from "../../src/config/config-error.js";
import { EXIT_CANTCREAT, EXIT_DATABASE_TOO_NEW } from "../../src/exit-codes.js";

const UNIT_DIR = new URL("../../systemd/", import.meta.url).pathname;
const SERVICE = readFileSync(join(UNIT_DIR, "cw-agent.service"), "utf8");
const TEMPLATE = readFileSync(join(UNIT_DIR, "cw-agent@.service"), "utf8");
const ENV_TEMPLATE = readFileSync(join(UNIT_DIR, "cw-agent.env"), "utf8");
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
    ]);
    expect(template.filter((line) => !plain.includes(line))).toEqual([
      "Description=Cybus Connectware edge agent %i",
      "Environment=CYBUS_AGENT_NAME=%i",
      "EnvironmentFile=/etc/cw-agent/cw-agent@%i.env",
      "SyslogIdentifier=cw-agent@%i",
      "StateDirectory=cw-agent@%i",
      "RuntimeDirectory=cw-agent@%i",
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

  it("no instance name can reach the default agent's files: every instance path carries the '@'", () => {
    const paths = directives(TEMPLATE).filter((line) =>
      /^(EnvironmentFile|StateDirectory|RuntimeDirectory)=/.test(line),
    );
    expect(paths).toHaveLength(3);
    for (const line of paths) expect(line).toMatch(/cw-agent@%i(\.env)?$/);
  });

  it("the environment template only has comments and names every variable the agent reads", () => {
    expect(directives(ENV_TEMPLATE)).toEqual([]);
    const sources = ["../../src/config/config.ts", "../../src/indicators/config.ts"]
      .map((relative) => new URL(relative, import.meta.url).pathname)
      .filter((path) => existsSync(path))
      .map((path) => readFileSync(path, "utf8"))
      .join("\n");
    const variables = new Set([...sources.matchAll(/"((?:CYBUS|CW_AGENT)_[A-Z0-9_]+)"/g)].map((m) => m[1]));
    // LED polarity variables are built as `${variable}_ACTIVE_LOW`.
    for (const led of ["CW_AGENT_LED_STATUS", "CW_AGENT_LED_FAULT"]) {
      if (variables.has(led)) variables.add(`${led}_ACTIVE_LOW`);
    }
    expect(variables.size).toBeGreaterThan(10);
    const documented = new Set([...ENV_TEMPLATE.matchAll(/^#([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect([...variables].filter((variable) => !documented.has(variable))).toEqual([]);
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

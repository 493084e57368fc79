import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ApplyBootConfigOptions, applyBootConfig, mergeEnvLines } from "../../src/boot-config/apply.js";
import { parseBootConfig } from "../../src/boot-config/parse.js";
import { REJECTED_BOOT_CONFIG_FILE, readRejectedBootConfig } from "../../src/boot-config/rejected.js";
import { configErrors, settingNames } from "../../src/boot-config/settings.js";

const CA = readFileSync(new URL("../../scripts/connectware-sim/certs/ca.pem", import.meta.url), "utf8");
const TEMPLATE = readFileSync(new URL("../../systemd/cw-agent.env", import.meta.url), "utf8");

describe("settings", () => {
  it("knows every setting of the agent, including composed names, and nothing systemd sets", () => {
    const names = settingNames();
    for (const name of [
      "CYBUS_MQTT_HOST",
      "CW_AGENT_CA_FILE",
      "CW_AGENT_LED_STATUS_ACTIVE_LOW",
      "CW_AGENT_DISPLAY_MODEL",
    ]) {
      expect(names.has(name), name).toBe(true);
    }
    expect(names.has("STATE_DIRECTORY")).toBe(false);
  });

  it("every documented setting of the environment template is known", () => {
    const documented = [...TEMPLATE.matchAll(/^#([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]);
    expect(documented.length).toBeGreaterThan(30);
    for (const name of documented) expect(settingNames().has(name ?? ""), name).toBe(true);
  });

  it("reports every bad setting, not only the first", () => {
    const errors = configErrors({
      CYBUS_MQTT_PORT: "99999",
      CYBUS_LOG_LEVEL: "loud",
      CYBUS_MQTT_HOST: "a b",
    });
    expect(errors.map((error) => error.variable).sort()).toEqual([
      "CYBUS_AGENT_NAME",
      "CYBUS_LOG_LEVEL",
      "CYBUS_MQTT_HOST",
      "CYBUS_MQTT_PORT",
    ]);
  });
});

describe("parseBootConfig", () => {
  it("reads what Windows and macOS editors save: BOM, CRLF, comments, spaces, quotes, lower case", () => {
    const text =
      '\uFEFF# from Notepad\r\ncybus_mqtt_host = connectware.plant\r\n; another comment\r\nCYBUS_AGENT_NAME="press-7"  # the press\r\nRESET=yes\r\n';
    const parsed = parseBootConfig(text);
    expect(parsed.problems).toEqual([]);
    expect(parsed.settings).toEqual([
      { name: "CYBUS_MQTT_HOST", value: "connectware.plant", line: 2 },
      { name: "CYBUS_AGENT_NAME", value: "press-7", line: 4 },
    ]);
    expect(parsed.reset).toBe(true);
  });

  it("takes pasted certificates and names the line of an unclosed one", () => {
    expect(parseBootConfig(`CYBUS_MQTT_HOST=x\n${CA}`).pastedCertificates).toEqual([CA]);
    const broken = parseBootConfig("CYBUS_MQTT_HOST=x\n-----BEGIN CERTIFICATE-----\nMIIB\n");
    expect(broken.problems).toEqual([
      { line: 2, message: expect.stringContaining("no -----END CERTIFICATE-----") },
    ]);
  });

  it("one problem per bad line, each naming its line", () => {
    const parsed = parseBootConfig(
      "CYBUS_MQTT_HOST=a\nnonsense\nCYBUS_MQTT_HOST=b\nCW_AGENT_PASSWORD=hunter2\nRESET=maybe\nCW_AGENT_TOPIC_PREFIX=a b\n",
    );
    expect(parsed.problems.map((problem) => problem.line)).toEqual([2, 3, 4, 5, 6]);
    expect(JSON.stringify(parsed.problems)).not.toContain("hunter2");
  });
});

describe("mergeEnvLines", () => {
  it("replaces in place, drops duplicates, removes empty values and appends the rest", () => {
    const merged = mergeEnvLines(
      [
        "# c",
        "CYBUS_MQTT_HOST=old",
        "#CYBUS_MQTT_PORT=1883",
        "CYBUS_LOG_LEVEL=debug",
        "CYBUS_MQTT_HOST=older",
      ],
      new Map([
        ["CYBUS_MQTT_HOST", "new"],
        ["CYBUS_LOG_LEVEL", ""],
        ["CYBUS_MQTT_PORT", "1884"],
      ]),
    );
    expect(merged.split("\n")).toEqual([
      "# c",
      "CYBUS_MQTT_HOST=new",
      "#CYBUS_MQTT_PORT=1883",
      "",
      expect.stringContaining("# Settings from cw-agent.txt"),
      "CYBUS_MQTT_PORT=1884",
      "",
    ]);
  });
});

describe("applyBootConfig", () => {
  let root: string;
  let boot: string;
  let etc: string;
  let modules: string;
  let resets: string[];
  let loaded: string[];
  let logged: string[];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "cw-boot-config-"));
    boot = join(root, "boot", "firmware");
    etc = join(root, "etc", "cw-agent");
    modules = join(root, "etc", "modules-load.d");
    for (const dir of [boot, etc, modules]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(etc, "cw-agent.env"), TEMPLATE, { mode: 0o640 });
    resets = [];
    loaded = [];
    logged = [];
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const apply = (extra: Partial<ApplyBootConfigOptions> = {}) =>
    applyBootConfig({
      bootDirs: [boot, join(root, "boot")],
      etcDir: etc,
      modulesLoadDir: modules,
      resetCredentials: (envFile) => resets.push(envFile),
      loadModule: (name) => loaded.push(name),
      log: (level, message) => logged.push(`${level}: ${message}`),
      ...extra,
    });
  const card = (name: string) => join(boot, name);
  const envText = () => readFileSync(join(etc, "cw-agent.env"), "utf8");

  it("does nothing without cw-agent.txt", () => {
    expect(apply()).toEqual({ result: "absent" });
    expect(envText()).toBe(TEMPLATE);
  });

  it("applies a valid file: env 0640 with the template kept, .applied left on the card", () => {
    writeFileSync(card("cw-agent.txt"), "\uFEFFCYBUS_AGENT_NAME=press-7\r\nCYBUS_MQTT_HOST=cw.plant\r\n");
    const outcome = apply();
    expect(outcome).toMatchObject({
      result: "applied",
      changed: ["CYBUS_AGENT_NAME", "CYBUS_MQTT_HOST"],
      reset: false,
    });
    const env = envText();
    // The template's empty required lines are filled in where they are; nothing else changes.
    expect(TEMPLATE).toMatch(/^CYBUS_AGENT_NAME=$/m);
    expect(TEMPLATE).toMatch(/^CYBUS_MQTT_HOST=$/m);
    expect(env).toBe(
      TEMPLATE.replace(/^CYBUS_AGENT_NAME=$/m, "CYBUS_AGENT_NAME=press-7").replace(
        /^CYBUS_MQTT_HOST=$/m,
        "CYBUS_MQTT_HOST=cw.plant",
      ),
    );
    expect(statSync(join(etc, "cw-agent.env")).mode & 0o777).toBe(0o640);
    expect(existsSync(card("cw-agent.txt"))).toBe(false);
    expect(readFileSync(card("cw-agent.txt.applied"), "utf8")).toBe(
      "CYBUS_AGENT_NAME=press-7\r\nCYBUS_MQTT_HOST=cw.plant\r\n",
    );
    expect(loaded).toEqual([]);
    expect(resets).toEqual([]);
  });

  it("a second file changes only what it names; an empty value brings the default back", () => {
    writeFileSync(
      card("cw-agent.txt"),
      "CYBUS_AGENT_NAME=press-7\nCYBUS_MQTT_HOST=cw.plant\nCYBUS_LOG_LEVEL=debug\n",
    );
    apply();
    writeFileSync(card("cw-agent.txt"), "CYBUS_MQTT_HOST=cw2.plant\nCYBUS_LOG_LEVEL=\n");
    apply();
    const active = envText()
      .split("\n")
      .filter((line) => /^[A-Z]/.test(line));
    expect(active).toEqual(["CYBUS_AGENT_NAME=press-7", "CYBUS_MQTT_HOST=cw2.plant"]);
  });

  it("installs a pasted CA as /etc/cw-agent/ca.pem and points the agent at it", () => {
    writeFileSync(
      card("cw-agent.txt"),
      `CYBUS_AGENT_NAME=press-7\r\nCYBUS_MQTT_HOST=cw.plant\r\n${CA.replace(/\n/g, "\r\n")}`,
    );
    expect(apply().result).toBe("applied");
    expect(readFileSync(join(etc, "ca.pem"), "utf8")).toBe(CA);
    expect(statSync(join(etc, "ca.pem")).mode & 0o777).toBe(0o640);
    expect(envText()).toContain(`CW_AGENT_CA_FILE=${join(etc, "ca.pem")}\n`);
  });

  it("installs a CA file named next to cw-agent.txt", () => {
    writeFileSync(card("cw-ca.pem"), CA.replace(/\n/g, "\r\n"));
    writeFileSync(
      card("cw-agent.txt"),
      "CYBUS_AGENT_NAME=press-7\nCYBUS_MQTT_HOST=cw.plant\nCW_AGENT_CA_FILE=cw-ca.pem\n",
    );
    expect(apply().result).toBe("applied");
    expect(readFileSync(join(etc, "ca.pem"), "utf8")).toBe(CA);
    expect(envText()).toContain(`CW_AGENT_CA_FILE=${join(etc, "ca.pem")}\n`);
  });

  it("an invalid file: .invalid with secrets blanked, .errors naming each line, the configuration in /etc stays", () => {
    writeFileSync(card("cw-agent.txt"), "CYBUS_AGENT_NAME=press-7\nCYBUS_MQTT_HOST=cw.plant\n");
    apply();
    const before = envText();
    writeFileSync(
      card("cw-agent.txt"),
      "# edited\r\nCYBUS_MQTT_HOST=https://cw.plant\r\nCYBUS_MQTT_PORT=99999\r\nCYBUS_MQTT_PASSWORD=hunter2\r\nCW_AGENT_CA_FILE=missing.pem\r\n",
    );
    const outcome = apply();
    expect(outcome.result).toBe("invalid");
    expect(envText()).toBe(before);
    expect(existsSync(join(etc, "ca.pem"))).toBe(false);
    expect(existsSync(card("cw-agent.txt"))).toBe(false);
    const invalid = readFileSync(card("cw-agent.txt.invalid"), "utf8");
    expect(invalid).toContain("CYBUS_MQTT_PASSWORD=\r\n");
    expect(invalid).not.toContain("hunter2");
    const errors = readFileSync(card("cw-agent.txt.errors"), "utf8");
    expect(errors).toContain("previous configuration stays in force");
    for (const line of [2, 3, 4, 5]) expect(errors).toContain(`line ${line}: `);
    expect(errors).not.toContain("hunter2");
    expect(errors.split("\r\n").filter((line) => line.startsWith("line "))).toHaveLength(4);
    expect(logged.some((line) => line.startsWith("error: cw-agent.txt: line 4"))).toBe(true);
    // The agent reads the same reasons at start (and shows that an older configuration is in force).
    expect(statSync(join(etc, REJECTED_BOOT_CONFIG_FILE)).mode & 0o777).toBe(0o640);
    expect(readRejectedBootConfig(etc)).toEqual(
      errors.split("\r\n").filter((line) => line.startsWith("line ")),
    );
  });

  it("validation errors of settings name their lines, all of them", () => {
    writeFileSync(
      card("cw-agent.txt"),
      "CYBUS_AGENT_NAME=x\nCYBUS_MQTT_HOST=https://cw.plant\nCYBUS_MQTT_PORT=99999\nCW_AGENT_DISPLAY_MODEL=oled\n",
    );
    const outcome = apply();
    expect(outcome.result === "invalid" && outcome.problems).toEqual([
      expect.stringMatching(/^line 1: CYBUS_AGENT_NAME="x" is invalid/),
      expect.stringMatching(/^line 2: CYBUS_MQTT_HOST=/),
      expect.stringMatching(/^line 3: CYBUS_MQTT_PORT="99999"/),
      expect.stringMatching(/^line 4: CW_AGENT_DISPLAY_MODEL="oled"/),
    ]);
  });

  it("a required setting set nowhere is named", () => {
    writeFileSync(card("cw-agent.txt"), "CYBUS_MQTT_HOST=cw.plant\n");
    const outcome = apply();
    expect(outcome.result === "invalid" && outcome.problems).toEqual([
      expect.stringContaining("CYBUS_AGENT_NAME is required"),
    ]);
  });

  it("a valid file after an invalid one clears .invalid and .errors", () => {
    writeFileSync(card("cw-agent.txt"), "CYBUS_MQTT_PORT=0\n");
    apply();
    writeFileSync(card("cw-agent.txt"), "CYBUS_AGENT_NAME=press-7\nCYBUS_MQTT_HOST=cw.plant\n");
    expect(apply().result).toBe("applied");
    expect(existsSync(card("cw-agent.txt.invalid"))).toBe(false);
    expect(existsSync(card("cw-agent.txt.errors"))).toBe(false);
    expect(readRejectedBootConfig(etc)).toBeUndefined();
  });

  it("RESET=yes resets once, also when a power cut left the file in place after applying it", () => {
    const text = "CYBUS_AGENT_NAME=press-7\nCYBUS_MQTT_HOST=cw.plant\nRESET=yes\n";
    writeFileSync(card("cw-agent.txt"), text);
    expect(apply()).toMatchObject({ result: "applied", reset: true });
    expect(resets).toEqual([join(etc, "cw-agent.env")]);
    writeFileSync(card("cw-agent.txt"), text);
    expect(apply()).toMatchObject({ result: "applied", reset: false });
    expect(resets).toHaveLength(1);
    expect(readFileSync(card("cw-agent.txt.applied"), "utf8")).toContain("RESET=yes");
  });

  it("a display makes i2c-dev load now and at every boot", () => {
    writeFileSync(
      card("cw-agent.txt"),
      "CYBUS_AGENT_NAME=press-7\nCYBUS_MQTT_HOST=cw.plant\nCW_AGENT_DISPLAY_MODEL=ssd1306\n",
    );
    expect(apply().result).toBe("applied");
    expect(loaded).toEqual(["i2c-dev"]);
    expect(readFileSync(join(modules, "cw-agent-i2c.conf"), "utf8")).toMatch(/^i2c-dev$/m);
  });

  it("a boot partition that refuses writes: applied all the same, the file stays", () => {
    writeFileSync(card("cw-agent.txt"), "CYBUS_AGENT_NAME=press-7\nCYBUS_MQTT_HOST=cw.plant\n");
    // Even root cannot replace a non-empty directory with a file: the rename on the card fails.
    mkdirSync(join(card("cw-agent.txt.applied"), "x"), { recursive: true });
    expect(apply().result).toBe("applied");
    expect(envText()).toContain("CYBUS_MQTT_HOST=cw.plant\n");
    expect(existsSync(card("cw-agent.txt"))).toBe(true);
    expect(logged.some((line) => line.startsWith("warning: cannot rename cw-agent.txt"))).toBe(true);
  });

  it("finds the file at /boot on older layouts", () => {
    writeFileSync(join(root, "boot", "cw-agent.txt"), "CYBUS_AGENT_NAME=press-7\nCYBUS_MQTT_HOST=cw.plant\n");
    expect(apply().result).toBe("applied");
    expect(existsSync(join(root, "boot", "cw-agent.txt.applied"))).toBe(true);
  });
});

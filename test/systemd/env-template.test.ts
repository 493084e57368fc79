import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readEnvFile } from "../../src/cli/sources.js";
import { EXIT_CONFIG } from "../../src/exit-codes.js";
import { loadSettings } from "../../src/settings.js";
import { scaled } from "../time-scale.js";

const REPO = new URL("../../", import.meta.url).pathname;
const TEMPLATE_PATH = join(REPO, "systemd/cw-agent.env");
const TEMPLATE = readFileSync(TEMPLATE_PATH, "utf8");
const INSTANCE_TEMPLATE = readFileSync(join(REPO, "systemd/cw-agent@.env"), "utf8");
const CLI = join(REPO, "dist/src/cli.js");
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

/** The lines of the example at the end of the template, as NAME=value. */
function exampleLines(template: string): string[] {
  const section = template.slice(template.indexOf("# Example: the common secured setup"));
  return [...section.matchAll(/^# {3}([A-Z][A-Z0-9_]+=\S+)$/gm)].map((match) => match[1] as string);
}

/** The template with each NAME=value set where the template has its line, as a technician would. */
function filledIn(template: string, assignments: readonly string[]): string {
  let text = template;
  for (const assignment of assignments) {
    const name = assignment.slice(0, assignment.indexOf("="));
    const line = new RegExp(`^#?${name}=.*$`, "m");
    expect(text, `the template has a line for ${name}`).toMatch(line);
    text = text.replace(line, assignment);
  }
  return text;
}

describe("the environment template", () => {
  const dir = mkdtempSync(join(tmpdir(), "cw-agent-env-template-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("has the required settings uncommented and empty, marked as required", () => {
    for (const name of ["CYBUS_AGENT_NAME", "CYBUS_MQTT_HOST"]) {
      expect(TEMPLATE).toMatch(new RegExp(`^# Required\\. [^\\n]*(\\n#[^\\n]*)*\\n${name}=$`, "m"));
    }
    expect(TEMPLATE).toContain('The two settings under "Required" have no default');
    expect(TEMPLATE).not.toMatch(/every commented line shows the default/i);
  });

  it("tells what to do next: set the required settings, then `sudo cw-agent check`", () => {
    expect(TEMPLATE).toContain("# Set the required settings, then run `sudo cw-agent check`.\n");
    expect(TEMPLATE.endsWith("\n# Then run `sudo cw-agent check`.\n")).toBe(true);
  });

  it("as it is, the agent refuses to start with exit code 78, naming each empty required setting", () => {
    const run = spawnSync(process.execPath, [CLI, "run"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, ...readEnvFile(TEMPLATE_PATH), CW_AGENT_STATE_DIR: join(dir, "state") },
      timeout: scaled(20_000),
    });
    expect(run.status).toBe(EXIT_CONFIG);
    const output = run.stdout + run.stderr;
    expect(output).toContain("CYBUS_AGENT_NAME is required but not set");
    expect(output).toContain("CYBUS_MQTT_HOST is required but not set");

    const check = spawnSync(process.execPath, [CLI, "check", "--env-file", TEMPLATE_PATH], {
      encoding: "utf8",
      env: { PATH: process.env.PATH },
      timeout: scaled(20_000),
    });
    expect(check.status).toBe(1);
    expect(check.stdout).toMatch(/\[failed\] +config +CYBUS_AGENT_NAME is required but not set/);
    expect(check.stdout).toContain("CYBUS_MQTT_HOST is required but not set");
  });

  it("ends with a complete example of the secured setup: own CA, mqtts on 8883, https registry", () => {
    const example = exampleLines(TEMPLATE);
    expect(example).toEqual([
      "CYBUS_AGENT_NAME=press-line-7",
      "CYBUS_MQTT_HOST=connectware.plant.example",
      "CYBUS_MQTT_SCHEME=mqtts",
      "CYBUS_MQTT_PORT=8883",
      "CW_AGENT_REGISTRY_URL=https://connectware.plant.example",
      "CW_AGENT_CA_FILE=/etc/cw-agent/ca.pem",
    ]);
    expect(TEMPLATE).toContain("#   sudo install -m 0640 -o root -g cw-agent ca.pem /etc/cw-agent/ca.pem\n");

    // Set in the template's own lines (the CA at a path of the test), the agent takes it as it is.
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, PEM);
    const file = join(dir, "secured.env");
    writeFileSync(
      file,
      filledIn(
        TEMPLATE,
        example.map((line) => line.replace("=/etc/cw-agent/ca.pem", `=${ca}`)),
      ),
    );
    const { agent } = loadSettings(readEnvFile(file));
    expect(agent.agentName).toBe("press-line-7");
    expect(agent.mqtt).toMatchObject({ host: "connectware.plant.example", scheme: "mqtts", port: 8883 });
    expect(agent.registry.baseUrl.href).toBe("https://connectware.plant.example/");
    expect(agent.tls.caFile).toBe(ca);
  });

  it("of an instance: the unit names it, the agent name is left to the unit, the commands name the instance", () => {
    expect(INSTANCE_TEMPLATE.split("\n")[0]).toBe(
      "# cw-agent settings of cw-agent@%i.service, read by systemd (EnvironmentFile= in cw-agent@.service)",
    );
    expect(INSTANCE_TEMPLATE).toMatch(/^#CYBUS_AGENT_NAME=%i$/m);
    expect(INSTANCE_TEMPLATE).toMatch(/^CYBUS_MQTT_HOST=$/m);
    expect(INSTANCE_TEMPLATE).toContain("# Apply changes with: sudo systemctl restart cw-agent@%i\n");
    expect(INSTANCE_TEMPLATE.endsWith("\n# Then run `sudo cw-agent check --instance %i`.\n")).toBe(true);
    expect(exampleLines(INSTANCE_TEMPLATE)).toEqual(exampleLines(TEMPLATE).slice(1));
  });
});

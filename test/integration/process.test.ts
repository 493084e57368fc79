import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { newStateDir } from "./agent-process.js";
import { agentTestBed, grantAndWaitOnline, simEnv } from "./fixtures.js";

const bed = agentTestBed();
beforeAll(() => bed.sim.unlock());

describe("the agent process", () => {
  it("refuses a second agent on the same state directory, naming the holder's pid; two directories work side by side", async () => {
    const stateDir = newStateDir();
    const first = bed.start(simEnv(bed.sim, "gw-lock-a"), stateDir);
    await first.waitForState("pending");

    const intruder = bed.start(simEnv(bed.sim, "gw-lock-a"), stateDir);
    expect(await intruder.exited).toBe(75);
    const refusal = intruder.lines.find((line) => line.level === 60);
    expect(refusal?.msg).toContain(`already in use by another cw-agent (pid ${first.pid})`);
    expect(refusal?.msg).toContain("CW_AGENT_STATE_DIR");

    const second = bed.start(simEnv(bed.sim, "gw-lock-b"));
    await grantAndWaitOnline(bed.sim, first);
    await grantAndWaitOnline(bed.sim, second);
    expect(
      bed.sim
        .mqttClients()
        .map((client) => client.username)
        .sort(),
    ).toEqual(["gw-lock-a", "gw-lock-b"]);
  });

  it("moves a corrupt database aside, logs it as an error and registers afresh", async () => {
    const stateDir = newStateDir();
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(stateDir, "cw-agent.db"), Buffer.alloc(4096, 0x42), { mode: 0o600 });
    const agent = bed.start(simEnv(bed.sim, "gw-corrupt"), stateDir);
    const error = await agent.waitForMessage(/is damaged/);
    expect(error.level).toBe(50);
    expect(error.msg).toContain("not an SQLite database");
    await agent.waitForMessage("with newly generated credentials...");
    expect(readdirSync(stateDir).some((name) => /^cw-agent\.db\.corrupt-\d{8}T\d{6}Z$/.test(name))).toBe(
      true,
    );
    await grantAndWaitOnline(bed.sim, agent);
  });

  it.each([
    [{ CYBUS_MQTT_HOST: "127.0.0.1" }, "CYBUS_AGENT_NAME"],
    [
      { CYBUS_AGENT_NAME: "gw-cfg", CYBUS_MQTT_HOST: "127.0.0.1", CYBUS_MQTT_PORT: "eighty" },
      "CYBUS_MQTT_PORT",
    ],
    [
      {
        CYBUS_AGENT_NAME: "gw-cfg",
        CYBUS_MQTT_HOST: "127.0.0.1",
        CW_AGENT_REGISTRY_URL: "https://connectware.local//evil.example",
      },
      "CW_AGENT_REGISTRY_URL",
    ],
  ])("exits 78 with one message naming the variable for %j", async (env, variable) => {
    const agent = bed.start(env as Record<string, string>);
    expect(await agent.exited).toBe(78);
    const fatal = agent.lines.filter((line) => line.level === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]?.msg).toContain(variable);
  });

  it("CYBUS_TRUST_ALL_CERTS=true registers over HTTPS without the CA and warns about it at start", async () => {
    const agent = bed.start(
      simEnv(bed.sim, "gw-trustall", {
        CW_AGENT_REGISTRY_URL: bed.sim.registryHttpsUrl,
        CYBUS_TRUST_ALL_CERTS: "true",
      }),
    );
    const warning = await agent.waitForMessage("CYBUS_TRUST_ALL_CERTS=true");
    expect(warning.level).toBe(40);
    await grantAndWaitOnline(bed.sim, agent);
  });

  it("warns once at start when the password would cross the network in cleartext", async () => {
    const plain = bed.start(simEnv(bed.sim, "gw-plain"));
    await plain.waitForState("pending");
    const warnings = plain.lines.filter((line) => line.msg.includes("sent in cleartext"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.level).toBe(40);
    expect(warnings[0]?.msg).toContain(
      `registry ${bed.sim.registryHttpUrl.replace(/\/$/, "")} and the broker mqtt://127.0.0.1:`,
    );

    const tls = bed.start(
      simEnv(bed.sim, "gw-https", {
        CW_AGENT_REGISTRY_URL: bed.sim.registryHttpsUrl,
        CW_AGENT_CA_FILE: bed.sim.caFile,
      }),
    );
    await tls.waitForState("pending");
    const tlsWarnings = tls.lines.filter((line) => line.msg.includes("sent in cleartext"));
    expect(tlsWarnings.map((line) => line.msg.includes("registry"))).toEqual([false]);
  });

  it("stops cleanly on SIGINT while pending, releasing the state directory", async () => {
    const stateDir = newStateDir();
    const agent = bed.start(simEnv(bed.sim, "gw-sigint"), stateDir);
    await agent.waitForState("pending");
    expect(await agent.kill("SIGINT")).toBe(0);
    expect(agent.lines.at(-1)?.state).toBe("stopped");
    const again = bed.start(simEnv(bed.sim, "gw-sigint"), stateDir);
    await again.waitForState("pending");
  });
});

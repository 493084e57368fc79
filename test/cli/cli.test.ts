import { afterEach, describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/cli/status.js";
import { type AgentProcess, newStateDir } from "../integration/agent-process.js";
import {
  agentTestBed,
  grantAndWaitOnline,
  loggedPairingId,
  simEnv,
  storedCredentials,
  until,
} from "../integration/fixtures.js";
import { cliOutputs, parseJson, runCli } from "./cli-process.js";

const bed = agentTestBed({ resetAfterEach: (sim) => sim.lock() });
const agents: AgentProcess[] = [];
const start = (env: Record<string, string>, stateDir: string) => {
  const agent = bed.start(env, stateDir);
  agents.push(agent);
  return agent;
};

// The test bed checks the agents' own output; this checks everything the CLI printed.
afterEach(() => {
  const secrets = agents.splice(0).flatMap((agent) => {
    agent.rememberSecret();
    return [...agent.secretsSeen];
  });
  const printed = cliOutputs.splice(0);
  for (const secret of secrets) expect(printed.filter((output) => output.includes(secret))).toEqual([]);
});

const identifyLine = (seconds: number) => (line: { msg: string; seconds?: unknown }) =>
  line.msg === `Identify requested: showing IDENTIFY on the display for ${seconds} s` &&
  line.seconds === seconds;

describe("cw-agent CLI against a running agent", () => {
  it("status (human and --json) while pending and online, pairing-id, identify", async () => {
    const { sim } = bed;
    const stateDir = newStateDir();
    // A virtual 16x2 LCD: the agent draws it on its stderr, where identify must show.
    const env = simEnv(sim, "gw-cli-run", { CW_AGENT_DISPLAY_MODEL: "virtual-lcd" });
    sim.unlock();
    const agent = start(env, stateDir);
    const pairingId = await loggedPairingId(agent);
    await agent.waitForState("pending");

    const pending = await runCli(["status"], env, stateDir);
    expect(pending.code).toBe(0);
    expect(pending.stdout).toContain(
      `cw-agent gw-cli-run: Waiting for authorization, pairing ID ${pairingId}`,
    );
    expect(pending.stdout).toMatch(new RegExp(`agent +running \\(pid ${agent.pid}, version `));
    expect(pending.stdout).toMatch(new RegExp(`pairing ID +${pairingId}`));

    const pendingJson = parseJson<StatusReport>(await runCli(["status", "--json"], env, stateDir));
    expect(pendingJson).toMatchObject({
      running: true,
      source: "agent",
      state: "pending",
      pairingId,
      agentName: "gw-cli-run",
      pid: agent.pid,
      broker: `127.0.0.1:${sim.mqttPort}`,
    });
    expect(pendingJson.uptimeMs).toBeGreaterThanOrEqual(0);

    const printedId = await runCli(["pairing-id"], env, stateDir);
    expect(printedId).toMatchObject({ code: 0, stdout: `${pairingId}\n` });

    sim.grant(pairingId);
    await agent.waitForState("online");
    const online = await runCli(["status"], env, stateDir);
    expect(online.code).toBe(0);
    expect(online.stdout).toContain(`cw-agent gw-cli-run: Online (127.0.0.1:${sim.mqttPort})`);
    expect(parseJson<StatusReport>(await runCli(["status", "--json"], env, stateDir))).toMatchObject({
      running: true,
      state: "online",
      pairingId: null,
    });

    const registered = await runCli(["pairing-id"], env, stateDir);
    expect(registered.code).toBe(1);
    expect(registered.stderr).toContain('"gw-cli-run" is registered');

    expect(await runCli(["identify", "5"], env, stateDir)).toMatchObject({
      code: 0,
      stdout: "Agent gw-cli-run is showing IDENTIFY on its display for 5 s.\n",
    });
    await agent.waitForLine(identifyLine(5));
    await until(
      () => agent.rawOutput.join("").includes("│*** IDENTIFY ***│\n│   gw-cli-run   │"),
      "the identify screen on the virtual display",
    );
    // Without seconds: CW_AGENT_LED_IDENTIFY_S, default 30.
    expect(await runCli(["identify"], env, stateDir)).toMatchObject({ code: 0 });
    await agent.waitForLine(identifyLine(30));
  });

  it("reset through the socket: the agent registers anew with a new pairing ID", async () => {
    const { sim } = bed;
    const stateDir = newStateDir();
    const env = simEnv(sim, "gw-cli-reset");
    sim.unlock();
    const agent = start(env, stateDir);
    const firstId = await grantAndWaitOnline(sim, agent);

    const unconfirmed = await runCli(["reset"], env, stateDir);
    expect(unconfirmed.code).toBe(64);
    expect(unconfirmed.stderr).toContain("pass --yes");
    expect(storedCredentials(stateDir)?.status).toBe("granted");

    const from = agent.lines.length;
    const reset = await runCli(["reset", "--yes"], env, stateDir);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain("the running agent is registering anew");
    const secondId = await loggedPairingId(agent, from);
    expect(secondId).not.toBe(firstId);
    // Connectware still has the user with the old password: the administrator deletes it.
    await agent.waitForState("conflict", { from });
    sim.deleteUser("gw-cli-reset");
    await agent.waitForState("pending", { from });
    expect(parseJson<StatusReport>(await runCli(["status", "--json"], env, stateDir))).toMatchObject({
      state: "pending",
      pairingId: secondId,
    });
  });
});

describe("cw-agent CLI against a stopped agent", () => {
  it("status from the database, identify refused, reset under the state-dir lock", async () => {
    const { sim } = bed;
    const stateDir = newStateDir();
    const env = simEnv(sim, "gw-cli-stop", { CW_AGENT_DISPLAY_MODEL: "virtual" });
    sim.unlock();
    const agent = start(env, stateDir);
    await grantAndWaitOnline(sim, agent);
    await agent.kill("SIGTERM");

    const status = await runCli(["status"], env, stateDir);
    expect(status.code).toBe(3);
    expect(status.stdout).toContain("cw-agent gw-cli-stop: Agent not running; last state: Stopped");
    expect(status.stdout).toMatch(/credentials +granted/);
    expect(parseJson<StatusReport>(await runCli(["status", "--json"], env, stateDir))).toMatchObject({
      running: false,
      source: "database",
      state: "stopped",
      credentials: "granted",
      pairingId: null,
    });

    const identify = await runCli(["identify", "3"], env, stateDir);
    expect(identify.code).toBe(1);
    expect(identify.stderr).toContain("identify needs the running agent");

    expect((await runCli(["reset"], env, stateDir)).code).toBe(64);
    const reset = await runCli(["reset", "--yes"], env, stateDir);
    expect(reset).toMatchObject({ code: 0 });
    expect(reset.stdout).toContain('Discarded the granted credentials of "gw-cli-stop"');
    expect(storedCredentials(stateDir)).toBeUndefined();
    expect(parseJson<StatusReport>(await runCli(["status", "--json"], env, stateDir))).toMatchObject({
      running: false,
      credentials: "none",
    });
    const nothing = await runCli(["reset", "--yes"], env, stateDir);
    expect(nothing).toMatchObject({ code: 0 });
    expect(nothing.stdout).toContain("Nothing to reset");
  });

  it("an agent killed while pending: its stale socket reads as not running, pairing-id from the database, restart replaces the socket", async () => {
    const { sim } = bed;
    const stateDir = newStateDir();
    const env = simEnv(sim, "gw-cli-kill");
    sim.unlock();
    const agent = start(env, stateDir);
    const pairingId = await loggedPairingId(agent);
    await agent.waitForState("pending");
    await agent.kill("SIGKILL");

    const status = parseJson<StatusReport>(await runCli(["status", "--json"], env, stateDir));
    expect(status).toMatchObject({ running: false, state: "pending", pairingId, credentials: "pending" });
    expect(await runCli(["pairing-id"], env, stateDir)).toMatchObject({ code: 0, stdout: `${pairingId}\n` });

    const restarted = start(env, stateDir);
    await restarted.waitForState("pending");
    expect(parseJson<StatusReport>(await runCli(["status", "--json"], env, stateDir))).toMatchObject({
      running: true,
      pid: restarted.pid,
      pairingId,
    });
  });
});

describe("cw-agent CLI usage", () => {
  it("bad usage prints one line and where the help is, and exits 64; help exits 0; invalid configuration exits 78", async () => {
    const { sim } = bed;
    const stateDir = newStateDir();
    const env = simEnv(sim, "gw-cli-usage");
    const badUsages = [
      [],
      ["frobnicate"],
      ["status", "--bogus"],
      ["status", "extra"],
      ["check", "--yes"],
      ["reset", "--force"],
      ["identify", "abc"],
      ["identify", "0"],
      ["identify", "3601"],
      ["identify", "5", "6"],
      ["pairing-id", "x"],
      ["run", "now"],
    ];
    const results = await Promise.all(badUsages.map((args) => runCli(args, env, stateDir)));
    for (const [index, result] of results.entries()) {
      const args = badUsages[index] as string[];
      expect({ args, code: result.code }).toEqual({ args, code: 64 });
      // One line naming the problem, then where the help is: no usage dump.
      const [command] = args;
      const help =
        command === undefined || command === "frobnicate" ? "cw-agent --help" : `cw-agent ${command} --help`;
      expect({ args, stderr: result.stderr }).toEqual({
        args,
        stderr: expect.stringMatching(
          new RegExp(
            `^cw-agent${command && help !== "cw-agent --help" ? ` ${command}` : ""}: [^\n]+\nRun "${help}" for (its usage|the commands).\n$`,
          ),
        ),
      });
      expect(result.stdout).toBe("");
    }

    const help = await runCli(["help"], env, stateDir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("status [--json]");

    // No status LED and no display: nothing to identify the gateway with.
    const identify = await runCli(["identify"], env, stateDir);
    expect(identify.code).toBe(1);
    expect(identify.stderr).toContain("has no status LED and no display to identify itself on");

    const unconfigured = await runCli(["status"], { CYBUS_MQTT_HOST: "127.0.0.1" }, stateDir);
    expect(unconfigured.code).toBe(78);
    expect(unconfigured.stderr).toContain("CYBUS_AGENT_NAME is required");
  });
});

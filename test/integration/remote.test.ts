import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { Ajv } from "ajv";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../scripts/connectware-sim/cli.js";
import type { ConnectwareSimulator } from "../../scripts/connectware-sim/simulator.js";
import { EXIT_RESTART } from "../../src/exit-codes.js";
import { MAX_COMMAND_PAYLOAD_BYTES } from "../../src/remote/request.js";
import {
  FAKE_BTIME_S,
  FAKE_MODEL,
  FAKE_SECTORS_WRITTEN,
  type FakeMachine,
  fakeMachine,
} from "../fakes/fake-machine.js";
import { scaled } from "../time-scale.js";
import { newStateDir } from "./agent-process.js";
import { agentTestBed, grantAndWaitOnline, loggedPairingId, simEnv, until } from "./fixtures.js";

const bed = agentTestBed();
const machines: FakeMachine[] = [];
const clients: mqtt.MqttClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.endAsync(true);
  for (const machine of machines.splice(0)) machine.remove();
});

function schema(name: string) {
  const ajv = new Ajv({ allErrors: true });
  return ajv.compile(
    JSON.parse(readFileSync(new URL(`../../docs/schemas/${name}`, import.meta.url), "utf8")),
  );
}
const validReply = schema("command-reply.schema.json");
const validInfo = schema("info.schema.json");
const validHealth = schema("health.schema.json");
const validRequest = schema("command-request.schema.json");

interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
}

/** An operator's MQTT client, as Connectware would send commands: may write anywhere. */
async function operator(sim: ConnectwareSimulator) {
  sim.addUser("operator", "operator-password", [
    { resourceType: "mqtt", resource: "#", operation: "readWrite" },
  ]);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${sim.mqttPort}`, {
    username: "operator",
    password: "operator-password",
    reconnectPeriod: 0,
  });
  clients.push(client);
  const seen: Seen[] = [];
  client.on("message", (topic, payload, packet) =>
    seen.push({ topic, payload: payload.toString(), retain: packet.retain }),
  );
  await client.subscribeAsync("cw-agent/#", { qos: 1 });
  let next = 0;
  return {
    seen,
    client,
    /** Publishes a request (an object is sent as JSON); resolves with where its reply will be in `seen`. */
    async send(agent: string, name: string, body: unknown, options: { retain?: boolean } = {}) {
      const from = seen.length;
      await client.publishAsync(
        `cw-agent/${agent}/cmd/${name}`,
        typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
        { qos: 1, retain: options.retain ?? false },
      );
      return from;
    },
    async reply(agent: string, name: string, from: number): Promise<Record<string, unknown>> {
      const replyTopic = `cw-agent/${agent}/cmd/${name}/reply`;
      let found: Seen | undefined;
      await until(() => {
        found = seen.slice(from).find((message) => message.topic === replyTopic);
        return found !== undefined;
      }, `a reply on ${replyTopic}`);
      const reply = JSON.parse((found as Seen).payload) as Record<string, unknown>;
      expect(validReply(reply), JSON.stringify(validReply.errors)).toBe(true);
      return reply;
    },
    async call(agent: string, name: string, body: unknown) {
      const from = await this.send(agent, name, body);
      return this.reply(agent, name, from);
    },
    id: () => `req-${++next}`,
    /** The birth record comes once the agent's subscription is acknowledged: requests reach it. */
    async listening(agent: string) {
      await until(
        () => seen.some((m) => m.topic === `cw-agent/${agent}/info`),
        `the birth record of ${agent}`,
      );
    },
  };
}

function machineFor(stateDir: string, options: { underVoltage?: boolean } = {}): FakeMachine {
  const machine = fakeMachine({ ...options, storageFor: dirname(stateDir) });
  machines.push(machine);
  return machine;
}

describe("remote operations and health over MQTT", () => {
  it("publishes the birth record and health, and serves identify, status, log-level and every bad input", async () => {
    const { sim } = bed;
    const stateDir = newStateDir();
    const machine = machineFor(stateDir, { underVoltage: true });
    const env = simEnv(sim, "gw-remote", {
      CW_AGENT_HEALTH_INTERVAL_S: "1",
      CW_AGENT_SYSFS_ROOT: machine.sysfsRoot,
      CW_AGENT_PROCFS_ROOT: machine.procfsRoot,
      CW_AGENT_LED_FAULT: "led:fault",
    });
    sim.unlock();
    const agent = bed.start(env, stateDir);
    const pairingId = await grantAndWaitOnline(sim, agent);
    const op = await operator(sim);

    await until(() => op.seen.some((m) => m.topic === "cw-agent/gw-remote/info"), "the birth record");
    const infoMessage = op.seen.find((m) => m.topic === "cw-agent/gw-remote/info") as Seen;
    // Retained: the broker keeps it for whoever subscribes later.
    expect(sim.retained("cw-agent/gw-remote/info")).toBe(infoMessage.payload);
    const info = JSON.parse(infoMessage.payload);
    expect(validInfo(info), JSON.stringify(validInfo.errors)).toBe(true);
    expect(info).toMatchObject({
      agentName: "gw-remote",
      node: process.version,
      arch: process.arch,
      pairingId,
      state: "online",
      bootTime: FAKE_BTIME_S * 1000,
      model: FAKE_MODEL,
    });
    expect(info.startedAt).toBeLessThanOrEqual(Date.now());

    // Health on the short interval, from the fake trees, not retained.
    await until(() => op.seen.some((m) => m.topic === "cw-agent/gw-remote/health"), "a health message");
    const healthMessage = op.seen.find((m) => m.topic === "cw-agent/gw-remote/health") as Seen;
    expect(healthMessage.retain).toBe(false);
    const health = JSON.parse(healthMessage.payload);
    expect(validHealth(health), JSON.stringify(validHealth.errors)).toBe(true);
    expect(health).toMatchObject({
      uptimeS: 12345.67,
      load: [0.52, 0.4, 0.31],
      memory: { totalBytes: 3884328 * 1024, availableBytes: 2999000 * 1024 },
      disk: { path: stateDir },
      cpuTemperatureC: 48.25,
      power: {
        underVoltage: true,
        underVoltageSource: "rpi_volt",
        throttled: { raw: "50005", underVoltageNow: true, throttledNow: true, underVoltageOccurred: true },
      },
      storageWrites: { device: "mmcblk0", bytesWrittenSinceBoot: FAKE_SECTORS_WRITTEN * 512 },
      mqttReconnects: 0,
    });
    expect(health.registryRequests).toBeGreaterThanOrEqual(1);
    expect(health.disk.freeBytes).toBeGreaterThan(0);

    // Under-voltage: one warning line, and the fault LED double-flashes (a software pattern).
    const warnings = () => agent.lines.filter((line) => line.msg.startsWith("Power problem:"));
    expect(warnings()[0]?.msg).toContain("under-voltage, throttled");
    await until(() => machine.read("sys/class/leds/fault/brightness") === "1", "the fault LED lit");
    await until(() => machine.read("sys/class/leds/fault/brightness") === "0", "the fault LED dark again");
    const warned = await op.call("gw-remote", "status", { id: "warned" });
    expect(warned).toMatchObject({ ok: true, result: { warning: "Power: under-voltage, throttled" } });
    machine.write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", "0\n");
    machine.write("sys/devices/platform/soc/soc:firmware/get_throttled", "50000\n");
    await agent.waitForMessage("Power back to normal");
    expect(warnings()).toHaveLength(1);

    // identify: no status LED or display configured, so the board's ACT LED, then its trigger back.
    const identify = await op.call("gw-remote", "identify", { id: op.id(), args: { seconds: 1 } });
    expect(identify).toMatchObject({ id: "req-1", ok: true, result: { seconds: 1, shownOn: ["ACT LED"] } });
    expect(machine.read("sys/class/leds/ACT/delay_on")).toBe("80");
    await until(
      () => machine.read("sys/class/leds/ACT/trigger") === "mmc0",
      "the ACT LED's own trigger back",
    );
    const tooLong = await op.call("gw-remote", "identify", { id: op.id(), args: { seconds: 3601 } });
    expect(tooLong).toMatchObject({ id: "req-2", ok: false });
    expect(tooLong.error).toContain("from 1 to");

    // status: what `cw-agent status --json` shows.
    const status = await op.call("gw-remote", "status", { id: op.id() });
    expect(status).toMatchObject({
      id: "req-3",
      ok: true,
      result: {
        running: true,
        source: "agent",
        state: "online",
        agentName: "gw-remote",
        pid: agent.pid,
        warning: null,
      },
    });

    // log-level until restart: debug lines appear only afterwards.
    expect(agent.lines.some((line) => line.level === 20)).toBe(false);
    const level = await op.call("gw-remote", "log-level", { id: op.id(), args: { level: "debug" } });
    expect(level).toMatchObject({ ok: true, result: { previous: "info", level: "debug" } });
    const badLevel = await op.call("gw-remote", "log-level", { id: op.id(), args: { level: "loud" } });
    expect(badLevel).toMatchObject({ id: "req-5", ok: false });

    // Bad input: an error reply and one debug line each, and the agent carries on.
    const debugLines = () => agent.lines.filter((line) => line.msg.startsWith("Command refused:")).length;
    const cases: [string, unknown, string, string | null][] = [
      ["status", "{not json", "not valid JSON", null],
      ["status", { args: {} }, '"id" must be a string', null],
      ["status", "x".repeat(MAX_COMMAND_PAYLOAD_BYTES + 1), "larger than 4096 bytes", null],
      ["reboot-now", { id: "u-1" }, 'unknown command "reboot-now"', "u-1"],
      ["status", { id: "a-1", args: [1] }, '"args" must be a JSON object', "a-1"],
    ];
    for (const [name, body, error, id] of cases) {
      const before = debugLines();
      const reply = await op.call("gw-remote", name, body);
      expect(reply).toMatchObject({ id, ok: false });
      expect(reply.error).toContain(error);
      await until(() => debugLines() === before + 1, `the debug line for ${error}`);
    }
    expect(validRequest({ id: "x", args: { seconds: 3 } })).toBe(true);
    expect(validRequest({ args: {} })).toBe(false);
    expect(agent.lines.filter((line) => line.level >= 50)).toEqual([]);
    expect((await op.call("gw-remote", "status", { id: "still-up" })).ok).toBe(true);
  });

  it(
    "runs check as a child process, answers a flood with busy, and the simulator's cmd reaches the agent",
    async () => {
      const { sim } = bed;
      const env = simEnv(sim, "gw-check", { CW_AGENT_HEALTH_INTERVAL_S: "0" });
      sim.unlock();
      const agent = bed.start(env);
      await grantAndWaitOnline(sim, agent);
      const op = await operator(sim);
      await op.listening("gw-check");

      const from = op.seen.length;
      for (let index = 1; index <= 5; index++) await op.send("gw-check", "check", { id: `flood-${index}` });
      const replies = () =>
        op.seen
          .slice(from)
          .filter((m) => m.topic === "cw-agent/gw-check/cmd/check/reply")
          .map((m) => JSON.parse(m.payload) as Record<string, unknown>);
      // check itself may take up to its 60 s deadline before it answers.
      await until(() => replies().length === 5, "five replies to five check requests", scaled(70_000));
      const done = replies().filter((reply) => reply.ok === true);
      const busy = replies().filter((reply) => reply.ok === false);
      expect(done.map((reply) => reply.id)).toEqual(["flood-1"]);
      expect(busy.map((reply) => reply.error)).toEqual(
        Array(4).fill("busy: an earlier check request is still running"),
      );
      const result = done[0]?.result as {
        exitCode: number;
        report: { checks: { name: string }[]; summary: unknown };
      };
      expect([0, 1]).toContain(result.exitCode);
      expect(result.report.checks.length).toBeGreaterThan(3);
      expect(result.report.summary).toBeDefined();

      // The simulator's admin CLI, as the demo uses it.
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(["--admin", sim.adminUrl, "cmd", "gw-check", "status"], {
        out: (line) => out.push(line),
        err: (line) => err.push(line),
        env: {},
      });
      expect(err).toEqual([]);
      expect(code).toBe(0);
      expect(JSON.parse(out.join("\n"))).toMatchObject({
        ok: true,
        result: { agentName: "gw-check", state: "online" },
      });
      const refused = await runCli(
        ["--admin", sim.adminUrl, "cmd", "gw-check", "identify", '{"seconds":0}'],
        {
          out: (line) => out.push(line),
          err: (line) => err.push(line),
          env: {},
        },
      );
      expect(refused).toBe(1);
    },
    scaled(120_000),
  );

  it("re-pairs only with the current pairing ID as confirmation, then shows the new one", async () => {
    const { sim } = bed;
    const env = simEnv(sim, "gw-repair", {
      CW_AGENT_DISPLAY_MODEL: "virtual-lcd",
      CW_AGENT_HEALTH_INTERVAL_S: "0",
    });
    sim.unlock();
    const agent = bed.start(env);
    const first = await grantAndWaitOnline(sim, agent);
    const op = await operator(sim);
    await op.listening("gw-repair");

    const wrong = await op.call("gw-repair", "re-pair", { id: "r-1", args: { confirm: "000000" } });
    expect(wrong).toMatchObject({ id: "r-1", ok: false });
    const missing = await op.call("gw-repair", "re-pair", { id: "r-2" });
    expect(missing).toMatchObject({ id: "r-2", ok: false });
    expect(agent.lines.some((line) => line.msg.includes("discarding the credentials"))).toBe(false);

    const from = agent.lines.length;
    const done = await op.call("gw-repair", "re-pair", { id: "r-3", args: { confirm: first } });
    expect(done).toMatchObject({ id: "r-3", ok: true, result: { discardedPairingId: first } });
    const second = await loggedPairingId(agent, from);
    expect(second).not.toBe(first);
    // Connectware still knows the old user: the administrator removes it, then grants the new ID.
    await agent.waitForState("conflict", { from });
    sim.deleteUser("gw-repair");
    sim.unlock();
    await agent.waitForState("pending", { from });
    await until(
      () => agent.rawOutput.some((chunk) => chunk.includes(second)),
      "the new pairing ID on the display",
    );
    sim.grant(second);
    await agent.waitForState("online", { from });
  });

  it("ignores a retained restart, and a live one stops cleanly with the restart exit code", async () => {
    const { sim } = bed;
    const env = simEnv(sim, "gw-restart", { CW_AGENT_HEALTH_INTERVAL_S: "0", CYBUS_LOG_LEVEL: "debug" });
    const op = await operator(sim);
    // Left on the broker before the agent ever connects: it must never act on it.
    await op.send("gw-restart", "restart", { id: "stale" }, { retain: true });
    sim.unlock();
    const agent = bed.start(env);
    await grantAndWaitOnline(sim, agent);
    await agent.waitForMessage("Ignored a retained command message");
    await op.listening("gw-restart");
    expect(op.seen.some((m) => m.topic === "cw-agent/gw-restart/cmd/restart/reply")).toBe(false);

    const reply = await op.call("gw-restart", "restart", { id: "now" });
    expect(reply).toMatchObject({
      id: "now",
      ok: true,
      result: { restarting: true, exitCode: EXIT_RESTART },
    });
    expect(await agent.exited).toBe(EXIT_RESTART);
    expect(EXIT_RESTART).toBe(75);
    expect(agent.lines.some((line) => line.state === "stopped")).toBe(true);
    // The clean stop published the offline status rather than leaving it to the last will.
    expect(sim.retained("cw-agent/gw-restart/status")).toBe("offline");
  });

  it("keeps an agent's publishes under its own prefix in the simulator", async () => {
    const { sim } = bed;
    const op = await operator(sim);
    // A client registered as an agent for cw-agent/rogue that was granted more than its prefix.
    sim.unlock();
    const response = await fetch(`${sim.registryHttpUrl}/api/client-registry/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        username: "rogue",
        password: "rogue-password",
        context: { topicPrefix: "cw-agent/rogue" },
        permissions: [{ resourceType: "mqtt", resource: "#", operation: "readWrite" }],
      }),
    });
    expect(response.status).toBe(202);
    sim.grant("rogue");
    const rogue = await mqtt.connectAsync(`mqtt://127.0.0.1:${sim.mqttPort}`, {
      username: "rogue",
      password: "rogue-password",
      reconnectPeriod: 0,
    });
    clients.push(rogue);
    await rogue.publishAsync("cw-agent/victim/cmd/restart", '{"id":"evil"}', { qos: 1 });
    await rogue.publishAsync("cw-agent/rogue/status", "online", { qos: 1 });
    await until(() => op.seen.some((m) => m.topic === "cw-agent/rogue/status"), "the rogue's own publish");
    expect(op.seen.some((m) => m.topic === "cw-agent/victim/cmd/restart")).toBe(false);
  });
});

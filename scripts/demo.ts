/**
 * `npm run demo`: a Connectware simulator and a real agent process against it, so a newcomer sees
 * the whole pairing flow on one machine: registry locked -> unlocked -> pending with a pairing ID
 * -> granted -> online over MQTT/TLS. Ctrl-C stops both cleanly.
 *
 *   --manual            do not grant automatically; grant with the printed CLI command instead
 *   --json              print the agent's raw JSON log lines instead of the readable form
 *   --exit-when-online  stop everything once the agent is online (used by the test suite)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConnectwareSimulator, startSimulator } from "./connectware-sim/simulator.js";

const AGENT_NAME = "demo-agent";
const UNLOCK_AFTER_MS = 2_000;
const GRANT_AFTER_MS = 3_000;

const flags = new Set(process.argv.slice(2));
for (const flag of flags) {
  if (!["--manual", "--json", "--exit-when-online"].includes(flag)) {
    process.stderr.write(
      `demo: unknown option ${flag}\nusage: npm run demo -- [--manual] [--json] [--exit-when-online]\n`,
    );
    process.exit(64);
  }
}

const startedAt = Date.now();
const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)}s`;
const say = (text: string) => process.stdout.write(`${elapsed()}  \x1b[36m[demo]\x1b[0m ${text}\n`);

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO ",
  40: "WARN ",
  50: "ERROR",
  60: "FATAL",
};

function showAgentLine(raw: string): void {
  if (flags.has("--json")) {
    process.stdout.write(`${raw}\n`);
    return;
  }
  try {
    const line = JSON.parse(raw) as { level: number; msg: string };
    const colour = line.level >= 50 ? "\x1b[31m" : line.level >= 40 ? "\x1b[33m" : "\x1b[32m";
    process.stdout.write(
      `${elapsed()}  ${colour}[agent ${LEVELS[line.level] ?? line.level}]\x1b[0m ${line.msg}\n`,
    );
  } catch {
    process.stdout.write(`${elapsed()}  [agent] ${raw}\n`);
  }
}

async function main(): Promise<number> {
  const simulator = await startSimulator();
  const stateDir = mkdtempSync(join(tmpdir(), "cw-agent-demo-"));
  say(
    `Connectware simulator: registry ${simulator.registryHttpsUrl}, MQTT/TLS port ${simulator.mqttsPort}, admin ${simulator.adminUrl}`,
  );
  say(`Agent state directory: ${stateDir} (removed at exit)`);

  const agent = spawn(process.execPath, [new URL("../src/cli.js", import.meta.url).pathname, "run"], {
    env: {
      ...process.env,
      CYBUS_AGENT_NAME: AGENT_NAME,
      CYBUS_MQTT_HOST: "localhost",
      CYBUS_MQTT_SCHEME: "mqtts",
      CYBUS_MQTT_PORT: String(simulator.mqttsPort),
      CW_AGENT_REGISTRY_URL: simulator.registryHttpsUrl,
      CW_AGENT_CA_FILE: simulator.caFile,
      CW_AGENT_STATE_DIR: join(stateDir, "state"),
      CW_AGENT_REGISTRY_LOCKED_POLL_MS: "1000",
      CW_AGENT_REGISTRY_PENDING_POLL_MS: "1000",
      CW_AGENT_DISPLAY_MODEL: "virtual",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });

  const online = watchAgent(agent);
  const { stop, stopped } = stopper(agent, simulator, stateDir);
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  await administrate(simulator, online);
  const onlineAt = await online;
  if (onlineAt !== undefined) {
    const topic = `cw-agent/${AGENT_NAME}/status`;
    for (let tries = 0; tries < 40 && simulator.retained(topic) === undefined; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    say(
      `Agent online ${((onlineAt - startedAt) / 1000).toFixed(1)} s after start; retained ${topic} = ${simulator.retained(topic) ?? "(none)"}`,
    );
    if (flags.has("--exit-when-online")) stop();
    else say("Press Ctrl-C to stop the agent and the simulator.");
  }
  return stopped;
}

/** Stops the agent first (so it can publish "offline"), then the simulator; `stopped` gives the exit code. */
function stopper(agent: ChildProcess, simulator: ConnectwareSimulator, stateDir: string) {
  let resolveStopped: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    say("Stopping the agent (SIGTERM) and the simulator...");
    const exited = new Promise<number | null>((resolve) => {
      // An agent killed by a signal has no exit code but has exited all the same.
      if (agent.exitCode !== null || agent.signalCode !== null) resolve(agent.exitCode);
      else agent.once("exit", (code) => resolve(code));
    });
    agent.kill("SIGTERM");
    void exited.then(async (code) => {
      await simulator.close();
      rmSync(stateDir, { recursive: true, force: true });
      say(`Agent exited with code ${code}; simulator closed.`);
      resolveStopped(code === 0 ? 0 : 1);
    });
  };
  // An agent that dies on its own ends the demo too.
  agent.once("exit", stop);
  return { stop, stopped };
}

/** Resolves with the time the agent reported itself online, or undefined if it exited first. */
function watchAgent(agent: ChildProcess): Promise<number | undefined> {
  return new Promise((resolve) => {
    let buffered = "";
    agent.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
        const raw = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        showAgentLine(raw);
        if (raw.includes('"state":"online"')) resolve(Date.now());
      }
    });
    agent.once("exit", () => resolve(undefined));
  });
}

/** Plays the Connectware administrator: unlocks the registry, then grants the request it sees. */
async function administrate(
  simulator: ConnectwareSimulator,
  online: Promise<number | undefined>,
): Promise<void> {
  const agentGone = online.then(() => true);
  const wait = (ms: number) => Promise.race([new Promise((resolve) => setTimeout(resolve, ms)), agentGone]);
  await wait(UNLOCK_AFTER_MS);
  simulator.unlock();
  say('Administrator: unlocked the Client Registry ("User Management -> Client Registry" -> Unlock)');

  for (;;) {
    const request = simulator
      .requests()
      .find((candidate) => candidate.username === AGENT_NAME && candidate.status === "pending");
    if (request) {
      say(
        `Administrator: the Client Registry shows "${request.username}" with pairing ID ${request.pairingId}`,
      );
      if (flags.has("--manual")) {
        say(
          `Grant it with: node dist/scripts/connectware-sim/cli.js --admin ${simulator.adminUrl} grant ${request.pairingId}`,
        );
        return;
      }
      await wait(GRANT_AFTER_MS);
      simulator.grant(request.pairingId);
      say(`Administrator: compared the pairing ID and granted ${request.username}`);
      return;
    }
    if ((await Promise.race([wait(200).then(() => false), agentGone])) === true) return;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);

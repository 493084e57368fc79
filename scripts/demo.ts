/**
 * `npm run demo`: a Connectware simulator and a real agent process against it, so a newcomer sees
 * the whole pairing flow on one machine: registry locked -> unlocked -> pending with a pairing ID
 * -> granted -> online over MQTT/TLS. The agent's settings go to an env file in the demo's
 * temporary directory, and the demo prints the CLI command lines that reach the agent with it.
 * Ctrl-C stops both cleanly.
 *
 *   --manual            unlock the registry and grant the pairing ID yourself, with the printed
 *                       simulator CLI commands
 *   --json              print the agent's raw JSON log lines instead of the readable form
 *   --exit-when-online  stop everything once the agent is online (used by the test suite)
 *
 * The temporary directory holds the agent's credential database: it is removed however the demo
 * ends (Ctrl-C, SIGTERM, SIGHUP, the reader of a pipe going away, an error, a normal exit).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { colorsWanted, formatLogLine } from "../src/logging/pretty.js";
import { type ConnectwareSimulator, startSimulator } from "./connectware-sim/simulator.js";

const AGENT_NAME = "demo-agent";
const UNLOCK_AFTER_MS = 2_000;
const GRANT_AFTER_MS = 3_000;
/** An agent that has not exited this long after SIGTERM is killed. */
const AGENT_STOP_DEADLINE_MS = 10_000;

const flags = new Set(process.argv.slice(2));
for (const flag of flags) {
  if (!["--manual", "--json", "--exit-when-online"].includes(flag)) {
    process.stderr.write(
      `demo: unknown option ${flag}\nusage: npm run demo -- [--manual] [--json] [--exit-when-online]\n`,
    );
    process.exit(64);
  }
}

// --- ending, whichever way ------------------------------------------------------------------------

let tempDir: string | undefined;
let agent: ChildProcess | undefined;
/** Set once the agent runs: stops it, then the simulator, and removes the temporary directory. */
let stopDemo: ((reason: string) => void) | undefined;
/** The demo is ending (asked to, or the agent exited): the administrator stops acting. */
let stopping = false;
/** Whether a signal or a closed pipe already asked for the stop: a second request forces it. */
let stopRequested = false;

const agentRunning = () => agent !== undefined && agent.exitCode === null && agent.signalCode === null;

/** The last word on every exit, also after an uncaught exception: no agent, no credentials left. */
process.on("exit", () => {
  if (agentRunning()) agent?.kill("SIGKILL");
  if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
});

function requestStop(reason: string): void {
  if (stopRequested) {
    // A second Ctrl-C: no more waiting. The exit handler kills the agent and removes the directory.
    say(`${reason} again: exiting at once`);
    process.exit(130);
  }
  stopRequested = true;
  stopping = true;
  if (stopDemo === undefined) process.exit(1);
  else stopDemo(reason);
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => requestStop(`Received ${signal}`));
}

// `npm start | head` or `npm start | tee log` and Ctrl-C: the reader is gone, the demo stops.
let stdoutOpen = true;
let stderrOpen = true;
process.stdout.on("error", () => {
  stdoutOpen = false;
  requestStop("Output closed");
});
process.stderr.on("error", () => {
  stderrOpen = false;
});
const writeOut = (text: string) => {
  if (stdoutOpen) process.stdout.write(text);
};
const writeErr = (text: string | Buffer) => {
  if (stderrOpen) process.stderr.write(text);
};

// --- output ---------------------------------------------------------------------------------------

const colors = colorsWanted(process.env, process.stdout.isTTY === true);
const paint = (code: string, text: string) => (colors ? `\x1b[${code}m${text}\x1b[0m` : text);
const startedAt = Date.now();

function clock(): string {
  const now = new Date();
  const two = (value: number) => String(value).padStart(2, "0");
  return `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}.${String(now.getMilliseconds()).padStart(3, "0")}`;
}

function say(text: string): void {
  writeOut(`${paint("2", clock())} ${paint("36", "DEMO ")} ${text}\n`);
}

function showAgentLine(raw: string): void {
  writeOut(`${flags.has("--json") ? raw : formatLogLine(raw, { colors })}\n`);
}

/** How to run a built script of this checkout from the current directory, shell-quoted. */
function command(script: string, ...args: string[]): string {
  return ["node", shownPath(script), ...args].map(shellWord).join(" ");
}

/** A path relative to this script, as short as it can be shown from the working directory. */
function shownPath(script: string): string {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const shown = relative(process.cwd(), path);
  return shown === "" || shown.startsWith("..") || isAbsolute(shown) ? path : shown;
}

function shellWord(word: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

// --- the demo -------------------------------------------------------------------------------------

async function main(): Promise<number> {
  tempDir = mkdtempSync(join(tmpdir(), "cw-agent-demo-"));
  const simulator = await startSimulator();
  say(
    `Connectware simulator: registry ${simulator.registryHttpsUrl}, MQTT/TLS port ${simulator.mqttsPort}, admin ${simulator.adminUrl}`,
  );

  // The agent's settings, once: in the env file for the CLI and in the agent's environment.
  const settings: Record<string, string> = {
    CYBUS_AGENT_NAME: AGENT_NAME,
    CYBUS_MQTT_HOST: "localhost",
    CYBUS_MQTT_SCHEME: "mqtts",
    CYBUS_MQTT_PORT: String(simulator.mqttsPort),
    CW_AGENT_REGISTRY_URL: simulator.registryHttpsUrl,
    CW_AGENT_CA_FILE: simulator.caFile,
    CW_AGENT_STATE_DIR: join(tempDir, "state"),
    CW_AGENT_REGISTRY_LOCKED_POLL_MS: "1000",
    CW_AGENT_REGISTRY_PENDING_POLL_MS: "1000",
    CW_AGENT_DISPLAY_MODEL: "virtual",
    // The agent's stderr comes through this process: pick the style for this terminal.
    CW_AGENT_DISPLAY_VIRTUAL_STYLE:
      process.stderr.isTTY && (process.stderr.columns ?? 0) >= 130 ? "blocks" : "braille",
  };
  const envFile = join(tempDir, "demo.env");
  writeFileSync(
    envFile,
    `# Settings of the demo's agent, for the cw-agent CLI (--env-file); removed when the demo ends.\n${Object.entries(
      settings,
    )
      .map(([name, value]) => `${name}=${/\s/.test(value) ? JSON.stringify(value) : value}`)
      .join("\n")}\n`,
    { mode: 0o600 },
  );
  say(`Agent settings: ${envFile} (removed at exit, with the agent's state directory next to it)`);
  say("Look at the agent with the CLI from another terminal, in this directory:");
  for (const args of [["status"], ["check"], ["identify", "10"]]) {
    // Through the launcher: node itself would act on --env-file after cli.js (nodejs/node#54232).
    writeOut(
      `    ${[shownPath("../../bin/cw-agent"), ...args, "--env-file", envFile].map(shellWord).join(" ")}\n`,
    );
  }

  agent = spawn(process.execPath, [fileURLToPath(new URL("../src/cli.js", import.meta.url)), "run"], {
    // JSON on the pipe whatever the shell says: this process reads it.
    env: { ...process.env, ...settings, CW_AGENT_LOG_FORMAT: "json" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  agent.stderr?.on("data", (chunk: Buffer) => writeErr(chunk));
  const online = watchAgent(agent);
  const { stop, stopped } = stopper(agent, simulator);
  stopDemo = stop;

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
    if (flags.has("--exit-when-online")) requestStop("Online");
    else say("Press Ctrl-C to stop the agent and the simulator.");
  }
  return stopped;
}

/** Stops the agent first (so it can publish "offline"), then the simulator; `stopped` gives the exit code. */
function stopper(child: ChildProcess, simulator: ConnectwareSimulator) {
  let resolveStopped: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });
  let started = false;
  const stop = (reason: string) => {
    if (started) return;
    started = true;
    stopping = true;
    const running = child.exitCode === null && child.signalCode === null;
    say(`${reason}: stopping ${running ? "the agent (SIGTERM) and " : ""}the simulator...`);
    const exited = new Promise<number | null>((resolve) => {
      // An agent killed by a signal has no exit code but has exited all the same.
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    });
    child.kill("SIGTERM");
    const deadline = setTimeout(() => child.kill("SIGKILL"), AGENT_STOP_DEADLINE_MS);
    void exited.then(async (code) => {
      clearTimeout(deadline);
      await simulator.close();
      if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
      say(`Agent exited with code ${code}; simulator closed; temporary directory removed.`);
      resolveStopped(code === 0 ? 0 : 1);
    });
  };
  // An agent that dies on its own ends the demo too.
  child.once("exit", () => stop("Agent exited"));
  return { stop, stopped };
}

/** Resolves with the time the agent reported itself online, or undefined if it exited first. */
function watchAgent(child: ChildProcess): Promise<number | undefined> {
  return new Promise((resolve) => {
    let buffered = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
        const raw = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        showAgentLine(raw);
        if (raw.includes('"state":"online"')) resolve(Date.now());
      }
    });
    child.once("exit", () => resolve(undefined));
  });
}

/**
 * Plays the Connectware administrator: unlocks the registry, then grants the request it sees.
 * With --manual it only says what to type, and waits for the agent to get online.
 */
async function administrate(
  simulator: ConnectwareSimulator,
  online: Promise<number | undefined>,
): Promise<void> {
  const manual = flags.has("--manual");
  const admin = (...args: string[]) =>
    command("./connectware-sim/cli.js", "--admin", simulator.adminUrl, ...args);
  const agentGone = online.then(() => true);
  const wait = (ms: number) => Promise.race([new Promise((resolve) => setTimeout(resolve, ms)), agentGone]);
  if (manual) {
    say(`You are the administrator. Unlock the Client Registry with:\n    ${admin("unlock")}`);
  } else {
    await wait(UNLOCK_AFTER_MS);
    if (stopping) return;
    simulator.unlock();
    say('Administrator: unlocked the Client Registry ("User Management -> Client Registry" -> Unlock)');
  }

  for (;;) {
    if (stopping) return;
    const request = simulator
      .requests()
      .find((candidate) => candidate.username === AGENT_NAME && candidate.status === "pending");
    if (request) {
      say(
        `Administrator: the Client Registry shows "${request.username}" with pairing ID ${request.pairingId}`,
      );
      // What Connectware can do with the agent once it is online (docs/remote.md).
      const remote = () =>
        say(
          `Once it is online, send it commands over MQTT as Connectware would:\n    ${admin("cmd", AGENT_NAME, "identify", '{"seconds":10}')}\n    ${admin("cmd", AGENT_NAME, "status")}`,
        );
      if (manual) {
        say(
          `Compare it with the agent's pairing ID, then grant it with:\n    ${admin("grant", request.pairingId)}`,
        );
        remote();
        return;
      }
      await wait(GRANT_AFTER_MS);
      if (stopping) return;
      simulator.grant(request.pairingId);
      say(`Administrator: compared the pairing ID and granted ${request.username}`);
      remote();
      return;
    }
    if ((await Promise.race([wait(200).then(() => false), agentGone])) === true) return;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    writeErr(`demo: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);

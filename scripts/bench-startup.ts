/**
 * Start-up of the packaged agent against a bare MQTT client: how long from starting the process
 * until it is online with cached credentials, next to a process that does nothing but connect with
 * mqtt.js to the same broker with the same credentials. All run on the node the package bundles,
 * alternately, so machine load hits them alike; the medians are printed side by side. The agent
 * runs as its unit starts it, with Node.js's compile cache (NODE_COMPILE_CACHE in CacheDirectory=,
 * filled by the pairing run), and once more without it: the first start after installing.
 *
 *   npm run package -- --arch amd64 && npm run bench:startup [-- --runs 15] [-- --deb FILE]
 *
 * With --cpu-prof DIR the agent runs also write V8 CPU profiles there (node --cpu-prof).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CredentialStore } from "../src/storage/credential-store.js";
import { startSimulator } from "./connectware-sim/simulator.js";

const repo = new URL("..", import.meta.url).pathname.replace(/dist\/$/, "");
const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "12" },
    deb: { type: "string" },
    "cpu-prof": { type: "string" },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");

const version = (createRequire(import.meta.url)(join(repo, "package.json")) as { version: string }).version;
const debArch = ({ x64: "amd64", arm64: "arm64" } as Record<string, string>)[arch()];
const deb = values.deb ?? join(repo, "dist", "packages", `cw-agent_${version}_${debArch}.deb`);

const work = mkdtempSync(join(tmpdir(), "cw-agent-bench-"));
const sim = await startSimulator();
try {
  execFileSync("dpkg-deb", ["-x", deb, join(work, "root")]);
  const node = join(work, "root/usr/lib/cw-agent/node/bin/node");
  const cli = join(work, "root/usr/lib/cw-agent/lib/cli.js");
  const stateDir = join(work, "state");
  const name = "bench-agent";
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    CYBUS_AGENT_NAME: name,
    CYBUS_MQTT_HOST: "127.0.0.1",
    CYBUS_MQTT_PORT: String(sim.mqttPort),
    CW_AGENT_REGISTRY_URL: sim.registryHttpUrl,
    CW_AGENT_REGISTRY_PENDING_POLL_MS: "200",
    CW_AGENT_STATE_DIR: stateDir,
  };
  const unitEnv = { ...env, NODE_COMPILE_CACHE: join(work, "cache") };

  // Pair once, so every measured start is a start on cached credentials.
  sim.unlock();
  await runUntil([node, cli, "run"], unitEnv, (line) => {
    const pending = /"pairingId":"([0-9a-f]{6})"/.exec(line);
    if (pending?.[1] && sim.requests().some((r) => r.pairingId === pending[1] && r.status === "pending"))
      sim.grant(pending[1]);
    return line.includes('"state":"online"');
  });
  const store = CredentialStore.openReadOnly(stateDir);
  const credentials = store?.load();
  store?.close();
  if (!credentials) throw new Error("the agent stored no credentials");

  const mqttEntry = createRequire(join(repo, "package.json")).resolve("mqtt");
  const bare = join(work, "bare-client.mjs");
  writeFileSync(
    bare,
    `import mqtt from ${JSON.stringify(mqttEntry)};
const client = mqtt.connect(${JSON.stringify(`mqtt://127.0.0.1:${sim.mqttPort}`)}, {
  clientId: "bench-bare", username: process.env.U, password: process.env.P, reconnectPeriod: 0 });
client.on("connect", () => { process.stdout.write("connected\\n"); });
client.on("error", (error) => { console.error(error.message); process.exit(1); });
`,
  );
  const bareEnv = { PATH: env.PATH, U: credentials.username, P: credentials.password };

  const agentTimes: number[] = [];
  const uncachedTimes: number[] = [];
  const bareTimes: number[] = [];
  const agentRss: number[] = [];
  const bareRss: number[] = [];
  const online = (line: string) => line.includes('"state":"online"');
  for (let i = 0; i < runs; i++) {
    const profile = values["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof"]}`] : [];
    agentTimes.push(await runUntil([node, ...profile, cli, "run"], unitEnv, online, agentRss));
    uncachedTimes.push(await runUntil([node, cli, "run"], env, online));
    bareTimes.push(await runUntil([node, bare], bareEnv, (l) => l === "connected", bareRss));
  }
  const client = median(bareTimes);
  // The packaged node's own CPU: an ARM package runs under qemu-user here.
  const nodeVersion = execFileSync(node, ["-p", 'process.version + ", " + process.arch'], {
    encoding: "utf8",
  }).trim();
  const row = (label: string, times: number[], rss?: number[]) =>
    `  ${label.padEnd(36)} ${median(times).toFixed(0).padStart(5)} ms   (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})   ${(median(times) / client).toFixed(2)}x` +
    (rss ? `   RSS ${(median(rss) / 1024).toFixed(1)} MiB` : "");
  process.stdout.write(
    [
      `start -> online with cached credentials, median of ${runs} runs each (node ${nodeVersion}); RSS when online`,
      row("packaged agent, as its unit runs it", agentTimes, agentRss),
      row("packaged agent, no compile cache", uncachedTimes),
      row("bare mqtt.js client", bareTimes, bareRss),
      "",
    ].join("\n"),
  );
} finally {
  await sim.close();
  rmSync(work, { recursive: true, force: true });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** A process's resident memory in KiB, from /proc (Linux). */
function residentKiB(pid: number | undefined): number {
  const status = pid === undefined ? "" : readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
}

/**
 * Starts a process, resolves with the milliseconds until `done` accepts an output line, then stops
 * it. Its resident memory at that moment goes to `rss`.
 */
function runUntil(
  command: string[],
  env: Record<string, string>,
  done: (line: string) => boolean,
  rss: number[] = [],
): Promise<number> {
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file as string, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    let elapsed: number | undefined;
    let buffered = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      if (elapsed === undefined && lines.some(done)) {
        elapsed = performance.now() - started;
        rss.push(residentKiB(child.pid));
        child.kill("SIGTERM");
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (elapsed !== undefined) resolve(elapsed);
      else reject(new Error(`${command.join(" ")} ended (${code ?? signal}) before it was online`));
    });
  });
}

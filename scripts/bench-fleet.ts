/**
 * Fleet benchmark: N real `cw-agent run` processes against one Connectware, played by the bundled
 * simulator's registry (HTTPS, on loopback) and a real Mosquitto (password file, on loopback).
 *
 *   npm run bench:fleet -- --agents 25              # one fleet size
 *   npm run bench:fleet -- --agents 25,50,100       # several, one after the other
 *   options: --broker-down-s 5 (how long the broker stays away), --settle-s 31 (online time before
 *            the broker restart, past the 30 s after which a connection counts as stable),
 *            --pending-s 10 (how long the fleet stays pending before the grant)
 *
 * Phases, for each N:
 *  1. mass first boot: all agents start with empty state directories against an unlocked registry;
 *     registry requests per second until all are pending, and while they wait; then the
 *     administrator grants all at once (registry and broker): time until all are online.
 *  2. mass restart: all stop (SIGTERM) and start again with their cached credentials: time until
 *     all are online, registry requests (expected: none), CONNECTs per second at the broker.
 *  3. broker restart: Mosquitto stops cleanly, stays away, starts again on the same port: CONNECTs
 *     per second (from the broker's log), time until all are online, credentials unchanged.
 * After each phase: summed RSS and CPU time of the agent processes, and the load average.
 *
 * The agents run with the production timings; only the registry URL, CA and broker port are set.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FleetAgent, type ResourceSample, sampleResources } from "./bench-fleet/fleet.js";
import { BenchMosquitto, findMosquitto } from "./bench-fleet/mosquitto.js";
import { mebibytes, peak, perSecond, seconds } from "./bench-fleet/stats.js";
import { startSimulator } from "./connectware-sim/simulator.js";

interface Options {
  sizes: number[];
  brokerDownMs: number;
  settleMs: number;
  pendingMs: number;
}

interface Resources extends ResourceSample {
  load: string;
}

interface FleetFigures {
  agents: number;
  firstBoot: {
    registryPeakPerS: number;
    registryMeanPerS: number;
    firstRequestSpreadS: number;
    secondsUntilAllPending: number;
    pendingPeakPerS: number;
    pendingMeanPerS: number;
    perSecond: number[];
    secondsUntilAllOnlineAfterGrant: number;
    resourcesPending: Resources;
    resourcesOnline: Resources;
  };
  restart: {
    secondsUntilAllOnline: number;
    registryRequests: number;
    connectPeakPerS: number;
    resources: Resources;
  };
  brokerRestart: {
    connectPeakPerS: number;
    connects: number;
    perSecond: number[];
    secondsUntilAllOnlineAfterStart: number;
    registryRequests: number;
    credentialsUnchanged: number;
    idleCpuSecondsBefore: number;
    resources: Resources;
  };
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      agents: { type: "string", multiple: true, default: ["25"] },
      "broker-down-s": { type: "string", default: "5" },
      "settle-s": { type: "string", default: "31" },
      "pending-s": { type: "string", default: "10" },
    },
  });
  const sizes = values.agents.flatMap((value) => value.split(",")).map((value) => Number(value.trim()));
  if (sizes.some((size) => !Number.isInteger(size) || size < 1 || size > 1000)) {
    throw new Error("--agents takes whole numbers from 1 to 1000, e.g. --agents 25,50,100");
  }
  const positive = (name: string, value: string): number => {
    const number = Number(value);
    if (!Number.isFinite(number) || number < 0) throw new Error(`--${name} takes a number of seconds`);
    return number * 1000;
  };
  return {
    sizes,
    brokerDownMs: positive("broker-down-s", values["broker-down-s"]),
    settleMs: positive("settle-s", values["settle-s"]),
    pendingMs: positive("pending-s", values["pending-s"]),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The last agent's arrival in `state` at or after `since`; throws after `timeoutMs`. */
async function allReached(agents: readonly FleetAgent[], state: string, since: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const times = agents.map((agent) => agent.reached(state, since));
    if (times.every((at) => at !== undefined)) return Math.max(...(times as number[]));
    const failed = agents.find((agent) => agent.pid === undefined && agent.states.length > 0);
    if (failed !== undefined) {
      throw new Error(`${failed.name} exited: ${failed.messages.slice(-3).join(" | ")}`);
    }
    if (Date.now() > deadline) {
      const missing = agents.filter((_, index) => times[index] === undefined);
      const example = missing[0];
      throw new Error(
        `${missing.length} of ${agents.length} agents not ${state} after ${seconds(timeoutMs)} s` +
          (example ? ` (${example.name} is ${example.state ?? "silent"})` : ""),
      );
    }
    await sleep(50);
  }
}

function resources(agents: readonly FleetAgent[]): Resources {
  const pids = agents.map((agent) => agent.pid).filter((pid): pid is number => pid !== undefined);
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ");
  return { ...sampleResources(pids), load };
}

function describeResources(label: string, sample: Resources): string {
  return (
    `  ${label}: ${sample.processes} processes, RSS ${mebibytes(sample.rssBytes)} MiB ` +
    `(${mebibytes(sample.rssBytes / Math.max(1, sample.processes))} MiB each), ` +
    `CPU ${sample.cpuSeconds.toFixed(1)} s since they started; load ${sample.load}`
  );
}

async function runFleet(
  size: number,
  options: Options,
  mosquittoBinaries: { broker: string; passwd: string },
) {
  const root = mkdtempSync(join(tmpdir(), "cw-agent-bench-fleet-"));
  const waitMs = 60_000 + size * 1_000;
  const sim = await startSimulator({ unlockWindowMs: 24 * 3600_000 });
  const broker = await BenchMosquitto.start(mosquittoBinaries, root);
  const agents: FleetAgent[] = [];
  try {
    sim.unlock();
    const env = {
      CYBUS_MQTT_HOST: "127.0.0.1",
      CYBUS_MQTT_PORT: String(broker.port),
      CW_AGENT_REGISTRY_URL: sim.registryHttpsUrl,
      CW_AGENT_CA_FILE: sim.caFile,
    };
    for (let index = 1; index <= size; index++) {
      const name = `bench-gw-${String(index).padStart(4, "0")}`;
      agents.push(new FleetAgent(name, join(root, name), env));
    }
    console.log(`\n== ${size} agents (registry ${sim.registryHttpsUrl}, Mosquitto on port ${broker.port})`);

    // 1. Mass first boot.
    const bootAt = Date.now();
    for (const agent of agents) agent.start();
    const allPendingAt = await allReached(agents, "pending", bootAt, waitMs);
    const bootCalls = sim.registerCalls().filter((call) => call.at >= bootAt && call.at <= allPendingAt);
    const firstCallAt = Math.min(...bootCalls.map((call) => call.at));
    const firstPerAgent = new Map<string, number>();
    for (const call of bootCalls)
      if (!firstPerAgent.has(call.username)) firstPerAgent.set(call.username, call.at);
    const bootBuckets = perSecond(
      bootCalls.map((call) => call.at),
      firstCallAt,
    );
    const registryMeanPerS = bootCalls.length / Math.max(1, (allPendingAt - firstCallAt) / 1000);
    console.log(
      `first boot: ${bootCalls.length} registry requests until all pending (${seconds(allPendingAt - bootAt)} s after the spawn), ` +
        `peak ${peak(bootBuckets)}/s, mean ${registryMeanPerS.toFixed(1)}/s; ` +
        `first requests spread over ${seconds(Math.max(...firstPerAgent.values()) - firstCallAt)} s`,
    );
    console.log(`  requests per second: ${bootBuckets.join(" ")}`);

    const holdFrom = Date.now();
    await sleep(options.pendingMs);
    const holdTo = Date.now();
    const holdCalls = sim.registerCalls().filter((call) => call.at >= holdFrom && call.at < holdTo);
    const holdBuckets = perSecond(
      holdCalls.map((call) => call.at),
      holdFrom,
    );
    const pendingMeanPerS = holdCalls.length / ((holdTo - holdFrom) / 1000);
    console.log(
      `while pending (${seconds(holdTo - holdFrom)} s): peak ${peak(holdBuckets)}/s, mean ${pendingMeanPerS.toFixed(1)}/s ` +
        `(${holdBuckets.join(" ")})`,
    );
    const resourcesPending = resources(agents);
    console.log(describeResources("pending", resourcesPending));

    const users = new Map<string, string>();
    for (const agent of agents) {
      const credentials = agent.credentials();
      if (credentials === undefined) throw new Error(`${agent.name} has no stored credentials`);
      users.set(credentials.username, credentials.password);
    }
    await broker.setUsers(users);
    const grantAt = Date.now();
    for (const request of sim.requests()) sim.grant(request.username);
    const allOnlineAt = await allReached(agents, "online", grantAt, waitMs);
    console.log(`grant of all ${size} at once: all online after ${seconds(allOnlineAt - grantAt)} s`);
    await sleep(2_000);
    const resourcesOnline = resources(agents);
    console.log(describeResources("online", resourcesOnline));

    // 2. Mass restart with cached credentials.
    const exitCodes = await Promise.all(agents.map((agent) => agent.stop("SIGTERM")));
    const unclean = exitCodes.filter((code) => code !== 0).length;
    if (unclean > 0) console.log(`  ${unclean} agents did not exit with 0 on SIGTERM`);
    const callsBeforeRestart = sim.registerCalls().length;
    const logBeforeRestart = broker.logLines().length;
    const restartAt = Date.now();
    for (const agent of agents) agent.start();
    const restartOnlineAt = await allReached(agents, "online", restartAt, waitMs);
    const restartCalls = sim.registerCalls().length - callsBeforeRestart;
    const restartConnects = broker.connects(logBeforeRestart).map((line) => line.epochSecond * 1000);
    const restartPeak = peak(perSecond(restartConnects, Math.min(...restartConnects)));
    console.log(
      `mass restart: all online after ${seconds(restartOnlineAt - restartAt)} s, ${restartCalls} registry requests, ` +
        `CONNECT peak ${restartPeak}/s`,
    );
    await sleep(2_000);
    const resourcesRestart = resources(agents);
    console.log(describeResources("after restart", resourcesRestart));

    // 3. Broker restart, after the connections have become stable.
    const settleFrom = resources(agents);
    await sleep(options.settleMs);
    const fingerprintsBefore = agents.map((agent) => agent.credentialFingerprint());
    const settleTo = resources(agents);
    const idleCpuSecondsBefore = settleTo.cpuSeconds - settleFrom.cpuSeconds;
    console.log(
      `online and idle for ${seconds(options.settleMs)} s: fleet CPU ${idleCpuSecondsBefore.toFixed(2)} s; load ${settleTo.load}`,
    );
    const callsBeforeBroker = sim.registerCalls().length;
    const logBeforeBroker = broker.logLines().length;
    const stopAt = Date.now();
    await broker.stop();
    await sleep(options.brokerDownMs);
    const brokerStartAt = Date.now();
    await broker.launch();
    const brokerOnlineAt = await allReached(agents, "online", stopAt, waitMs);
    await sleep(1_000);
    const brokerConnects = broker.connects(logBeforeBroker).map((line) => line.epochSecond * 1000);
    const brokerBuckets = perSecond(brokerConnects, Math.min(...brokerConnects));
    const brokerCalls = sim.registerCalls().length - callsBeforeBroker;
    const fingerprintsAfter = agents.map((agent) => agent.credentialFingerprint());
    const unchanged = fingerprintsAfter.filter(
      (after, index) => after !== undefined && after === fingerprintsBefore[index],
    ).length;
    console.log(
      `broker restart (down ${seconds(brokerStartAt - stopAt)} s): ${brokerConnects.length} CONNECTs, ` +
        `peak ${peak(brokerBuckets)}/s; all online ${seconds(brokerOnlineAt - brokerStartAt)} s after the broker was back; ` +
        `${brokerCalls} registry requests; credentials unchanged for ${unchanged} of ${size}`,
    );
    console.log(`  CONNECTs per second: ${brokerBuckets.join(" ")}`);
    const resourcesBroker = resources(agents);
    console.log(describeResources("after broker restart", resourcesBroker));

    return {
      agents: size,
      firstBoot: {
        registryPeakPerS: peak(bootBuckets),
        registryMeanPerS,
        firstRequestSpreadS: (Math.max(...firstPerAgent.values()) - firstCallAt) / 1000,
        secondsUntilAllPending: (allPendingAt - bootAt) / 1000,
        pendingPeakPerS: peak(holdBuckets),
        pendingMeanPerS,
        perSecond: bootBuckets,
        secondsUntilAllOnlineAfterGrant: (allOnlineAt - grantAt) / 1000,
        resourcesPending,
        resourcesOnline,
      },
      restart: {
        secondsUntilAllOnline: (restartOnlineAt - restartAt) / 1000,
        registryRequests: restartCalls,
        connectPeakPerS: restartPeak,
        resources: resourcesRestart,
      },
      brokerRestart: {
        connectPeakPerS: peak(brokerBuckets),
        connects: brokerConnects.length,
        perSecond: brokerBuckets,
        secondsUntilAllOnlineAfterStart: (brokerOnlineAt - brokerStartAt) / 1000,
        registryRequests: brokerCalls,
        credentialsUnchanged: unchanged,
        idleCpuSecondsBefore,
        resources: resourcesBroker,
      },
    } satisfies FleetFigures;
  } finally {
    await Promise.all(agents.map((agent) => agent.stop("SIGTERM")));
    await broker.stop();
    await sim.close();
    // The state directories hold the (benchmark) passwords.
    rmSync(root, { recursive: true, force: true });
  }
}

function summary(figures: FleetFigures[]): string {
  const rows = [
    "| agents | boot: registry req/s peak / mean | pending: req/s mean | grant → all online | restart → all online | restart: registry req | broker restart: CONNECT/s peak | broker back → all online | credentials kept | RSS (MiB) | CPU s (boot to end) | load after |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const f of figures) {
    rows.push(
      `| ${f.agents} | ${f.firstBoot.registryPeakPerS} / ${f.firstBoot.registryMeanPerS.toFixed(1)} | ` +
        `${f.firstBoot.pendingMeanPerS.toFixed(1)} | ${f.firstBoot.secondsUntilAllOnlineAfterGrant.toFixed(1)} s | ` +
        `${f.restart.secondsUntilAllOnline.toFixed(1)} s | ${f.restart.registryRequests} | ` +
        `${f.brokerRestart.connectPeakPerS} | ${f.brokerRestart.secondsUntilAllOnlineAfterStart.toFixed(1)} s | ` +
        `${f.brokerRestart.credentialsUnchanged}/${f.agents} | ${mebibytes(f.brokerRestart.resources.rssBytes)} | ` +
        `${f.brokerRestart.resources.cpuSeconds.toFixed(1)} | ${f.brokerRestart.resources.load} |`,
    );
  }
  return rows.join("\n");
}

async function main(): Promise<number> {
  const options = parseOptions();
  const mosquitto = findMosquitto();
  if (mosquitto === undefined) {
    console.error("mosquitto and mosquitto_passwd are needed (apt-get install mosquitto)");
    return 69;
  }
  console.log(
    `load average at start: ${loadavg()
      .map((value) => value.toFixed(2))
      .join(" ")}`,
  );
  const figures: FleetFigures[] = [];
  for (const size of options.sizes) figures.push(await runFleet(size, options, mosquitto));
  console.log(`\n${summary(figures)}`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`bench-fleet failed: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);

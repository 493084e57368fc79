import mqtt from "mqtt";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import {
  type ConnectwareSimulator,
  type SimulatorOptions,
  startSimulator,
} from "../../scripts/connectware-sim/simulator.js";
import { CredentialStore } from "../../src/storage/credential-store.js";
import { scaled } from "../time-scale.js";
import {
  type AgentProcess,
  FAST_TIMINGS,
  findLeakedSecrets,
  removeStateDirs,
  startAgent,
  stopAllAgents,
} from "./agent-process.js";

/** Environment for an agent talking to the simulator over plain HTTP and MQTT. */
export function simEnv(
  sim: ConnectwareSimulator,
  name: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...FAST_TIMINGS,
    CYBUS_AGENT_NAME: name,
    CYBUS_MQTT_HOST: "127.0.0.1",
    CYBUS_MQTT_PORT: String(sim.mqttPort),
    CW_AGENT_REGISTRY_URL: sim.registryHttpUrl,
    ...extra,
  };
}

export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = scaled(20_000),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The pairing ID the agent printed in its "Username: ..., pairing ID" line at or after `from`. */
export async function loggedPairingId(agent: AgentProcess, from = 0): Promise<string> {
  const line = await agent.waitForMessage("pairing ID (should match in UI)", { from });
  const match = /pairing ID \(should match in UI\): ([0-9a-f]{6})$/.exec(line.msg);
  if (!match?.[1]) throw new Error(`no pairing ID in ${line.msg}`);
  return match[1];
}

/** Plays the administrator for an agent that is registering: waits for its request, grants it, waits for online. */
export async function grantAndWaitOnline(
  sim: ConnectwareSimulator,
  agent: AgentProcess,
  from = 0,
): Promise<string> {
  const pairingId = await loggedPairingId(agent, from);
  await agent.waitForState("pending", { from });
  expect(sim.requests().find((request) => request.pairingId === pairingId)?.status).toBe("pending");
  sim.grant(pairingId);
  await agent.waitForState("online", { from });
  return pairingId;
}

export function storedCredentials(stateDir: string) {
  const store = CredentialStore.openReadOnly(stateDir);
  try {
    return store?.load();
  } finally {
    store?.close();
  }
}

/** A second MQTT client that records what it sees on a topic, like an operator's dashboard. */
export async function watchTopic(sim: ConnectwareSimulator, topic: string) {
  sim.addUser("observer", "observer-password", [{ resourceType: "mqtt", resource: "#", operation: "read" }]);
  const payloads: string[] = [];
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${sim.mqttPort}`, {
    username: "observer",
    password: "observer-password",
    reconnectPeriod: 100,
  });
  client.on("message", (_topic, payload) => payloads.push(payload.toString()));
  await client.subscribeAsync(topic, { qos: 1 });
  return { payloads, close: () => client.endAsync(true) };
}

export interface AgentTestBed {
  /** The simulator shared by the tests of one file (started in beforeAll). */
  readonly sim: ConnectwareSimulator;
  /** Starts an agent process that afterEach stops and checks for leaked passwords. */
  start(env: Record<string, string>, stateDir?: string): AgentProcess;
}

/**
 * Registers the hooks every agent-against-simulator test file needs: one simulator per file, every
 * agent killed after each test, and no password of any agent in any output line.
 */
export function agentTestBed(
  options: {
    resetAfterEach?: (sim: ConnectwareSimulator) => Promise<void> | void;
    simulator?: SimulatorOptions;
  } = {},
) {
  let sim: ConnectwareSimulator | undefined;
  const agents: AgentProcess[] = [];
  beforeAll(async () => {
    sim = await startSimulator(options.simulator);
  });
  afterAll(async () => {
    await sim?.close();
    removeStateDirs();
  });
  afterEach(async () => {
    await stopAllAgents();
    if (sim) await options.resetAfterEach?.(sim);
    expect(findLeakedSecrets(agents.splice(0))).toEqual([]);
  });
  const bed: AgentTestBed = {
    get sim() {
      if (sim === undefined) throw new Error("the simulator starts in beforeAll");
      return sim;
    },
    start(env, stateDir) {
      const agent = startAgent(env, stateDir);
      agents.push(agent);
      return agent;
    },
  };
  return bed;
}

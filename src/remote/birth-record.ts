import { arch, hostname } from "node:os";
import { type MachineRoots, readBoardModel, readBootTime } from "../health/machine.js";
import type { AgentState } from "../lifecycle/lifecycle.js";
import { AGENT_VERSION } from "../version.js";

/**
 * The retained JSON on `<prefix>/info`, published at each connect (docs/schemas/info.schema.json):
 * which agent, which software, which machine. `<prefix>/status` keeps its plain online/offline.
 */
export interface BirthRecord {
  readonly agentName: string;
  readonly version: string;
  /** process.version, e.g. "v20.19.0". */
  readonly node: string;
  /** process.arch of the running node: arm64, arm, x64... */
  readonly arch: string;
  readonly hostname: string;
  readonly pairingId?: string;
  readonly state: AgentState;
  /** Epoch ms of the machine's boot (/proc/stat btime). */
  readonly bootTime?: number;
  /** Epoch ms the agent process started. */
  readonly startedAt: number;
  /** The board, from /proc/device-tree/model: "Raspberry Pi 5 Model B Rev 1.0". */
  readonly model?: string;
}

export async function birthRecord(facts: {
  agentName: string;
  pairingId: string | undefined;
  state: AgentState;
  startedAt: number;
  roots: MachineRoots;
}): Promise<BirthRecord> {
  const [bootTime, model] = await Promise.all([readBootTime(facts.roots), readBoardModel(facts.roots)]);
  return {
    agentName: facts.agentName,
    version: AGENT_VERSION,
    node: process.version,
    arch: arch(),
    hostname: hostname(),
    ...(facts.pairingId === undefined ? {} : { pairingId: facts.pairingId }),
    state: facts.state,
    ...(bootTime === undefined ? {} : { bootTime }),
    startedAt: facts.startedAt,
    ...(model === undefined ? {} : { model }),
  };
}

import { join } from "node:path";
import type { DisplayHealth } from "../indicators/index.js";
import type { AgentState } from "../lifecycle/lifecycle.js";

/**
 * The control socket speaks newline-delimited JSON: one request line, one answer line, then the
 * agent closes the connection. Only this file defines what travels over it.
 */

export const CONTROL_SOCKET_FILE = "control.sock";

/** A request line longer than this is answered with an error and the connection is closed. */
export const MAX_REQUEST_BYTES = 4096;
/** An answer line longer than this is treated as a broken agent by the client. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** Upper bound of `identify`: the indicators' own limit, also that of CW_AGENT_LED_IDENTIFY_S. */
export { MAX_IDENTIFY_SECONDS } from "../indicators/index.js";

export type ControlRequest =
  | { readonly command: "status" }
  | { readonly command: "reset" }
  | { readonly command: "identify"; readonly seconds: number };

/** What `status` answers: the live lifecycle status plus process facts. Never a password. */
export interface LiveStatus {
  readonly state: AgentState;
  readonly description: string;
  readonly since: number;
  readonly agentName: string;
  readonly username: string;
  readonly pairingId: string | undefined;
  readonly broker: string;
  readonly registry: string;
  readonly nextAttemptAt: number | undefined;
  /** The most recent error the agent reported, even when its state has recovered since. */
  readonly lastError: { readonly message: string; readonly at: number } | undefined;
  /** What the machine is warned about now (under-voltage, throttling); absent when nothing is. */
  readonly warning?: string;
  readonly startedAt: number;
  readonly pid: number;
  readonly version: string;
  /** The configured display as the agent sees it (through its own device filter); absent without one. */
  readonly display?: DisplayHealth;
}

export type ControlAnswer =
  | { readonly ok: true; readonly status: LiveStatus }
  | { readonly ok: true; readonly done: string }
  | { readonly ok: false; readonly error: string };

/**
 * Where the agent listens: `$RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`, the first entry
 * when there are several) or else the state directory.
 */
export function controlSocketPath(env: NodeJS.ProcessEnv, stateDir: string): string {
  const runtimeDirectory = env.RUNTIME_DIRECTORY?.split(":")[0]?.trim();
  return join(runtimeDirectory || stateDir, CONTROL_SOCKET_FILE);
}

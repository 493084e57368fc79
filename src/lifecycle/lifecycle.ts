/**
 * The single owner of the agent's lifecycle. Every visible output (log lines, LEDs, display,
 * systemd status, the MQTT status topic, the CLI) observes transitions emitted here; none of
 * them decides the state.
 */

export type AgentState =
  /** Process is up, configuration and storage are being opened. */
  | "starting"
  /** Sending a registration request, or retrying one after a transient failure. */
  | "registering"
  /** The registry answered 423 Locked: an administrator has to unlock it. */
  | "registry-locked"
  /** The registry recorded the request (202): an administrator has to authorize the pairing ID. */
  | "pending"
  /** The registry answered 409 Conflict: the username belongs to a user with other credentials. */
  | "conflict"
  /** Credentials are granted; the first MQTT connection is being made. */
  | "connecting"
  /** Connected to the broker, status published. */
  | "online"
  /** The connection was lost or refused; the next attempt is scheduled. */
  | "reconnecting"
  /** SIGTERM/SIGINT received: publishing offline and closing. */
  | "stopping"
  /** Everything is closed. */
  | "stopped"
  /** A fault the agent cannot recover from by itself (e.g. storage unusable). */
  | "failed";

export interface AgentStatus {
  readonly state: AgentState;
  /** Epoch ms of the transition into this state. */
  readonly since: number;
  readonly agentName: string;
  /** MQTT username the agent registers / logs in with. */
  readonly username: string;
  /** Set while the agent holds credentials that are not granted yet (registering, locked, pending, conflict). */
  readonly pairingId?: string;
  /** `host:port` of the Connectware broker. */
  readonly broker: string;
  /** Base URL of the client registry. */
  readonly registry: string;
  /** Epoch ms of the next registration or connection attempt, when one is scheduled. */
  readonly nextAttemptAt?: number;
  /** Human-readable description of the most recent failure, never containing a secret. */
  readonly lastError?: string;
  /**
   * Something a technician must see whatever the state, fixed for the life of the process (e.g. the
   * boot partition's cw-agent.txt was rejected, so an older configuration is in force).
   */
  readonly notice?: string;
  /**
   * A condition of the machine worth a technician's attention while the agent works on, e.g.
   * under-voltage or throttling; kept across state changes until cleared.
   */
  readonly warning?: string;
}

export type StatusDetails = Partial<Pick<AgentStatus, "pairingId" | "nextAttemptAt" | "lastError">>;

export type StatusObserver = (status: AgentStatus, previous: AgentStatus | undefined) => void;

/**
 * Where a part that shows the status subscribes once it starts: the Lifecycle, or the Agent that
 * owns one. The returned function unsubscribes.
 */
export interface StatusSource {
  observe(observer: StatusObserver): () => void;
}

const ALLOWED_TRANSITIONS: Readonly<Record<AgentState, readonly AgentState[]>> = {
  starting: ["registering", "connecting", "stopping", "failed"],
  registering: ["registering", "registry-locked", "pending", "conflict", "connecting", "stopping", "failed"],
  "registry-locked": [
    "registry-locked",
    "registering",
    "pending",
    "conflict",
    "connecting",
    "stopping",
    "failed",
  ],
  pending: ["pending", "registering", "registry-locked", "conflict", "connecting", "stopping", "failed"],
  conflict: ["conflict", "registering", "registry-locked", "pending", "connecting", "stopping", "failed"],
  connecting: ["online", "reconnecting", "registering", "stopping", "failed"],
  online: ["reconnecting", "registering", "stopping", "failed"],
  reconnecting: ["reconnecting", "connecting", "online", "registering", "stopping", "failed"],
  stopping: ["stopped", "failed"],
  stopped: [],
  failed: ["stopping", "stopped"],
};

export class IllegalTransitionError extends Error {
  constructor(
    readonly from: AgentState,
    readonly to: AgentState,
  ) {
    super(`illegal lifecycle transition ${from} -> ${to}`);
    this.name = "IllegalTransitionError";
  }
}

export interface LifecycleIdentity {
  agentName: string;
  username: string;
  broker: string;
  registry: string;
  notice?: string;
}

export class Lifecycle {
  private status: AgentStatus;
  private readonly observers = new Set<StatusObserver>();

  constructor(
    identity: LifecycleIdentity,
    private readonly now: () => number = Date.now,
    /** Called when an observer throws: a broken display must never stop the state machine. */
    private readonly onObserverError: (error: unknown) => void = () => {},
  ) {
    const { notice, ...rest } = identity;
    this.status = {
      state: "starting",
      since: this.now(),
      ...rest,
      ...(notice === undefined ? {} : { notice }),
    };
  }

  get current(): AgentStatus {
    return this.status;
  }

  /**
   * Registers an observer and immediately replays the current status to it, so late observers
   * (a display that came up after the first transition) start from the truth.
   */
  observe(observer: StatusObserver): () => void {
    this.observers.add(observer);
    this.notify(observer, this.status, undefined);
    return () => this.observers.delete(observer);
  }

  /** The username changes when rejected credentials are replaced by newly generated ones. */
  setUsername(username: string): void {
    this.status = { ...this.status, username };
  }

  /** Sets or clears the warning; observers hear of it only when it changed. */
  setWarning(warning: string | undefined): void {
    const previous = this.status;
    if (previous.warning === warning) return;
    const { warning: _cleared, ...rest } = previous;
    this.status = warning === undefined ? rest : { ...rest, warning };
    for (const observer of this.observers) this.notify(observer, this.status, previous);
  }

  transition(state: AgentState, details: StatusDetails = {}): void {
    const previous = this.status;
    if (!ALLOWED_TRANSITIONS[previous.state].includes(state)) {
      throw new IllegalTransitionError(previous.state, state);
    }
    const next: AgentStatus = {
      agentName: previous.agentName,
      username: previous.username,
      broker: previous.broker,
      registry: previous.registry,
      ...(previous.notice === undefined ? {} : { notice: previous.notice }),
      ...(previous.warning === undefined ? {} : { warning: previous.warning }),
      state,
      since: state === previous.state ? previous.since : this.now(),
      ...definedOnly(details),
    };
    this.status = next;
    for (const observer of this.observers) this.notify(observer, next, previous);
  }

  private notify(observer: StatusObserver, status: AgentStatus, previous: AgentStatus | undefined): void {
    try {
      observer(status, previous);
    } catch (error) {
      this.onObserverError(error);
    }
  }
}

function definedOnly(details: StatusDetails): StatusDetails {
  const result: { -readonly [K in keyof StatusDetails]: StatusDetails[K] } = {};
  if (details.pairingId !== undefined) result.pairingId = details.pairingId;
  if (details.nextAttemptAt !== undefined) result.nextAttemptAt = details.nextAttemptAt;
  if (details.lastError !== undefined) result.lastError = details.lastError;
  return result;
}

/** One-line human description of a status, used by systemd STATUS=, the CLI and logs. */
export function describeStatus(status: AgentStatus): string {
  switch (status.state) {
    case "starting":
      return "Starting";
    case "registering":
      return status.lastError
        ? `Registering at ${status.registry} (retrying: ${status.lastError})`
        : `Registering at ${status.registry}`;
    case "registry-locked":
      return `Client registry locked (423): waiting for an administrator to unlock it, pairing ID ${status.pairingId ?? "?"}`;
    case "pending":
      return `Waiting for authorization, pairing ID ${status.pairingId ?? "?"}`;
    case "conflict":
      return `Registration conflict (409): delete user "${status.username}" in Connectware`;
    case "connecting":
      return `Connecting (${status.broker})`;
    case "online":
      return `Online (${status.broker})`;
    case "reconnecting":
      return status.lastError
        ? `Reconnecting to ${status.broker} (${status.lastError})`
        : `Reconnecting to ${status.broker}`;
    case "stopping":
      return "Stopping";
    case "stopped":
      return "Stopped";
    case "failed":
      return `Failed: ${status.lastError ?? "unknown error"}`;
  }
}

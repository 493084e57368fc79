import { chmodSync, lstatSync, rmSync } from "node:fs";
import net from "node:net";
import type { Part } from "../agent/parts.js";
import { type DisplayHealth, MAX_IDENTIFY_SECONDS } from "../indicators/index.js";
import { type AgentStatus, describeStatus, type StatusObserver } from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";
import { errorCode, errorMessage } from "../util/errors.js";
import { AGENT_VERSION } from "../version.js";
import { type ControlAnswer, type LiveStatus, MAX_REQUEST_BYTES } from "./protocol.js";

export interface ControlTarget {
  /** The live lifecycle status. */
  status(): AgentStatus;
  /** Epoch ms. */
  readonly startedAt: number;
  resetCredentials(): void;
  identify(seconds: number): void;
  /** The display as the agent sees it; undefined without a display. */
  displayHealth?(): DisplayHealth | undefined;
}

/**
 * A target that can also be observed: the server then remembers an error even when the agent
 * recovered before anyone asked (reconnecting -> online clears `lastError` from the status).
 */
interface ObservableTarget {
  observe?(observer: StatusObserver): () => void;
}

/** A client that sends nothing useful for this long is disconnected. */
const IDLE_TIMEOUT_MS = 5_000;
/** The CLI opens one connection per command; more than this at once is not a CLI. */
const MAX_CONNECTIONS = 16;
/** How long the stale-socket probe waits for an answer from a socket file left behind. */
const PROBE_TIMEOUT_MS = 1_000;

export class ControlSocketInUseError extends Error {
  constructor(readonly path: string) {
    super(
      `control socket ${path} is answered by another process; give each agent its own RUNTIME_DIRECTORY or CW_AGENT_STATE_DIR`,
    );
    this.name = "ControlSocketInUseError";
  }
}

/**
 * Listens on `path` (AF_UNIX stream, mode 0600) for the CLI. Start only while holding the state
 * directory lock: a socket file found there was left by a killed agent and is replaced.
 */
export class ControlServer implements Part {
  readonly name = "control socket";
  private readonly log: Logger;
  private readonly connections = new Set<net.Socket>();
  /** Set once listening: a server that never listened has no socket file of its own to remove. */
  private server: net.Server | undefined;
  private stopObserving: (() => void) | undefined;
  private lastError: { message: string; at: number } | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly target: ControlTarget & ObservableTarget,
    logger: Logger,
  ) {
    this.log = logger.child({ component: "control" });
  }

  async start(): Promise<void> {
    const { path, log } = this;
    await removeStaleSocket(path);
    this.stopObserving = this.target.observe?.((status) => this.remember(status));

    const server = net.createServer((socket) => {
      this.connections.add(socket);
      socket.once("close", () => this.connections.delete(socket));
      serveConnection(socket, (line) => this.handle(line), log);
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.on("error", (error) => log.error({ err: error, path }, `Control socket ${path} failed`));

    try {
      await listenPrivately(server, path);
    } catch (error) {
      this.stopObserving?.();
      throw error;
    }
    this.server = server;
    log.debug({ path }, `Control socket listening on ${path}`);
  }

  /** Removes the socket file; a no-op when the server never listened (the file may be another agent's). */
  stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return Promise.resolve();
    this.closing ??= new Promise<void>((resolve) => {
      this.stopObserving?.();
      server.close(() => resolve());
      // Connections still open (a CLI mid-request) must not hold the agent's stop.
      for (const socket of this.connections) socket.destroy();
    }).finally(() => rmSync(this.path, { force: true }));
    return this.closing;
  }

  private remember(status: AgentStatus): void {
    if (status.lastError !== undefined && status.lastError !== this.lastError?.message) {
      this.lastError = { message: status.lastError, at: status.since };
    }
  }

  /** What `status` answers; also the MQTT `status` command. */
  liveStatus(): LiveStatus {
    const status = this.target.status();
    const display = this.target.displayHealth?.();
    this.remember(status);
    // Field by field, so nothing the status may carry in the future leaks out unintended.
    return {
      state: status.state,
      description: describeStatus(status),
      since: status.since,
      agentName: status.agentName,
      username: status.username,
      pairingId: status.pairingId,
      broker: status.broker,
      registry: status.registry,
      nextAttemptAt: status.nextAttemptAt,
      lastError: this.lastError,
      ...(status.warning === undefined ? {} : { warning: status.warning }),
      startedAt: this.target.startedAt,
      pid: process.pid,
      version: AGENT_VERSION,
      ...(display === undefined ? {} : { display }),
    };
  }

  private handle(line: string): ControlAnswer {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      return { ok: false, error: "request is not valid JSON" };
    }
    const command = (request as { command?: unknown } | null)?.command;
    switch (command) {
      case "status":
        return { ok: true, status: this.liveStatus() };
      case "reset":
        this.log.warn("Credential reset requested through the control socket");
        this.target.resetCredentials();
        return { ok: true, done: "credentials discarded; registering anew" };
      case "identify": {
        const seconds = (request as { seconds?: unknown }).seconds;
        if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 1) {
          return { ok: false, error: "identify needs seconds: a positive integer" };
        }
        if (seconds > MAX_IDENTIFY_SECONDS) {
          return { ok: false, error: `identify lasts at most ${MAX_IDENTIFY_SECONDS} seconds` };
        }
        this.target.identify(seconds);
        return { ok: true, done: `identifying for ${seconds} s` };
      }
      default:
        return {
          ok: false,
          error: `unknown command ${JSON.stringify(command ?? null).slice(0, 60)}; expected status, reset or identify`,
        };
    }
  }
}

function serveConnection(socket: net.Socket, handle: (line: string) => ControlAnswer, log: Logger): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let answered = false;
  const answer = (result: ControlAnswer) => {
    if (answered) return;
    answered = true;
    socket.end(`${JSON.stringify(result)}\n`);
  };
  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  socket.on("error", (error) => log.debug({ err: error }, "Control connection failed"));
  socket.on("data", (chunk: Buffer) => {
    if (answered) return;
    const newline = chunk.indexOf(0x0a);
    const part = newline >= 0 ? chunk.subarray(0, newline) : chunk;
    received += part.length;
    if (received > MAX_REQUEST_BYTES) {
      answer({ ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
      return;
    }
    chunks.push(part);
    if (newline < 0) return;
    try {
      answer(handle(Buffer.concat(chunks).toString("utf8")));
    } catch (error) {
      log.error({ err: error }, "Control request failed");
      answer({ ok: false, error: `the agent failed to handle the request: ${errorMessage(error)}` });
    }
  });
  socket.on("end", () => {
    if (!answered) answer({ ok: false, error: "request ended without a newline" });
  });
}

/**
 * A socket file nobody answers on was left by a killed agent: remove it. One that answers belongs
 * to a live agent (two agents sharing a runtime directory): refuse. Anything that is not a socket
 * is not ours to delete.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (error) {
    if (errorCode(error) === "ENOENT") return;
    throw error;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; remove it or fix RUNTIME_DIRECTORY`);
  if (await somebodyAnswers(path)) throw new ControlSocketInUseError(path);
  rmSync(path, { force: true });
}

function somebodyAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    const finish = (answered: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
    probe.once("connect", () => finish(true));
    probe.once("error", () => finish(false));
  });
}

/**
 * The socket must never be reachable by others, not even between bind() and chmod(): bind under
 * a umask that leaves 0600 (the bind happens synchronously inside listen()), then chmod anyway,
 * because worker threads cannot change the umask.
 */
async function listenPrivately(server: net.Server, path: string): Promise<void> {
  const listening = new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.once("listening", () => {
      server.off("error", onError);
      resolve();
    });
  });
  let previousUmask: number | undefined;
  try {
    previousUmask = process.umask(0o177);
  } catch {
    previousUmask = undefined;
  }
  try {
    server.listen(path);
  } finally {
    if (previousUmask !== undefined) process.umask(previousUmask);
  }
  try {
    await listening;
  } catch (error) {
    const code = errorCode(error) ?? "error";
    throw new Error(`cannot listen on control socket ${path} (${code}): ${errorMessage(error)}`);
  }
  chmodSync(path, 0o600);
}

import { chmodSync, lstatSync, rmSync } from "node:fs";
import net from "node:net";
import { MAX_IDENTIFY_SECONDS } from "../indicators/index.js";
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
}

/**
 * A target that can also be observed: the server then remembers an error even when the agent
 * recovered before anyone asked (reconnecting -> online clears `lastError` from the status).
 */
interface ObservableTarget {
  observe?(observer: StatusObserver): () => void;
}

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
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
 * Listens on `path` (AF_UNIX stream, mode 0600) for the CLI. Call only while holding the state
 * directory lock: a socket file found there was left by a killed agent and is replaced.
 */
export async function startControlServer(
  path: string,
  target: ControlTarget & ObservableTarget,
  logger: Logger,
): Promise<ControlServer> {
  const log = logger.child({ component: "control" });
  await removeStaleSocket(path);

  let lastError: { message: string; at: number } | undefined;
  const remember = (status: AgentStatus) => {
    if (status.lastError !== undefined && status.lastError !== lastError?.message) {
      lastError = { message: status.lastError, at: status.since };
    }
  };
  const stopObserving = target.observe?.((status) => remember(status));

  const liveStatus = (): LiveStatus => {
    const status = target.status();
    remember(status);
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
      lastError,
      startedAt: target.startedAt,
      pid: process.pid,
      version: AGENT_VERSION,
    };
  };

  const handle = (line: string): ControlAnswer => {
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch {
      return { ok: false, error: "request is not valid JSON" };
    }
    const command = (request as { command?: unknown } | null)?.command;
    switch (command) {
      case "status":
        return { ok: true, status: liveStatus() };
      case "reset":
        log.warn("Credential reset requested through the control socket");
        target.resetCredentials();
        return { ok: true, done: "credentials discarded; registering anew" };
      case "identify": {
        const seconds = (request as { seconds?: unknown }).seconds;
        if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 1) {
          return { ok: false, error: "identify needs seconds: a positive integer" };
        }
        if (seconds > MAX_IDENTIFY_SECONDS) {
          return { ok: false, error: `identify lasts at most ${MAX_IDENTIFY_SECONDS} seconds` };
        }
        log.info({ seconds }, `Identify requested: blinking the status LED for ${seconds} s`);
        target.identify(seconds);
        return { ok: true, done: `identifying for ${seconds} s` };
      }
      default:
        return {
          ok: false,
          error: `unknown command ${JSON.stringify(command ?? null).slice(0, 60)}; expected status, reset or identify`,
        };
    }
  };

  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
    serveConnection(socket, handle, log);
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.on("error", (error) => log.error({ err: error, path }, `Control socket ${path} failed`));

  await listenPrivately(server, path);
  log.debug({ path }, `Control socket listening on ${path}`);

  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        stopObserving?.();
        server.close(() => resolve());
        // Connections still open (a CLI mid-request) must not hold the agent's stop.
        for (const socket of connections) socket.destroy();
      }).finally(() => rmSync(path, { force: true }));
      return closing;
    },
  };
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

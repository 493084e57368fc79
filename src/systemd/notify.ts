import { execFile } from "node:child_process";
import { type AgentStatus, describeStatus, type StatusObserver } from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";

/**
 * The systemd notification protocol (sd_notify(3), systemd.service(5) `Type=notify`):
 * `READY=1` once start-up is complete, `STATUS=` with the human state for `systemctl status`,
 * `WATCHDOG=1` at half of `WATCHDOG_USEC`, `STOPPING=1` when shutting down.
 *
 * Node has no AF_UNIX datagram sockets, so each message is sent by the `systemd-notify` binary
 * (systemd-notify(1)). That child process is not the unit's main process, which is why the unit
 * needs `NotifyAccess=all`; since systemd 246 the binary waits on a `BARRIER=1` until the manager
 * has processed the message, so it is attributed to our cgroup even though the sender exits
 * immediately. The `systemd-notify` npm package only knows READY and STATUS (no WATCHDOG, no
 * STOPPING), so the binary is run directly.
 *
 * Without `NOTIFY_SOCKET` (not started by systemd, or not `Type=notify`) nothing is sent, nothing
 * fails and no child process is spawned.
 */
export interface SystemdNotifier {
  /** True when `NOTIFY_SOCKET` is set, i.e. messages are actually sent. */
  readonly enabled: boolean;
  /** Watchdog ping period in ms (half of `WATCHDOG_USEC`), or undefined when the watchdog is not ours. */
  readonly watchdogIntervalMs: number | undefined;
  /** Sends `READY=1`; only the first call sends, later calls return the same promise. Never after `stopping()`. */
  ready(): Promise<void>;
  /** Lifecycle observer: sends `STATUS=<describeStatus(status)>` whenever that text changes. */
  readonly observe: StatusObserver;
  /** Sends `STOPPING=1`; only the first call sends. */
  stopping(): Promise<void>;
  /** Starts pinging `WATCHDOG=1` from the event loop; a no-op when the watchdog is not ours. Idempotent. */
  startWatchdog(): void;
  stopWatchdog(): void;
  /** Resolves once every message queued so far has been handed to systemd (or has failed). */
  flush(): Promise<void>;
}

export type NotifyKind = "ready" | "status" | "watchdog" | "stopping";

export interface SystemdNotifierDeps {
  /** The `systemd-notify` binary, looked up on `PATH` unless absolute. */
  command?: string;
  /** Our process id, compared with `WATCHDOG_PID`. */
  pid?: number;
  /**
   * Calls `tick` every `ms` milliseconds and returns a function that cancels it. The default uses
   * an unref'd `setInterval`, so the watchdog alone never keeps the process alive.
   */
  every?: (tick: () => void, ms: number) => () => void;
  /** Kills a hanging `systemd-notify` after this long (ms); it waits up to 5 s on its barrier itself. */
  timeoutMs?: number;
}

/** Default `PATH` of system services (systemd.exec(5), "Environment variables in spawned processes"). */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin";
/** Keeps `systemctl status` readable; systemd itself accepts longer texts. */
const MAX_STATUS_LENGTH = 400;

/**
 * Each line of a notification is one `VARIABLE=VALUE` assignment: a newline in an error message must
 * never turn into a second assignment (e.g. a forged `MAINPID=`), and a NUL byte cannot be passed as a
 * process argument at all.
 */
export function sanitizeStatus(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is removed
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return flat.length > MAX_STATUS_LENGTH ? `${flat.slice(0, MAX_STATUS_LENGTH - 1)}…` : flat;
}

/** Half of `WATCHDOG_USEC` in ms when the watchdog is enabled for this process (sd_watchdog_enabled(3)). */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC?.trim();
  if (!usec || !/^\d+$/.test(usec) || Number(usec) <= 0) return undefined;
  const watchdogPid = env.WATCHDOG_PID?.trim();
  // WATCHDOG_PID names the process the watchdog belongs to; a child that inherited it must not ping.
  if (watchdogPid && watchdogPid !== String(pid)) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

function defaultEvery(tick: () => void, ms: number): () => void {
  const timer = setInterval(tick, ms);
  timer.unref();
  return () => clearInterval(timer);
}

export function createSystemdNotifier(
  env: NodeJS.ProcessEnv,
  logger: Logger,
  deps: SystemdNotifierDeps = {},
): SystemdNotifier {
  const socket = env.NOTIFY_SOCKET?.trim() || undefined;
  const command = deps.command ?? "systemd-notify";
  const pid = deps.pid ?? process.pid;
  const every = deps.every ?? defaultEvery;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const intervalMs = socket === undefined ? undefined : watchdogInterval(env, pid);
  // Only what systemd-notify needs: its socket, and PATH to be found.
  const childEnv = { NOTIFY_SOCKET: socket, PATH: env.PATH || DEFAULT_PATH };

  const failedKinds = new Set<NotifyKind>();
  let tail: Promise<void> = Promise.resolve();
  let readySent: Promise<void> | undefined;
  let stoppingSent: Promise<void> | undefined;
  let lastStatus: string | undefined;
  let watchdogPending = false;
  let cancelWatchdog: (() => void) | undefined;

  const run = (assignment: string): Promise<void> =>
    new Promise((resolve, reject) => {
      execFile(command, [assignment], { env: childEnv, timeout: timeoutMs }, (error, _stdout, stderr) => {
        if (error === null) resolve();
        else reject(Object.assign(error, { stderr: String(stderr).trim() }));
      });
    });

  /** Messages go out one at a time, in call order: a STATUS never overtakes the READY before it. */
  const enqueue = (kind: NotifyKind, assignment: string): Promise<void> => {
    const sent = tail.then(async () => {
      try {
        await run(assignment);
      } catch (error) {
        // Logged once per kind: a missing binary must not flood the journal every 15 s.
        if (!failedKinds.has(kind)) {
          failedKinds.add(kind);
          logger.warn(
            { err: error, kind },
            `systemd notification ${kind} failed; further ${kind} failures are not logged`,
          );
        }
      }
    });
    tail = sent;
    return sent;
  };

  const observe: StatusObserver = (status: AgentStatus) => {
    if (socket === undefined) return;
    const text = sanitizeStatus(describeStatus(status));
    if (text === lastStatus) return;
    lastStatus = text;
    void enqueue("status", `STATUS=${text}`);
  };

  return {
    enabled: socket !== undefined,
    watchdogIntervalMs: intervalMs,
    observe,

    ready() {
      if (socket === undefined) return Promise.resolve();
      // A signal during start-up: READY=1 after STOPPING=1 would tell systemd a stopping unit is up.
      if (stoppingSent !== undefined) return readySent ?? Promise.resolve();
      readySent ??= enqueue("ready", "READY=1");
      return readySent;
    },

    stopping() {
      if (socket === undefined) return Promise.resolve();
      stoppingSent ??= enqueue("stopping", "STOPPING=1");
      return stoppingSent;
    },

    startWatchdog() {
      if (intervalMs === undefined || cancelWatchdog !== undefined) return;
      cancelWatchdog = every(() => {
        // A ping still waiting in the queue already proves the loop is alive; do not pile up children.
        if (watchdogPending) return;
        watchdogPending = true;
        void enqueue("watchdog", "WATCHDOG=1").then(() => {
          watchdogPending = false;
        });
      }, intervalMs);
    },

    stopWatchdog() {
      cancelWatchdog?.();
      cancelWatchdog = undefined;
    },

    flush() {
      return tail;
    },
  };
}

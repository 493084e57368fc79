import { execFile } from "node:child_process";
import type { Part } from "../agent/parts.js";
import {
  type AgentStatus,
  describeStatus,
  type StatusObserver,
  type StatusSource,
} from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";

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
  /** Observed from `start()` to `stop()`; without it, feed `observe` directly. */
  statuses?: StatusSource;
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
export class SystemdNotifier implements Part {
  readonly name = "systemd notifier";
  /** True when `NOTIFY_SOCKET` is set, i.e. messages are actually sent. */
  readonly enabled: boolean;
  /** Watchdog ping period in ms (half of `WATCHDOG_USEC`), or undefined when the watchdog is not ours. */
  readonly watchdogIntervalMs: number | undefined;
  private readonly socket: string | undefined;
  private readonly command: string;
  private readonly repeat: (tick: () => void, ms: number) => () => void;
  private readonly timeoutMs: number;
  /** Only what systemd-notify needs: its socket, and PATH to be found. */
  private readonly childEnv: NodeJS.ProcessEnv;
  private readonly statuses: StatusSource | undefined;
  private readonly failedKinds = new Set<NotifyKind>();
  private tail: Promise<void> = Promise.resolve();
  private readySent: Promise<void> | undefined;
  private stoppingSent: Promise<void> | undefined;
  private lastStatus: string | undefined;
  private watchdogPending = false;
  private cancelWatchdog: (() => void) | undefined;
  private unobserve: (() => void) | undefined;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly logger: Logger,
    deps: SystemdNotifierDeps = {},
  ) {
    this.socket = env.NOTIFY_SOCKET?.trim() || undefined;
    this.enabled = this.socket !== undefined;
    this.command = deps.command ?? "systemd-notify";
    this.repeat = deps.every ?? defaultEvery;
    this.timeoutMs = deps.timeoutMs ?? 10_000;
    this.watchdogIntervalMs =
      this.socket === undefined ? undefined : watchdogInterval(env, deps.pid ?? process.pid);
    this.childEnv = { NOTIFY_SOCKET: this.socket, PATH: env.PATH || DEFAULT_PATH };
    this.statuses = deps.statuses;
  }

  /**
   * Lifecycle observer: sends `STATUS=<describeStatus(status)>` whenever that text changes. An arrow
   * function, because it is handed over on its own, without the notifier.
   */
  readonly observe: StatusObserver = (status: AgentStatus) => {
    if (this.socket === undefined) return;
    const text = sanitizeStatus(describeStatus(status));
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    void this.enqueue("status", `STATUS=${text}`);
  };

  /** Sends `READY=1`; only the first call sends, later calls return the same promise. Never after `stopping()`. */
  ready(): Promise<void> {
    if (this.socket === undefined) return Promise.resolve();
    // A signal during start-up: READY=1 after STOPPING=1 would tell systemd a stopping unit is up.
    if (this.stoppingSent !== undefined) return this.readySent ?? Promise.resolve();
    this.readySent ??= this.enqueue("ready", "READY=1");
    return this.readySent;
  }

  /** Sends `STOPPING=1`; only the first call sends. */
  stopping(): Promise<void> {
    if (this.socket === undefined) return Promise.resolve();
    this.stoppingSent ??= this.enqueue("stopping", "STOPPING=1");
    return this.stoppingSent;
  }

  /**
   * Starts pinging `WATCHDOG=1` from the event loop (a no-op when the watchdog is not ours) and
   * observes `statuses`. Idempotent.
   */
  start(): void {
    const intervalMs = this.watchdogIntervalMs;
    if (intervalMs !== undefined && this.cancelWatchdog === undefined) {
      this.cancelWatchdog = this.repeat(() => {
        // A ping still waiting in the queue already proves the loop is alive; do not pile up children.
        if (this.watchdogPending) return;
        this.watchdogPending = true;
        void this.enqueue("watchdog", "WATCHDOG=1").then(() => {
          this.watchdogPending = false;
        });
      }, intervalMs);
    }
    this.unobserve ??= this.statuses?.observe(this.observe);
  }

  /** Stops the watchdog and the observing; resolves once the messages queued so far are out (see `flush()`). */
  stop(): Promise<void> {
    this.cancelWatchdog?.();
    this.cancelWatchdog = undefined;
    this.unobserve?.();
    this.unobserve = undefined;
    return this.flush();
  }

  /** Resolves once every message queued so far has been handed to systemd (or has failed). */
  flush(): Promise<void> {
    return this.tail;
  }

  private run(assignment: string): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile(
        this.command,
        [assignment],
        { env: this.childEnv, timeout: this.timeoutMs },
        (error, _stdout, stderr) => {
          if (error === null) resolve();
          else reject(Object.assign(error, { stderr: String(stderr).trim() }));
        },
      );
    });
  }

  /** Messages go out one at a time, in call order: a STATUS never overtakes the READY before it. */
  private enqueue(kind: NotifyKind, assignment: string): Promise<void> {
    const sent = this.tail.then(async () => {
      try {
        await this.run(assignment);
      } catch (error) {
        // Logged once per kind: a missing binary must not flood the journal every 15 s.
        if (!this.failedKinds.has(kind)) {
          this.failedKinds.add(kind);
          this.logger.warn(
            { err: error, kind },
            `systemd notification ${kind} failed; further ${kind} failures are not logged`,
          );
        }
      }
    });
    this.tail = sent;
    return sent;
  }
}

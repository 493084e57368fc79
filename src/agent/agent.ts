import { randomBytes } from "node:crypto";
import { type AgentConfig, hostForUrl } from "../config/config.js";
import { describeStatus, Lifecycle, type StatusObserver } from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";
import type { MqttClientFactory } from "../mqtt/client.js";
import { type MessageHandler, MqttSession } from "../mqtt/session.js";
import { Registration } from "../registration/registration.js";
import { CredentialStore } from "../storage/credential-store.js";
import { prepareStateDir } from "../storage/state-dir.js";
import { StateDirLock } from "../storage/state-dir-lock.js";
import { loadAsn1 } from "../tls/asn1.js";
import {
  type CertificateSummary,
  type CertificateWatchDeps,
  certificateGrantCheck,
  certificateSummary,
  describeCertificate,
  loginModeChange,
  newDeviceKey,
  summarizeCertificate,
  withCertificateWatch,
} from "../tls/client-certificate.js";
import { errorMessage } from "../util/errors.js";
import { sleep } from "../util/sleep.js";

export interface AgentDeps {
  config: AgentConfig;
  logger: Logger;
  random?: () => number;
  /** Wall clock, for times shown to people. */
  now?: () => number;
  /** Monotonic clock and sleep of the registration and session loops: tests run them on fake time. */
  monotonicNow?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** How the session builds its MQTT clients. */
  connect?: MqttClientFactory;
  /** The agent's own command topics (see MessageHandler). */
  messages?: MessageHandler;
  /** Shown beside every state (see AgentStatus.notice). */
  notice?: string;
  /** Whether the system clock is set from NTP (mutual TLS: expiry is judged only then). */
  clockSynchronized?: () => Promise<boolean>;
}

/** 24 bytes from the CSPRNG: 192 bits, 32 URL-safe characters. */
export function generatePassword(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * The orchestrator: owns the lifecycle, the state directory and the credentials, and runs
 * registration and the MQTT session in turn. Constructing it does no I/O; `open()` takes the state
 * directory, `start()` begins work; `stop()` ends the work and `close()` gives the directory back.
 */
export class Agent {
  readonly lifecycle: Lifecycle;
  private lock: StateDirLock | undefined;
  private store: CredentialStore | undefined;
  private readonly stopController = new AbortController();
  private phaseController: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private readonly registration: Registration;
  private readonly session: MqttSession;
  /** One child logger per subsystem, keyed `component`, so the journal can be filtered by it. */
  private readonly log: Logger;
  private readonly storageLog: Logger;
  private readonly certificateWatch: Omit<CertificateWatchDeps, "info" | "logger">;

  constructor(private readonly deps: AgentDeps) {
    const { config } = deps;
    const logger = deps.logger.child({ component: "agent" });
    this.log = logger;
    this.storageLog = deps.logger.child({ component: "storage" });
    this.lifecycle = new Lifecycle(
      {
        agentName: config.agentName,
        username: config.username,
        broker: `${hostForUrl(config.mqtt.host)}:${config.mqtt.port}`,
        registry: config.registry.baseUrl.origin,
        ...(deps.notice === undefined ? {} : { notice: deps.notice }),
      },
      deps.now,
      (error) => logger.error({ err: error }, "A status observer failed"),
    );
    this.registration = new Registration({
      ...deps,
      lifecycle: this.lifecycle,
      logger: deps.logger.child({ component: "registration" }),
    });
    this.certificateWatch = {
      warningDays: config.tls.certWarningDays,
      now: deps.now ?? Date.now,
      sleep: deps.sleep ?? sleep,
      ...(deps.clockSynchronized === undefined ? {} : { clockSynchronized: deps.clockSynchronized }),
    };
    this.session = new MqttSession({
      ...deps,
      lifecycle: this.lifecycle,
      logger: deps.logger.child({ component: "mqtt" }),
    });
  }

  get status() {
    return this.lifecycle.current;
  }

  /** Takes exclusive ownership of the state directory and opens the database. */
  open(): void {
    const { config } = this.deps;
    const logger = this.storageLog;
    const { tightened } = prepareStateDir(config.stateDir);
    if (tightened)
      logger.warn(
        { stateDir: config.stateDir },
        "State directory was readable by others; changed its mode to 0700",
      );
    this.lock = StateDirLock.acquire(config.stateDir);
    if (this.lock.pidFileError !== undefined) {
      logger.warn(
        { stateDir: config.stateDir },
        `Cannot write the pid file (${this.lock.pidFileError}); it only names this process in the message of a second agent, so running on`,
      );
    }
    try {
      this.store = CredentialStore.open(config.stateDir, {
        onCorrupt: ({ path, movedTo, reason }) =>
          logger.error(
            { path, movedTo, reason },
            `Database ${path} is damaged (${reason}); moved it to ${movedTo} and starting a fresh registration`,
          ),
      });
    } catch (error) {
      this.lock.release();
      this.lock = undefined;
      throw error;
    }
    const store = this.store;
    this.lifecycle.observe((status, previous) => {
      if (previous?.state === status.state) return;
      store.status.record(status);
    });
    this.lifecycle.observe((status, previous) => {
      if (previous === undefined || previous.state === status.state) return;
      this.log.info({ state: status.state, pairingId: status.pairingId }, describeStatus(status));
    });
  }

  observe(observer: StatusObserver): () => void {
    return this.lifecycle.observe(observer);
  }

  /** Starts the registration / session loop; resolves `finished` when the agent stopped or failed. */
  start(): void {
    if (this.store === undefined) throw new Error("Agent.open() must succeed before start()");
    this.loop = this.runLoop(this.store).catch((error: unknown) => {
      this.log.fatal({ err: error }, `Agent failed: ${errorMessage(error)}`);
      this.lifecycle.transition("failed", { lastError: errorMessage(error) });
    });
  }

  /** Resolves when the loop has ended, by stop() or by a failure. */
  get finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Registry requests sent since the process started. */
  get registryRequests(): number {
    return this.registration.requestCount;
  }

  /** The pairing ID of the stored credentials, granted or not; undefined before there are any. */
  get pairingId(): string | undefined {
    return this.store?.load()?.pairingId;
  }

  /** The stored client certificate (mutual TLS); undefined without one. */
  get certificate(): CertificateSummary | undefined {
    return certificateSummary(this.store?.load());
  }

  /** Discards the credentials; the running loop starts a fresh registration at once. */
  resetCredentials(): void {
    this.store?.discard();
    this.log.warn("Credentials discarded on request; starting a fresh registration");
    this.phaseController?.abort();
  }

  async stop(): Promise<void> {
    if (this.stopController.signal.aborted) return this.finished;
    const state = this.lifecycle.current.state;
    if (state !== "failed" && state !== "stopped") this.lifecycle.transition("stopping");
    this.stopController.abort();
    await this.finished;
    if (this.lifecycle.current.state !== "stopped") this.lifecycle.transition("stopped");
  }

  /** Closes the database and gives up the state directory; after stop(), or when start() never ran. */
  close(): void {
    this.store?.close();
    this.lock?.release();
    this.store = undefined;
    this.lock = undefined;
  }

  private async runLoop(store: CredentialStore): Promise<void> {
    const { config } = this.deps;
    const logger = this.log;
    const stopSignal = this.stopController.signal;
    // Device keys and certificates exist only where mutual TLS is, or was, configured.
    if (config.tls.mutual || store.load()?.tls !== undefined) await loadAsn1();
    while (!stopSignal.aborted) {
      this.phaseController = new AbortController();
      const signal = AbortSignal.any([stopSignal, this.phaseController.signal]);

      let credentials = store.load();
      let freshlyGenerated = false;
      if (credentials !== undefined && credentials.username !== config.username) {
        logger.warn(
          { stored: credentials.username, configured: config.username },
          "The configured username differs from the stored credentials; registering the configured one",
        );
        credentials = undefined;
      }
      const switched = credentials && loginModeChange(credentials, config.tls.mutual);
      if (switched !== undefined) {
        logger.warn({ username: config.username }, switched);
        credentials = undefined;
      }
      if (credentials === undefined) {
        // Persisted before the first request: a reboot while pending keeps the same pairing ID.
        // With mutual TLS the device key goes into the same row, so the ID (derived from it) does too.
        const key = config.tls.mutual ? newDeviceKey(config.tls.keyType, config.username) : undefined;
        credentials = store.saveNew(config.username, generatePassword(), key);
        freshlyGenerated = true;
      }
      this.lifecycle.setUsername(credentials.username);

      if (credentials.status === "pending") {
        const check = certificateGrantCheck(credentials);
        const grant = await this.registration.run(credentials, freshlyGenerated, signal, check.accept);
        if (grant === undefined) continue;
        const certificate = check.accepted();
        store.markGranted(certificate);
        credentials = store.load() ?? credentials;
        if (certificate)
          logger.info(
            `Client certificate stored: ${describeCertificate(summarizeCertificate(certificate.info))}`,
          );
      } else {
        logger.info(
          { username: credentials.username },
          `Using stored credentials of "${credentials.username}"`,
        );
      }

      const granted = credentials;
      const end = await withCertificateWatch(
        granted,
        (phase) => this.session.run(granted, phase),
        { ...this.certificateWatch, logger },
        signal,
      );
      if (end !== "stopped") store.discard();
    }
  }
}

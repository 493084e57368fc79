import type { Part } from "../agent/parts.js";
import type { AgentConfig } from "../config/config.js";
import type { LiveStatus } from "../control/index.js";
import { HealthReporter } from "../health/health-reporter.js";
import { ActivityLed } from "../indicators/activity-led.js";
import type { IndicatorConfig } from "../indicators/index.js";
import type { AgentState } from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";
import type { Publish } from "../mqtt/session.js";
import type { CertificateSummary } from "../tls/client-certificate.js";
import { errorMessage } from "../util/errors.js";
import { birthRecord } from "./birth-record.js";
import { runCheck } from "./check.js";
import { CommandHandler } from "./command-handler.js";
import { buildCommands } from "./commands.js";
import { infoTopic } from "./topics.js";

/** What remote operations need of the running agent; all read when used, never at construction. */
export interface RemoteTarget {
  state(): AgentState;
  pairingId(): string | undefined;
  /** The stored client certificate with mutual TLS, as `cw-agent status` shows it. */
  certificate(): CertificateSummary | undefined;
  registryRequests(): number;
  resetCredentials(): void;
  setWarning(warning: string | undefined): void;
  identify(seconds: number): void;
  /** What identify shows on (Indicators.identifyTargets). */
  identifyTargets(): readonly string[];
  liveStatus(): LiveStatus;
  /** A clean stop that ends the process with EXIT_RESTART. */
  restart(): void;
}

export interface RemoteDeps {
  readonly config: AgentConfig;
  readonly indicators: IndicatorConfig;
  /** The agent's environment: `check` runs with the same settings. */
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly controlSocket: string;
  /** Epoch ms the process started. */
  readonly startedAt: number;
  readonly target: RemoteTarget;
}

/**
 * Remote operations and gateway health over MQTT (docs/remote.md): the birth record at each connect,
 * the command topics (`messages`, handed to the MQTT session) and the health reporter (a part
 * with start/stop). Constructing it does no I/O.
 */
export class Remote implements Part {
  readonly name = "remote";
  readonly messages: CommandHandler;
  private readonly health: HealthReporter;
  private readonly activityLed: ActivityLed;
  private readonly log: Logger;

  constructor(private readonly deps: RemoteDeps) {
    const { config, indicators, target } = deps;
    const log = deps.logger.child({ component: "remote" });
    this.log = log;
    const roots = { sysfsRoot: config.machine.sysfsRoot, procfsRoot: config.machine.procfsRoot };
    this.health = new HealthReporter({
      topicPrefix: config.topicPrefix,
      stateDir: config.stateDir,
      roots,
      intervalS: config.machine.healthIntervalS,
      logger: deps.logger.child({ component: "health" }),
      registryRequests: () => target.registryRequests(),
      setWarning: (warning) => target.setWarning(warning),
    });
    this.activityLed = new ActivityLed(config.machine.sysfsRoot, log);
    const commands = buildCommands({
      logger: log,
      rootLogger: deps.logger,
      identifySeconds: indicators.identifySeconds,
      identifyTargets: () => target.identifyTargets(),
      identify: (seconds) => target.identify(seconds),
      activityLed: this.activityLed,
      liveStatus: () => target.liveStatus(),
      certificate: () => target.certificate(),
      controlSocket: deps.controlSocket,
      runCheck: () => runCheck(deps.env),
      pairingId: () => target.pairingId(),
      resetCredentials: () => target.resetCredentials(),
      restart: () => target.restart(),
    });
    this.messages = new CommandHandler(config.topicPrefix, commands, log, (publish) => this.onLogin(publish));
  }

  start(): void {
    this.health.start();
  }

  async stop(): Promise<void> {
    this.activityLed.stop();
    await this.health.stop();
  }

  private onLogin(publish: Publish): void {
    this.health.connected(publish);
    const { config, target, startedAt } = this.deps;
    void (async () => {
      const record = await birthRecord({
        agentName: config.agentName,
        pairingId: target.pairingId(),
        state: target.state(),
        startedAt,
        roots: { sysfsRoot: config.machine.sysfsRoot, procfsRoot: config.machine.procfsRoot },
      });
      await publish(infoTopic(config.topicPrefix), JSON.stringify(record), { qos: 1, retain: true });
    })().catch((error: unknown) =>
      this.log.debug({ err: error }, `Birth record not published: ${errorMessage(error)}`),
    );
  }
}

import { REJECTED_BOOT_CONFIG_NOTICE, readRejectedBootConfig } from "../boot-config/rejected.js";
import { type AgentConfig, eachInvalidSetting, hostForUrl } from "../config/config.js";
import { ConfigError } from "../config/config-error.js";
import { ControlServer, controlSocketPath } from "../control/index.js";
import {
  EXIT_CANTCREAT,
  EXIT_CONFIG,
  EXIT_DATABASE_TOO_NEW,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_RESTART,
  EXIT_TEMPFAIL,
} from "../exit-codes.js";
import { type IndicatorConfig, Indicators } from "../indicators/index.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { Remote } from "../remote/remote.js";
import { loadSettings } from "../settings.js";
import { DatabaseFromNewerVersionError } from "../storage/credential-store.js";
import { StateDirError } from "../storage/state-dir.js";
import { StateDirLockedError } from "../storage/state-dir-lock.js";
import { SystemdNotifier } from "../systemd/notify.js";
import { errorMessage } from "../util/errors.js";
import { sleep } from "../util/sleep.js";
import { AGENT_VERSION } from "../version.js";
import { Agent } from "./agent.js";
import { Parts } from "./parts.js";

/** A clean stop must finish within this; past it the process exits anyway. */
const STOP_DEADLINE_MS = 5_000;

/**
 * `cw-agent run`: the service's main job. Resolves with the exit code; never throws for an
 * expected failure (bad configuration, state directory in use or unusable).
 */
export async function runAgent(
  env: NodeJS.ProcessEnv = process.env,
  options: { bootConfigEtcDir?: string } = {},
): Promise<number> {
  // Everything the agent creates holds or guards a secret: owner-only, whatever umask it was given.
  process.umask(0o077);
  let config: AgentConfig;
  let indicatorConfig: IndicatorConfig;
  try {
    ({ agent: config, indicators: indicatorConfig } = loadSettings(env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One line per invalid setting: each names its variable, so journalctl shows them all.
    const logger = createLogger({ level: "info" });
    for (const invalid of eachInvalidSetting(error)) {
      logger.fatal({ variable: invalid.variable }, `Invalid configuration: ${invalid.message}`);
    }
    return EXIT_CONFIG;
  }

  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  // The first line says which agent this is and where it goes, before anything can fail.
  logger.info(
    {
      version: AGENT_VERSION,
      agentName: config.agentName,
      broker: `${config.mqtt.scheme}://${hostForUrl(config.mqtt.host)}:${config.mqtt.port}`,
      registry: config.registry.baseUrl.href.replace(/\/$/, ""),
    },
    "Starting in distributed (edge) mode",
  );
  const cleartext = [
    ...(config.registry.baseUrl.protocol === "http:" ? [`registry ${config.registry.baseUrl.origin}`] : []),
    ...(config.mqtt.scheme === "mqtt"
      ? [`broker mqtt://${hostForUrl(config.mqtt.host)}:${config.mqtt.port}`]
      : []),
  ];
  if (cleartext.length > 0) {
    logger.warn(
      `The password is sent in cleartext to the ${cleartext.join(" and the ")}: anyone on the network path can read it. Use https:// (CW_AGENT_REGISTRY_URL) and CYBUS_MQTT_SCHEME=mqtts with CW_AGENT_CA_FILE`,
    );
  }
  if (config.tls.trustAllCerts) {
    logger.warn(
      "CYBUS_TRUST_ALL_CERTS=true: TLS certificates of the registry and the broker are NOT verified. Use this for development only; set CW_AGENT_CA_FILE instead",
    );
  }

  const rejectedBootConfig = readRejectedBootConfig(options.bootConfigEtcDir);
  if (rejectedBootConfig !== undefined) {
    logger.warn(
      { reasons: rejectedBootConfig },
      `cw-agent.txt on the boot partition was rejected, so the previous configuration is in force: ${rejectedBootConfig.join("; ")}. The card holds the same reasons in cw-agent.txt.errors`,
    );
  }

  // Remote operations and health over MQTT; they reach the parts below only once running.
  let restartRequested = false;
  const controlPath = controlSocketPath(env, config.stateDir);
  const remote: Remote = new Remote({
    config,
    indicators: indicatorConfig,
    env,
    logger,
    controlSocket: controlPath,
    startedAt: Math.round(performance.timeOrigin),
    target: {
      state: () => agent.status.state,
      pairingId: () => agent.pairingId,
      certificate: () => agent.certificate,
      registryRequests: () => agent.registryRequests,
      resetCredentials: () => agent.resetCredentials(),
      setWarning: (warning) => agent.lifecycle.setWarning(warning),
      identify: (seconds) => indicators.identify(seconds),
      identifyTargets: () => indicators.identifyTargets,
      liveStatus: () => control.liveStatus(),
      restart: () => {
        restartRequested = true;
        void stop();
      },
    },
  });
  const agent: Agent = new Agent({
    config,
    logger,
    messages: remote.messages,
    ...(rejectedBootConfig === undefined ? {} : { notice: REJECTED_BOOT_CONFIG_NOTICE }),
  });
  const notifier = new SystemdNotifier(env, logger.child({ component: "systemd" }), { statuses: agent });
  const indicators = new Indicators(indicatorConfig, logger, {
    statuses: agent,
    sysfsRoot: config.machine.sysfsRoot,
  });
  const control = new ControlServer(
    controlPath,
    {
      status: () => agent.status,
      startedAt: Math.round(performance.timeOrigin),
      resetCredentials: () => agent.resetCredentials(),
      identify: (seconds) => indicators.identify(seconds),
      displayHealth: () => indicators.displayHealth(),
      observe: (observer) => agent.observe(observer),
    },
    logger,
  );

  // Started in this order, stopped in reverse: a signal at any moment stops exactly what started.
  const parts = new Parts(
    [
      {
        name: notifier.name,
        start: () => notifier.start(),
        // The last notifications get what is left of the stop deadline.
        stop: () => Promise.race([notifier.stop(), sleep(Math.max(0, stopDeadlineAt - Date.now() - 100))]),
      },
      {
        name: "storage",
        start: () => agent.open(),
        // The lifecycle ends in "stopped" (log line, STATUS=) even when the loop never started.
        stop: async () => {
          await agent.stop();
          agent.close();
        },
      },
      indicators,
      {
        // The CLI's way in; without it the agent still runs and the CLI reports from the database.
        name: control.name,
        start: () =>
          control.start().catch((error: unknown) => {
            logger.error({ err: error }, `Control socket unavailable: ${errorMessage(error)}`);
          }),
        stop: () => control.stop(),
      },
      remote,
      { name: "agent", start: () => agent.start(), stop: () => agent.stop() },
    ],
    (part, error) => logger.error({ err: error }, `Stopping the ${part.name} failed: ${errorMessage(error)}`),
  );

  // The deadline covers the whole stop, including the last systemd notifications.
  let stopDeadlineAt = Number.POSITIVE_INFINITY;
  let stopDeadline: NodeJS.Timeout | undefined;
  const stop = () => {
    if (!parts.stopRequested) {
      stopDeadlineAt = Date.now() + STOP_DEADLINE_MS;
      void notifier.stopping();
      stopDeadline = setTimeout(() => {
        logger.error(`Clean stop took longer than ${STOP_DEADLINE_MS} ms; exiting anyway`);
        process.exit(EXIT_FAILURE);
      }, STOP_DEADLINE_MS);
      stopDeadline.unref();
    }
    return parts.stop();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, `Received ${signal}, stopping`);
    void stop();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  let exitCode = EXIT_OK;
  try {
    // Ready once configuration, storage and indicators are up: MQTT may take forever on a plant
    // network. Not when a signal came during start-up: the unit is stopping, not ready.
    if (await parts.start()) {
      void notifier.ready();
      await agent.finished;
      if (agent.status.state === "failed") exitCode = EXIT_FAILURE;
    }
  } catch (error) {
    exitCode = exitCodeForOpenFailure(error, logger);
  }
  await stop();
  // Reported after the stop, which ended the agent's loop like a signal would.
  if (restartRequested && exitCode === EXIT_OK) exitCode = EXIT_RESTART;
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  clearTimeout(stopDeadline);
  return exitCode;
}

function exitCodeForOpenFailure(error: unknown, logger: Logger): number {
  if (error instanceof StateDirLockedError) {
    logger.fatal({ stateDir: error.stateDir, holderPid: error.holderPid }, error.message);
    return EXIT_TEMPFAIL;
  }
  if (error instanceof StateDirError) {
    logger.fatal({ stateDir: error.stateDir }, error.message);
    return EXIT_CANTCREAT;
  }
  if (error instanceof DatabaseFromNewerVersionError) {
    logger.fatal({ path: error.path }, error.message);
    return EXIT_DATABASE_TOO_NEW;
  }
  logger.fatal({ err: error }, `Cannot open the agent's storage: ${errorMessage(error)}`);
  return EXIT_FAILURE;
}

import { type AgentConfig, hostForUrl, loadConfig } from "../config/config.js";
import { ConfigError, EXIT_CONFIG } from "../config/config-error.js";
import { type ControlServer, controlSocketPath, startControlServer } from "../control/index.js";
import {
  EXIT_CANTCREAT,
  EXIT_DATABASE_TOO_NEW,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_TEMPFAIL,
} from "../exit-codes.js";
import {
  createIndicators,
  type IndicatorConfig,
  type Indicators,
  loadIndicatorConfig,
} from "../indicators/index.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { DatabaseFromNewerVersionError } from "../storage/credential-store.js";
import { StateDirError } from "../storage/state-dir.js";
import { StateDirLockedError } from "../storage/state-dir-lock.js";
import { createSystemdNotifier } from "../systemd/notify.js";
import { sleep } from "../util/sleep.js";
import { Agent } from "./agent.js";

/** A clean stop must finish within this; past it the process exits anyway. */
const STOP_DEADLINE_MS = 5_000;

/**
 * `cw-agent run`: the service's main job. Resolves with the exit code; never throws for an
 * expected failure (bad configuration, state directory in use or unusable).
 */
export async function runAgent(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // Everything the agent creates holds or guards a secret: owner-only, whatever umask it was given.
  process.umask(0o077);
  let config: AgentConfig;
  let indicatorConfig: IndicatorConfig;
  try {
    config = loadConfig(env);
    indicatorConfig = loadIndicatorConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger({ level: "info" }).fatal(
      { variable: error.variable },
      `Invalid configuration: ${error.message}`,
    );
    return EXIT_CONFIG;
  }

  const logger = createLogger({ level: config.logLevel });
  logger.info("Starting in distributed (edge) mode");
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

  const notifier = createSystemdNotifier(env, logger.child({ module: "systemd" }));
  notifier.startWatchdog();
  const agent = new Agent({ config, logger });
  const unobserveNotifier = agent.observe(notifier.observe);
  const finishNotifier = async () => {
    notifier.stopWatchdog();
    unobserveNotifier();
    await notifier.flush();
  };

  try {
    agent.open();
  } catch (error) {
    const code = exitCodeForOpenFailure(error, logger);
    await finishNotifier();
    return code;
  }

  // From here on a signal means a clean stop, even while the rest is still starting. The deadline
  // covers the whole stop, including the last systemd notifications.
  let indicators: Indicators | undefined;
  let control: ControlServer | undefined;
  let stopDeadline: NodeJS.Timeout | undefined;
  let stopStartedAt = 0;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      stopStartedAt = Date.now();
      void notifier.stopping();
      stopDeadline = setTimeout(() => {
        logger.error(`Clean stop took longer than ${STOP_DEADLINE_MS} ms; exiting anyway`);
        process.exit(EXIT_FAILURE);
      }, STOP_DEADLINE_MS);
      stopDeadline.unref();
      await control?.close();
      await agent.stop();
      await indicators?.stop();
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, `Received ${signal}, stopping`);
    void stop();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  indicators = createIndicators(indicatorConfig, logger);
  agent.observe(indicators.observe);
  await indicators.start();
  if (stopping === undefined) {
    // The CLI's way in; without it the agent still runs and the CLI reports from the database.
    const started = indicators;
    control = await startControlServer(
      controlSocketPath(env, config.stateDir),
      {
        status: () => agent.status,
        startedAt: Math.round(performance.timeOrigin),
        resetCredentials: () => agent.resetCredentials(),
        identify: (seconds) => started.identify(seconds),
        observe: (observer) => agent.observe(observer),
      },
      logger,
    ).catch((error: unknown) => {
      logger.error({ err: error }, `Control socket unavailable: ${(error as Error).message}`);
      return undefined;
    });
    // A signal while the socket was opening: stop() ran without it, so close it here.
    if (stopping !== undefined) await control?.close();
  }
  // Ready once configuration, storage and indicators are up: MQTT may take forever on a plant network.
  // Not when a signal came during start-up: the unit is stopping, not ready.
  if (stopping === undefined) void notifier.ready();

  if (stopping === undefined) agent.start();
  await agent.finished;
  const failed = agent.status.state === "failed";
  await stop();
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  const remainingMs = STOP_DEADLINE_MS - (Date.now() - stopStartedAt) - 100;
  await Promise.race([finishNotifier(), sleep(Math.max(0, remainingMs))]);
  clearTimeout(stopDeadline);
  return failed ? EXIT_FAILURE : EXIT_OK;
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
  logger.fatal({ err: error }, `Cannot open the agent's storage: ${(error as Error).message}`);
  return EXIT_FAILURE;
}

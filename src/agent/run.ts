import { type AgentConfig, loadConfig } from "../config/config.js";
import { ConfigError, EXIT_CONFIG } from "../config/config-error.js";
import { controlSocketPath, startControlServer } from "../control/index.js";
import { createIndicators, type IndicatorConfig, loadIndicatorConfig } from "../indicators/index.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { DatabaseFromNewerVersionError } from "../storage/credential-store.js";
import { StateDirError } from "../storage/state-dir.js";
import { StateDirLockedError } from "../storage/state-dir-lock.js";
import { createSystemdNotifier } from "../systemd/notify.js";
import { Agent } from "./agent.js";

/** sysexits.h codes, so systemd units and scripts can tell failures apart. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CANTCREAT = 73;
export const EXIT_TEMPFAIL = 75;

/** A clean stop must finish within this; past it the process exits anyway. */
const STOP_DEADLINE_MS = 5_000;

/**
 * `cw-agent run`: the service's main job. Resolves with the exit code; never throws for an
 * expected failure (bad configuration, state directory in use or unusable).
 */
export async function runAgent(env: NodeJS.ProcessEnv = process.env): Promise<number> {
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

  const indicators = createIndicators(indicatorConfig, logger);
  agent.observe(indicators.observe);
  await indicators.start();
  // The CLI's way in; without it the agent still runs and the CLI reports from the database.
  const control = await startControlServer(
    controlSocketPath(env, config.stateDir),
    {
      status: () => agent.status,
      startedAt: Math.round(performance.timeOrigin),
      resetCredentials: () => agent.resetCredentials(),
      identify: (seconds) => indicators.identify(seconds),
      observe: (observer) => agent.observe(observer),
    },
    logger,
  ).catch((error: unknown) => {
    logger.error({ err: error }, `Control socket unavailable: ${(error as Error).message}`);
    return undefined;
  });
  // Ready once configuration, storage and indicators are up: MQTT may take forever on a plant network.
  void notifier.ready();

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      void notifier.stopping();
      const deadline = setTimeout(() => {
        logger.error(`Clean stop took longer than ${STOP_DEADLINE_MS} ms; exiting anyway`);
        process.exit(EXIT_FAILURE);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      try {
        await control?.close();
        await agent.stop();
        await indicators.stop();
      } finally {
        clearTimeout(deadline);
      }
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, `Received ${signal}, stopping`);
    void stop();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  agent.start();
  await agent.finished;
  const failed = agent.status.state === "failed";
  await stop();
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  await finishNotifier();
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
    return EXIT_FAILURE;
  }
  logger.fatal({ err: error }, `Cannot open the agent's storage: ${(error as Error).message}`);
  return EXIT_FAILURE;
}

import { statusReportFromAgent } from "../cli/status.js";
import type { LogLevel } from "../config/config.js";
import type { LiveStatus } from "../control/index.js";
import { EXIT_RESTART } from "../exit-codes.js";
import { MAX_IDENTIFY_SECONDS } from "../indicators/index.js";
import type { Logger } from "../logging/logger.js";
import type { CertificateSummary } from "../tls/client-certificate.js";
import type { CheckRun } from "./check.js";
import { type Command, CommandError } from "./command-handler.js";
import type { CommandArgs } from "./request.js";

const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export interface CommandDeps {
  readonly logger: Logger;
  /** The root logger, whose level every component's child logger follows. */
  readonly rootLogger: Logger;
  /** CW_AGENT_LED_IDENTIFY_S: the duration when the request names none. */
  readonly identifySeconds: number;
  /** What the configured indicators can show identify on: "status LED", "display". */
  readonly identifyTargets: () => readonly string[];
  readonly identify: (seconds: number) => void;
  /** The board's ACT LED, for when nothing is configured; undefined where it cannot be used. */
  readonly activityLed?: { available(): boolean; identify(seconds: number): boolean };
  readonly liveStatus: () => LiveStatus;
  readonly certificate?: () => CertificateSummary | undefined;
  readonly controlSocket: string;
  readonly runCheck: () => Promise<CheckRun>;
  readonly pairingId: () => string | undefined;
  readonly resetCredentials: () => void;
  readonly restart: () => void;
  readonly now?: () => number;
}

function positiveInteger(args: CommandArgs, key: string, max: number, fallback: number): number {
  const value = args[key];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    throw new CommandError(`args.${key} must be an integer from 1 to ${max}`);
  }
  return value;
}

/** The commands of `<prefix>/cmd/<name>` (docs/remote.md), by name. */
export function buildCommands(deps: CommandDeps): Record<string, Command> {
  const now = deps.now ?? Date.now;
  return {
    identify: (args) => {
      // The same limit as `cw-agent identify` and the control socket.
      const seconds = positiveInteger(args, "seconds", MAX_IDENTIFY_SECONDS, deps.identifySeconds);
      const shownOn = deps.identifyTargets();
      if (shownOn.length > 0) {
        deps.identify(seconds);
        return { result: { seconds, shownOn } };
      }
      const act = deps.activityLed;
      if (act?.available() && act.identify(seconds)) {
        deps.logger.info({ seconds }, `Identify requested: flickering the board's ACT LED for ${seconds} s`);
        return { result: { seconds, shownOn: ["ACT LED"] } };
      }
      throw new CommandError(
        "nothing to identify on: no status LED, no display and no writable ACT LED (docs/indicators.md)",
      );
    },

    status: () => ({
      result: {
        ...statusReportFromAgent(deps.liveStatus(), deps.controlSocket, now()),
        certificate: deps.certificate?.() ?? null,
      },
    }),

    check: async () => {
      const run = await deps.runCheck();
      return { result: run };
    },

    "log-level": (args) => {
      const level = args.level;
      if (typeof level !== "string" || !(LOG_LEVELS as readonly string[]).includes(level)) {
        throw new CommandError(`args.level must be one of ${LOG_LEVELS.join(", ")}`);
      }
      const previous = deps.rootLogger.level;
      // Said at the level being left and the one coming, so the change shows either way.
      deps.logger.info({ previous, level }, `Log level ${level} until the next restart (was ${previous})`);
      deps.rootLogger.level = level;
      return { result: { previous, level } };
    },

    restart: () => {
      deps.logger.warn(`Restart requested over MQTT: stopping with exit code ${EXIT_RESTART}`);
      return {
        result: { restarting: true, exitCode: EXIT_RESTART },
        afterReply: deps.restart,
      };
    },

    "re-pair": (args) => {
      const current = deps.pairingId();
      // A replayed or misdirected request names another device's pairing ID and is refused.
      if (current === undefined || args.confirm !== current) {
        throw new CommandError("args.confirm must equal this agent's current pairing ID (see <prefix>/info)");
      }
      deps.logger.warn(
        { pairingId: current },
        `Re-pairing requested over MQTT: discarding the credentials of pairing ID ${current}`,
      );
      return {
        result: { discardedPairingId: current },
        afterReply: deps.resetCredentials,
      };
    },
  };
}

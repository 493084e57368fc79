import { EXIT_FAILURE, EXIT_OK } from "../exit-codes.js";
import { displayModel } from "../indicators/index.js";
import { errorMessage } from "../util/errors.js";
import { contactAgent, settingsOrExit } from "./context.js";
import type { Output } from "./output.js";

/**
 * Asks the running agent to show itself: its status LED fast-blinks and its display (real or
 * virtual) shows IDENTIFY with the agent name. `seconds` defaults to CW_AGENT_LED_IDENTIFY_S.
 * With neither an LED nor a display there is nothing to show it on: that fails.
 */
export async function identifyCommand(
  env: NodeJS.ProcessEnv,
  seconds: number | undefined,
  output: Output,
): Promise<number> {
  const settings = settingsOrExit(env, output);
  if (typeof settings === "number") return settings;
  const { agent: config, indicators } = settings;
  const duration = seconds ?? indicators.identifySeconds;
  const led = indicators.leds.status.kind !== "none";
  const display = displayModel(indicators.display.model).kind !== "none";
  if (!led && !display) {
    output.err(
      `cw-agent: agent ${config.agentName} has no status LED and no display to identify itself on (CW_AGENT_LED_STATUS=none, CW_AGENT_DISPLAY_MODEL=none); configure one of them (docs/indicators.md)`,
    );
    return EXIT_FAILURE;
  }
  try {
    const contact = await contactAgent(env, config, { command: "identify", seconds: duration });
    if (!contact.running) {
      output.err(
        `cw-agent: identify needs the running agent, and none answers on ${contact.sockets.join(" or ")}; start it (systemctl start cw-agent) and try again`,
      );
      return EXIT_FAILURE;
    }
    if (!contact.answer.ok) {
      output.err(`cw-agent: the agent refused: ${"error" in contact.answer ? contact.answer.error : "?"}`);
      return EXIT_FAILURE;
    }
    const shown = [
      ...(led ? ["blinking its status LED"] : []),
      ...(display ? ["showing IDENTIFY on its display"] : []),
    ];
    output.out(`Agent ${config.agentName} is ${shown.join(" and ")} for ${duration} s.`);
    return EXIT_OK;
  } catch (error) {
    output.err(`cw-agent: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  }
}

import { EXIT_FAILURE, EXIT_OK } from "../exit-codes.js";
import { errorMessage } from "../util/errors.js";
import { contactAgent, settingsOrExit } from "./context.js";
import type { Output } from "./output.js";

/** Asks the running agent to fast-blink its status LED; `seconds` defaults to CW_AGENT_LED_IDENTIFY_S. */
export async function identifyCommand(
  env: NodeJS.ProcessEnv,
  seconds: number | undefined,
  output: Output,
): Promise<number> {
  const settings = settingsOrExit(env, output);
  if (typeof settings === "number") return settings;
  const { agent: config, indicators } = settings;
  const duration = seconds ?? indicators.identifySeconds;
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
    output.out(
      indicators.leds.status.kind === "none"
        ? `Agent ${config.agentName} was asked to identify itself for ${duration} s, but it has no status LED (CW_AGENT_LED_STATUS=none).`
        : `Agent ${config.agentName} is blinking its status LED for ${duration} s.`,
    );
    return EXIT_OK;
  } catch (error) {
    output.err(`cw-agent: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  }
}

import { existsSync } from "node:fs";
import { EXIT_FAILURE, EXIT_OK } from "../exit-codes.js";
import { errorMessage } from "../util/errors.js";
import { configOrExit } from "./context.js";
import { readDatabase } from "./database.js";
import type { Output } from "./output.js";

/**
 * Prints the pairing ID of the stored pending credentials, alone on stdout so scripts can use
 * it. Registered or without credentials there is no pairing ID: say so and exit 1.
 */
export function pairingIdCommand(env: NodeJS.ProcessEnv, output: Output): number {
  const config = configOrExit(env, output);
  if (typeof config === "number") return config;
  let credentials: ReturnType<typeof readDatabase>["credentials"];
  try {
    credentials = existsSync(config.stateDir) ? readDatabase(config.stateDir).credentials : undefined;
  } catch (error) {
    output.err(`cw-agent: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  }
  if (credentials === undefined) {
    output.err(
      `cw-agent: no credentials stored in ${config.stateDir}: the agent generates them (and a pairing ID) when it starts`,
    );
    return EXIT_FAILURE;
  }
  if (credentials.status === "granted") {
    output.err(
      `cw-agent: "${credentials.username}" is registered (credentials granted); there is no pairing ID to authorize`,
    );
    return EXIT_FAILURE;
  }
  output.out(credentials.pairingId);
  return EXIT_OK;
}

import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import type { AgentConfig } from "../config/config.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { CredentialStore, DATABASE_FILE } from "../storage/credential-store.js";
import { StateDirLock, StateDirLockedError } from "../storage/state-dir-lock.js";
import { errorMessage } from "../util/errors.js";
import { configOrExit, contactAgent } from "./context.js";
import type { Output } from "./output.js";

/** A granted user stays in Connectware with the old password; registering the name again conflicts (409). */
const CONNECTWARE_USER_NOTE = (username: string) =>
  `If Connectware still has the user "${username}", delete it (User Management > Users) so the new registration does not conflict.`;

export interface Terminal {
  readonly isInteractive: boolean;
  ask(question: string): Promise<string>;
}

export const processTerminal: Terminal = {
  isInteractive: process.stdin.isTTY === true,
  async ask(question) {
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await prompt.question(question);
    } finally {
      prompt.close();
    }
  },
};

/**
 * Discards the credentials. A running agent does it itself (and registers anew at once); for a
 * stopped one the CLI takes the state-directory lock, so an agent starting meanwhile exits at once
 * (exit 75; systemd starts it again a few seconds later) instead of racing the reset.
 */
export async function resetCommand(
  env: NodeJS.ProcessEnv,
  options: { yes: boolean },
  output: Output,
  terminal: Terminal = processTerminal,
): Promise<number> {
  const config = configOrExit(env, output);
  if (typeof config === "number") return config;

  if (!options.yes) {
    if (!terminal.isInteractive) {
      output.err(
        "cw-agent: reset discards the credentials and needs confirmation, but stdin is not a terminal; pass --yes",
      );
      return EXIT_USAGE;
    }
    const answer = await terminal.ask(
      `Discard the credentials of agent "${config.agentName}" in ${config.stateDir}? ` +
        "Connectware will have to authorize a new pairing ID. [y/N] ",
    );
    if (!/^\s*y(es)?\s*$/i.test(answer)) {
      output.err("cw-agent: nothing changed");
      return EXIT_FAILURE;
    }
  }

  try {
    const contact = await contactAgent(env, config, { command: "reset" });
    if (contact.running) {
      if (!contact.answer.ok) {
        output.err(
          `cw-agent: the agent refused the reset: ${"error" in contact.answer ? contact.answer.error : "?"}`,
        );
        return EXIT_FAILURE;
      }
      output.out(
        "Credentials discarded; the running agent is registering anew. See its new pairing ID with `cw-agent status`.",
      );
      output.out(CONNECTWARE_USER_NOTE(config.username));
      return EXIT_OK;
    }
    return resetStoppedAgent(config, contact.sockets.join(" or "), output);
  } catch (error) {
    output.err(`cw-agent: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  }
}

function resetStoppedAgent(config: AgentConfig, sockets: string, output: Output): number {
  const { stateDir } = config;
  if (!existsSync(join(stateDir, DATABASE_FILE))) {
    output.out(`Nothing to reset: no credentials stored in ${stateDir}.`);
    return EXIT_OK;
  }
  // Files created here by another user (root) would lock the agent out of its own directory.
  const owner = statSync(stateDir).uid;
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== owner) {
    output.err(
      `cw-agent: ${stateDir} belongs to uid ${owner}; run the reset as that user (e.g. sudo -u cw-agent cw-agent reset) so the agent keeps owning its files`,
    );
    return EXIT_FAILURE;
  }
  let lock: StateDirLock;
  try {
    lock = StateDirLock.acquire(stateDir);
  } catch (error) {
    if (!(error instanceof StateDirLockedError)) throw error;
    output.err(`cw-agent: ${error.message}; no agent answers on ${sockets}, so it cannot be asked to reset`);
    return EXIT_FAILURE;
  }
  try {
    const store = CredentialStore.open(stateDir, {
      onCorrupt: ({ path, movedTo, reason }) =>
        output.err(`cw-agent: ${path} was damaged (${reason}); moved it to ${movedTo}`),
    });
    try {
      const credentials = store.load();
      if (credentials === undefined) {
        output.out(`Nothing to reset: no credentials stored in ${stateDir}.`);
        return EXIT_OK;
      }
      store.discard();
      output.out(
        `Discarded the ${credentials.status} credentials of "${credentials.username}". The agent registers anew when it starts.`,
      );
      if (credentials.status === "granted") output.out(CONNECTWARE_USER_NOTE(credentials.username));
      return EXIT_OK;
    } finally {
      store.close();
    }
  } finally {
    lock.release();
  }
}

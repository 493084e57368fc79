#!/usr/bin/env node
import { runAgent } from "./agent/run.js";
import { AGENT_VERSION } from "./version.js";

const EXIT_USAGE = 64;

const USAGE = `Usage: cw-agent <command>

Commands:
  run        start the agent (what the systemd unit runs)
  version    print the version

Configuration comes from the environment; see the README.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      if (rest.length > 0) break;
      return runAgent(process.env);
    case "version":
    case "--version":
      process.stdout.write(`${AGENT_VERSION}\n`);
      return 0;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return 0;
  }
  process.stderr.write(`${USAGE}\n`);
  return EXIT_USAGE;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`cw-agent: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);

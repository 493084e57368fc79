#!/usr/bin/env node
import { main } from "./cli/main.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`cw-agent: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);

import { unescapeArguments } from "./cli/argv.js";
import { main } from "./cli/main.js";

// Started by bin/cw-agent (or its copies in the package and install.sh), which escapes the
// arguments Node.js would read itself; systemd runs `node cli.js run` directly.
main(unescapeArguments(process.argv.slice(2))).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`cw-agent: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);

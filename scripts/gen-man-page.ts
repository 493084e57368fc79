/**
 * Writes the man page cw-agent(8) and the bash completion from the command table
 * (src/cli/commands.ts) and the settings table. `npm run docs:man`; a test fails when either file is
 * stale.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { COMPLETION_PATH, MAN_PAGE_PATH, renderBashCompletion, renderManPage } from "../src/cli/cli-docs.js";
import { ALL_SETTINGS } from "../src/settings.js";
import { AGENT_VERSION } from "../src/version.js";

const root = new URL("../../", import.meta.url);
for (const [path, text] of [
  [MAN_PAGE_PATH, renderManPage(AGENT_VERSION, ALL_SETTINGS)],
  [COMPLETION_PATH, renderBashCompletion()],
] as const) {
  const file = fileURLToPath(new URL(path, root));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
console.log(`wrote ${MAN_PAGE_PATH} and ${COMPLETION_PATH}`);

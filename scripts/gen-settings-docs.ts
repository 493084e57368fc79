/**
 * Writes the environment-file templates and the README's configuration table from the settings
 * table (src/config/settings.ts, src/indicators/config.ts). `npm run docs:settings`; a test fails
 * when any of them is stale.
 *
 * systemd/cw-agent.env becomes /etc/cw-agent/cw-agent.env (install.sh, the package);
 * systemd/cw-agent@.env becomes /etc/cw-agent/cw-agent@NAME.env (`install.sh --instance NAME`
 * puts NAME in for %i).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { renderEnvTemplate, renderReadmeTable, withReadmeTable } from "../src/config/settings-docs.js";
import { ALL_SETTINGS } from "../src/settings.js";

const root = new URL("../../", import.meta.url);
const readmePath = new URL("README.md", root);
writeFileSync(new URL("systemd/cw-agent.env", root), renderEnvTemplate(ALL_SETTINGS));
writeFileSync(new URL("systemd/cw-agent@.env", root), renderEnvTemplate(ALL_SETTINGS, { instance: true }));
writeFileSync(readmePath, withReadmeTable(readFileSync(readmePath, "utf8"), renderReadmeTable(ALL_SETTINGS)));
console.log("wrote systemd/cw-agent.env, systemd/cw-agent@.env and the settings table of README.md");

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  COMPLETION_PATH,
  MAN_PAGE_PATH,
  renderBashCompletion,
  renderManPage,
} from "../../src/cli/cli-docs.js";
import { COMMANDS } from "../../src/cli/commands.js";
import { ALL_SETTINGS } from "../../src/settings.js";
import { AGENT_VERSION } from "../../src/version.js";

const ROOT = new URL("../../", import.meta.url);
const committed = (path: string) => readFileSync(new URL(path, ROOT), "utf8");
const COMPLETION = new URL(COMPLETION_PATH, ROOT).pathname;
const HAVE_MAN = spawnSync("man", ["--version"]).status === 0;

/** What bash offers after the words typed so far (the last one being completed), in the checkout. */
function complete(...words: string[]): string[] {
  const script = [
    `cd ${JSON.stringify(new URL(".", ROOT).pathname)}`,
    `source ${JSON.stringify(COMPLETION)}`,
    `COMP_WORDS=(${words.map((word) => `'${word}'`).join(" ")})`,
    `COMP_CWORD=${words.length - 1}`,
    "_cw_agent",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash syntax, not a template
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join("\n");
  const result = spawnSync("bash", ["--norc", "-c", script], { encoding: "utf8" });
  expect(result.stderr).toBe("");
  return result.stdout.split("\n").filter(Boolean);
}

describe("the man page and the bash completion", () => {
  it(`${MAN_PAGE_PATH} is generated from the command table: run \`npm run docs:man\` when this fails`, () => {
    expect(committed(MAN_PAGE_PATH)).toBe(renderManPage(AGENT_VERSION, ALL_SETTINGS));
  });

  it(`${COMPLETION_PATH} is generated from the command table: run \`npm run docs:man\` when this fails`, () => {
    expect(committed(COMPLETION_PATH)).toBe(renderBashCompletion());
  });

  it("the man page names every command, option and setting", () => {
    const page = committed(MAN_PAGE_PATH);
    for (const command of COMMANDS) expect(page).toContain(`\\fB${command.name.replace(/-/g, "\\-")}\\fR`);
    for (const option of ["instance", "env\\-file", "json", "yes", "help", "version"])
      expect(page).toContain(`\\fB\\-\\-${option}\\fR`);
    for (const name of Object.keys(ALL_SETTINGS)) expect(page).toContain(`\\fB${name}\\fR`);
  });

  it.skipIf(!HAVE_MAN)("man formats it without a warning (what lintian checks)", () => {
    const result = spawnSync(
      "man",
      ["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", new URL(MAN_PAGE_PATH, ROOT).pathname],
      {
        encoding: "utf8",
        env: { ...process.env, LC_ALL: "C.UTF-8", MANWIDTH: "80" },
      },
    );
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("completes commands, each command's options, and command names after help", () => {
    expect(complete("cw-agent", "")).toEqual([
      ...COMMANDS.map((command) => command.name),
      "-h",
      "--help",
      "-V",
      "--version",
    ]);
    expect(complete("cw-agent", "pa")).toEqual(["pairing-id"]);
    expect(complete("cw-agent", "status", "--")).toEqual(["--json", "--instance", "--env-file", "--help"]);
    expect(complete("cw-agent", "reset", "--y")).toEqual(["--yes"]);
    expect(complete("cw-agent", "run", "")).toEqual(["--help"]);
    expect(complete("cw-agent", "help", "ch")).toEqual(["check"]);
    // A file after --env-file, also as --env-file=FILE (which bash splits at "=").
    const prefix = MAN_PAGE_PATH.replace(/8$/, "");
    expect(complete("cw-agent", "check", "--env-file", prefix)).toEqual([MAN_PAGE_PATH]);
    expect(complete("cw-agent", "check", "--env-file", "=", prefix)).toEqual([MAN_PAGE_PATH]);
  });
});

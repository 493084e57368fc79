import { describe, expect, it } from "vitest";
import { parseArguments, UsageError } from "../../src/cli/argv.js";
import { COMMANDS, findCommand } from "../../src/cli/commands.js";
import { main, USAGE } from "../../src/cli/main.js";
import type { Output } from "../../src/cli/output.js";
import { AGENT_VERSION } from "../../src/version.js";

function capture(): Output & { stdout: string; stderr: string } {
  const captured = {
    stdout: "",
    stderr: "",
    out: (text: string) => {
      captured.stdout += `${text}\n`;
    },
    err: (text: string) => {
      captured.stderr += `${text}\n`;
    },
  };
  return captured;
}

async function cli(...args: string[]) {
  const output = capture();
  const code = await main(args, output);
  return { code, stdout: output.stdout, stderr: output.stderr };
}

describe("cw-agent help and version", () => {
  it("every command has --help and -h: its usage line, what it does, its options, exit 0", async () => {
    for (const command of COMMANDS) {
      for (const flag of ["--help", "-h"]) {
        const result = await cli(command.name, flag);
        expect({ command: command.name, code: result.code, stderr: result.stderr }).toEqual({
          command: command.name,
          code: 0,
          stderr: "",
        });
        expect(result.stdout).toMatch(new RegExp(`^Usage: cw-agent ${command.name}\\b`));
        expect(result.stdout).toContain("-h, --help");
        expect(result.stdout).toMatch(/\nExit codes: 0/);
        for (const line of result.stdout.trimEnd().split("\n")) expect(line.length).toBeLessThanOrEqual(100);
      }
      expect((await cli("help", command.name)).stdout).toBe((await cli(command.name, "--help")).stdout);
    }
    // --help wins over anything else, and never runs the command.
    expect(await cli("run", "--help", "--bogus")).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Usage: cw-agent run/),
    });
    expect(await cli("status", "--json", "-h")).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Usage: cw-agent status/),
    });
  });

  it("--help, -h and help list the commands; -V, --version and version print the version", async () => {
    for (const args of [["--help"], ["-h"], ["help"]]) {
      expect(await cli(...args)).toEqual({ code: 0, stdout: `${USAGE}\n`, stderr: "" });
    }
    for (const command of COMMANDS) expect(USAGE).toMatch(new RegExp(`\\n  ${command.name}\\b`));
    for (const args of [["-V"], ["--version"], ["version"]]) {
      expect(await cli(...args)).toEqual({ code: 0, stdout: `${AGENT_VERSION}\n`, stderr: "" });
    }
    expect(await cli("-h", "status")).toEqual(await cli("status", "--help"));
  });
});

describe("cw-agent usage errors", () => {
  it("one line naming the problem, one pointing at the command's help, exit 64", async () => {
    const cases: [string[], string][] = [
      [[], 'cw-agent: no command given\nRun "cw-agent --help" for the commands.\n'],
      [["frobnicate"], 'cw-agent: unknown command "frobnicate"\nRun "cw-agent --help" for the commands.\n'],
      [
        ["--json"],
        'cw-agent: unknown option "--json"; options follow the command\nRun "cw-agent --help" for the commands.\n',
      ],
      [
        ["status", "--bogus"],
        'cw-agent status: unknown option "--bogus"\nRun "cw-agent status --help" for its usage.\n',
      ],
      [
        ["status", "-x"],
        'cw-agent status: unknown option "-x"\nRun "cw-agent status --help" for its usage.\n',
      ],
      [
        ["status", "extra"],
        'cw-agent status: unexpected argument "extra": status takes none\nRun "cw-agent status --help" for its usage.\n',
      ],
      [
        ["status", "--json=yes"],
        'cw-agent status: --json takes no value\nRun "cw-agent status --help" for its usage.\n',
      ],
      [
        ["status", "--json", "--json"],
        'cw-agent status: --json given twice\nRun "cw-agent status --help" for its usage.\n',
      ],
      [
        ["status", "--env-file"],
        'cw-agent status: --env-file needs a value (FILE)\nRun "cw-agent status --help" for its usage.\n',
      ],
      [
        ["status", "--env-file="],
        'cw-agent status: --env-file needs a value (FILE)\nRun "cw-agent status --help" for its usage.\n',
      ],
      [
        ["status", "--instance", "--json"],
        'cw-agent status: --instance needs a value (NAME)\nRun "cw-agent status --help" for its usage.\n',
      ],
      [
        ["identify", "0"],
        'cw-agent identify: SECONDS must be an integer from 1 to 3600, not "0"\nRun "cw-agent identify --help" for its usage.\n',
      ],
      [
        ["identify", "5", "6"],
        'cw-agent identify: unexpected argument "6": identify takes one SECONDS\nRun "cw-agent identify --help" for its usage.\n',
      ],
      [
        ["help", "frobnicate"],
        'cw-agent help: unknown command "frobnicate"\nRun "cw-agent help --help" for its usage.\n',
      ],
      [
        ["version", "now"],
        'cw-agent version: unexpected argument "now": version takes none\nRun "cw-agent version --help" for its usage.\n',
      ],
      [
        ["run", "--json"],
        'cw-agent run: unknown option "--json"\nRun "cw-agent run --help" for its usage.\n',
      ],
    ];
    for (const [args, stderr] of cases) {
      expect({ args, ...(await cli(...args)) }).toEqual({ args, code: 64, stdout: "", stderr });
    }
  });

  it("instance names follow the rule of agent names: 3 to 64 characters", async () => {
    const rule = "3 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit";
    for (const name of ["ab", "x", "../etc", "-line", "a/b", "a".repeat(65), "line 1"]) {
      const args = name.startsWith("-") ? [`--instance=${name}`] : ["--instance", name];
      expect(await cli("status", ...args)).toEqual({
        code: 64,
        stdout: "",
        stderr: `cw-agent status: invalid --instance ${JSON.stringify(name)}: an instance name is an agent name, ${rule}\nRun "cw-agent status --help" for its usage.\n`,
      });
    }
  });

  it("the parser: values with = or as the next argument, -- ends the options", () => {
    const status = findCommand("status");
    const identify = findCommand("identify");
    if (status === undefined || identify === undefined) throw new Error("no status or identify");
    const parsed = parseArguments(status, ["--instance=line1", "--env-file", "/tmp/x.env", "--json"]);
    expect([...parsed.values]).toEqual([
      ["instance", "line1"],
      ["env-file", "/tmp/x.env"],
    ]);
    expect([...parsed.flags]).toEqual(["json"]);
    expect(parseArguments(identify, ["--", "--json"]).argument).toBe("--json");
    expect(parseArguments(identify, ["--", "--help"]).help).toBe(false);
    expect(() => parseArguments(status, ["--", "x"])).toThrow(UsageError);
  });
});

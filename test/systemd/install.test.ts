import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const REPO = new URL("../../", import.meta.url).pathname;
const NODE_DIR = dirname(process.execPath);

/**
 * A release-like source tree in a temp dir: install.sh, the unit files and a small fake dist/.
 * The tests never depend on the real build and always pass --root (and DESTDIR), so nothing
 * outside the temp dir is touched even as root.
 */
function makeSource(base: string): string {
  const src = join(base, "src");
  mkdirSync(join(src, "systemd"), { recursive: true });
  mkdirSync(join(src, "dist/src/agent"), { recursive: true });
  mkdirSync(join(src, "bin"));
  copyFileSync(join(REPO, "install.sh"), join(src, "install.sh"));
  copyFileSync(join(REPO, "bin/cw-agent"), join(src, "bin/cw-agent"));
  chmodSync(join(src, "install.sh"), 0o755);
  for (const file of ["cw-agent.service", "cw-agent@.service", "cw-agent.env", "cw-agent@.env"]) {
    copyFileSync(join(REPO, "systemd", file), join(src, "systemd", file));
  }
  writeFileSync(join(src, "dist/src/cli.js"), "// cli\n//# sourceMappingURL=cli.js.map\n");
  writeFileSync(join(src, "dist/src/cli.js.map"), '{"version":3}\n');
  writeFileSync(join(src, "dist/src/agent/agent.js"), "// agent\n");
  writeFileSync(join(src, "dist/src/agent/agent.js.map"), '{"version":3}\n');
  writeFileSync(join(src, "dist/src/agent/old.js"), "// removed in the next release\n");
  writeFileSync(join(src, "package.json"), '{ "name": "cw-agent", "version": "0.1.0" }\n');
  writeFileSync(join(src, "package-lock.json"), '{ "lockfileVersion": 3 }\n');
  return src;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** path -> "type mode sha256|target" for everything under root: equal listings mean nothing changed. */
function listing(root: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = path.slice(root.length);
      const stat = lstatSync(path);
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isSymbolicLink()) result[rel] = `link ${readlinkSync(path)}`;
      else if (stat.isDirectory()) {
        result[rel] = `dir ${mode} ${stat.uid}:${stat.gid}`;
        walk(path);
      } else {
        const sum = createHash("sha256").update(readFileSync(path)).digest("hex");
        result[rel] = `file ${mode} ${stat.uid}:${stat.gid} ${sum}`;
      }
    }
  };
  walk(root);
  return result;
}

function mode(path: string): string {
  return (statSync(path).mode & 0o7777).toString(8);
}

describe("install.sh into a staging root", () => {
  let base: string;
  let src: string;
  let root: string;

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), "cw-agent-install-"));
    src = makeSource(base);
    root = join(base, "root");
    mkdirSync(root);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  function install(args: string[] = [], path = `${NODE_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`): Run {
    const result = spawnSync("bash", [join(src, "install.sh"), "--root", root, ...args], {
      encoding: "utf8",
      env: { PATH: path, DESTDIR: root, LANG: "C" },
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  function installOk(args: string[] = []): Run {
    const run = install(args);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    return run;
  }

  const inRoot = (path: string) => join(root, path);
  const read = (path: string) => readFileSync(inRoot(path), "utf8");

  it("installs the agent, the units, the environment file and the user", () => {
    const run = installOk();

    expect(read("opt/cw-agent/dist/src/cli.js")).toBe("// cli\n//# sourceMappingURL=cli.js.map\n");
    expect(read("opt/cw-agent/dist/src/agent/agent.js")).toBe("// agent\n");
    expect(read("opt/cw-agent/package-lock.json")).toBe('{ "lockfileVersion": 3 }\n');
    expect(mode(inRoot("opt/cw-agent"))).toBe("755");
    expect(mode(inRoot("opt/cw-agent/dist/src/agent"))).toBe("755");
    expect(mode(inRoot("opt/cw-agent/dist/src/cli.js"))).toBe("644");
    // The source tree's launcher, with the installation's node and cli.js.
    const launcher = read("usr/local/bin/cw-agent");
    expect(launcher).toMatch(/^#!\/bin\/sh\n/);
    expect(launcher).toMatch(/^node=\/\S*node$/m);
    expect(launcher).toMatch(/^cli=\/opt\/cw-agent\/dist\/src\/cli\.js$/m);
    expect(launcher).toContain('exec "$node" "$cli" "$@"');
    expect(mode(inRoot("usr/local/bin/cw-agent"))).toBe("755");
    // Not run in a staging root, only announced.
    expect(existsSync(inRoot("opt/cw-agent/node_modules"))).toBe(false);
    expect(run.stdout).toContain("planned: npm ci --omit=dev");

    for (const unit of ["cw-agent.service", "cw-agent@.service"]) {
      const installed = inRoot(`etc/systemd/system/${unit}`);
      expect(mode(installed)).toBe("644");
      // ExecStart= names the node this script found.
      const source = readFileSync(join(src, "systemd", unit), "utf8");
      expect(readFileSync(installed, "utf8")).toBe(
        source.replace("ExecStart=/usr/bin/node ", `ExecStart=${NODE_DIR}/node `),
      );
    }
    // Enabled offline, as systemctl --root does it: the link is all there is to it.
    expect(readlinkSync(inRoot("etc/systemd/system/multi-user.target.wants/cw-agent.service"))).toBe(
      "/etc/systemd/system/cw-agent.service",
    );

    expect(mode(inRoot("etc/cw-agent"))).toBe("750");
    expect(mode(inRoot("etc/cw-agent/cw-agent.env"))).toBe("640");
    expect(read("etc/cw-agent/cw-agent.env")).toBe(readFileSync(join(src, "systemd/cw-agent.env"), "utf8"));

    const passwd = read("etc/passwd").split("\n");
    const group = read("etc/group").split("\n");
    const agentGroup = group.find((line) => line.startsWith("cw-agent:"));
    const gid = agentGroup?.split(":")[2];
    expect(passwd).toContain(
      `cw-agent:x:999:${gid}:Cybus Connectware edge agent:/var/lib/cw-agent:/usr/sbin/nologin`,
    );
    expect(group.find((line) => line.startsWith("gpio:"))).toMatch(/^gpio:x:\d+:cw-agent$/);
    expect(group.find((line) => line.startsWith("i2c:"))).toMatch(/^i2c:x:\d+:cw-agent$/);
    if (process.getuid?.() === 0) {
      expect(String(statSync(inRoot("etc/cw-agent/cw-agent.env")).gid)).toBe(gid);
    }
  });

  it("prints one line per step and a closing summary; installs no source maps", () => {
    const run = installOk();
    const etc = `${root}/etc`;
    expect(run.stdout.split("\n")).toEqual([
      expect.stringMatching(/^cw-agent install: system: \S+, Node\.js v\d+\.\d+\.\d+ \(\S+\/node\)$/),
      `cw-agent install: account: created the system user cw-agent, member of gpio, i2c; created the groups cw-agent, gpio, i2c (in ${etc}/passwd and ${etc}/group)`,
      `cw-agent install: agent: installed 0.1.0 in ${root}/opt/cw-agent (5 files)`,
      `cw-agent install: dependencies: planned: npm ci --omit=dev in ${root}/opt/cw-agent (not run in a staging root; see --skip-npm)`,
      `cw-agent install: settings: created ${etc}/cw-agent/cw-agent.env from the template (root:cw-agent, 0640)`,
      `cw-agent install: units: wrote cw-agent.service, cw-agent@.service to ${etc}/systemd/system`,
      `cw-agent install: command: wrote ${root}/usr/local/bin/cw-agent`,
      `cw-agent install: service: enabled cw-agent.service offline (systemctl --root=${root} enable cw-agent.service): it starts at every boot`,
      "",
      "cw-agent 0.1.0: fresh install",
      "  units:    changed, cw-agent.service enabled",
      `  settings: ${etc}/cw-agent/cw-agent.env created from the template`,
      "Next (the last two on the gateway, once it runs this root):",
      expect.stringMatching(
        new RegExp(
          `^  sudoedit ${escapeRegExp(etc)}/cw-agent/cw-agent\\.env +# set CYBUS_AGENT_NAME and CYBUS_MQTT_HOST$`,
        ),
      ),
      expect.stringMatching(/^ {2}sudo cw-agent check +# .+/),
      expect.stringMatching(/^ {2}sudo systemctl start cw-agent +# .*journalctl -u cw-agent -f/),
      "",
    ]);
    const installed = Object.keys(listing(inRoot("opt/cw-agent")));
    expect(installed.filter((path) => path.endsWith(".map"))).toEqual([]);
    expect(installed).toContain("/dist/src/agent/agent.js");
  });

  it("the summary of an upgrade names the version it came from and what it kept", () => {
    installOk();
    // A source map an earlier release installed goes too.
    writeFileSync(inRoot("opt/cw-agent/dist/src/agent/old.js.map"), "{}\n");
    writeFileSync(join(src, "package.json"), '{ "name": "cw-agent", "version": "0.2.0" }\n');
    writeFileSync(join(src, "dist/src/agent/agent.js"), "// agent v2\n");
    rmSync(join(src, "dist/src/agent/old.js"));
    const run = installOk();
    expect(run.stdout).toContain(
      `cw-agent install: agent: upgrade from 0.1.0 to 0.2.0 in ${root}/opt/cw-agent (2 files changed, 2 removed)\n`,
    );
    expect(run.stdout).toContain(
      `\ncw-agent 0.2.0: upgrade from 0.1.0\n  units:    unchanged\n  settings: ${root}/etc/cw-agent/cw-agent.env kept\n`,
    );
    expect(existsSync(inRoot("opt/cw-agent/dist/src/agent/old.js.map"))).toBe(false);
    expect(existsSync(inRoot("opt/cw-agent/dist/src/agent/old.js"))).toBe(false);
    expect(Object.keys(listing(root)).filter((path) => /\.cw-agent-(old|new)$/.test(path))).toEqual([]);
  });

  it("installs the man page and the bash completion when the source tree has them, and says so", () => {
    const plain = installOk();
    expect(plain.stdout).not.toMatch(/man page|completion/);
    expect(existsSync(inRoot("usr/share/man"))).toBe(false);

    mkdirSync(join(src, "docs/man"), { recursive: true });
    mkdirSync(join(src, "packaging/bash-completion"), { recursive: true });
    writeFileSync(join(src, "docs/man/cw-agent.8"), ".TH CW-AGENT 8\n.SH NAME\ncw-agent \\- edge agent\n");
    writeFileSync(
      join(src, "packaging/bash-completion/cw-agent"),
      "complete -W 'run status check' cw-agent\n",
    );
    const run = installOk();
    const man = "usr/share/man/man8/cw-agent.8.gz";
    const completion = "usr/share/bash-completion/completions/cw-agent";
    expect(run.stdout).toContain(`cw-agent install: man page: wrote ${root}/${man}\n`);
    expect(run.stdout).toContain(`cw-agent install: bash completion: wrote ${root}/${completion}\n`);
    expect(gunzipSync(readFileSync(inRoot(man))).toString()).toBe(
      readFileSync(join(src, "docs/man/cw-agent.8"), "utf8"),
    );
    expect(mode(inRoot(man))).toBe("644");
    expect(read(completion)).toBe("complete -W 'run status check' cw-agent\n");

    const before = listing(root);
    expect(installOk().stdout).toContain("nothing to change");
    expect(listing(root)).toEqual(before);

    installOk(["--uninstall"]);
    expect(existsSync(inRoot(man))).toBe(false);
    expect(existsSync(inRoot(completion))).toBe(false);
  });

  it("--root: an image build gets enabled units and sees only paths under DIR", () => {
    const run = installOk();
    const wants = inRoot("etc/systemd/system/multi-user.target.wants");
    expect(readdirSync(wants)).toEqual(["cw-agent.service"]);
    expect(readlinkSync(join(wants, "cw-agent.service"))).toBe("/etc/systemd/system/cw-agent.service");
    // The host's systemd agrees that the unit in DIR is enabled.
    const enabled = spawnSync("systemctl", [`--root=${root}`, "is-enabled", "cw-agent.service"], {
      encoding: "utf8",
    });
    if (enabled.error === undefined) expect(enabled.stdout.trim()).toBe("enabled");

    // Every path printed is one under DIR (the first line names the node the units will run).
    const lines = run.stdout.split("\n").slice(1);
    const paths = lines.flatMap((line) => line.match(/(?<=^|[\s(])\/[^\s,():]+/g) ?? []);
    expect(paths.length).toBeGreaterThan(8);
    expect(paths.filter((path) => !path.startsWith(`${root}/`))).toEqual([]);

    // A second run keeps the links; --uninstall removes them, offline too.
    installOk(["--instance", "line1"]);
    expect(readdirSync(wants)).toEqual(["cw-agent.service", "cw-agent@line1.service"]);
    const uninstall = installOk(["--uninstall"]);
    expect(uninstall.stdout).toContain(`disabled cw-agent@line1.service in ${root}`);
    expect(existsSync(wants)).toBe(false);
    const uninstallPaths = uninstall.stdout.match(/(?<=^|[\s(])\/[^\s,():]+/gm) ?? [];
    expect(uninstallPaths.filter((path) => !path.startsWith(`${root}/`) && path !== root)).toEqual([]);
  });

  describe("a failing step", () => {
    function fail(args: string[] = [], path?: string): Run {
      const run = install(args, path);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        `cw-agent install: undid the changes of this run: ${root} is as it was before\n`,
      );
      return run;
    }

    it("midway through a fresh install leaves nothing behind", () => {
      // The units cannot go where a file is in the way: after the agent, the account and the settings.
      mkdirSync(inRoot("etc"));
      writeFileSync(inRoot("etc/systemd"), "in the way\n");
      const before = listing(root);
      const run = fail();
      expect(run.stdout).toContain("cw-agent install: settings: created");
      expect(run.stderr).toContain(`error: ${root}/etc/systemd exists and is not a directory`);
      expect(listing(root)).toEqual(before);
    });

    it("as the last step of a fresh install, enabling the unit, leaves nothing behind", () => {
      const bin = join(base, "bin");
      mkdirSync(bin);
      writeFileSync(join(bin, "systemctl"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
      const run = fail([], `${bin}:${NODE_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`);
      expect(run.stdout).toContain("cw-agent install: command: wrote");
      expect(run.stderr).toContain('cw-agent install: error: the step "service" failed (exit code 1)');
      expect(readdirSync(root)).toEqual([]);
    });

    it("during an upgrade puts the previous installation back as it was", () => {
      installOk();
      installOk(["--instance", "line1"]);
      const before = listing(root);

      writeFileSync(join(src, "package.json"), '{ "name": "cw-agent", "version": "0.2.0" }\n');
      writeFileSync(join(src, "dist/src/agent/agent.js"), "// agent v2\n");
      rmSync(join(src, "dist/src/agent/old.js"));
      appendFileSync(join(src, "systemd/cw-agent.service"), "# changed\n");
      // The man page, installed after the agent and the units, cannot go where a file is in the way.
      mkdirSync(join(src, "docs/man"), { recursive: true });
      writeFileSync(join(src, "docs/man/cw-agent.8"), ".TH CW-AGENT 8\n");
      mkdirSync(inRoot("usr/share"), { recursive: true });
      writeFileSync(inRoot("usr/share/man"), "in the way\n");
      const withObstacle = listing(root);
      const run = fail();
      expect(run.stdout).toContain("agent: upgrade from 0.1.0 to 0.2.0");
      expect(run.stdout).toContain("units: wrote cw-agent.service");
      expect(listing(root)).toEqual(withObstacle);
      expect(read("opt/cw-agent/dist/src/agent/old.js")).toBe("// removed in the next release\n");

      rmSync(inRoot("usr/share"), { recursive: true });
      expect(listing(root)).toEqual(before);
      expect(installOk().stdout).toContain("cw-agent 0.2.0: upgrade from 0.1.0");
    });
  });

  it("is idempotent: a second run changes nothing", () => {
    installOk();
    const before = listing(root);
    const second = installOk();
    expect(listing(root)).toEqual(before);
    expect(second.stdout).toContain("nothing to change");
    expect(second.stdout).not.toContain("installed ");
  });

  it("keeps existing groups and members and allocates free ids", () => {
    mkdirSync(inRoot("etc"));
    writeFileSync(
      inRoot("etc/passwd"),
      "root:x:0:0:root:/root:/bin/bash\nsvc:x:999:999::/:/usr/sbin/nologin\n",
    );
    writeFileSync(inRoot("etc/group"), "root:x:0:\ngpio:x:997:pi\nsvc:x:999:\n");
    installOk();
    installOk();
    expect(read("etc/group").split("\n")).toEqual([
      "root:x:0:",
      "gpio:x:997:pi,cw-agent",
      "svc:x:999:",
      "cw-agent:x:998:",
      "i2c:x:996:cw-agent",
      "",
    ]);
    expect(read("etc/passwd")).toContain("cw-agent:x:998:998:");
  });

  it("never overwrites the environment file and updates the agent on the next release", () => {
    installOk();
    appendFileSync(inRoot("etc/cw-agent/cw-agent.env"), "CYBUS_MQTT_HOST=connectware.local\n");
    chmodSync(inRoot("etc/cw-agent/cw-agent.env"), 0o600);
    const edited = read("etc/cw-agent/cw-agent.env");

    writeFileSync(join(src, "dist/src/cli.js"), "// cli v2\n");
    rmSync(join(src, "dist/src/agent/old.js"));
    const run = installOk();

    expect(read("etc/cw-agent/cw-agent.env")).toBe(edited);
    expect(mode(inRoot("etc/cw-agent/cw-agent.env"))).toBe("600");
    expect(run.stdout).toContain(`kept ${root}/etc/cw-agent/cw-agent.env`);
    expect(read("opt/cw-agent/dist/src/cli.js")).toBe("// cli v2\n");
    expect(existsSync(inRoot("opt/cw-agent/dist/src/agent/old.js"))).toBe(false);
  });

  it("--uninstall keeps settings and credentials, --purge removes them and the user", () => {
    installOk();
    mkdirSync(inRoot("var/lib/cw-agent"), { recursive: true });
    writeFileSync(inRoot("var/lib/cw-agent/credentials.db"), "secret");
    // Node.js's compile cache (CacheDirectory=): nothing in it is worth keeping.
    mkdirSync(inRoot("var/cache/cw-agent/v24"), { recursive: true });

    installOk(["--uninstall"]);
    expect(existsSync(inRoot("var/cache/cw-agent"))).toBe(false);
    expect(existsSync(inRoot("opt/cw-agent"))).toBe(false);
    expect(existsSync(inRoot("etc/systemd/system/cw-agent.service"))).toBe(false);
    expect(existsSync(inRoot("etc/systemd/system/cw-agent@.service"))).toBe(false);
    expect(existsSync(inRoot("usr/local/bin/cw-agent"))).toBe(false);
    expect(read("var/lib/cw-agent/credentials.db")).toBe("secret");
    expect(existsSync(inRoot("etc/cw-agent/cw-agent.env"))).toBe(true);
    expect(read("etc/passwd")).toContain("cw-agent:");

    installOk(["--purge", "--yes"]);
    expect(existsSync(inRoot("var/lib/cw-agent"))).toBe(false);
    expect(existsSync(inRoot("etc/cw-agent"))).toBe(false);
    expect(read("etc/passwd")).not.toContain("cw-agent");
    // gpio and i2c are shared with the system: they stay, without the agent as member.
    expect(read("etc/group").split("\n")).toEqual([
      expect.stringMatching(/^gpio:x:\d+:$/),
      expect.stringMatching(/^i2c:x:\d+:$/),
      "",
    ]);
  });

  describe("--purge", () => {
    const HAVE_SCRIPT = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;

    function installed(): Record<string, string> {
      installOk();
      installOk(["--instance", "line1"]);
      for (const dir of ["var/lib/cw-agent", "var/lib/cw-agent@line1", "var/lib/cw-agent@line2"]) {
        mkdirSync(inRoot(dir), { recursive: true });
        writeFileSync(inRoot(`${dir}/cw-agent.db`), "credentials");
      }
      return listing(root);
    }

    const LISTED = () =>
      [
        "cw-agent install: --purge deletes the credentials of these agents; each must be paired again in Connectware:",
        expect.stringMatching(new RegExp(`^  ${escapeRegExp(root)}/var/lib/cw-agent +cw-agent\\.service$`)),
        expect.stringMatching(
          new RegExp(`^  ${escapeRegExp(root)}/var/lib/cw-agent@line1 +cw-agent@line1\\.service$`),
        ),
        expect.stringMatching(
          new RegExp(`^  ${escapeRegExp(root)}/var/lib/cw-agent@line2 +cw-agent@line2\\.service$`),
        ),
        `cw-agent install: --purge deletes the settings: ${root}/etc/cw-agent`,
      ] as const;

    it("lists the credentials it deletes, and without a terminal or --yes refuses and changes nothing", () => {
      const before = installed();
      const run = install(["--purge"]);
      expect(run.status).toBe(1);
      expect(run.stdout.split("\n")).toEqual([...LISTED(), ""]);
      expect(run.stderr).toBe(
        "cw-agent install: error: --purge needs confirmation and there is no terminal to ask on: add --yes to delete the above, or use --uninstall to keep it\n",
      );
      expect(listing(root)).toEqual(before);

      const yes = installOk(["--purge", "--yes"]);
      expect(yes.stdout.split("\n").slice(0, 5)).toEqual([...LISTED()]);
      for (const dir of [
        "var/lib/cw-agent",
        "var/lib/cw-agent@line1",
        "var/lib/cw-agent@line2",
        "etc/cw-agent",
      ]) {
        expect(existsSync(inRoot(dir))).toBe(false);
      }
    });

    it("of one instance lists only that instance's credentials", () => {
      installed();
      const run = install(["--instance", "line1", "--purge"]);
      expect(run.status).toBe(1);
      expect(run.stdout).toMatch(
        new RegExp(`:\\n  ${escapeRegExp(root)}/var/lib/cw-agent@line1 +cw-agent@line1\\.service\\n`),
      );
      expect(run.stdout).toContain(`--purge deletes the settings: ${root}/etc/cw-agent/cw-agent@line1.env\n`);
      expect(run.stdout).not.toContain("cw-agent@line2");
      expect(existsSync(inRoot("var/lib/cw-agent@line1/cw-agent.db"))).toBe(true);
    });

    it.skipIf(!HAVE_SCRIPT)("asks on a terminal: anything but yes keeps everything", () => {
      const before = installed();
      const onTerminal = (answer: string) =>
        spawnSync("script", ["-qec", `bash ${join(src, "install.sh")} --root ${root} --purge`, "/dev/null"], {
          encoding: "utf8",
          input: `${answer}\n`,
          env: { PATH: `${NODE_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: "C" },
        });
      const no = onTerminal("n");
      expect(no.status).toBe(1);
      expect(no.stdout).toContain("Delete them? [y/N] ");
      expect(no.stdout).toContain("cw-agent install: nothing removed");
      expect(listing(root)).toEqual(before);

      const yes = onTerminal("yes");
      expect(yes.status).toBe(0);
      expect(yes.stdout).toContain(`cw-agent install: removed ${root}/var/lib/cw-agent@line2`);
      expect(existsSync(inRoot("var/lib/cw-agent"))).toBe(false);
    });
  });

  it("--instance installs the template instance's environment file; uninstalling it leaves the rest", () => {
    installOk();
    const run = installOk(["--instance", "line1"]);
    expect(mode(inRoot("etc/cw-agent/cw-agent@line1.env"))).toBe("640");
    // The instance's template with its name: the unit reading it, its commands, its agent name.
    expect(read("etc/cw-agent/cw-agent@line1.env")).toBe(
      readFileSync(join(src, "systemd/cw-agent@.env"), "utf8").replaceAll("%i", "line1"),
    );
    expect(read("etc/cw-agent/cw-agent@line1.env")).toContain("cw-agent settings of cw-agent@line1.service");
    expect(existsSync(inRoot("etc/systemd/system/cw-agent@.service"))).toBe(true);
    expect(run.stdout).toContain(`systemctl --root=${root} enable cw-agent@line1.service`);
    expect(readlinkSync(inRoot("etc/systemd/system/multi-user.target.wants/cw-agent@line1.service"))).toBe(
      "/etc/systemd/system/cw-agent@.service",
    );

    mkdirSync(inRoot("var/lib/cw-agent@line1"), { recursive: true });
    mkdirSync(inRoot("var/lib/cw-agent@line2"), { recursive: true });
    mkdirSync(inRoot("var/cache/cw-agent@line1"), { recursive: true });
    mkdirSync(inRoot("var/cache/cw-agent@line2"), { recursive: true });
    installOk(["--instance", "line1", "--uninstall"]);
    expect(existsSync(inRoot("var/cache/cw-agent@line1"))).toBe(false);
    expect(existsSync(inRoot("var/cache/cw-agent@line2"))).toBe(true);
    expect(existsSync(inRoot("etc/cw-agent/cw-agent@line1.env"))).toBe(true);
    expect(existsSync(inRoot("var/lib/cw-agent@line1"))).toBe(true);

    installOk(["--instance", "line1", "--purge", "--yes"]);
    expect(existsSync(inRoot("etc/cw-agent/cw-agent@line1.env"))).toBe(false);
    expect(existsSync(inRoot("var/lib/cw-agent@line1"))).toBe(false);
    expect(existsSync(inRoot("var/lib/cw-agent@line2"))).toBe(true);
    expect(existsSync(inRoot("etc/cw-agent/cw-agent.env"))).toBe(true);
    expect(existsSync(inRoot("opt/cw-agent/dist/src/cli.js"))).toBe(true);
  });

  it("an instance named like the default agent's files cannot touch them", () => {
    installOk();
    writeFileSync(inRoot("etc/cw-agent/cw-agent.env"), "CYBUS_AGENT_NAME=main\n");
    installOk(["--instance", "cw-agent"]);
    expect(read("etc/cw-agent/cw-agent.env")).toBe("CYBUS_AGENT_NAME=main\n");
    expect(existsSync(inRoot("etc/cw-agent/cw-agent@cw-agent.env"))).toBe(true);
    installOk(["--instance", "cw-agent", "--purge", "--yes"]);
    expect(read("etc/cw-agent/cw-agent.env")).toBe("CYBUS_AGENT_NAME=main\n");
  });

  it("moves instances of the older layout to their own paths, credentials included", () => {
    installOk();
    mkdirSync(inRoot("var/lib/cw-agent/line1"), { recursive: true });
    writeFileSync(inRoot("var/lib/cw-agent/line1/cw-agent.db"), "credentials");
    writeFileSync(inRoot("var/lib/cw-agent/cw-agent.db"), "default agent");
    writeFileSync(inRoot("etc/cw-agent/line1.env"), "CYBUS_MQTT_HOST=cw.plant\n");
    const run = installOk();
    expect(run.stdout).toContain("moved instance line1 to the new layout");
    expect(read("var/lib/cw-agent@line1/cw-agent.db")).toBe("credentials");
    expect(read("etc/cw-agent/cw-agent@line1.env")).toBe("CYBUS_MQTT_HOST=cw.plant\n");
    expect(existsSync(inRoot("var/lib/cw-agent/line1"))).toBe(false);
    expect(existsSync(inRoot("etc/cw-agent/line1.env"))).toBe(false);
    expect(read("var/lib/cw-agent/cw-agent.db")).toBe("default agent");

    const before = listing(root);
    installOk();
    expect(listing(root)).toEqual(before);
  });

  describe("I2C on a Raspberry Pi", () => {
    const BOOKWORM_STUB =
      "DO NOT EDIT THIS FILE\n\nThe file you are looking for has moved to /boot/firmware/config.txt\n";

    function fakePi(configs: Record<string, string>) {
      mkdirSync(inRoot("proc/device-tree"), { recursive: true });
      writeFileSync(inRoot("proc/device-tree/model"), "Raspberry Pi 4 Model B Rev 1.5\0");
      for (const [path, content] of Object.entries(configs)) {
        mkdirSync(dirname(inRoot(path)), { recursive: true });
        writeFileSync(inRoot(path), content);
      }
    }

    function configureDisplay(model: string) {
      installOk();
      appendFileSync(inRoot("etc/cw-agent/cw-agent.env"), `CW_AGENT_DISPLAY_MODEL=${model}\n`);
    }

    it("enables I2C in /boot/firmware/config.txt (Bookworm) once a display is configured", () => {
      fakePi({
        "boot/firmware/config.txt":
          "# Uncomment some or all of these\n#dtparam=i2c_arm=on\n#dtparam=spi=on\n",
        "boot/config.txt": BOOKWORM_STUB,
      });
      installOk();
      expect(read("boot/firmware/config.txt")).toContain("#dtparam=i2c_arm=on");

      configureDisplay("ssd1306");
      const run = installOk();
      expect(run.stdout).toContain(`enabled I2C in ${root}/boot/firmware/config.txt`);
      expect(read("boot/firmware/config.txt")).toBe(
        "# Uncomment some or all of these\ndtparam=i2c_arm=on\n#dtparam=spi=on\n",
      );
      expect(read("boot/config.txt")).toBe(BOOKWORM_STUB);
      expect(read("etc/modules-load.d/cw-agent-i2c.conf")).toBe("i2c-dev\n");

      const before = listing(root);
      installOk();
      expect(listing(root)).toEqual(before);
    });

    it("appends to /boot/config.txt on older releases", () => {
      fakePi({ "boot/config.txt": "dtparam=audio=on\n[pi4]\narm_boost=1\n" });
      configureDisplay("hd44780");
      installOk();
      expect(read("boot/config.txt")).toBe(
        "dtparam=audio=on\n[pi4]\narm_boost=1\n\n[all]\n# Added by cw-agent install.sh for the display\ndtparam=i2c_arm=on\n",
      );
    });

    it("never enables I2C inside a model section: the line must apply to every model", () => {
      const config = "#dtparam=spi=on\n[cm4]\n#dtparam=i2c_arm=on\notg_mode=1\n[pi0]\ndtoverlay=x\n";
      fakePi({ "boot/firmware/config.txt": config });
      configureDisplay("ssd1306");
      const run = installOk();
      expect(run.stdout).toContain("enabled I2C");
      expect(read("boot/firmware/config.txt")).toBe(
        `${config}\n[all]\n# Added by cw-agent install.sh for the display\ndtparam=i2c_arm=on\n`,
      );
      const before = listing(root);
      installOk();
      expect(listing(root)).toEqual(before);
    });

    it("uses a commented line under [all], and repairs an earlier edit that enabled I2C for one model only", () => {
      fakePi({ "boot/firmware/config.txt": "[pi4]\narm_boost=1\n[all]\n#dtparam=i2c_arm=on\n" });
      configureDisplay("ssd1306");
      installOk();
      expect(read("boot/firmware/config.txt")).toBe("[pi4]\narm_boost=1\n[all]\ndtparam=i2c_arm=on\n");

      // What earlier versions did: the first commented line, inside [cm4], switched on.
      const wrong = "#dtparam=spi=on\n[cm4]\ndtparam=i2c_arm=on\n";
      writeFileSync(inRoot("boot/firmware/config.txt"), wrong);
      const run = installOk();
      expect(run.stdout).toContain("enabled I2C");
      expect(read("boot/firmware/config.txt")).toBe(
        `${wrong}\n[all]\n# Added by cw-agent install.sh for the display\ndtparam=i2c_arm=on\n`,
      );
    });

    it("leaves config.txt alone without a physical display or on another machine", () => {
      fakePi({ "boot/firmware/config.txt": "#dtparam=i2c_arm=on\n" });
      configureDisplay("virtual");
      installOk();
      expect(read("boot/firmware/config.txt")).toBe("#dtparam=i2c_arm=on\n");

      rmSync(inRoot("proc"), { recursive: true });
      appendFileSync(inRoot("etc/cw-agent/cw-agent.env"), "CW_AGENT_DISPLAY_MODEL=ssd1306\n");
      installOk();
      expect(read("boot/firmware/config.txt")).toBe("#dtparam=i2c_arm=on\n");
      expect(existsSync(inRoot("etc/modules-load.d"))).toBe(false);
    });
  });

  describe("checks", () => {
    /** A directory with stand-in commands that shadow the real ones on PATH. */
    function fakeBin(commands: Record<string, string>): string {
      const bin = join(base, "bin");
      mkdirSync(bin, { recursive: true });
      for (const [name, script] of Object.entries(commands)) {
        writeFileSync(join(bin, name), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
      }
      return bin;
    }

    it("rejects an unsupported architecture", () => {
      const bin = fakeBin({ uname: "echo mips" });
      const run = install([], `${bin}:${NODE_DIR}:/usr/bin:/bin`);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        "unsupported architecture 'mips'; cw-agent supports: aarch64 armv7l armv6l x86_64",
      );
      expect(readdirSync(root)).toEqual([]);
    });

    it("explains how to get Node.js 20 when node is too old", () => {
      const bin = fakeBin({ node: "echo v18.19.0" });
      const run = install([], `${bin}:/usr/bin:/bin`);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain("Node.js 20 or newer is required (found: v18.19.0)");
      expect(run.stderr).toContain("https://github.com/nodesource/distributions");
      expect(run.stderr).toContain("https://unofficial-builds.nodejs.org");
      expect(readdirSync(root)).toEqual([]);
    });

    it("prints usage for --help, and exits 64 on bad usage", () => {
      const help = install(["--help"]);
      expect(help.status).toBe(0);
      expect(help.stdout).toContain("Usage: install.sh [OPTIONS]");
      const bad = install(["--bogus"]);
      expect(bad.status).toBe(64);
      expect(bad.stderr).toContain("unknown argument: --bogus");
      expect(install(["--instance", "../etc"]).status).toBe(64);
    });
  });
});

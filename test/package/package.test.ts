/**
 * The built .deb packages (npm run package), per architecture: their contents, and the packaged
 * agent itself (its bundled Node.js, under qemu-user for ARM) through register -> pending -> grant
 * -> online -> stop against the simulator, then a restart on the cached credentials.
 *
 * Where CW_AGENT_PACKAGE_ROOT_<ARCH> names a Debian root of that architecture (a chroot with /proc
 * and /dev mounted; for armhf one with Debian's nodejs 20), the package is installed there with
 * dpkg, so the maintainer scripts run too, and upgraded, removed and purged. Otherwise it is only
 * extracted; the armhf package, which runs on Debian's nodejs, then needs CW_AGENT_PACKAGE_NODE_ARMHF:
 * that node (scripts/ci/packages.sh gives Debian trixie's). A package that is missing, or an ARM CPU that cannot be emulated, skips its tests
 * unless CW_AGENT_PACKAGE_REQUIRED lists the architecture (CI does), which turns that into a failure.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { arch as hostArch } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConnectwareSimulator, startSimulator } from "../../scripts/connectware-sim/simulator.js";
import { AgentProcess, FAST_TIMINGS } from "../integration/agent-process.js";
import { storedCredentials } from "../integration/fixtures.js";
import {
  type DebArch,
  debContents,
  debField,
  emulationReady,
  extractPackage,
  packagePath,
  packageVersion,
  withVersion,
} from "./packaged-agent.js";

const REQUIRED = new Set((process.env.CW_AGENT_PACKAGE_REQUIRED ?? "").split(",").filter(Boolean));
/** The node the extracted armhf package runs on, in place of the /usr/bin/node its dependency installs. */
const ARMHF_NODE = process.env.CW_AGENT_PACKAGE_NODE_ARMHF || undefined;
const NATIVE: Record<string, DebArch> = { x64: "amd64", arm64: "arm64", arm: "armhf" };
const QEMU: Record<DebArch, "qemu-aarch64" | "qemu-arm" | undefined> = {
  amd64: undefined,
  arm64: "qemu-aarch64",
  armhf: "qemu-arm",
};

/** How the tests reach the packaged agent: extracted into a directory, or installed in a root. */
interface Installation {
  /** The command line of `cw-agent` (without its arguments). */
  command: string[];
  /** The state directory as the agent sees it, and the same directory as this process sees it. */
  stateDir: { agent: string; host: string };
}

function reasonToSkip(arch: DebArch, deb: string | undefined, root: string | undefined): string | undefined {
  if (!deb)
    return `no dist/packages/cw-agent_${packageVersion()}_${arch}.deb (npm run package -- --arch ${arch})`;
  const qemu = QEMU[arch];
  if (NATIVE[hostArch()] !== arch && qemu && !emulationReady(qemu))
    return `${qemu} is not registered with binfmt_misc`;
  if (arch === "armhf" && !root && !ARMHF_NODE)
    return "neither CW_AGENT_PACKAGE_ROOT_ARMHF (a Debian trixie armhf root) nor CW_AGENT_PACKAGE_NODE_ARMHF (Debian trixie's armhf node) is set";
  if (root && process.getuid?.() !== 0) return "installing into a root needs root";
  return undefined;
}

function agentEnv(sim: ConnectwareSimulator, name: string, stateDir: string): Record<string, string> {
  return {
    ...FAST_TIMINGS,
    // An emulated CPU starts node in about a second; these bound real work, not the test.
    CW_AGENT_REGISTRY_TIMEOUT_MS: "15000",
    CW_AGENT_MQTT_CONNECT_TIMEOUT_MS: "15000",
    CYBUS_AGENT_NAME: name,
    CYBUS_MQTT_HOST: "127.0.0.1",
    CYBUS_MQTT_PORT: String(sim.mqttPort),
    CW_AGENT_REGISTRY_URL: sim.registryHttpUrl,
    CW_AGENT_STATE_DIR: stateDir,
  };
}

/** Runs a cw-agent command without blocking this process, which also hosts the simulator. */
function run(command: string[], args: string[], env: Record<string, string> = {}) {
  const [file, ...rest] = command;
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(file as string, [...rest, ...args], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Pairs a fresh agent and stops it; returns the password it stored. */
async function pairAndStop(sim: ConnectwareSimulator, install: Installation, name: string) {
  const agent = new AgentProcess(
    { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...agentEnv(sim, name, install.stateDir.agent) },
    install.stateDir.host,
    install.command,
  );
  try {
    const line = await agent.waitForMessage("pairing ID (should match in UI)", { timeoutMs: 60_000 });
    const pairingId = /([0-9a-f]{6})$/.exec(line.msg)?.[1];
    expect(pairingId).toBeDefined();
    await agent.waitForState("pending", { timeoutMs: 60_000 });
    sim.grant(pairingId as string);
    await agent.waitForState("online", { timeoutMs: 60_000 });
    expect(sim.mqttClients().map((client) => client.clientId)).toContain(name);
    expect(await agent.kill("SIGTERM")).toBe(0);
    expect(agent.lines.some((l) => l.state === "stopped")).toBe(true);
  } finally {
    await agent.kill("SIGKILL");
  }
  const stored = storedCredentials(install.stateDir.host);
  expect(stored?.password).toBeTruthy();
  // The password is stored, and never printed.
  expect(agent.rawOutput.join("\n")).not.toContain(stored?.password);
  return stored?.password as string;
}

/** Starts on stored credentials: online without asking the registry again. */
async function restartOnline(sim: ConnectwareSimulator, install: Installation, name: string) {
  const callsBefore = sim.registerCalls().length;
  const agent = new AgentProcess(
    { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...agentEnv(sim, name, install.stateDir.agent) },
    install.stateDir.host,
    install.command,
  );
  try {
    await agent.waitForState("online", { timeoutMs: 60_000 });
    expect(await agent.kill("SIGTERM")).toBe(0);
  } finally {
    await agent.kill("SIGKILL");
  }
  expect(sim.registerCalls().length).toBe(callsBefore);
}

for (const arch of ["amd64", "arm64", "armhf"] as const) {
  const deb = packagePath(arch);
  const root = process.env[`CW_AGENT_PACKAGE_ROOT_${arch.toUpperCase()}`] || undefined;
  const skip = reasonToSkip(arch, deb, root);

  if (skip && REQUIRED.has(arch)) {
    it(`package ${arch} is required (CW_AGENT_PACKAGE_REQUIRED)`, () => {
      throw new Error(skip);
    });
    continue;
  }

  describe.skipIf(skip !== undefined)(`package ${arch}${skip ? ` (skipped: ${skip})` : ""}`, () => {
    const version = packageVersion();
    let sim: ConnectwareSimulator;
    let install: Installation;
    let extracted: string | undefined;

    beforeAll(async () => {
      sim = await startSimulator();
      sim.unlock();
      const path = deb as string;
      if (root) {
        execFileSync("chroot", [root, "dpkg", "--purge", "cw-agent"], { stdio: "ignore" });
        copyFileSync(path, join(root, "tmp", "cw-agent.deb"));
        execFileSync("chroot", [root, "dpkg", "-i", "/tmp/cw-agent.deb"], { stdio: "pipe" });
        // What systemd's StateDirectory= would create.
        mkdirSync(join(root, "var/lib/cw-agent"), { recursive: true, mode: 0o700 });
        execFileSync("chroot", [root, "chown", "cw-agent:cw-agent", "/var/lib/cw-agent"]);
        install = {
          command: ["chroot", "--userspec=cw-agent:cw-agent", root, "/usr/bin/cw-agent"],
          stateDir: { agent: "/var/lib/cw-agent", host: join(root, "var/lib/cw-agent") },
        };
      } else {
        extracted = extractPackage(path);
        const launcher = readFileSync(join(extracted, "usr/bin/cw-agent"), "utf8");
        // The launcher names absolute paths; in an extracted tree they are under its root.
        const node = /^node=(\S+)$/m.exec(launcher)?.[1];
        const cli = /^cli=(\S+)$/m.exec(launcher)?.[1];
        expect(node).toBe(arch === "armhf" ? "/usr/bin/node" : "/usr/lib/cw-agent/node/bin/node");
        expect(cli).toBe("/usr/lib/cw-agent/lib/cli.js");
        const relocated = join(extracted, "usr/bin/cw-agent.relocated");
        writeFileSync(
          relocated,
          launcher
            .replace(/^node=.*$/m, `node=${arch === "armhf" ? ARMHF_NODE : join(extracted, node as string)}`)
            .replace(/^cli=.*$/m, `cli=${join(extracted, cli as string)}`),
        );
        const stateDir = join(extracted, "var/lib/cw-agent");
        install = {
          command: ["/bin/sh", relocated],
          stateDir: { agent: stateDir, host: stateDir },
        };
      }
    }, 180_000);

    afterAll(async () => {
      await sim?.close();
      if (extracted) rmSync(extracted, { recursive: true, force: true });
      if (root) {
        spawnSync("chroot", [root, "dpkg", "--purge", "cw-agent"], { stdio: "ignore" });
        rmSync(join(root, "tmp", "cw-agent.deb"), { force: true });
      }
    });

    it("has the Debian layout, the version of package.json and a runtime for its CPU", () => {
      const path = deb as string;
      expect(debField(path, "Package")).toBe("cw-agent");
      expect(debField(path, "Version")).toBe(version);
      expect(debField(path, "Architecture")).toBe(arch);
      const depends = debField(path, "Depends");
      if (arch === "armhf") expect(depends).toMatch(/nodejs \(>= 20\.19\), nodejs \(<< 21\)/);
      else expect(depends).not.toMatch(/nodejs/);
      const files = debContents(path);
      for (const file of [
        "./usr/bin/cw-agent",
        "./usr/lib/cw-agent/lib/cli.js",
        "./usr/lib/cw-agent/package.json",
        "./lib/systemd/system/cw-agent.service",
        "./lib/systemd/system/cw-agent@.service",
        "./lib/systemd/system/cw-agent-boot-config.service",
        "./lib/systemd/system/cw-agent-i2c-refresh.service",
        "./lib/udev/rules.d/60-cw-agent-i2c.rules",
        "./usr/lib/modules-load.d/cw-agent.conf",
        "./etc/cw-agent/cw-agent.env",
        "./usr/share/doc/cw-agent/copyright",
        "./usr/share/man/man8/cw-agent.8.gz",
        "./usr/share/bash-completion/completions/cw-agent",
        "./usr/lib/cw-agent/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
        "./usr/lib/cw-agent/node_modules/i2c-bus/build/Release/i2c.node",
        "./usr/lib/cw-agent/node_modules/epoll/build/Release/epoll.node",
      ]) {
        expect(files).toContain(file);
      }
      expect(files.includes("./usr/lib/cw-agent/node/bin/node")).toBe(arch !== "armhf");
      // Nothing of the source tree, no build trees, no second copy of mqtt or pino.
      expect(
        files.filter((file) => /\/(src|deps|obj\.target)\/|\.ts$|node_modules\/(mqtt|pino)\//.test(file)),
      ).toEqual([]);
      const control = execFileSync(
        "sh",
        ["-c", 'dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./conffiles', "sh", path],
        {
          encoding: "utf8",
        },
      );
      expect(control.trim()).toBe("/etc/cw-agent/cw-agent.env");
    });

    it("`cw-agent --version` prints the version", async () => {
      const result = await run(install.command, ["--version"]);
      expect(result.stderr).toBe("");
      expect(result.stdout.trim()).toBe(version);
      expect(result.status).toBe(0);
    });

    it("the cw-agent launcher keeps node from reading --env-file: the agent reports the missing file", async () => {
      const missing = "/nonexistent/cw-agent-package-test.env";
      for (const args of [
        ["status", "--env-file", missing],
        ["status", `--env-file=${missing}`],
      ]) {
        const result = await run(install.command, args);
        expect(result.stderr).toBe(`cw-agent: cannot read --env-file ${missing}: no such file (ENOENT)\n`);
        expect(result.status).toBe(66);
      }
    });

    it("pairs: register -> pending -> grant -> online -> stop, then starts online on the cached credentials", async () => {
      const name = `pkg-${arch}`;
      const password = await pairAndStop(sim, install, name);
      await restartOnline(sim, install, name);
      expect(storedCredentials(install.stateDir.host)?.password).toBe(password);
    }, 240_000);

    it("`cw-agent check` loads the database and logs in over MQTT", async () => {
      const result = await run(
        install.command,
        ["check"],
        agentEnv(sim, `pkg-${arch}`, install.stateDir.agent),
      );
      expect(result.stdout).toMatch(/^\[ok\] +config /m);
      expect(result.stdout).toMatch(/^\[ok\] +database /m);
      expect(result.stdout).toMatch(/^\[ok\] +credentials /m);
      expect(result.stdout).toMatch(/^\[ok\] +mqtt-login /m);
      expect(result.stdout).not.toMatch(/^\[failed\]/m);
      expect(result.status).toBe(0);
      // The bundle is no node_modules path, so Node warns about deprecated calls its libraries make.
      expect(result.stderr).not.toContain("DeprecationWarning");
    }, 120_000);

    if (root) {
      it("installed with dpkg: service account, settings group, unit enabled", () => {
        expect(readFileSync(join(root, "etc/passwd"), "utf8")).toMatch(
          /^cw-agent:x:\d+:\d+:[^:]*:\/var\/lib\/cw-agent:\/usr\/sbin\/nologin$/m,
        );
        const groups = readFileSync(join(root, "etc/group"), "utf8");
        expect(groups).toMatch(/^gpio:x:\d+:.*\bcw-agent\b/m);
        expect(groups).toMatch(/^i2c:x:\d+:.*\bcw-agent\b/m);
        const gid = /^cw-agent:x:(\d+):/m.exec(groups)?.[1];
        const envFile = statSync(join(root, "etc/cw-agent/cw-agent.env"));
        expect(String(envFile.gid)).toBe(gid);
        expect(envFile.mode & 0o777).toBe(0o640);
        // An absolute link, meaningful inside the root only.
        expect(
          readlinkSync(join(root, "etc/systemd/system/multi-user.target.wants/cw-agent.service")),
        ).toMatch(/^(\/usr)?\/lib\/systemd\/system\/cw-agent\.service$/);
      });

      it("an upgrade keeps edited settings and the credentials: online again without a new pairing", async () => {
        const name = `pkg-${arch}`;
        const envPath = join(root, "etc/cw-agent/cw-agent.env");
        const edited = `${readFileSync(envPath, "utf8")}\nCYBUS_LOG_LEVEL=info\n`;
        writeFileSync(envPath, edited);
        const before = storedCredentials(install.stateDir.host)?.password;
        expect(before).toBeTruthy();
        const next = withVersion(deb as string, `${version}+upgrade1`);
        copyFileSync(next, join(root, "tmp", "cw-agent-next.deb"));
        execFileSync("chroot", [root, "dpkg", "--force-confold", "-i", "/tmp/cw-agent-next.deb"], {
          stdio: "pipe",
        });
        // dpkg-query -W prints "cw-agent<TAB>VERSION".
        expect(
          execFileSync("chroot", [root, "dpkg-query", "-W", "cw-agent"], { encoding: "utf8" }).trim(),
        ).toBe(`cw-agent\t${version}+upgrade1`);
        expect(readFileSync(envPath, "utf8")).toBe(edited);
        await restartOnline(sim, install, name);
        expect(storedCredentials(install.stateDir.host)?.password).toBe(before);
        rmSync(join(root, "tmp", "cw-agent-next.deb"), { force: true });
      }, 240_000);

      it("remove keeps settings and credentials; purge deletes them", () => {
        execFileSync("chroot", [root, "dpkg", "--remove", "cw-agent"], { stdio: "pipe" });
        expect(existsSync(join(root, "usr/lib/cw-agent"))).toBe(false);
        expect(existsSync(join(root, "etc/cw-agent/cw-agent.env"))).toBe(true);
        expect(storedCredentials(install.stateDir.host)?.password).toBeTruthy();
        execFileSync("chroot", [root, "dpkg", "--purge", "cw-agent"], { stdio: "pipe" });
        expect(existsSync(join(root, "etc/cw-agent"))).toBe(false);
        expect(existsSync(join(root, "var/lib/cw-agent"))).toBe(false);
      });
    }
  });
}

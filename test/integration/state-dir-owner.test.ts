import { chownSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/storage/sqlite.js";
import { newStateDir } from "./agent-process.js";
import { agentTestBed, simEnv } from "./fixtures.js";

const bed = agentTestBed();
beforeAll(() => bed.sim.unlock());
const isRoot = process.geteuid?.() === 0;

describe("the state directory belongs to the service user", () => {
  const umask = process.umask();
  afterEach(() => {
    process.umask(umask);
  });

  it.skipIf(!isRoot)(
    "root refuses a state directory another user owns, names both users and the fix, and creates nothing there",
    async () => {
      const stateDir = newStateDir();
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      chownSync(stateDir, 65534, 65534);
      const agent = bed.start(simEnv(bed.sim, "gw-owner"), stateDir);
      expect(await agent.exited).toBe(73);
      const fatal = agent.lines.filter((line) => line.level === 60);
      expect(fatal).toHaveLength(1);
      expect(fatal[0]?.msg).toMatch(
        /belongs to (nobody \()?uid 65534\)?, but this process runs as (root \()?uid 0/,
      );
      expect(fatal[0]?.msg).toContain("sudo -u");
      expect(fatal[0]?.msg).toContain("systemctl start cw-agent");
      expect(readdirSync(stateDir)).toEqual([]);
    },
  );

  it("every file in the state directory is owner-only, even under umask 000", async () => {
    process.umask(0);
    const stateDir = newStateDir();
    const agent = bed.start(simEnv(bed.sim, "gw-umask"), stateDir);
    await agent.waitForState("pending");
    const files = readdirSync(stateDir);
    expect(files).toEqual(expect.arrayContaining(["agent.lock", "agent.pid", "cw-agent.db"]));
    const loose = files.filter((name) => (statSync(join(stateDir, name)).mode & 0o077) !== 0);
    expect(loose).toEqual([]);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
  });

  it("a pid file that cannot be written is a warning, not a failed start", async () => {
    const stateDir = newStateDir();
    mkdirSync(join(stateDir, "agent.pid"), { recursive: true });
    const agent = bed.start(simEnv(bed.sim, "gw-pidfile"), stateDir);
    const warning = await agent.waitForMessage("Cannot write the pid file");
    expect(warning.level).toBe(40);
    await agent.waitForState("pending");
    expect(await agent.kill("SIGTERM")).toBe(0);
  });

  it("a database from a newer version exits with its own code, which systemd does not restart", async () => {
    const stateDir = newStateDir();
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const database = openDatabase(join(stateDir, "cw-agent.db"));
    database.exec("PRAGMA user_version = 999");
    database.close();
    const agent = bed.start(simEnv(bed.sim, "gw-newer"), stateDir);
    expect(await agent.exited).toBe(65);
    expect(agent.lines.find((line) => line.level === 60)?.msg).toContain(
      "newer than this cw-agent understands",
    );
  });
});

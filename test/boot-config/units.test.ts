import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const UNIT_DIR = new URL("../../systemd/", import.meta.url).pathname;
const HAVE_ANALYZE = spawnSync("systemd-analyze", ["--version"]).status === 0;
const UNITS = ["cw-agent-boot-config.service", "cw-agent-i2c-refresh.service"];

describe("flash-and-go units", () => {
  it("the boot configuration runs before the agent, at boots where cw-agent.txt exists", () => {
    const unit = readFileSync(join(UNIT_DIR, "cw-agent-boot-config.service"), "utf8");
    expect(unit).toMatch(/^Before=cw-agent\.service$/m);
    expect(unit).toMatch(/^ConditionPathExists=\|\/boot\/firmware\/cw-agent\.txt$/m);
    expect(unit).toMatch(/^ConditionPathExists=\|\/boot\/cw-agent\.txt$/m);
    expect(unit).toMatch(
      /^ExecStart=\/usr\/bin\/node \/opt\/cw-agent\/dist\/src\/cli\.js apply-boot-config$/m,
    );
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
  });

  it("udev starts the I2C refresh for every new /dev/i2c-N", () => {
    const rules = readFileSync(join(UNIT_DIR, "cw-agent-i2c.rules"), "utf8");
    expect(rules).toMatch(
      /^ACTION=="add", SUBSYSTEM=="i2c-dev", TAG\+="systemd", ENV\{SYSTEMD_WANTS\}\+="cw-agent-i2c-refresh\.service"$/m,
    );
  });
});

describe.skipIf(!HAVE_ANALYZE)("systemd-analyze verify", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cw-agent-units-"));
    for (const name of UNITS) {
      const unit = readFileSync(join(UNIT_DIR, name), "utf8");
      writeFileSync(
        join(dir, name),
        unit.replace("ExecStart=/usr/bin/node ", `ExecStart=${process.execPath} `),
      );
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(UNITS)("%s: no errors, no warnings", (unit) => {
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, unit)], {
      encoding: "utf8",
    });
    const ours = result.stderr.split("\n").filter((line) => line.includes("cw-agent"));
    expect(ours).toEqual([]);
  });
});

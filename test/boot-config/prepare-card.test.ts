import { spawnSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const SCRIPT = new URL("../../scripts/prepare-card", import.meta.url).pathname;
const CMDLINE =
  "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait\n";
/** The end of a firstrun.sh as Raspberry Pi Imager writes it. */
const IMAGER_FIRSTRUN = `#!/bin/bash
set +e
CURRENT_HOSTNAME=\`cat /etc/hostname | tr -d " \\t\\n\\r"\`
rm -f /boot/firstrun.sh
sed -i 's| systemd.run.*||g' /boot/cmdline.txt
exit 0
`;
const hasMtools = spawnSync("sh", ["-c", "command -v mcopy && command -v mformat"]).status === 0;

describe("prepare-card", () => {
  let dir: string;
  let boot: string;
  let deb: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "cw-prepare-card-"));
    boot = join(dir, "bootfs");
    mkdirSync(boot);
    writeFileSync(join(boot, "cmdline.txt"), CMDLINE);
    writeFileSync(join(boot, "config.txt"), "dtparam=audio=on\n");
    writeFileSync(join(boot, "issue.txt"), "Raspberry Pi reference 2024-11-19\n");
    deb = join(dir, "cw-agent_0.1.0_arm64.deb");
    writeFileSync(deb, "not really a package");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const prepare = (...args: string[]) => spawnSync(SCRIPT, args, { encoding: "utf8" });
  const read = (name: string) => readFileSync(join(boot, name), "utf8");

  it("an image Imager did not customise: its own firstrun.sh, systemd.run= on the one line of cmdline.txt", () => {
    const result = prepare(
      "--boot",
      boot,
      "--package",
      deb,
      "--set",
      "CYBUS_AGENT_NAME=press-7",
      "--set",
      "CYBUS_MQTT_HOST=cw",
    );
    expect(result.status, result.stderr).toBe(0);
    expect(read("cmdline.txt")).toBe(
      `${CMDLINE.trim()} systemd.run=/boot/firmware/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n`,
    );
    expect(read("firstrun.sh")).toContain("cw-agent/firstboot.sh");
    expect(read("cw-agent/cw-agent_0.1.0_arm64.deb")).toBe("not really a package");
    expect(read("cw-agent/firstboot.sh")).toContain("dpkg -i");
    expect(read("cw-agent.txt")).toContain("CYBUS_AGENT_NAME=press-7\r\nCYBUS_MQTT_HOST=cw\r\n");
    // A second run adds nothing twice.
    expect(prepare("--boot", boot, "--package", deb).status).toBe(0);
    expect(read("cmdline.txt").match(/systemd\.run=/g)).toHaveLength(1);
  });

  it("Imager's firstrun.sh: the installation goes before the line that deletes the script", () => {
    writeFileSync(join(boot, "firstrun.sh"), IMAGER_FIRSTRUN);
    writeFileSync(
      join(boot, "cmdline.txt"),
      `${CMDLINE.trim()} systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n`,
    );
    const result = prepare("--boot", boot, "--package", deb);
    expect(result.status, result.stderr).toBe(0);
    const lines = read("firstrun.sh").split("\n");
    const hook = lines.findIndex((line) => line.includes("cw-agent/firstboot.sh"));
    expect(hook).toBeGreaterThan(0);
    expect(lines[hook + 1]).toBe("rm -f /boot/firstrun.sh");
    expect(read("cmdline.txt").match(/systemd\.run=/g)).toHaveLength(1);
  });

  it("a cloud-init image: a runcmd entry in user-data, after an existing runcmd key", () => {
    writeFileSync(join(boot, "meta-data"), "instance_id: rpios-image\n");
    writeFileSync(
      join(boot, "user-data"),
      "#cloud-config\r\nhostname: press7\r\nruncmd:\r\n  - [ echo, hi ]\r\n",
    );
    expect(prepare("--boot", boot, "--package", deb).status).toBe(0);
    const data = read("user-data").split("\n");
    expect(data.slice(0, 3)).toEqual(["#cloud-config", "hostname: press7", "runcmd:"]);
    expect(data[3]).toMatch(
      /^ {2}- \[sh, -c, 'for d in .*cw-agent\/firstboot\.sh.*'\] {2}# cw-agent offline/,
    );
    expect(data[4]).toBe("  - [ echo, hi ]");
  });

  it("refuses when it cannot tell the mechanism, and changes nothing", () => {
    writeFileSync(join(boot, "firstrun.sh"), IMAGER_FIRSTRUN);
    writeFileSync(join(boot, "meta-data"), "instance_id: x\n");
    const several = prepare("--boot", boot, "--package", deb);
    expect(several.status).toBe(1);
    expect(several.stderr).toContain("several first-boot mechanisms (firstrun cloud-init)");
    rmSync(join(boot, "firstrun.sh"));
    rmSync(join(boot, "meta-data"));
    rmSync(join(boot, "issue.txt"));
    const unknown = prepare("--boot", boot, "--package", deb);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("cannot tell which first-boot mechanism");
    rmSync(join(boot, "cmdline.txt"));
    expect(prepare("--boot", boot, "--package", deb).stderr).toContain("not a Raspberry Pi boot partition");
    writeFileSync(join(boot, "cmdline.txt"), `${CMDLINE.trim()} systemd.run=/boot/other.sh\n`);
    expect(prepare("--boot", boot, "--package", deb).stderr).toContain("refusing to guess");
    writeFileSync(join(boot, "cmdline.txt"), CMDLINE);
    writeFileSync(join(boot, "rpi-preseed.toml"), 'config_version = "1.1"\n');
    expect(prepare("--boot", boot, "--package", deb).stderr).toContain("[runcmd] late");
    expect(() => read("cw-agent.txt")).toThrow();
  });

  it.skipIf(!hasMtools)(
    "a whole-disk image: the FAT partition found through the MBR, edited with mtools",
    () => {
      const image = join(dir, "raspios.img");
      const offset = 8192 * 512;
      writeFileSync(image, "");
      spawnSync("truncate", ["-s", `${offset + 64 * 1024 * 1024}`, image]);
      const fd = openSync(image, "r+");
      const entry = Buffer.alloc(16);
      entry[4] = 0x0c; // FAT32 LBA
      entry.writeUInt32LE(8192, 8);
      entry.writeUInt32LE(64 * 2048, 12);
      writeSync(fd, entry, 0, 16, 446);
      writeSync(fd, Buffer.from([0x55, 0xaa]), 0, 2, 510);
      closeSync(fd);
      const env = { ...process.env, MTOOLS_SKIP_CHECK: "1" };
      const spec = `${image}@@${offset}`;
      expect(spawnSync("mformat", ["-i", spec, "-F", "-v", "bootfs", "::"], { env }).status).toBe(0);
      for (const name of ["cmdline.txt", "config.txt", "issue.txt"]) {
        expect(spawnSync("mcopy", ["-i", spec, join(boot, name), "::"], { env }).status).toBe(0);
      }
      const result = prepare("--image", image, "--package", deb, "--set", "CYBUS_MQTT_HOST=cw");
      expect(result.status, result.stderr).toBe(0);
      const cmdline = spawnSync("mtype", ["-i", spec, "::cmdline.txt"], { env, encoding: "utf8" }).stdout;
      expect(cmdline).toContain("systemd.run=/boot/firmware/firstrun.sh");
      const listing = spawnSync("mdir", ["-i", spec, "-b", "::cw-agent"], { env, encoding: "utf8" }).stdout;
      expect(listing).toContain("cw-agent_0.1.0_arm64.deb");
    },
  );
});

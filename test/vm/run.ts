/**
 * `npm run test:vm`: the installed system under real systemd as PID 1. Boots a Debian guest under
 * QEMU (TCG) with no network device, prepares its boot partition with scripts/prepare-card, and
 * reads the guest driver's PASS/FAIL lines from the serial console. See docs/flash-and-go.md.
 *
 *   node dist/test/vm/run.js [--cuts N] [--seed N] [--package FILE.deb] [--keep] [--console]
 *
 * --package installs that amd64 .deb (e.g. one CI built already) instead of building one.
 *
 * Skips (exit 0) where QEMU, debootstrap, mtools or nbdkit are missing, except under CI (CI set),
 * where that is a failure.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const HERE = join(ROOT, "test", "vm");
const GUEST = join(HERE, "guest");

const { values: flags } = parseArgs({
  options: {
    cuts: { type: "string", default: "10" },
    seed: { type: "string" },
    package: { type: "string" },
    keep: { type: "boolean", default: false },
    console: { type: "boolean", default: false },
  },
});
const CUTS = Number(flags.cuts);
let seed = Number(flags.seed ?? Math.floor(Math.random() * 2 ** 31));
const SEED = seed;
/** Park–Miller: the cut moments are reproducible from the printed seed. */
function random(): number {
  seed = (seed * 48271) % 2147483647 || 1;
  return seed / 2147483647;
}

const started = Date.now();
const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;
const results: { name: string; ok: boolean; time: string; detail: string }[] = [];
function record(ok: boolean, name: string, time: string, detail = ""): void {
  results.push({ name, ok, time, detail });
  console.log(`${ok ? "PASS" : "FAIL"} ${name} ${time} ${detail}`);
}

// --- tools ------------------------------------------------------------------------------------------

const REQUIRED: Record<string, string> = {
  "qemu-system-x86_64": "qemu-system-x86",
  debootstrap: "debootstrap",
  mcopy: "mtools",
  mkfs: "e2fsprogs",
  nbdkit: "nbdkit",
  "dpkg-deb": "dpkg",
};
const missing = Object.entries(REQUIRED)
  .filter(([tool]) => {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  })
  .map(([, pkg]) => pkg);
if (missing.length > 0 || process.getuid?.() !== 0) {
  const reason =
    missing.length > 0
      ? `missing ${missing.join(", ")} (apt-get install ${missing.join(" ")})`
      : "building the guest image (debootstrap) needs root";
  if (process.env.CI) {
    console.error(`test:vm: cannot run in CI: ${reason}`);
    process.exit(1);
  }
  console.log(`test:vm: skipped: ${reason}`);
  process.exit(0);
}

function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; quiet?: boolean } = {},
): string {
  const { quiet, ...rest } = options;
  return execFileSync(command, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", quiet ? "ignore" : "inherit"],
    maxBuffer: 64 * 1024 * 1024,
    ...rest,
  }).trim();
}

// --- image, package, disks ----------------------------------------------------------------------------

let t = Date.now();
const image = run("nice", ["-n", "10", join(HERE, "build-image.sh")]);
record(true, "image", elapsed(t), image);

const work = mkdtempSync(join(tmpdir(), "cw-agent-vm-"));
t = Date.now();
const packageBuilder = join(ROOT, "scripts", "package", "build.sh");
/** What the package must carry for flash-and-go; without it the boots use the stand-in. */
const FLASH_AND_GO_FILES = [
  "./lib/systemd/system/cw-agent-boot-config.service",
  "./lib/systemd/system/cw-agent-i2c-refresh.service",
  "./lib/udev/rules.d/60-cw-agent-i2c.rules",
  "./usr/lib/modules-load.d/cw-agent.conf",
];
let deb: string | undefined;
let built: string | undefined;
if (flags.package !== undefined) {
  mkdirSync(join(work, "packages"));
  cpSync(flags.package, join(work, "packages", basename(flags.package)));
  built = basename(flags.package);
} else if (existsSync(packageBuilder)) {
  try {
    run("nice", ["-n", "10", "bash", packageBuilder, "--arch", "amd64", "--out", join(work, "packages")]);
    built = readdirSync(join(work, "packages")).find((name) => /_amd64\.deb$/.test(name));
    if (built === undefined) record(false, "package", elapsed(t), "the package build made no amd64 .deb");
  } catch (error) {
    record(
      false,
      "package",
      elapsed(t),
      `the package build failed: ${(error as Error).message.split("\n")[0]}`,
    );
  }
}
if (built !== undefined) {
  const contents = run("dpkg-deb", ["-c", join(work, "packages", built)]);
  const absent = FLASH_AND_GO_FILES.filter((file) => !contents.includes(` ${file}`));
  record(
    absent.length === 0,
    "package",
    elapsed(t),
    absent.length === 0 ? built : `${built} lacks ${absent.join(", ")}`,
  );
  if (absent.length === 0) deb = join(work, "packages", built);
}
if (deb === undefined) {
  t = Date.now();
  deb = run(join(HERE, "stand-in-package.sh"), [join(work, "stand-in")]);
  record(
    true,
    "stand-in-package",
    elapsed(t),
    `${deb.replace(work, "<work>")}: the boots install this instead`,
  );
}

t = Date.now();
const rootDisk = join(work, "root.raw");
run("cp", ["--sparse=always", join(image, "rootfs.raw"), rootDisk]);

// The harness's own files: driver, simulator and the tools the driver calls, with this node.
const payload = join(work, "payload");
const tools = join(payload, "tools");
mkdirSync(join(tools, "dist", "test", "vm"), { recursive: true });
for (const file of ["driver.sh", "early.sh"]) cpSync(join(GUEST, file), join(payload, file));
cpSync(process.execPath, join(payload, "node"));
cpSync(join(ROOT, "package.json"), join(tools, "package.json"));
cpSync(join(ROOT, "dist", "src"), join(tools, "dist", "src"), { recursive: true });
cpSync(join(ROOT, "dist", "scripts", "connectware-sim"), join(tools, "dist", "scripts", "connectware-sim"), {
  recursive: true,
});
cpSync(join(ROOT, "dist", "test", "vm", "guest"), join(tools, "dist", "test", "vm", "guest"), {
  recursive: true,
});
cpSync(
  join(ROOT, "scripts", "connectware-sim", "certs"),
  join(tools, "scripts", "connectware-sim", "certs"),
  {
    recursive: true,
  },
);
const DEV_ONLY =
  /^(@biomejs|typescript|@rolldown|rolldown|lightningcss.*|vite|vitest|@vitest|esbuild|@esbuild|@types)$/;
for (const entry of readdirSync(join(ROOT, "node_modules"))) {
  if (DEV_ONLY.test(entry) || entry === ".bin") continue;
  cpSync(join(ROOT, "node_modules", entry), join(tools, "node_modules", entry), { recursive: true });
}
const payloadDisk = join(work, "payload.ext4");
run("truncate", ["-s", "512M", payloadDisk]);
run("mkfs.ext4", ["-q", "-F", "-L", "vmtest", "-d", payload, payloadDisk]);

// The card: a FAT partition as Raspberry Pi OS ships it, prepared as a technician would.
const bootDisk = join(work, "boot.fat");
const mtools = { env: { ...process.env, MTOOLS_SKIP_CHECK: "1" } };
run("truncate", ["-s", "256M", bootDisk]);
run("mformat", ["-i", bootDisk, "-F", "-v", "bootfs", "::"], mtools);
const cardFiles = join(work, "card");
mkdirSync(cardFiles);
writeFileSync(
  join(cardFiles, "cmdline.txt"),
  "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait\n",
);
writeFileSync(join(cardFiles, "config.txt"), "[all]\ndtparam=i2c_arm=on\n");
writeFileSync(join(cardFiles, "issue.txt"), "Raspberry Pi reference (VM test stand-in)\n");
run(
  "mcopy",
  ["-i", bootDisk, ...["cmdline.txt", "config.txt", "issue.txt"].map((f) => join(cardFiles, f)), "::"],
  mtools,
);
const settings = {
  CYBUS_AGENT_NAME: "vm-gateway-1",
  CYBUS_MQTT_HOST: "127.0.0.1",
  CYBUS_MQTT_SCHEME: "mqtts",
  CYBUS_MQTT_PORT: "8883",
  CW_AGENT_REGISTRY_URL: "https://127.0.0.1:8443",
  CW_AGENT_DISPLAY_MODEL: "ssd1306",
  CW_AGENT_DISPLAY_I2C_BUS: "0",
  CW_AGENT_DISPLAY_ADDRESS: "0x3c",
  // Short backoffs keep the boots short: the simulator starts with the guest.
  CW_AGENT_REGISTRY_RETRY_MAX_MS: "2000",
  CW_AGENT_RECONNECT_MAX_MS: "2000",
};
run(join(ROOT, "scripts", "prepare-card"), [
  "--image",
  bootDisk,
  "--package",
  deb,
  "--ca",
  join(ROOT, "scripts", "connectware-sim", "certs", "ca.pem"),
  ...Object.entries(settings).flatMap(([key, value]) => ["--set", `${key}=${value}`]),
]);
const card = (file: string) => {
  try {
    // Asking for a file that is gone is how its absence is checked: no message for that.
    return run("mtype", ["-i", bootDisk, `::${file}`], { ...mtools, quiet: true });
  } catch {
    return undefined;
  }
};
record(true, "disks", elapsed(t), `prepared card, payload, root disk`);

// --- booting ------------------------------------------------------------------------------------------

interface Boot {
  seconds: number;
  lines: string[];
  /** Killed by the harness (a power cut) rather than powered off by the guest. */
  cut: boolean;
  timedOut: boolean;
  end?: string;
}

const qemuAppendBase =
  "root=/dev/vda rw console=ttyS0 quiet loglevel=3 systemd.show_status=0 mitigations=off";

/**
 * One boot. The root disk goes through nbdkit's cache filter in writeback mode: writes the guest has
 * not flushed stay in nbdkit's memory and are gone when the harness kills nbdkit, while everything
 * the guest flushed (fsync, journal commits, FUA) is on root.raw. That is a disk with a volatile
 * write cache losing power. QEMU's own cache modes cannot show it: killing QEMU leaves every
 * completed write in the host's page cache, flushed or not.
 */
async function boot(
  step: string,
  options: { timeoutS: number; cutAfter?: string; cutWithinS?: number },
): Promise<Boot> {
  const socket = join(work, "root.sock");
  rmSync(socket, { force: true });
  const nbd = spawn(
    "nbdkit",
    ["--foreground", "--unix", socket, "--filter=cache", "file", `file=${rootDisk}`, "cache=writeback"],
    { stdio: "inherit", env: { ...process.env, TMPDIR: work } },
  );
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  const systemdWords = (card("cmdline.txt") ?? "").split(/\s+/).filter((word) => word.startsWith("systemd."));
  const append = [qemuAppendBase, `cwtest.step=${step}`, ...systemdWords].join(" ");
  const begin = Date.now();
  const qemu = spawn(
    "qemu-system-x86_64",
    [
      ...["-accel", "tcg,thread=multi", "-m", "1024", "-smp", "2", "-nic", "none"],
      ...["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"],
      ...["-kernel", join(image, "vmlinuz"), "-initrd", join(image, "initrd.img"), "-append", append],
      ...["-drive", `file=nbd:unix:${socket},format=raw,if=virtio,cache=writeback`],
      ...["-drive", `file=${bootDisk},format=raw,if=virtio`],
      ...["-drive", `file=${payloadDisk},format=raw,if=virtio,readonly=on`],
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const result: Boot = { seconds: 0, lines: [], cut: false, timedOut: false };
  const kill = (processes: ChildProcess[]) => {
    for (const child of processes) child.kill("SIGKILL");
  };
  const timer = setTimeout(() => {
    result.timedOut = true;
    kill([qemu, nbd]);
  }, options.timeoutS * 1000);
  const lines = createInterface({ input: qemu.stdout });
  lines.on("line", (raw) => {
    const line = raw.replace(/\r$/, "");
    const stamp = `[${elapsed(begin).padStart(6)}]`;
    if (line.startsWith("VMTEST") || flags.console) console.log(`  ${stamp} ${line}`);
    if (!line.startsWith("VMTEST")) return;
    result.lines.push(line);
    if (line.startsWith("VMTEST END")) result.end = line;
    if (options.cutAfter !== undefined && line === `VMTEST PHASE ${options.cutAfter}`) {
      const delay = random() * (options.cutWithinS ?? 3) * 1000;
      setTimeout(() => {
        result.cut = true;
        console.log(
          `  [${elapsed(begin).padStart(6)}] power cut ${(delay / 1000).toFixed(2)}s after ${options.cutAfter}`,
        );
        kill([qemu, nbd]);
      }, delay);
    }
  });
  await new Promise<void>((resolve) => qemu.on("exit", () => resolve()));
  clearTimeout(timer);
  if (!result.cut && nbd.exitCode === null) {
    // A clean poweroff flushed the disk; nbdkit writes its cache back on the guest's flushes.
    nbd.kill("SIGTERM");
  }
  await new Promise<void>((resolve) =>
    nbd.exitCode !== null || nbd.signalCode !== null ? resolve() : nbd.on("exit", () => resolve()),
  );
  result.seconds = (Date.now() - begin) / 1000;
  return result;
}

/** Takes the guest's PASS/FAIL lines into the results; a boot that did not finish is a failure. */
function collect(step: string, result: Boot, expected: readonly string[]): void {
  const seen = new Set<string>();
  for (const line of result.lines) {
    const match = /^VMTEST (PASS|FAIL|SKIP) (\S+) (\S+) ?(.*)$/.exec(line);
    if (!match) continue;
    seen.add(match[2] ?? "");
    // A check the guest cannot make says why; it neither passes nor fails.
    if (match[1] === "SKIP") continue;
    results.push({
      name: match[2] ?? "",
      ok: match[1] === "PASS",
      time: match[3] ?? "",
      detail: match[4] ?? "",
    });
  }
  for (const name of expected) {
    if (!seen.has(name)) record(false, name, "-", `no result from the guest (boot ${step})`);
  }
  if (result.timedOut) record(false, `boot-${step}`, `${result.seconds.toFixed(1)}s`, "timed out");
  else if (!result.cut && result.end === undefined && step !== "firstrun") {
    record(false, `boot-${step}`, `${result.seconds.toFixed(1)}s`, "the driver did not finish");
  } else {
    record(
      true,
      `boot-${step}`,
      `${result.seconds.toFixed(1)}s`,
      result.end ?? (result.cut ? "power cut" : ""),
    );
  }
}

// Boot 1: the image's first-boot mechanism (systemd.run= from cmdline.txt) installs the package.
let result = await boot("firstrun", { timeoutS: 420 });
collect("firstrun", result, []);
const log = card("cw-agent/firstboot.log") ?? "";
record(
  /^installed: /m.test(log) &&
    !(card("cmdline.txt") ?? "").includes("systemd.run") &&
    card("firstrun.sh") === undefined,
  "1-firstboot-offline-install",
  `${result.seconds.toFixed(1)}s`,
  log.split("\n").filter(Boolean).slice(-1)[0] ?? "no cw-agent/firstboot.log on the card",
);

// Boot 2: scenario 1 (the configured, sandboxed agent waits for authorization) and 2 (grant, watchdog).
result = await boot("first", { timeoutS: 480 });
collect("first", result, [
  "1-package-installed",
  "1-boot-config-applied",
  "1-boot-config-before-agent",
  "1-status-pending",
  "1-sandbox",
  "1-display-shows-pairing-id",
  "1-journal-warnings-only",
  "1-status-led-blinks",
  "2-online-after-grant",
  "2-watchdog-restart",
  "2-same-credentials",
]);

// Boot 3: scenario 3 (reboot) with scenario 5's invalid file, saved on Windows, on the card.
const invalid = join(work, "cw-agent.txt");
writeFileSync(
  invalid,
  "\uFEFF# edited on a laptop\r\nCYBUS_MQTT_PORT=70000\r\nCYBUS_MQTT_PASSWORD=hunter2\r\n",
);
run("mcopy", ["-o", "-i", bootDisk, invalid, "::cw-agent.txt"], mtools);
result = await boot("reboot", { timeoutS: 300 });
collect("reboot", result, [
  "3-online-after-reboot",
  "3-same-credentials",
  "5-invalid-file-renamed",
  "5-errors-name-lines",
  "5-previous-config-kept",
  "5-display-shows-rejection",
]);
const invalidOnCard = card("cw-agent.txt.invalid") ?? "";
record(
  invalidOnCard.includes("CYBUS_MQTT_PASSWORD=") && !invalidOnCard.includes("hunter2"),
  "5-secret-blanked-on-card",
  "-",
  invalidOnCard.split(/\r?\n/)[2] ?? "",
);

// Scenario 4: power cuts at moments that matter, each checked by the next boot.
// `recorded` is what the driver writes down before the cut and names its check after.
const MOMENTS: { phase: string; withinS: number; recorded: string }[] = [
  { phase: "registering", withinS: 3, recorded: "registering" },
  { phase: "pending", withinS: 4, recorded: "pending" },
  { phase: "granted", withinS: 2, recorded: "granting" },
  { phase: "online", withinS: 4, recorded: "granted" },
];
const verifiedAfter = (cut: number) => [`4-db-intact-after-cut-${MOMENTS[cut % MOMENTS.length]?.recorded}`];
for (let cut = 0; cut < CUTS; cut++) {
  const moment = MOMENTS[cut % MOMENTS.length] ?? MOMENTS[0];
  if (moment === undefined) break;
  // The last cut's boot also arms scenario 6, so that the next boot both verifies that cut and
  // starts the agent without an I2C bus: one boot fewer.
  const last = cut === CUTS - 1 ? ".last" : "";
  result = await boot(`cut-${moment.phase}${last}`, {
    timeoutS: 300,
    cutAfter: moment.phase,
    cutWithinS: moment.withinS,
  });
  collect(`cut-${moment.phase}`, result, cut === 0 ? [] : verifiedAfter(cut - 1));
  if (!result.cut) record(false, `4-power-cut-${cut + 1}`, "-", `the guest never reached ${moment.phase}`);
}
if (CUTS === 0) {
  result = await boot("final", { timeoutS: 300 });
  collect("final", result, []);
}

// Scenarios 6 (i2c-dev loaded only after the agent started) and 7 (remove, purge).
result = await boot("i2c-late", { timeoutS: 420 });
collect("i2c-late", result, [
  ...(CUTS > 0 ? verifiedAfter(CUTS - 1) : []),
  "6-agent-started-without-bus",
  "6-display-recovers-without-restart",
  "6-check-reports-agent-display",
  "7-remove-keeps-state",
  "7-purge-removes-state",
]);

// --- summary ----------------------------------------------------------------------------------------

const failed = results.filter((entry) => !entry.ok);
console.log(
  `\ntest:vm: ${results.length - failed.length} passed, ${failed.length} failed, ${CUTS} power cuts (seed ${SEED}), ${elapsed(started)} in all`,
);
for (const entry of failed) console.log(`  FAIL ${entry.name}: ${entry.detail}`);
if (flags.keep) console.log(`test:vm: kept ${work}`);
else rmSync(work, { recursive: true, force: true });
process.exit(failed.length > 0 ? 1 : 0);

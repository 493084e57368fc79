/**
 * Measures what the indicators cost:
 *  1. CPU time of an agent-like process over a window (default 60 s) in the pending state
 *     (status LED blinking in software, registry polled every 2 s, virtual display drawing),
 *     next to the same process online (steady LED, nothing scheduled) and an idle Node process.
 *  2. I2C transfers and bytes written per state change for SSD1306, SH1106 and a 16x2 HD44780.
 *
 *   npx tsc -p . && node dist/scripts/bench-indicators.js [--seconds 60]
 */
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { devNull, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { loadIndicatorConfig } from "../src/indicators/config.js";
import { Bitmap } from "../src/indicators/display/bitmap.js";
import type { Display } from "../src/indicators/display/display.js";
import { Hd44780Display } from "../src/indicators/display/hd44780.js";
import type { I2cBus } from "../src/indicators/display/i2c.js";
import { OledDisplay } from "../src/indicators/display/oled.js";
import { renderLcdScreen, renderOledScreen } from "../src/indicators/display/screens.js";
import { Indicators } from "../src/indicators/index.js";
import type { DigitalLineOpener } from "../src/indicators/leds/gpio-led.js";
import { realTimers, type Timers } from "../src/indicators/timers.js";
import type { AgentState, AgentStatus } from "../src/lifecycle/lifecycle.js";

type Scenario = "idle" | "pending" | "online";

const identity = {
  agentName: "press-line-4",
  username: "press-line-4",
  broker: "connectware.plant.local:1883",
  registry: "https://connectware.plant.local",
};

function statusIn(state: AgentState, extra: Partial<AgentStatus> = {}): AgentStatus {
  return { ...identity, state, since: Date.now(), ...extra };
}

/** Child process: runs one scenario and prints its CPU time as JSON. */
async function runScenario(scenario: Scenario, seconds: number): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), "cw-agent-bench-"));
  const terminalFd = openSync(devNull, "w");
  // Each LED write is a real write(2) to a file, as onoff does to /sys/class/gpio/gpioN/value.
  let ledWrites = 0;
  const openLine: DigitalLineOpener = async (sysfsNumber) => {
    const fd = openSync(join(directory, `gpio${sysfsNumber}`), "w");
    return {
      write: (level) => {
        ledWrites++;
        writeSync(fd, level === 1 ? "1" : "0", 0);
      },
      release: () => closeSync(fd),
    };
  };
  const indicators =
    scenario === "idle"
      ? undefined
      : new Indicators(
          loadIndicatorConfig({
            CW_AGENT_LED_STATUS: "gpio:17",
            CW_AGENT_LED_FAULT: "gpio:27",
            CW_AGENT_GPIO_BASE: "512",
            CW_AGENT_DISPLAY_MODEL: "virtual",
          }),
          pino({ level: "warn" }),
          { openDigitalLine: openLine, terminal: { write: (text) => writeSync(terminalFd, text) } },
        );
  await indicators?.start();
  const state = scenario === "pending" ? "pending" : "online";
  const details = scenario === "pending" ? { pairingId: "7f3a9c", nextAttemptAt: Date.now() + 2000 } : {};
  indicators?.observe(statusIn(state, details), undefined);
  // The registry is polled every 2 s while pending: each poll is a pending -> pending transition.
  const poll =
    scenario === "pending"
      ? setInterval(
          () =>
            indicators?.observe(
              statusIn("pending", { ...details, nextAttemptAt: Date.now() + 2000 }),
              undefined,
            ),
          2000,
        )
      : undefined;

  // Let the first frame, lazy compilation and module loading finish outside the window.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = process.cpuUsage();
  const startedAt = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const used = process.cpuUsage(before);
  const elapsedMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
  if (poll !== undefined) clearInterval(poll);
  await indicators?.stop();
  closeSync(terminalFd);
  rmSync(directory, { recursive: true, force: true });
  process.stdout.write(
    `${JSON.stringify({ scenario, elapsedMs, userMs: used.user / 1000, systemMs: used.system / 1000, ledWrites })}\n`,
  );
}

/** Counts SMBus traffic; every device acknowledges. */
class CountingBus implements I2cBus {
  transfers = 0;
  bytes = 0;
  async writeI2cBlock(_address: number, _command: number, data: Uint8Array): Promise<void> {
    this.transfers++;
    this.bytes += 1 + data.length;
  }
  async sendByte(): Promise<void> {
    this.transfers++;
    this.bytes += 1;
  }
  async receiveByte(): Promise<number> {
    this.transfers++;
    this.bytes += 1;
    return 0xff;
  }
  async close(): Promise<void> {}
}

const SEQUENCE: Array<[AgentState, Partial<AgentStatus>]> = [
  ["starting", {}],
  ["registering", { pairingId: "7f3a9c" }],
  ["pending", { pairingId: "7f3a9c" }],
  ["pending", { pairingId: "7f3a9c" }],
  ["connecting", {}],
  ["online", {}],
  [
    "reconnecting",
    { nextAttemptAt: Date.UTC(2025, 0, 15, 14, 3, 22), lastError: "connection refused (ECONNREFUSED)" },
  ],
  ["connecting", {}],
  ["online", {}],
  ["stopping", {}],
  ["stopped", {}],
];

/** Referenced timers: the agent's are unref'd, and here nothing else would keep the process alive during a sleep. */
const keepAliveTimers: Timers = {
  ...realTimers,
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
};

async function measureI2c(): Promise<void> {
  const formatTime = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  const kinds: Array<[string, (bus: I2cBus) => Display]> = [
    ["ssd1306", (bus) => new OledDisplay(bus, 0x3c, "ssd1306")],
    ["sh1106", (bus) => new OledDisplay(bus, 0x3c, "sh1106")],
    ["hd44780 16x2", (bus) => new Hd44780Display(bus, 0x27, 16, 2, keepAliveTimers)],
  ];
  const columns: string[][] = [];
  for (const [name, create] of kinds) {
    const bus = new CountingBus();
    const display = create(bus);
    await display.init();
    const cells = [`${bus.bytes} B / ${bus.transfers} tx`];
    for (const [state, extra] of SEQUENCE) {
      bus.bytes = 0;
      bus.transfers = 0;
      const status = statusIn(state, extra);
      if (display.kind === "graphic") await display.draw(renderOledScreen(status, formatTime));
      else await display.draw(renderLcdScreen(status, display.columns, display.rows, formatTime));
      cells.push(`${bus.bytes} B / ${bus.transfers} tx`);
    }
    columns.push([name, ...cells]);
  }
  const labels = [
    "",
    "init (incl. RAM clear)",
    ...SEQUENCE.map(([state], index) => `${index === 0 ? "" : "-> "}${state}`),
  ];
  const widths = [
    Math.max(...labels.map((label) => label.length)),
    ...columns.map((column) => Math.max(...column.map((cell) => cell.length))),
  ];
  console.log("\nI2C traffic per state change (bytes after the address byte / SMBus transfers)");
  labels.forEach((label, row) => {
    console.log(
      [
        label.padEnd(widths[0] ?? 0),
        ...columns.map((column, index) => (column[row] ?? "").padStart(widths[index + 1] ?? 0)),
      ].join("  "),
    );
  });
  const bus = new CountingBus();
  const oled = new OledDisplay(bus, 0x3c, "ssd1306");
  await oled.init();
  bus.bytes = 0;
  bus.transfers = 0;
  const everyPixel = new Bitmap(128, 64);
  everyPixel.data.fill(0xff);
  await oled.draw(everyPixel);
  console.log(`For comparison, rewriting a whole SSD1306 frame costs ${bus.bytes} B / ${bus.transfers} tx.`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const secondsIndex = args.indexOf("--seconds");
  const seconds = secondsIndex >= 0 ? Number(args[secondsIndex + 1]) : 60;
  const childIndex = args.indexOf("--child");
  if (childIndex >= 0) {
    await runScenario(args[childIndex + 1] as Scenario, seconds);
    return;
  }
  console.log(`CPU time over ${seconds} s per process (three processes run side by side)`);
  const self = fileURLToPath(import.meta.url);
  const results = await Promise.all(
    (["idle", "online", "pending"] as const).map(
      (scenario) =>
        new Promise<{
          scenario: string;
          elapsedMs: number;
          userMs: number;
          systemMs: number;
          ledWrites: number;
        }>((resolve, reject) => {
          const child = spawn(process.execPath, [self, "--child", scenario, "--seconds", String(seconds)], {
            stdio: ["ignore", "pipe", "inherit"],
          });
          let output = "";
          child.stdout.on("data", (chunk: Buffer) => {
            output += chunk.toString();
          });
          child.on("error", reject);
          child.on("exit", (code) =>
            code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`${scenario} exited ${code}`)),
          );
        }),
    ),
  );
  for (const result of results) {
    const total = result.userMs + result.systemMs;
    console.log(
      `${result.scenario.padEnd(8)} cpu ${total.toFixed(1).padStart(7)} ms (user ${result.userMs.toFixed(1)}, system ${result.systemMs.toFixed(1)})  = ${((100 * total) / result.elapsedMs).toFixed(3)} % of one core, LED writes ${result.ledWrites}`,
    );
  }
  await measureI2c();
}

await main();

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AgentAnswer,
  checkDisplay,
  checkDisplayInAgent,
  checkLeds,
} from "../../src/cli/check/hardware-checks.js";
import { type I2cBus, loadIndicatorConfig } from "../../src/indicators/index.js";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A sysfs tree with the Pi 4 header chip at base 512 and one LED class device. */
function fakeSysfs(): string {
  const root = mkdtempSync(join(tmpdir(), "cw-agent-sysfs-"));
  roots.push(root);
  const chip = join(root, "class", "gpio", "gpiochip512");
  mkdirSync(chip, { recursive: true });
  writeFileSync(join(chip, "label"), "pinctrl-bcm2711\n");
  writeFileSync(join(chip, "base"), "512\n");
  writeFileSync(join(chip, "ngpio"), "58\n");
  writeFileSync(join(root, "class", "gpio", "export"), "");
  mkdirSync(join(root, "class", "leds", "ACT"), { recursive: true });
  writeFileSync(join(root, "class", "leds", "ACT", "brightness"), "0\n");
  return root;
}

describe("hardware checks", () => {
  it("GPIO: lines resolve through the header chip; an unknown chip label fails with a hint", async () => {
    const root = fakeSysfs();
    const good = loadIndicatorConfig({ CW_AGENT_LED_STATUS: "gpio:17", CW_AGENT_LED_FAULT: "led:ACT" });
    expect(await checkLeds(good, root)).toEqual({
      name: "gpio",
      outcome: "ok",
      message: "LEDs resolvable: status BCM 17 = sysfs gpio529, fault led:ACT",
    });

    const wrongChip = loadIndicatorConfig({
      CW_AGENT_LED_STATUS: "gpio:17",
      CW_AGENT_GPIO_CHIP: "pinctrl-rp1",
    });
    expect(await checkLeds(wrongChip, root)).toMatchObject({
      outcome: "failed",
      message: expect.stringContaining("no GPIO chip labelled pinctrl-rp1"),
      hint: expect.stringContaining("CW_AGENT_LED_STATUS=none"),
    });

    const missingLed = loadIndicatorConfig({ CW_AGENT_LED_FAULT: "led:nope" });
    expect(await checkLeds(missingLed, root)).toMatchObject({
      outcome: "failed",
      message: expect.stringContaining("ENOENT"),
    });
    expect(await checkLeds(loadIndicatorConfig({}), root)).toMatchObject({ outcome: "skipped" });
  });

  it("display: answering at its address is ok; no ACK fails with the wiring hint; a silent bus times out", async () => {
    const config = loadIndicatorConfig({
      CW_AGENT_DISPLAY_MODEL: "ssd1306",
      CW_AGENT_DISPLAY_ADDRESS: "0x3c",
    });
    const closed: string[] = [];
    const bus = (answering: boolean): I2cBus => ({
      async writeI2cBlock() {
        if (!answering) throw Object.assign(new Error("Remote I/O error"), { code: "EREMOTEIO" });
      },
      async sendByte() {},
      async receiveByte() {
        return 0;
      },
      async close() {
        closed.push("bus");
      },
    });
    expect(await checkDisplay(config, async () => bus(true), 1_000)).toMatchObject({ outcome: "ok" });
    expect(await checkDisplay(config, async () => bus(false), 1_000)).toMatchObject({
      outcome: "failed",
      message: expect.stringContaining("no display answered on /dev/i2c-1 at 0x3c"),
      hint: expect.stringContaining("no device answered at that address"),
    });
    expect(closed).toEqual(["bus", "bus"]);
    const silent = await checkDisplay(config, () => new Promise<I2cBus>(() => {}), 50);
    expect(silent).toMatchObject({
      outcome: "failed",
      message: expect.stringContaining("no answer within 50 ms"),
    });
  });
});

describe("the display as the running agent sees it", () => {
  const config = loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "ssd1306", CW_AGENT_DISPLAY_ADDRESS: "0x3c" });
  const live = (display?: { description: string; working: boolean; error?: string }) =>
    ({
      running: true,
      status: { pid: 4711, ...(display === undefined ? {} : { display }) },
    }) as unknown as AgentAnswer;

  it("ok when the agent draws on it; failed with the agent's error and a hint when it cannot", () => {
    expect(
      checkDisplayInAgent(
        config,
        live({ description: "SSD1306 128x64 OLED at 0x3c on /dev/i2c-1", working: true }),
      ),
    ).toEqual({
      name: "display-agent",
      outcome: "ok",
      message: "the running agent (pid 4711) draws on the SSD1306 128x64 OLED at 0x3c on /dev/i2c-1",
    });
    const denied = checkDisplayInAgent(
      config,
      live({
        description: "ssd1306 on /dev/i2c-1",
        working: false,
        error: "open /dev/i2c-1: operation not permitted (EPERM)",
      }),
    );
    expect(denied).toMatchObject({
      outcome: "failed",
      message:
        "the running agent (pid 4711) cannot use the ssd1306 on /dev/i2c-1: open /dev/i2c-1: operation not permitted (EPERM)",
      hint: expect.stringContaining("sudo systemctl restart cw-agent"),
    });
  });

  it("skipped, saying what was and was not tested, without an agent, a display report or a display", () => {
    expect(
      checkDisplayInAgent(config, {
        running: false,
        reason: "no running agent answered on its control socket",
      }),
    ).toEqual({
      name: "display-agent",
      outcome: "skipped",
      message:
        "no running agent answered on its control socket; only the probe above, outside the agent's sandbox, was made",
    });
    expect(checkDisplayInAgent(config, live())).toMatchObject({ outcome: "skipped" });
    expect(checkDisplayInAgent(loadIndicatorConfig({}), live())).toMatchObject({ outcome: "skipped" });
  });
});

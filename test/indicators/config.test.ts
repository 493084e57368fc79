import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/config-error.js";
import { loadIndicatorConfig } from "../../src/indicators/config.js";

describe("loadIndicatorConfig", () => {
  it("defaults to no LEDs and no display", () => {
    expect(loadIndicatorConfig({})).toEqual({
      leds: { status: { kind: "none" }, fault: { kind: "none" } },
      gpio: { base: "auto", chipLabel: undefined },
      identifySeconds: 30,
      display: {
        model: "none",
        bus: 1,
        address: "auto",
        rotation: 0,
        lcd: { columns: 16, rows: 2 },
        virtualStyle: "auto",
      },
    });
  });

  it("reads LED roles as BCM lines or LED class names, each with its polarity", () => {
    const config = loadIndicatorConfig({
      CW_AGENT_LED_STATUS: "gpio:17",
      CW_AGENT_LED_STATUS_ACTIVE_LOW: "true",
      CW_AGENT_LED_FAULT: "led:user-led:red",
      CW_AGENT_GPIO_BASE: "571",
      CW_AGENT_GPIO_CHIP: "pinctrl-rp1",
      CW_AGENT_LED_IDENTIFY_S: "120",
    });
    expect(config.leds).toEqual({
      status: { kind: "gpio", line: 17, activeLow: true },
      fault: { kind: "led-class", name: "user-led:red", activeLow: false },
    });
    expect(config.gpio).toEqual({ base: 571, chipLabel: "pinctrl-rp1" });
    expect(config.identifySeconds).toBe(120);
  });

  it("reads the display settings", () => {
    const config = loadIndicatorConfig({
      CW_AGENT_DISPLAY_MODEL: "HD44780",
      CW_AGENT_DISPLAY_I2C_BUS: "3",
      CW_AGENT_DISPLAY_ADDRESS: "0x27",
      CW_AGENT_DISPLAY_LCD_SIZE: "20x4",
    });
    expect(config.display).toMatchObject({
      model: "hd44780",
      bus: 3,
      address: 0x27,
      lcd: { columns: 20, rows: 4 },
    });
    expect(
      loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "sh1106", CW_AGENT_DISPLAY_ROTATION: "180" }).display,
    ).toMatchObject({
      rotation: 180,
    });
    expect(loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "virtual" }).display.model).toBe("virtual");
  });

  it.each([
    [{ CW_AGENT_LED_STATUS: "17" }, "CW_AGENT_LED_STATUS", /gpio:<BCM line/],
    [{ CW_AGENT_LED_STATUS: "gpio:99" }, "CW_AGENT_LED_STATUS", /gpio:<BCM line 0-63>/],
    [{ CW_AGENT_LED_FAULT: "led:../x" }, "CW_AGENT_LED_FAULT", /led:<name/],
    [
      { CW_AGENT_LED_STATUS: "gpio:17", CW_AGENT_LED_FAULT: "gpio:17" },
      "CW_AGENT_LED_FAULT",
      /different LED/,
    ],
    [{ CW_AGENT_LED_STATUS_ACTIVE_LOW: "maybe" }, "CW_AGENT_LED_STATUS_ACTIVE_LOW", /true or false/],
    [{ CW_AGENT_GPIO_BASE: "-1" }, "CW_AGENT_GPIO_BASE", /512 or 571/],
    [{ CW_AGENT_DISPLAY_MODEL: "oled" }, "CW_AGENT_DISPLAY_MODEL", /ssd1306, sh1106/],
    [
      { CW_AGENT_DISPLAY_MODEL: "ssd1306", CW_AGENT_DISPLAY_ADDRESS: "0x27" },
      "CW_AGENT_DISPLAY_ADDRESS",
      /0x3C or 0x3D/,
    ],
    [
      { CW_AGENT_DISPLAY_MODEL: "hd44780", CW_AGENT_DISPLAY_ADDRESS: "0x50" },
      "CW_AGENT_DISPLAY_ADDRESS",
      /0x20-0x27/,
    ],
    [{ CW_AGENT_DISPLAY_ROTATION: "90" }, "CW_AGENT_DISPLAY_ROTATION", /0, 180/],
    [{ CW_AGENT_DISPLAY_LCD_SIZE: "40x2" }, "CW_AGENT_DISPLAY_LCD_SIZE", /16x2, 20x4/],
    [{ CW_AGENT_LED_IDENTIFY_S: "0" }, "CW_AGENT_LED_IDENTIFY_S", /1 to 3600/],
  ])("rejects %o naming %s, the value and what is allowed", (env, variable, allowed) => {
    let error: unknown;
    try {
      loadIndicatorConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(allowed);
    expect((error as ConfigError).message).toContain(variable);
  });
});

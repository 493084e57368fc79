import { describe, expect, it } from "vitest";
import { loadIndicatorConfig } from "../../src/indicators/config.js";
import { Indicators } from "../../src/indicators/index.js";
import { Lifecycle } from "../../src/lifecycle/lifecycle.js";
import { FakeTimers, flush } from "./fakes/fake-timers.js";
import { memoryLogger } from "./fakes/logger.js";

const identity = {
  agentName: "press-line-4",
  username: "press-line-4",
  broker: "connectware.plant.local:1883",
  registry: "https://connectware.plant.local",
};

describe("Indicators", () => {
  it("with nothing configured does no I/O, logs no warning and ignores every call", async () => {
    const log = memoryLogger();
    const refuse = async () => {
      throw new Error("no I/O expected");
    };
    const timers = new FakeTimers();
    const indicators = new Indicators(loadIndicatorConfig({}), log.logger, {
      timers,
      sysfsRoot: "/nonexistent",
      openI2cBus: refuse,
      openDigitalLine: refuse,
    });
    const lifecycle = new Lifecycle(identity, () => timers.now());
    lifecycle.observe(indicators.observe);
    await indicators.start();
    lifecycle.transition("registering", { pairingId: "7f3a9c" });
    lifecycle.transition("pending", { pairingId: "7f3a9c" });
    indicators.identify(10);
    await indicators.stop();
    expect(log.warnings()).toEqual([]);
    expect(timers.pending).toBe(0);
  });

  it("drives the virtual display on the terminal from lifecycle transitions, redrawing only on change", async () => {
    const frames: string[] = [];
    const timers = new FakeTimers();
    const indicators = new Indicators(
      loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "virtual", CW_AGENT_DISPLAY_VIRTUAL_STYLE: "braille" }),
      memoryLogger().logger,
      { timers, terminal: { write: (text) => frames.push(text) } },
    );
    const lifecycle = new Lifecycle(identity, () => timers.now());
    lifecycle.observe(indicators.observe);
    await indicators.start();
    await flush();
    expect(frames).toHaveLength(1);
    lifecycle.transition("registering", { pairingId: "7f3a9c" });
    await flush();
    lifecycle.transition("pending", { pairingId: "7f3a9c", nextAttemptAt: timers.now() + 2000 });
    await flush();
    // Polling again in pending changes nothing on screen.
    lifecycle.transition("pending", { pairingId: "7f3a9c", nextAttemptAt: timers.now() + 4000 });
    await flush();
    expect(frames).toHaveLength(3);
    const lastFrame = frames.at(-1) ?? "";
    expect(lastFrame.split("\n").length).toBe(16 + 3);
    expect(lastFrame.split("\n")[1]?.length).toBe(64 + 2);
    await indicators.stop();
    expect(frames).toHaveLength(4);
  });

  it("the virtual LCD prints the 16x2 text", async () => {
    const frames: string[] = [];
    const indicators = new Indicators(
      loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "virtual-lcd" }),
      memoryLogger().logger,
      {
        timers: new FakeTimers(),
        terminal: { write: (text) => frames.push(text) },
      },
    );
    await indicators.start();
    indicators.observe({ ...identity, state: "pending", since: 0, pairingId: "7f3a9c" }, undefined);
    await flush();
    expect(frames.at(-1)).toContain("│PENDING   7f3a9c│");
    await indicators.stop();
  });

  it("observe never throws, even when the display fails", async () => {
    const log = memoryLogger();
    const indicators = new Indicators(
      loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "virtual" }),
      log.logger,
      {
        timers: new FakeTimers(),
        terminal: {
          write: () => {
            throw new Error("terminal gone");
          },
        },
      },
    );
    await indicators.start();
    expect(() => indicators.observe({ ...identity, state: "online", since: 0 }, undefined)).not.toThrow();
    await flush();
    expect(log.warnings()).toHaveLength(1);
    await indicators.stop();
  });

  it("follows its status source from start() on, and no longer once stopped", async () => {
    const frames: string[] = [];
    const timers = new FakeTimers();
    const lifecycle = new Lifecycle(identity, () => timers.now());
    const indicators = new Indicators(
      loadIndicatorConfig({ CW_AGENT_DISPLAY_MODEL: "virtual-lcd" }),
      memoryLogger().logger,
      { timers, terminal: { write: (text) => frames.push(text) }, statuses: lifecycle },
    );
    lifecycle.transition("registering", { pairingId: "7f3a9c" });
    lifecycle.transition("pending", { pairingId: "7f3a9c" });
    await indicators.start();
    await flush();
    expect(frames.at(-1)).toContain("│PENDING   7f3a9c│");
    lifecycle.transition("connecting");
    await flush();
    expect(frames.at(-1)).not.toContain("PENDING");
    await indicators.stop();
    const framesWhenStopped = frames.length;
    lifecycle.transition("online");
    await flush();
    expect(frames).toHaveLength(framesWhenStopped);
  });
});

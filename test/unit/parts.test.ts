import { describe, expect, it } from "vitest";
import { type Part, Parts } from "../../src/agent/parts.js";

function recorder() {
  const events: string[] = [];
  const part = (name: string, start?: () => Promise<void>): Part => ({
    name,
    start: async () => {
      events.push(`start ${name}`);
      await start?.();
      events.push(`started ${name}`);
    },
    stop: () => {
      events.push(`stop ${name}`);
    },
  });
  return { events, part };
}

describe("Parts", () => {
  it("starts in order and stops in reverse", async () => {
    const { events, part } = recorder();
    const parts = new Parts([part("a"), part("b"), part("c")], () => {});
    expect(await parts.start()).toBe(true);
    await parts.stop();
    expect(events.filter((event) => event.startsWith("stop"))).toEqual(["stop c", "stop b", "stop a"]);
  });

  it("a stop while a part is starting lets it finish, stops it and what came before, and starts nothing more", async () => {
    const { events, part } = recorder();
    let finish: (() => void) | undefined;
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const parts = new Parts([part("a"), part("b", () => slow), part("c")], () => {});
    const starting = parts.start();
    while (!events.includes("start b")) await new Promise((resolve) => setImmediate(resolve));
    const stopping = parts.stop();
    finish?.();
    expect(await starting).toBe(false);
    await stopping;
    expect(events).toEqual(["start a", "started a", "start b", "started b", "stop b", "stop a"]);
  });

  it("a part that fails to start rejects start(); stop() then stops only what started", async () => {
    const { events, part } = recorder();
    const failing: Part = {
      name: "storage",
      start: () => {
        throw new Error("state directory in use");
      },
      stop: () => {
        events.push("stop storage");
      },
    };
    const parts = new Parts([part("a"), failing, part("c")], () => {});
    await expect(parts.start()).rejects.toThrow("state directory in use");
    await parts.stop();
    expect(events).toEqual(["start a", "started a", "stop a"]);
  });

  it("a part that fails to stop is reported and the others still stop", async () => {
    const { events, part } = recorder();
    const failures: string[] = [];
    const broken: Part = {
      name: "broken",
      start: () => {},
      stop: () => {
        throw new Error("bus gone");
      },
    };
    const parts = new Parts([part("a"), broken, part("c")], (failed, error) =>
      failures.push(`${failed.name}: ${(error as Error).message}`),
    );
    await parts.start();
    await parts.stop();
    expect(failures).toEqual(["broken: bus gone"]);
    expect(events.filter((event) => event.startsWith("stop"))).toEqual(["stop c", "stop a"]);
  });
});

import { describe, expect, it } from "vitest";
import {
  type AgentStatus,
  describeStatus,
  IllegalTransitionError,
  Lifecycle,
} from "../../src/lifecycle/lifecycle.js";

const identity = {
  agentName: "gw-1",
  username: "gw-1",
  broker: "cw.local:1883",
  registry: "https://cw.local",
};

describe("Lifecycle", () => {
  it("replays the current status to a new observer and emits every transition", () => {
    let clock = 1000;
    const lifecycle = new Lifecycle(identity, () => clock);
    const seen: [string, string | undefined][] = [];
    lifecycle.observe((status, previous) => seen.push([status.state, previous?.state]));
    clock = 2000;
    lifecycle.transition("registering", { pairingId: "a82123" });
    lifecycle.transition("pending", { pairingId: "a82123", nextAttemptAt: 4000 });
    expect(seen).toEqual([
      ["starting", undefined],
      ["registering", "starting"],
      ["pending", "registering"],
    ]);
    expect(lifecycle.current).toMatchObject({
      state: "pending",
      pairingId: "a82123",
      since: 2000,
      nextAttemptAt: 4000,
    });
  });

  it("keeps `since` on a repeated state and drops details not given again", () => {
    let clock = 0;
    const lifecycle = new Lifecycle(identity, () => clock);
    lifecycle.transition("connecting");
    lifecycle.transition("reconnecting", { lastError: "refused", nextAttemptAt: 10 });
    clock = 500;
    lifecycle.transition("reconnecting", { lastError: "refused again" });
    expect(lifecycle.current.since).toBe(0);
    expect(lifecycle.current.nextAttemptAt).toBeUndefined();
    lifecycle.transition("online");
    expect(lifecycle.current.lastError).toBeUndefined();
  });

  it("refuses transitions the lifecycle does not allow", () => {
    const lifecycle = new Lifecycle(identity);
    expect(() => lifecycle.transition("online")).toThrow(IllegalTransitionError);
    lifecycle.transition("stopping");
    lifecycle.transition("stopped");
    expect(() => lifecycle.transition("registering")).toThrow(/stopped -> registering/);
  });

  it("isolates a failing observer", () => {
    const errors: unknown[] = [];
    const lifecycle = new Lifecycle(identity, Date.now, (error) => errors.push(error));
    const healthy: string[] = [];
    lifecycle.observe((status) => {
      if (status.state === "registering") throw new Error("display unplugged");
    });
    lifecycle.observe((status) => healthy.push(status.state));
    lifecycle.transition("registering");
    expect(healthy).toEqual(["starting", "registering"]);
    expect(errors).toHaveLength(1);
  });

  it("describes states the way systemctl status should show them", () => {
    const base: AgentStatus = { ...identity, state: "pending", since: 0, pairingId: "a82123" };
    expect(describeStatus(base)).toBe("Waiting for authorization, pairing ID a82123");
    expect(describeStatus({ ...base, state: "online" })).toBe("Online (cw.local:1883)");
    expect(describeStatus({ ...base, state: "conflict" })).toContain('delete user "gw-1"');
  });
});

describe("Lifecycle warnings", () => {
  it("sets and clears a warning, tells observers only of changes, and keeps it across transitions", () => {
    const lifecycle = new Lifecycle({ agentName: "gw", username: "gw", broker: "b", registry: "r" });
    const seen: (string | undefined)[] = [];
    lifecycle.observe((status) => seen.push(status.warning));
    lifecycle.setWarning("Power: under-voltage");
    lifecycle.setWarning("Power: under-voltage");
    lifecycle.transition("connecting");
    expect(lifecycle.current).toMatchObject({ state: "connecting", warning: "Power: under-voltage" });
    lifecycle.setWarning(undefined);
    expect("warning" in lifecycle.current).toBe(false);
    expect(seen).toEqual([undefined, "Power: under-voltage", "Power: under-voltage", undefined]);
  });
});

import { describe, expect, it } from "vitest";
import type { Misbehaviour } from "../../scripts/connectware-sim/simulator.js";
import { newStateDir } from "./agent-process.js";
import {
  agentTestBed,
  grantAndWaitOnline,
  loggedPairingId,
  simEnv,
  storedCredentials,
  until,
} from "./fixtures.js";

const bed = agentTestBed({ resetAfterEach: (sim) => sim.setMisbehaviour(null) });

/** What the agent's warning must say for each way the registry can misbehave. */
const CASES: [Misbehaviour, RegExp][] = [
  ["refuse", /connection refused/],
  ["hang", /no complete answer within 1500 ms/],
  ["reset", /connection reset|socket hang up/],
  ["http-500", /HTTP 500/],
  ["http-503", /HTTP 503/],
  ["html", /HTTP 502 \(HTML error page/],
  ["malformed-json", /HTTP 400$/],
  ["wrong-json", /201 for another username \(someone-else\)/],
  ["huge-json", /response body larger than 65536 bytes/],
  ["redirect", /HTTP 307 redirect to .* not followed/],
  ["slow", /no complete answer within 1500 ms/],
  ["untrusted-tls", /TLS certificate not trusted/],
];

describe("a misbehaving registry", () => {
  it.each(CASES)(
    "%s: logged once, retried with backoff, credentials kept, and registration completes afterwards",
    async (mode, reason) => {
      bed.sim.unlock();
      await bed.sim.setMisbehaviour(mode);
      const stateDir = newStateDir();
      const agent = bed.start(
        simEnv(bed.sim, `gw-${mode}`, {
          CYBUS_LOG_LEVEL: "debug",
          CW_AGENT_REGISTRY_URL: bed.sim.registryHttpsUrl,
          CW_AGENT_CA_FILE: bed.sim.caFile,
        }),
        stateDir,
      );
      const pairingId = await loggedPairingId(agent);

      const warning = await agent.waitForMessage("Registration request failed, will retry");
      expect(warning.level).toBe(40);
      expect(warning.msg).toMatch(reason);
      // Retried: a second failure is logged at debug level only ("once per change").
      await agent.waitForMessage("Registration request failed again");
      const warnings = agent.lines.filter((line) =>
        line.msg.startsWith("Registration request failed, will retry"),
      );
      expect(warnings).toHaveLength(1);
      const retryDelays = agent.lines
        .filter((line) => line.msg.startsWith("Registration request failed"))
        .map((line) => line.retryInMs as number);
      expect(retryDelays.every((delay) => delay > 0 && delay <= 1000)).toBe(true);

      expect(agent.lines.some((line) => line.state === "registering")).toBe(true);
      expect(storedCredentials(stateDir)).toMatchObject({ status: "pending", pairingId });
      if (mode === "redirect") expect(bed.sim.redirectHits()).toEqual([]);

      await bed.sim.setMisbehaviour(null);
      await grantAndWaitOnline(bed.sim, agent);
      expect(storedCredentials(stateDir)).toMatchObject({ status: "granted", pairingId });
    },
  );

  it("a registry that is down for longer backs off up to the cap", async () => {
    await bed.sim.setMisbehaviour("refuse");
    const agent = bed.start(simEnv(bed.sim, "gw-backoff", { CYBUS_LOG_LEVEL: "debug" }));
    await until(
      () => agent.lines.filter((line) => line.msg.startsWith("Registration request failed")).length >= 8,
      "eight failed attempts",
    );
    const delays = agent.lines
      .filter((line) => line.msg.startsWith("Registration request failed"))
      .map((line) => line.retryInMs as number);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
    expect(Math.max(...delays.slice(4))).toBeGreaterThan(Math.max(...delays.slice(0, 2)));
  });
});

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase, prepare } from "../../src/storage/sqlite.js";
import { longestSharedRun } from "../../src/util/scrub.js";
import { HAVE_PYTHON, HAVE_SYSTEMD_NOTIFY, NotifyListener } from "../systemd/notify-listener.js";
import {
  FAST_TIMINGS,
  findLeakedSecrets,
  newStateDir,
  removeStateDirs,
  startAgent,
  stopAllAgents,
} from "./agent-process.js";
import { until } from "./fixtures.js";

/**
 * A registry (or a proxy in front of it) that echoes the request body in its error texts, padded so
 * that every cut the agent makes (64, 200 and 300 characters) lands at every offset of the
 * password. Every echo changes the state (registering, conflict, registering, then a 423), so each
 * one gives a new status text, a new log line and a new stored row.
 */
function echoingRegistry() {
  const stored: { password?: string; rounds: number; served: number } = { rounds: 0, served: 0 };
  const cuts: [number, (padding: string, echo: string) => [number, object]][] = [
    [200, (padding, echo) => [400, { message: padding + echo }]],
    [300, (padding, echo) => [409, { error: padding + echo }]],
    [64, (padding, echo) => [201, { username: padding + echo }]],
  ];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      const password = (JSON.parse(body) as { password: string }).password;
      stored.password = password;
      // Per offset: the three echoes, then a 423, so that every echo is a change of state.
      const step = stored.served++;
      const offset = Math.floor(step / (cuts.length + 1));
      const cut = cuts[step % (cuts.length + 1)];
      if (cut === undefined || offset > password.length) {
        if (offset > password.length) stored.rounds = 1;
        response.writeHead(423).end();
        return;
      }
      const [cutAt, answer] = cut;
      const [status, json] = answer("x".repeat(Math.max(0, cutAt - body.indexOf(password) - offset)), body);
      response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
    });
  });
  return { server, stored };
}

describe("no part of the password leaves the agent through an echoing registry", () => {
  afterAll(async () => {
    await stopAllAgents();
    removeStateDirs();
  });

  it("no log line, status text or stored row holds 6 consecutive characters of the password", async () => {
    const { server, stored } = echoingRegistry();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const notify = HAVE_PYTHON && HAVE_SYSTEMD_NOTIFY ? await NotifyListener.start() : undefined;
    const stateDir = newStateDir();
    const agent = startAgent(
      {
        ...FAST_TIMINGS,
        CYBUS_LOG_LEVEL: "debug",
        CYBUS_AGENT_NAME: "gw-echo",
        CYBUS_MQTT_HOST: "127.0.0.1",
        CW_AGENT_REGISTRY_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        CW_AGENT_REGISTRY_LOCKED_POLL_MS: "100",
        CW_AGENT_REGISTRY_CONFLICT_POLL_MS: "100",
        ...(notify ? { NOTIFY_SOCKET: notify.socketPath } : {}),
      },
      stateDir,
    );
    const storedRows: string[] = [];
    const database = () => openDatabase(`${stateDir}/cw-agent.db`, { readonly: true, fileMustExist: true });
    try {
      await until(() => stored.rounds > 0, "every offset echoed", 80_000);
    } finally {
      await agent.kill("SIGTERM");
      server.close();
    }
    const db = database();
    try {
      for (const table of ["agent_status", "credentials"]) {
        for (const row of prepare(db, `SELECT * FROM ${table}`).all()) storedRows.push(JSON.stringify(row));
      }
    } finally {
      db.close();
    }
    await notify?.stop();

    const password = stored.password as string;
    const echoes = agent.lines.filter((line) =>
      /HTTP 400|409 Conflict|201 for another username/.test(line.msg),
    );
    expect(echoes.length).toBeGreaterThanOrEqual(3 * password.length);
    const texts = [
      ...agent.rawOutput.map((raw) => ["output", raw] as const),
      ...(notify?.messages ?? []).map((message) => ["systemd status", message] as const),
      ...storedRows
        .filter((row) => !row.includes(`"password":"${password}"`))
        .map((row) => ["stored row", row] as const),
    ];
    const leaks = texts.filter(([, text]) => longestSharedRun(text, password) >= 6);
    expect(leaks).toEqual([]);
    expect(findLeakedSecrets([agent])).toEqual([]);
  }, 120_000);
});

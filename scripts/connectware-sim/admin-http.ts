import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { parseJson, readBody, SocketTracker, sendJson } from "./http-util.js";
import { closeServer, listen } from "./listen.js";
import { isMisbehaviour, MISBEHAVIOURS } from "./registry.js";
import { SimulatorError } from "./registry-state.js";
import type { ConnectwareSimulator, RedirectHit } from "./simulator.js";

export const REDIRECT_TARGET_PATH = "/admin/redirect-target";
const MAX_ADMIN_BODY_BYTES = 64 * 1024;

class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (context: {
  body: () => Promise<Record<string, unknown>>;
  url: URL;
  parameter: string;
  request: IncomingMessage;
}) => Promise<unknown> | unknown;

interface Route {
  method: string;
  /** a literal path, or a prefix ending in "/" whose remainder is passed as `parameter` */
  path: string;
  prefix?: boolean;
  handler: Handler;
}

function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== "string" || value.length === 0) {
    throw new AdminError(400, `field "${field}" must be a non-empty string`);
  }
  return value;
}

/** The simulator's admin API: always well-behaved, JSON in and out. */
export class AdminServer {
  private readonly server: Server;
  private readonly sockets = new SocketTracker();
  private readonly routes: Route[];
  private readonly hits: RedirectHit[] = [];
  private boundPort = 0;

  constructor(
    private readonly simulator: ConnectwareSimulator,
    private readonly host: string,
    private readonly port: number,
  ) {
    this.routes = this.buildRoutes();
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) {
          sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
        } else {
          response.destroy();
        }
      });
    });
    this.server.on("connection", this.sockets.track);
  }

  async start(): Promise<number> {
    this.boundPort = await listen(this.server, this.port, this.host);
    return this.boundPort;
  }

  async close(): Promise<void> {
    const closing = closeServer(this.server);
    this.sockets.destroyAll();
    await closing;
  }

  redirectHits(): RedirectHit[] {
    return this.hits.map((hit) => ({ ...hit }));
  }

  private buildRoutes(): Route[] {
    const sim = this.simulator;
    return [
      { method: "GET", path: "/admin/status", handler: () => sim.status() },
      {
        method: "POST",
        path: "/admin/unlock",
        handler: async ({ body }) => {
          const { durationMs } = await body();
          if (durationMs !== undefined && (typeof durationMs !== "number" || !(durationMs > 0))) {
            throw new AdminError(400, 'field "durationMs" must be a positive number');
          }
          sim.unlock(durationMs);
          return sim.status();
        },
      },
      {
        method: "POST",
        path: "/admin/lock",
        handler: () => {
          sim.lock();
          return sim.status();
        },
      },
      { method: "GET", path: "/admin/requests", handler: () => sim.requests() },
      {
        method: "POST",
        path: "/admin/grant",
        handler: async ({ body }) => {
          const id = requireString(await body(), "id");
          sim.grant(id);
          return this.requestFor(id);
        },
      },
      {
        method: "POST",
        path: "/admin/deny",
        handler: async ({ body }) => {
          const id = requireString(await body(), "id");
          sim.deny(id);
          return this.requestFor(id);
        },
      },
      { method: "GET", path: "/admin/users", handler: () => sim.users() },
      {
        method: "POST",
        path: "/admin/users",
        handler: async ({ body }) => {
          const parsed = await body();
          const username = requireString(parsed, "username");
          const password = requireString(parsed, "password");
          const permissions = parsed.permissions ?? [];
          if (!Array.isArray(permissions)) {
            throw new AdminError(400, 'field "permissions" must be an array');
          }
          sim.addUser(username, password, permissions);
          return { username, permissions };
        },
      },
      {
        method: "DELETE",
        path: "/admin/users/",
        prefix: true,
        handler: ({ parameter }) => {
          sim.deleteUser(parameter);
          return { deleted: parameter };
        },
      },
      {
        method: "POST",
        path: "/admin/misbehave",
        handler: async ({ body }) => {
          const { mode } = await body();
          if (mode !== null && !isMisbehaviour(mode)) {
            throw new AdminError(400, `field "mode" must be null or one of: ${MISBEHAVIOURS.join(", ")}`);
          }
          await sim.setMisbehaviour(mode);
          return { misbehaviour: mode };
        },
      },
      {
        method: "POST",
        path: "/admin/broker/stop",
        handler: async () => {
          await sim.stopBroker();
          return { brokerRunning: false };
        },
      },
      {
        method: "POST",
        path: "/admin/broker/start",
        handler: async () => {
          await sim.startBroker();
          return { brokerRunning: true };
        },
      },
      { method: "GET", path: "/admin/mqtt-clients", handler: () => sim.mqttClients() },
      {
        method: "POST",
        path: "/admin/mqtt-clients/drop",
        handler: async ({ body }) => {
          const username = requireString(await body(), "username");
          sim.dropMqttClient(username);
          return { dropped: username };
        },
      },
      {
        method: "POST",
        path: "/admin/reject-connects",
        handler: async ({ body }) => {
          const { count } = await body();
          if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
            throw new AdminError(400, 'field "count" must be a non-negative integer');
          }
          sim.rejectNextConnects(count);
          return { rejectNextConnects: count };
        },
      },
      { method: "GET", path: "/admin/register-calls", handler: () => sim.registerCalls() },
      {
        method: "GET",
        path: "/admin/retained",
        handler: ({ url }) => {
          const topic = url.searchParams.get("topic");
          if (topic === null || topic.length === 0) {
            throw new AdminError(400, 'query parameter "topic" is required');
          }
          return { topic, payload: sim.retained(topic) ?? null };
        },
      },
      { method: "GET", path: "/admin/redirect-hits", handler: () => this.redirectHits() },
      {
        method: "POST",
        path: "/admin/command",
        handler: async ({ body }) => {
          const parsed = await body();
          const agent = requireString(parsed, "agent");
          const name = requireString(parsed, "name");
          const { args } = parsed;
          if (args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args))) {
            throw new AdminError(400, 'field "args" must be a JSON object');
          }
          try {
            return await sim.command(agent, name, args);
          } catch (error) {
            throw new AdminError(504, error instanceof Error ? error.message : String(error));
          }
        },
      },
    ];
  }

  private requestFor(id: string): unknown {
    return (
      this.simulator.requests().find((request) => request.username === id || request.pairingId === id) ?? {
        id,
      }
    );
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://admin.invalid");
    if (url.pathname === REDIRECT_TARGET_PATH) {
      await this.recordRedirectHit(request, response);
      return;
    }
    const matching = this.routes.filter((route) =>
      route.prefix
        ? url.pathname.startsWith(route.path) && url.pathname.length > route.path.length
        : url.pathname === route.path,
    );
    if (matching.length === 0) {
      request.resume();
      sendJson(response, 404, { error: `no such admin endpoint: ${url.pathname}` });
      return;
    }
    const route = matching.find((candidate) => candidate.method === request.method);
    if (route === undefined) {
      request.resume();
      const allowed = matching.map((candidate) => candidate.method).join(", ");
      sendJson(response, 405, { error: `use ${allowed} on ${url.pathname}` }, { allow: allowed });
      return;
    }
    const body = async (): Promise<Record<string, unknown>> => {
      const read = await readBody(request, MAX_ADMIN_BODY_BYTES);
      if (read.kind === "too-large") throw new AdminError(413, "request body too large");
      if (read.body.length === 0) return {};
      const parsed = parseJson(read.body);
      if (
        !parsed.ok ||
        typeof parsed.value !== "object" ||
        parsed.value === null ||
        Array.isArray(parsed.value)
      ) {
        throw new AdminError(400, "the request body must be a JSON object");
      }
      return parsed.value as Record<string, unknown>;
    };
    const parameter = route.prefix ? decodeURIComponent(url.pathname.slice(route.path.length)) : "";
    try {
      const result = await route.handler({ body, url, parameter, request });
      if (!request.complete) request.resume();
      sendJson(response, 200, result ?? {});
    } catch (error) {
      if (!request.complete) request.resume();
      if (error instanceof AdminError) {
        sendJson(response, error.status, { error: error.message });
      } else if (error instanceof SimulatorError) {
        const status = error.kind === "not-found" ? 404 : error.kind === "conflict" ? 409 : 400;
        sendJson(response, status, { error: error.message });
      } else {
        throw error;
      }
    }
  }

  private async recordRedirectHit(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const read = await readBody(request, MAX_ADMIN_BODY_BYTES);
    const text = read.kind === "ok" ? read.body.toString("utf8") : "";
    this.hits.push({
      method: request.method ?? "",
      bodyBytes: read.kind === "ok" ? read.body.length : read.receivedBytes,
      containedPassword: text.includes('"password"'),
      hadAuthorizationHeader: request.headers.authorization !== undefined,
      at: Date.now(),
    });
    sendJson(response, 200, { note: "redirect target of the simulator; nothing was registered" });
  }
}

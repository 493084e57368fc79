import { isEntryPoint } from "./entry-point.js";
import { httpRequestText } from "./http-client.js";
import { MISBEHAVIOURS } from "./registry.js";
import type { RegistrationRequestView } from "./registry-state.js";
import type { SimulatorStatus } from "./simulator.js";

export const DEFAULT_ADMIN_URL = "http://127.0.0.1:8099";
export const EXIT_OK = 0;
export const EXIT_API_ERROR = 1;
/** EX_USAGE from sysexits.h */
export const EXIT_USAGE = 64;

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

const USAGE = `Usage: cli [--admin URL] <command>

Administers a running Connectware simulator (like the Client Registry page of the Admin UI).

Commands:
  status                 registry lock state, misbehaviour, broker and URLs
  unlock [seconds]       unlock the client registry (default: the simulator's window, 5 minutes)
  lock                   lock the client registry
  list                   registration requests with their pairing IDs
  grant <id>             grant a request by username or pairing ID
  deny <id>              deny a request by username or pairing ID
  users                  existing users and their permissions
  delete-user <name>     delete a user and disconnect its MQTT sessions
  misbehave <mode|off>   make the registry misbehave: ${MISBEHAVIOURS.join(", ")}
  broker <stop|start>    stop or start the MQTT listeners
  cmd <agent> <name> [json]
                         send agent <agent> the command <name> with the JSON object
                         [json] as args (e.g. '{"seconds":10}') and print its reply

The admin URL defaults to $CW_SIM_ADMIN_URL, else ${DEFAULT_ADMIN_URL}.`;

class UsageError extends Error {}
class ApiError extends Error {}

interface ParsedArguments {
  adminUrl: string;
  command: string;
  operands: string[];
}

function parseArguments(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArguments {
  let adminUrl = env.CW_SIM_ADMIN_URL?.trim() || DEFAULT_ADMIN_URL;
  const positional: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] as string;
    if (argument === "--admin") {
      const value = argv[index + 1];
      if (value === undefined) throw new UsageError("--admin needs a URL");
      adminUrl = value;
      index += 1;
    } else if (argument.startsWith("--admin=")) {
      adminUrl = argument.slice("--admin=".length);
    } else if (argument === "--help" || argument === "-h") {
      positional.unshift("help");
    } else if (argument.startsWith("-") && argument !== "-") {
      throw new UsageError(`unknown option ${argument}`);
    } else {
      positional.push(argument);
    }
  }
  try {
    const parsed = new URL(adminUrl);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error();
  } catch {
    throw new UsageError(`not an http:// admin URL: ${adminUrl}`);
  }
  const [command, ...operands] = positional;
  if (command === undefined) throw new UsageError("no command given");
  return { adminUrl: adminUrl.replace(/\/+$/, ""), command, operands };
}

function expectOperands(operands: readonly string[], count: number, what: string): void {
  if (operands.length !== count) throw new UsageError(`expected ${what}`);
}

async function callAdmin(
  adminUrl: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<unknown> {
  let result: Awaited<ReturnType<typeof httpRequestText>>;
  try {
    result = await httpRequestText(`${adminUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { body }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  } catch (error) {
    throw new ApiError(
      `cannot reach the simulator at ${adminUrl}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.body);
  } catch {
    throw new ApiError(`unexpected answer from ${adminUrl}${path} (HTTP ${result.status})`);
  }
  if (result.status < 200 || result.status > 299) {
    const message =
      typeof parsed === "object" && parsed !== null && "error" in parsed
        ? String((parsed as { error: unknown }).error)
        : `HTTP ${result.status}`;
    throw new ApiError(message);
  }
  return parsed;
}

function formatTime(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, column) => {
      widths[column] = Math.max(widths[column] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  "),
  );
}

function describeStatus(status: SimulatorStatus): string[] {
  const lock = status.unlocked
    ? `unlocked until ${status.unlockedUntil === null ? "?" : formatTime(status.unlockedUntil)}`
    : "locked";
  return [
    `client registry:   ${lock}`,
    `misbehaviour:      ${status.misbehaviour ?? "off"}`,
    `pending requests:  ${status.pendingRequests}`,
    `users:             ${status.users}`,
    `broker:            ${status.brokerRunning ? "running" : "stopped"}, ${status.mqttClients} client(s)`,
    `registry (http):   ${status.registryHttpUrl}`,
    `registry (https):  ${status.registryHttpsUrl}`,
    `mqtt:              ${status.mqttUrl}`,
    `mqtts:             ${status.mqttsUrl}`,
    `admin:             ${status.adminUrl}`,
  ];
}

function describeRequests(requests: RegistrationRequestView[]): string[] {
  if (requests.length === 0) return ["no registration requests"];
  return table([
    ["USERNAME", "PAIRING ID", "STATUS", "VIA", "REQUESTS", "LAST SEEN"],
    ...requests.map((request) => [
      request.username,
      request.pairingId,
      request.status,
      request.via,
      String(request.requestCount),
      formatTime(request.lastSeenAt),
    ]),
  ]);
}

function describePermissions(permissions: unknown[]): string {
  if (permissions.length === 0) return "(no permissions)";
  return permissions
    .map((permission) => {
      const { resource, operation } = permission as { resource?: unknown; operation?: unknown };
      return `${String(operation)} ${String(resource)}`;
    })
    .join(", ");
}

async function execute(parsed: ParsedArguments, io: CliIo): Promise<void> {
  const { adminUrl, command, operands } = parsed;
  switch (command) {
    case "help":
      io.out(USAGE);
      return;
    case "status": {
      expectOperands(operands, 0, "no arguments");
      const status = (await callAdmin(adminUrl, "GET", "/admin/status")) as SimulatorStatus;
      for (const line of describeStatus(status)) io.out(line);
      return;
    }
    case "unlock": {
      if (operands.length > 1) throw new UsageError("expected at most one argument: seconds");
      let body: { durationMs?: number } = {};
      if (operands[0] !== undefined) {
        const seconds = Number(operands[0]);
        if (!Number.isFinite(seconds) || seconds <= 0)
          throw new UsageError("seconds must be a positive number");
        body = { durationMs: Math.round(seconds * 1000) };
      }
      const status = (await callAdmin(adminUrl, "POST", "/admin/unlock", body)) as SimulatorStatus;
      io.out(
        `client registry unlocked until ${status.unlockedUntil === null ? "?" : formatTime(status.unlockedUntil)}`,
      );
      return;
    }
    case "lock":
      expectOperands(operands, 0, "no arguments");
      await callAdmin(adminUrl, "POST", "/admin/lock", {});
      io.out("client registry locked");
      return;
    case "list": {
      expectOperands(operands, 0, "no arguments");
      const requests = (await callAdmin(adminUrl, "GET", "/admin/requests")) as RegistrationRequestView[];
      for (const line of describeRequests(requests)) io.out(line);
      return;
    }
    case "grant":
    case "deny": {
      expectOperands(operands, 1, `one argument: the username or pairing ID to ${command}`);
      const request = (await callAdmin(adminUrl, "POST", `/admin/${command}`, {
        id: operands[0],
      })) as Partial<RegistrationRequestView>;
      io.out(
        `${command === "grant" ? "granted" : "denied"} ${request.username ?? operands[0]} (pairing ID ${request.pairingId ?? "?"})`,
      );
      return;
    }
    case "users": {
      expectOperands(operands, 0, "no arguments");
      const users = (await callAdmin(adminUrl, "GET", "/admin/users")) as {
        username: string;
        permissions: unknown[];
      }[];
      if (users.length === 0) {
        io.out("no users");
        return;
      }
      for (const line of table([
        ["USERNAME", "PERMISSIONS"],
        ...users.map((user) => [user.username, describePermissions(user.permissions)]),
      ])) {
        io.out(line);
      }
      return;
    }
    case "delete-user": {
      expectOperands(operands, 1, "one argument: the username");
      const username = operands[0] as string;
      await callAdmin(adminUrl, "DELETE", `/admin/users/${encodeURIComponent(username)}`);
      io.out(`deleted user ${username}`);
      return;
    }
    case "misbehave": {
      expectOperands(operands, 1, `one argument: off or one of ${MISBEHAVIOURS.join(", ")}`);
      const wanted = operands[0] as string;
      const mode = wanted === "off" ? null : wanted;
      if (mode !== null && !(MISBEHAVIOURS as readonly string[]).includes(mode)) {
        throw new UsageError(`unknown mode ${wanted}; use off or one of ${MISBEHAVIOURS.join(", ")}`);
      }
      await callAdmin(adminUrl, "POST", "/admin/misbehave", { mode });
      io.out(mode === null ? "registry behaves normally again" : `registry now misbehaves: ${mode}`);
      return;
    }
    case "broker": {
      expectOperands(operands, 1, "one argument: stop or start");
      const action = operands[0];
      if (action !== "stop" && action !== "start") throw new UsageError("expected stop or start");
      await callAdmin(adminUrl, "POST", `/admin/broker/${action}`, {});
      io.out(action === "stop" ? "MQTT broker stopped" : "MQTT broker started");
      return;
    }
    case "cmd": {
      if (operands.length < 2 || operands.length > 3) {
        throw new UsageError("expected <agent> <name> and optionally a JSON object of arguments");
      }
      const [agent, name, json] = operands as [string, string, string | undefined];
      let args: unknown;
      if (json !== undefined) {
        try {
          args = JSON.parse(json);
        } catch {
          throw new UsageError(`not JSON: ${json}`);
        }
        if (typeof args !== "object" || args === null || Array.isArray(args)) {
          throw new UsageError("the arguments must be a JSON object");
        }
      }
      const reply = await callAdmin(
        adminUrl,
        "POST",
        "/admin/command",
        {
          agent,
          name,
          ...(args === undefined ? {} : { args }),
        },
        // check may take its whole 60 s deadline; the simulator waits 70 s for a reply.
        75_000,
      );
      io.out(JSON.stringify(reply, null, 2));
      if ((reply as { ok?: unknown }).ok !== true) throw new ApiError(`${name} refused`);
      return;
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await execute(parseArguments(argv, io.env), io);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`error: ${error.message}`);
      io.err(USAGE);
      return EXIT_USAGE;
    }
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_API_ERROR;
  }
}

if (isEntryPoint(import.meta.url)) {
  const code = await runCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  });
  process.exitCode = code;
}

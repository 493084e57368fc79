import { isEntryPoint } from "./entry-point.js";
import { type ConnectwareSimulator, type SimulatorOptions, startSimulator } from "./simulator.js";

export const DEFAULT_PORTS = {
  registryHttpPort: 8080,
  registryHttpsPort: 8443,
  mqttPort: 1883,
  mqttsPort: 8883,
  adminPort: 8099,
} as const;

type PortName = keyof typeof DEFAULT_PORTS;

/** flag and environment variable for each port; flags win over the environment */
const PORT_SOURCES: Record<PortName, { flag: string; variable: string }> = {
  registryHttpPort: { flag: "--registry-http-port", variable: "CW_SIM_REGISTRY_HTTP_PORT" },
  registryHttpsPort: { flag: "--registry-https-port", variable: "CW_SIM_REGISTRY_HTTPS_PORT" },
  mqttPort: { flag: "--mqtt-port", variable: "CW_SIM_MQTT_PORT" },
  mqttsPort: { flag: "--mqtts-port", variable: "CW_SIM_MQTTS_PORT" },
  adminPort: { flag: "--admin-port", variable: "CW_SIM_ADMIN_PORT" },
};

const USAGE = `Usage: main [options]

Starts a local Connectware stand-in: client registry (HTTP and HTTPS), MQTT broker (plain and TLS)
and an admin API. Every option can also be given as an environment variable.

Options:
  --host <address>                 bind address (CW_SIM_HOST, default 127.0.0.1)
${(Object.keys(PORT_SOURCES) as PortName[])
  .map(
    (name) =>
      `  ${`${PORT_SOURCES[name].flag} <port>`.padEnd(32)} ${PORT_SOURCES[name].variable}, default ${DEFAULT_PORTS[name]}; 0 = any free port`,
  )
  .join("\n")}
  --unlock-window-ms <ms>          how long an unlock lasts (CW_SIM_UNLOCK_WINDOW_MS, default 300000)
  --unlocked                       start with the registry unlocked (CW_SIM_UNLOCKED=1)
  --quiet                          do not log simulator events (CW_SIM_QUIET=1)
  --client-certificates            MQTTS requires client certificates from the test CA, CN = user
                                   (mutual TLS; CW_SIM_CLIENT_CERTIFICATES=1)
  -h, --help                       show this help`;

export class MainUsageError extends Error {}

export interface MainOptions {
  simulator: Required<Omit<SimulatorOptions, "log">>;
  startUnlocked: boolean;
  quiet: boolean;
  help: boolean;
}

function parsePort(text: string, source: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new MainUsageError(`${source} must be a port number from 0 to 65535, not "${text}"`);
  }
  return port;
}

function parsePositiveInteger(text: string, source: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value <= 0) {
    throw new MainUsageError(`${source} must be a positive whole number, not "${text}"`);
  }
  return value;
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ["1", "true", "yes", "on"].includes(value.trim().toLowerCase());
}

export function parseMainOptions(argv: readonly string[], env: NodeJS.ProcessEnv): MainOptions {
  const flags = new Map<string, string>();
  const switches = new Set<string>();
  const valued = new Set(["--host", "--unlock-window-ms", ...Object.values(PORT_SOURCES).map((s) => s.flag)]);
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] as string;
    const [name, inlineValue] = argument.includes("=")
      ? [argument.slice(0, argument.indexOf("=")), argument.slice(argument.indexOf("=") + 1)]
      : [argument, undefined];
    if (valued.has(name)) {
      const value = inlineValue ?? argv[index + 1];
      if (value === undefined) throw new MainUsageError(`${name} needs a value`);
      if (inlineValue === undefined) index += 1;
      flags.set(name, value);
    } else if (["--unlocked", "--quiet", "--client-certificates", "--help", "-h"].includes(argument)) {
      switches.add(argument === "-h" ? "--help" : argument);
    } else {
      throw new MainUsageError(`unknown argument ${argument}`);
    }
  }

  const ports = {} as Record<PortName, number>;
  for (const name of Object.keys(PORT_SOURCES) as PortName[]) {
    const { flag, variable } = PORT_SOURCES[name];
    const fromFlag = flags.get(flag);
    const fromEnv = env[variable]?.trim() ? env[variable] : undefined;
    ports[name] =
      fromFlag !== undefined
        ? parsePort(fromFlag, flag)
        : fromEnv !== undefined
          ? parsePort(fromEnv, variable)
          : DEFAULT_PORTS[name];
  }
  const windowText = flags.get("--unlock-window-ms") ?? (env.CW_SIM_UNLOCK_WINDOW_MS?.trim() || undefined);
  const unlockWindowMs =
    windowText === undefined
      ? 300_000
      : parsePositiveInteger(
          windowText,
          flags.has("--unlock-window-ms") ? "--unlock-window-ms" : "CW_SIM_UNLOCK_WINDOW_MS",
        );
  return {
    simulator: {
      host: flags.get("--host") ?? (env.CW_SIM_HOST?.trim() || "127.0.0.1"),
      ...ports,
      unlockWindowMs,
      clientCertificates: switches.has("--client-certificates") || isTruthy(env.CW_SIM_CLIENT_CERTIFICATES),
    },
    startUnlocked: switches.has("--unlocked") || isTruthy(env.CW_SIM_UNLOCKED),
    quiet: switches.has("--quiet") || isTruthy(env.CW_SIM_QUIET),
    help: switches.has("--help"),
  };
}

export function describeRunningSimulator(simulator: ConnectwareSimulator): string[] {
  const mqttHost = new URL(simulator.registryHttpUrl).hostname.replace(/^\[|\]$/g, "");
  const cli = "node dist/scripts/connectware-sim/cli.js";
  const adminFlag = simulator.adminUrl === "http://127.0.0.1:8099" ? "" : ` --admin ${simulator.adminUrl}`;
  return [
    "Connectware simulator running",
    `  client registry (http):   ${simulator.registryHttpUrl}`,
    `  client registry (https):  ${simulator.registryHttpsUrl}   (test CA: ${simulator.caFile})`,
    `  MQTT:                     mqtt://${mqttHost}:${simulator.mqttPort}`,
    `  MQTT over TLS:            mqtts://${mqttHost}:${simulator.mqttsPort}`,
    `  admin API:                ${simulator.adminUrl}`,
    "",
    "Example agent environment:",
    "  CYBUS_AGENT_NAME=demo-agent",
    `  CYBUS_MQTT_HOST=${mqttHost}`,
    "  CYBUS_MQTT_SCHEME=mqtts",
    `  CYBUS_MQTT_PORT=${simulator.mqttsPort}`,
    `  CW_AGENT_REGISTRY_URL=${simulator.registryHttpsUrl}`,
    `  CW_AGENT_CA_FILE=${simulator.caFile}`,
    "",
    "Administer it (the Client Registry page of the Admin UI):",
    `  ${cli}${adminFlag} unlock        # open the registry for a while`,
    `  ${cli}${adminFlag} list          # pending requests with their pairing IDs`,
    `  ${cli}${adminFlag} grant <pairing ID or username>`,
    `  ${cli}${adminFlag} status`,
    "Stop with Ctrl+C.",
  ];
}

async function main(): Promise<void> {
  let options: MainOptions;
  try {
    options = parseMainOptions(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    process.exitCode = 64;
    return;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const log = options.quiet
    ? () => {}
    : (message: string) => process.stdout.write(`${new Date().toISOString()} ${message}\n`);
  const simulator = await startSimulator({ ...options.simulator, log });
  if (options.startUnlocked) simulator.unlock();
  process.stdout.write(`${describeRunningSimulator(simulator).join("\n")}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping the simulator\n`);
    simulator.close().then(
      () => {
        process.exitCode = 0;
        // Everything is closed, so node exits by itself; this only guards against a stray handle.
        setTimeout(() => process.exit(0), 2000).unref();
      },
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${error instanceof Error ? error.message : error}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (isEntryPoint(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `cannot start the simulator: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
  });
}

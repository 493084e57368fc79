import { access, constants } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import type { LiveStatus } from "../../control/index.js";
import {
  displayModel,
  gpioHint,
  type I2cOpener,
  type IndicatorConfig,
  i2cHint,
  type LedTarget,
  openDisplay,
  realTimers,
  resolveGpio,
  stderrTerminal,
} from "../../indicators/index.js";
import { errorCode, errorMessage } from "../../util/errors.js";
import { type CheckResult, failed, ok, skipped, withTimeout } from "./result.js";

/**
 * The LEDs resolve the way the agent resolves them at start: BCM line -> sysfs number through the
 * header's gpiochip, and sysfs export (or the LED class attribute) writable for this user.
 */
export async function checkLeds(config: IndicatorConfig, sysfsRoot: string): Promise<CheckResult> {
  const name = "gpio";
  const configured: [string, string, LedTarget][] = [
    ["status", "CW_AGENT_LED_STATUS", config.leds.status],
    ["fault", "CW_AGENT_LED_FAULT", config.leds.fault],
  ];
  const roles = configured.filter(([, , target]) => target.kind !== "none");
  if (roles.length === 0) return skipped(name, "no LED configured (CW_AGENT_LED_STATUS, CW_AGENT_LED_FAULT)");

  const found: string[] = [];
  for (const [role, variable, target] of roles) {
    if (target.kind === "gpio") {
      let sysfsNumber: number;
      try {
        sysfsNumber = (await resolveGpio(target.line, config.gpio, sysfsRoot)).sysfsNumber;
      } catch (error) {
        return failed(
          name,
          `${role} LED (${variable}=gpio:${target.line}): ${errorMessage(error)}`,
          `set CW_AGENT_GPIO_CHIP or CW_AGENT_GPIO_BASE as above, or ${variable}=none on a gateway without this LED`,
        );
      }
      const alreadyExported = await writable(join(sysfsRoot, "class", "gpio", `gpio${sysfsNumber}`, "value"));
      if (!alreadyExported) {
        const exportFile = join(sysfsRoot, "class", "gpio", "export");
        const problem = await accessProblem(exportFile);
        if (problem !== undefined) {
          return failed(name, `${role} LED: cannot write ${exportFile} (${problem})`, gpioHint(problem));
        }
      }
      found.push(`${role} BCM ${target.line} = sysfs gpio${sysfsNumber}`);
    } else if (target.kind === "led-class") {
      const brightness = join(sysfsRoot, "class", "leds", target.name, "brightness");
      const problem = await accessProblem(brightness);
      if (problem !== undefined) {
        return failed(
          name,
          `${role} LED (${variable}=led:${target.name}): cannot write ${brightness} (${problem})`,
          gpioHint(problem),
        );
      }
      found.push(`${role} led:${target.name}`);
    }
  }
  return ok(name, `LEDs resolvable: ${found.join(", ")}`);
}

async function writable(path: string): Promise<boolean> {
  return (await accessProblem(path)) === undefined;
}

async function accessProblem(path: string): Promise<string | undefined> {
  try {
    await access(path, constants.W_OK);
    return undefined;
  } catch (error) {
    return errorCode(error) ?? "error";
  }
}

/** Opens the bus and probes the display the way the agent does (a NOP or a port read), then closes it. */
export async function checkDisplay(
  config: IndicatorConfig,
  openBus: I2cOpener,
  timeoutMs: number,
): Promise<CheckResult> {
  const name = "display";
  const display = config.display;
  const kind = displayModel(display.model).kind;
  if (kind === "none") return skipped(name, "no display configured (CW_AGENT_DISPLAY_MODEL)");
  if (kind === "virtual")
    return ok(name, `${display.model} display: drawn on the agent's terminal, nothing to probe`);
  const where = `/dev/i2c-${display.bus}${display.address === "auto" ? "" : ` at 0x${display.address.toString(16)}`}`;
  try {
    const opened = await withTimeout(
      openDisplay({ config: display, openBus, timers: realTimers, terminal: stderrTerminal }),
      timeoutMs,
      `probing the display on ${where}`,
    );
    const description = opened.description;
    await opened.close().catch(() => {});
    return ok(name, `${description} answered ${PROBED_HERE}`);
  } catch (error) {
    const code = errorCode(error);
    return failed(
      name,
      `${display.model} display on ${where}: ${errorMessage(error)}${code && !errorMessage(error).includes(code) ? ` (${code})` : ""}`,
      i2cHint(code),
    );
  }
}

/** The probe above runs in this command's process, not in the service's sandbox: say so. */
const PROBED_HERE = `(probed by this command as ${currentUser()}, outside the agent's sandbox)`;

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? "?"}`;
  }
}

/** What asking the running agent for its status gave. */
export type AgentAnswer =
  | { readonly running: true; readonly status: LiveStatus }
  | { readonly running: false; readonly reason: string };

/**
 * The display as the running agent sees it, through its own device filter and groups: a bus that
 * appeared after the service started can answer the probe above and still be closed to the agent.
 */
export function checkDisplayInAgent(config: IndicatorConfig, agent: AgentAnswer): CheckResult {
  const name = "display-agent";
  if (displayModel(config.display.model).kind === "none") {
    return skipped(name, "no display configured (CW_AGENT_DISPLAY_MODEL)");
  }
  if (!agent.running) {
    return skipped(name, `${agent.reason}; only the probe above, outside the agent's sandbox, was made`);
  }
  const { display, pid } = agent.status;
  if (display === undefined)
    return skipped(name, `the running agent (pid ${pid}) does not report its display`);
  if (display.working) return ok(name, `the running agent (pid ${pid}) draws on the ${display.description}`);
  const code = /\((E[A-Z]+)\)$/.exec(display.error ?? "")?.[1];
  return failed(
    name,
    `the running agent (pid ${pid}) cannot use the ${display.description}: ${display.error ?? "not answering"}`,
    code === "EPERM"
      ? "the service's device filter did not allow the bus when the agent started; cw-agent-i2c-refresh.service allows a bus that appears later (the package and install.sh install it), or run: sudo systemctl restart cw-agent"
      : i2cHint(code),
  );
}

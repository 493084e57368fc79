import type { Part } from "../agent/parts.js";
import type { Logger } from "../logging/logger.js";
import type { Publish } from "../mqtt/session.js";
import { errorMessage } from "../util/errors.js";
import {
  type DiskFacts,
  type MachineRoots,
  type MemoryFacts,
  readCpuTemperature,
  readDisk,
  readLoad,
  readMemory,
  readStorageWrites,
  readUptimeSeconds,
  type StorageWrites,
} from "./machine.js";
import { type PowerReading, powerWarning, readPower } from "./power.js";

/** [ours] Where health goes: `<prefix>/health`, QoS 0, not retained (docs/remote.md). */
export const healthTopic = (prefix: string) => `${prefix}/health`;

/** When health messages are off, under-voltage and throttling are still watched this often. */
const WATCH_ONLY_INTERVAL_S = 60;

/** The health message (docs/schemas/health.schema.json). A fact this machine lacks is left out. */
export interface HealthMessage {
  /** Epoch ms of the sample. */
  readonly time: number;
  readonly uptimeS?: number;
  readonly load?: readonly [number, number, number];
  readonly memory?: MemoryFacts;
  readonly disk?: DiskFacts;
  readonly cpuTemperatureC?: number;
  readonly power?: PowerReading;
  readonly storageWrites?: StorageWrites;
  /** Connections to the broker after the first since the agent started. */
  readonly mqttReconnects: number;
  /** Requests to the client registry since the agent started. */
  readonly registryRequests: number;
}

export interface HealthReporterDeps {
  readonly topicPrefix: string;
  readonly stateDir: string;
  readonly roots: MachineRoots;
  /** Seconds between messages; 0 = no messages (the power watch goes on). */
  readonly intervalS: number;
  readonly logger: Logger;
  readonly registryRequests: () => number;
  /** The lifecycle's warning: under-voltage and throttling show there (and on the fault LED). */
  readonly setWarning: (warning: string | undefined) => void;
  readonly now?: () => number;
}

/**
 * Samples the machine every interval, publishes the health message while connected and turns
 * under-voltage and throttling into the lifecycle's warning, logging each change once.
 */
export class HealthReporter implements Part {
  readonly name = "health";
  private timer: NodeJS.Timeout | undefined;
  private publish: Publish | undefined;
  private logins = 0;
  private warning: string | undefined;
  private sampling: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: HealthReporterDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Each login hands over the publish function of the new connection. */
  connected(publish: Publish): void {
    this.logins += 1;
    this.publish = publish;
  }

  get mqttReconnects(): number {
    return Math.max(0, this.logins - 1);
  }

  start(): void {
    const seconds = this.deps.intervalS > 0 ? this.deps.intervalS : WATCH_ONLY_INTERVAL_S;
    this.timer = setInterval(() => void this.tick(), seconds * 1000);
    // The first look at the power supply at once: an under-powered Pi shows it from the start.
    void this.tick({ publish: false });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sampling;
  }

  /** One sample: the warning follows it, and it is published when messages are on and connected. */
  tick(options: { publish?: boolean } = {}): Promise<void> {
    // A slow SD card must not stack samples up.
    if (this.sampling !== undefined) return this.sampling;
    this.sampling = (async () => {
      try {
        const publish = this.publish;
        if (!(options.publish ?? true) || this.deps.intervalS <= 0 || publish === undefined) {
          // Nothing goes out: the power supply is all there is to look at.
          this.follow(await readPower(this.deps.roots.sysfsRoot));
          return;
        }
        const message = await this.sample();
        this.follow(message.power);
        await publish(healthTopic(this.deps.topicPrefix), JSON.stringify(message), {
          qos: 0,
          retain: false,
        }).catch((error: unknown) =>
          this.deps.logger.debug({ err: error }, `Health message not sent: ${errorMessage(error)}`),
        );
      } finally {
        this.sampling = undefined;
      }
    })();
    return this.sampling;
  }

  async sample(): Promise<HealthMessage> {
    const { roots, stateDir } = this.deps;
    const [uptimeS, load, memory, disk, cpuTemperatureC, power, storageWrites] = await Promise.all([
      readUptimeSeconds(roots),
      readLoad(roots),
      readMemory(roots),
      readDisk(stateDir),
      readCpuTemperature(roots),
      readPower(roots.sysfsRoot),
      readStorageWrites(roots, stateDir),
    ]);
    return {
      time: this.now(),
      ...(uptimeS === undefined ? {} : { uptimeS }),
      ...(load === undefined ? {} : { load }),
      ...(memory === undefined ? {} : { memory }),
      ...(disk === undefined ? {} : { disk }),
      ...(cpuTemperatureC === undefined ? {} : { cpuTemperatureC }),
      ...(power === undefined ? {} : { power }),
      ...(storageWrites === undefined ? {} : { storageWrites }),
      mqttReconnects: this.mqttReconnects,
      registryRequests: this.deps.registryRequests(),
    };
  }

  /** One log line per change of the power situation, and the lifecycle's warning with it. */
  private follow(power: PowerReading | undefined): void {
    const warning = powerWarning(power);
    if (warning === this.warning) return;
    const previous = this.warning;
    this.warning = warning;
    if (warning !== undefined) {
      this.deps.logger.warn(
        { power },
        `Power problem: ${warning}; check the power supply and the cooling (an under-powered Pi corrupts SD cards)`,
      );
    } else {
      this.deps.logger.info({ power, previous }, `Power back to normal (was: ${previous})`);
    }
    this.deps.setWarning(warning === undefined ? undefined : `Power: ${warning}`);
  }
}

import type { IClientPublishOptions, IPublishPacket, MqttClient } from "mqtt";
import type { AgentConfig } from "../config/config.js";
import type { Lifecycle } from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";
import type { StoredCredentials } from "../storage/credential-store.js";
import { ExponentialBackoff } from "../util/backoff.js";
import { errorMessage } from "../util/errors.js";
import { describeNetworkError } from "../util/network-error.js";
import { sleep } from "../util/sleep.js";
import { AuthRejectionTracker, isAuthRejection } from "./auth-rejection.js";
import { brokerUrl, clientOptions, connectMqtt, type MqttClientFactory } from "./client.js";
import { clientCertificateOf } from "./client-certificate.js";

/** [ours] Retained payloads on `<prefix>/status` (protocol contract §8). */
export const STATUS_ONLINE = "online";
export const STATUS_OFFLINE = "offline";
export const statusTopic = (prefix: string) => `${prefix}/status`;

/** A connection that lasted this long proves the network is fine again, so backoff starts over. */
const STABLE_CONNECTION_MS = 30_000;
/** How long a clean stop waits for the broker to take the offline status before closing anyway. */
const GOODBYE_TIMEOUT_MS = 1_500;

export type SessionEnd = "stopped" | "credentials-rejected";

type AttemptResult =
  | { kind: "stopped" }
  | { kind: "rejected"; reason: string }
  | { kind: "lost"; reason: string; connectedForMs: number | undefined };

export interface MqttSessionDeps {
  config: AgentConfig;
  lifecycle: Lifecycle;
  logger: Logger;
  random?: () => number;
  /** Wall clock: only for the times shown to people (next attempt at...). */
  now?: () => number;
  /** Monotonic clock for every duration the session decides on; unaffected by NTP steps. */
  monotonicNow?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Builds the mqtt.js client of each connection attempt. */
  connect?: MqttClientFactory;
  /** Messages on the agent's own topics, e.g. commands; subscribed to after every login. */
  messages?: MessageHandler;
}

/**
 * Publishes on the connection the publish function was handed out with; resolves once the broker
 * took it (QoS 1) or it was written (QoS 0), rejects when that connection is gone.
 */
export type Publish = (
  topic: string,
  payload: string,
  options?: Pick<IClientPublishOptions, "qos" | "retain" | "properties">,
) => Promise<void>;

/**
 * Where the agent's own command topics plug in: the session subscribes to `subscriptions` after
 * each login and hands every message over (the whole packet: retain flag, MQTT 5 properties), with
 * a way to answer on the same connection. `onLogin` runs after each login, once the broker
 * acknowledged the subscriptions: from then on, requests reach the handler.
 */
export interface MessageHandler {
  readonly subscriptions: readonly string[];
  onLogin?(publish: Publish): void;
  onMessage(packet: IPublishPacket, publish: Publish): void;
}

/**
 * Keeps one MQTT connection to Connectware alive with granted credentials. Reconnects on its own
 * (exponential backoff with jitter, reset after a stable connection); ends only when stopped or
 * when the broker keeps rejecting the credentials (see AuthRejectionTracker).
 */
export class MqttSession {
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly monotonicNow: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly connect: MqttClientFactory;

  constructor(private readonly deps: MqttSessionDeps) {
    this.connect = deps.connect ?? connectMqtt;
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.monotonicNow = deps.monotonicNow ?? (() => performance.now());
    this.sleep = deps.sleep ?? sleep;
  }

  get brokerUrl(): string {
    return brokerUrl(this.deps.config);
  }

  async run(credentials: StoredCredentials, signal: AbortSignal): Promise<SessionEnd> {
    const { config, lifecycle, logger } = this.deps;
    const tracker = new AuthRejectionTracker(
      config.mqtt.authRejectCount,
      config.mqtt.authRejectWindowMs,
      this.monotonicNow,
    );
    // Spread: every agent of a site loses the broker in the same instant (see FLEET_SPREAD_STEPS).
    const backoff = new ExponentialBackoff(
      config.mqtt.reconnectMinMs,
      config.mqtt.reconnectMaxMs,
      this.random,
      { spreadFirst: true },
    );
    let lastReported: string | undefined;
    lifecycle.transition("connecting");

    while (!signal.aborted) {
      const result = await this.connectOnce(credentials, signal, () => {
        tracker.reset();
        lastReported = undefined;
      });
      if (result.kind === "stopped" || signal.aborted) return "stopped";

      if (result.kind === "lost") {
        tracker.reset();
        if ((result.connectedForMs ?? 0) >= STABLE_CONNECTION_MS) backoff.reset();
      }
      const delayMs = backoff.next();
      const report = result.reason;
      if (result.kind === "rejected") {
        const persistent = tracker.record();
        logger.warn(
          { broker: this.brokerUrl, username: credentials.username, rejections: tracker.rejections },
          `Broker rejected the credentials of "${credentials.username}": ${result.reason}`,
        );
        if (persistent) {
          logger.error(
            { username: credentials.username, rejections: tracker.rejections },
            `Broker keeps rejecting the cached credentials (${tracker.rejections} times over at least ${Math.round(config.mqtt.authRejectWindowMs / 1000)} s); discarding them and registering again`,
          );
          return "credentials-rejected";
        }
      } else if (report !== lastReported) {
        logger.warn(
          { broker: this.brokerUrl, retryInMs: delayMs },
          `MQTT connection ${result.reason}; reconnecting`,
        );
      } else {
        logger.debug({ retryInMs: delayMs }, `MQTT connection ${result.reason}`);
      }
      lastReported = report;
      lifecycle.transition("reconnecting", { nextAttemptAt: this.now() + delayMs, lastError: result.reason });
      await this.sleep(delayMs, signal);
    }
    return "stopped";
  }

  /** One connection from CONNECT to close. `onLogin` runs when the broker accepted the credentials. */
  private connectOnce(
    credentials: StoredCredentials,
    signal: AbortSignal,
    onLogin: () => void,
  ): Promise<AttemptResult> {
    const { config, lifecycle, logger } = this.deps;
    const topic = statusTopic(config.topicPrefix);
    const options = clientOptions(
      config,
      { clientId: config.agentName, username: credentials.username, password: credentials.password },
      { will: { topic, payload: Buffer.from(STATUS_OFFLINE), qos: 1, retain: true } },
      clientCertificateOf(credentials),
    );
    const messages = this.deps.messages;

    return new Promise<AttemptResult>((resolve) => {
      const client: MqttClient = this.connect(this.brokerUrl, options);
      let connectedAt: number | undefined;
      let lastError: unknown;
      let settled = false;
      const settle = (result: AttemptResult) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        resolve(result);
      };

      const onAbort = () => {
        void this.sayGoodbye(client, topic, connectedAt !== undefined).then(() =>
          settle({ kind: "stopped" }),
        );
      };
      signal.addEventListener("abort", onAbort, { once: true });

      client.on("connect", () => {
        connectedAt = this.monotonicNow();
        // A CONNACK that arrives while stopping must not turn "stopping" back into "online".
        if (signal.aborted) return;
        onLogin();
        lifecycle.transition("online");
        client.publish(topic, STATUS_ONLINE, { qos: 1, retain: true }, (error) => {
          if (error) logger.warn({ err: error, topic }, "Could not publish the online status");
        });
        const loggedIn = () => {
          if (messages?.onLogin === undefined || signal.aborted) return;
          try {
            messages.onLogin(publish);
          } catch (error) {
            logger.error({ err: error }, "A login handler failed");
          }
        };
        if (messages !== undefined && messages.subscriptions.length > 0) {
          // onLogin after the SUBACK: what it announces (the birth record) means "listening".
          client.subscribe([...messages.subscriptions], { qos: 1 }, (error) => {
            if (error) logger.warn({ err: error }, "Could not subscribe to the agent's command topics");
            loggedIn();
          });
        } else {
          loggedIn();
        }
      });
      // Only ever this connection: a publish handed out before a reconnect fails instead of
      // being queued for a connection that no longer exists.
      const publish: Publish = (publishTopic, payload, publishOptions = {}) => {
        if (!client.connected) return Promise.reject(new Error("not connected to the broker"));
        return client
          .publishAsync(publishTopic, payload, { qos: 1, ...publishOptions })
          .then(() => undefined);
      };
      if (messages !== undefined) {
        client.on("message", (_messageTopic, _payload, packet) => {
          try {
            messages.onMessage(packet, publish);
          } catch (error) {
            logger.error({ err: error, topic: packet.topic }, "A message handler failed");
          }
        });
      }
      client.on("error", (error) => {
        lastError = error;
      });
      client.on("close", () => {
        if (signal.aborted) return; // onAbort settles after the goodbye
        client.end(true);
        if (isAuthRejection(lastError)) {
          settle({ kind: "rejected", reason: errorMessage(lastError) });
          return;
        }
        const connectedForMs = connectedAt === undefined ? undefined : this.monotonicNow() - connectedAt;
        const reason =
          connectedAt === undefined
            ? `to ${this.brokerUrl} failed (${describeMqttError(lastError)})`
            : `to ${this.brokerUrl} lost${lastError ? ` (${describeMqttError(lastError)})` : ""}`;
        settle({ kind: "lost", reason, connectedForMs });
      });
    });
  }

  /** Publishes the retained offline status (a clean DISCONNECT suppresses the last will), then closes. */
  private async sayGoodbye(client: MqttClient, topic: string, connected: boolean): Promise<void> {
    if (connected && client.connected) {
      await Promise.race([
        client.publishAsync(topic, STATUS_OFFLINE, { qos: 1, retain: true }).catch(() => undefined),
        sleep(GOODBYE_TIMEOUT_MS),
      ]);
    }
    await Promise.race([client.endAsync(false).catch(() => undefined), sleep(GOODBYE_TIMEOUT_MS)]);
    client.end(true);
  }
}

function describeMqttError(error: unknown): string {
  return error === undefined ? "connection closed" : describeNetworkError(error);
}

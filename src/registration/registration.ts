import { hostname } from "node:os";
import type { AgentConfig } from "../config/config.js";
import type { Lifecycle } from "../lifecycle/lifecycle.js";
import type { Logger } from "../logging/logger.js";
import type { StoredCredentials } from "../storage/credential-store.js";
import { ExponentialBackoff, spreadOver, withJitter } from "../util/backoff.js";
import { sleep } from "../util/sleep.js";
import { AGENT_VERSION } from "../version.js";
import { type RegistrationOutcome, type RegistrationRequest, RegistryClient } from "./registry-client.js";

/** What the registry answered with 201: with a CSR, the body carries the signed certificate. */
export interface Grant {
  readonly body: string;
}

export interface RegistrationDeps {
  config: AgentConfig;
  lifecycle: Lifecycle;
  logger: Logger;
  client?: RegistryClient;
  random?: () => number;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * The explicit registration flow (protocol contract §2): re-sends the same request until the
 * registry answers 201, driving the lifecycle through registering / registry-locked / pending /
 * conflict. Never gives up and never changes the credentials: that is the caller's decision.
 */
export class Registration {
  private readonly client: RegistryClient;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Registry requests sent since the process started (reported in the health message). */
  requestCount = 0;

  constructor(private readonly deps: RegistrationDeps) {
    const { config } = deps;
    this.client =
      deps.client ??
      new RegistryClient({
        baseUrl: config.registry.baseUrl,
        timeoutMs: config.registry.requestTimeoutMs,
        ca: config.tls.ca,
        trustAllCerts: config.tls.trustAllCerts,
        proxy: config.registry.proxy.kind === "proxy" ? config.registry.proxy.proxy : undefined,
      });
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? sleep;
  }

  /**
   * Resolves with the grant (the 201 body) once the registry granted these credentials, undefined
   * if `signal` aborted first. `freshlyGenerated` only changes the wording of the announcement
   * (protocol contract §7). `accept` may refuse a grant (mutual TLS: no usable certificate in it):
   * its reason is logged as an error and the same request is sent again after a backoff.
   */
  async run(
    credentials: StoredCredentials,
    freshlyGenerated: boolean,
    signal: AbortSignal,
    accept: (body: string) => string | undefined = () => undefined,
  ): Promise<Grant | undefined> {
    const { config, lifecycle, logger } = this.deps;
    const registryHost = config.registry.baseUrl.host;
    const pairingId = credentials.pairingId;
    lifecycle.transition("registering", { pairingId });

    logger.info(
      `Asking for Connectware registration at ${registryHost} with ${freshlyGenerated ? "newly generated" : "previously generated"} credentials...`,
    );
    logger.info("The registration process must be finished using the web-interface.");
    logger.info('Navigate to "User Management -> Client Registry", click unlock and authorize this client.');
    logger.info(`Username: ${credentials.username}, pairing ID (should match in UI): ${pairingId}`);
    const route = config.registry.proxy;
    if (route.kind === "proxy") {
      logger.info(
        { proxy: route.proxy.address },
        `Registry requests go through the HTTP proxy ${route.proxy.address} (${route.proxy.variable}); MQTT does not`,
      );
    } else if (route.kind === "bypassed") {
      logger.info(
        `Registry requests bypass the proxy of ${route.proxyVariable}: ${route.variable} entry "${route.entry}" names ${config.registry.baseUrl.hostname}`,
      );
    }

    const request = this.buildRequest(credentials);
    const backoff = new ExponentialBackoff(
      config.registry.retryMinMs,
      config.registry.retryMaxMs,
      this.random,
    );
    let lastReported: string | undefined;
    const proxyField = route.kind === "proxy" ? { proxy: route.proxy.address } : {};

    // A site that powers up together would send every first request, and then every poll, in the
    // same instant; a random phase within one pending interval spreads them for good.
    await this.sleep(spreadOver(config.registry.pendingPollMs, this.random), signal);

    while (!signal.aborted) {
      this.requestCount += 1;
      const outcome = await this.client.register(request, signal);
      if (signal.aborted) return undefined;
      const refused = outcome.kind === "granted" ? accept(outcome.body) : undefined;
      const report = refused === undefined ? reportKey(outcome) : `refused:${refused}`;
      const changed = report !== lastReported;
      lastReported = report;

      let delayMs: number;
      if (refused !== undefined) {
        delayMs = backoff.next();
        logger.error(
          { username: credentials.username, pairingId, retryInMs: delayMs },
          `Connectware granted the registration, but its answer is unusable: ${refused}; asking again`,
        );
        lifecycle.transition("registering", {
          pairingId,
          nextAttemptAt: this.now() + delayMs,
          lastError: `unusable grant: ${refused}`,
        });
        await this.sleep(delayMs, signal);
        continue;
      }
      switch (outcome.kind) {
        case "granted":
          logger.info({ username: credentials.username, pairingId }, "Registration granted by Connectware");
          return { body: outcome.body };
        case "pending":
          backoff.reset();
          delayMs = withJitter(config.registry.pendingPollMs, this.random);
          lifecycle.transition("pending", { pairingId, nextAttemptAt: this.now() + delayMs });
          break;
        case "locked":
          backoff.reset();
          delayMs = withJitter(config.registry.lockedPollMs, this.random);
          lifecycle.transition("registry-locked", { pairingId, nextAttemptAt: this.now() + delayMs });
          break;
        case "conflict":
          backoff.reset();
          delayMs = withJitter(config.registry.conflictPollMs, this.random);
          if (changed) {
            logger.error(
              { username: credentials.username, serverMessage: outcome.serverMessage },
              `Registration conflict (409 Conflict): Connectware already has a user "${credentials.username}" with other credentials. ` +
                `Delete that user in the Connectware Admin UI (User Management -> Users), or give this agent another CYBUS_AGENT_NAME; ` +
                `retrying every ${Math.round(config.registry.conflictPollMs / 1000)} s`,
            );
          }
          lifecycle.transition("conflict", {
            pairingId,
            nextAttemptAt: this.now() + delayMs,
            lastError: "409 Conflict: username already in use",
          });
          break;
        case "transient": {
          const backoffMs = backoff.next();
          // A Retry-After is honoured with jitter too, or a fleet behind one ingress retries in lockstep.
          const retryAfterMs =
            outcome.retryAfterMs === undefined ? 0 : withJitter(outcome.retryAfterMs, this.random);
          delayMs = Math.min(config.registry.retryMaxMs, Math.max(backoffMs, retryAfterMs));
          if (changed) {
            logger.warn(
              { registry: registryHost, ...proxyField, retryInMs: delayMs },
              `Registration request failed, will retry: ${outcome.reason}`,
            );
          } else {
            logger.debug({ retryInMs: delayMs }, `Registration request failed again: ${outcome.reason}`);
          }
          lifecycle.transition("registering", {
            pairingId,
            nextAttemptAt: this.now() + delayMs,
            lastError: outcome.reason,
          });
          break;
        }
      }
      await this.sleep(delayMs, signal);
    }
    return undefined;
  }

  private buildRequest(credentials: StoredCredentials): RegistrationRequest {
    const { config } = this.deps;
    return {
      username: credentials.username,
      password: credentials.password,
      context: {
        pairingId: credentials.pairingId,
        agentName: config.agentName,
        agentVersion: AGENT_VERSION,
        hostname: hostname(),
        // Where the agent's topics are: the simulator keeps each agent's publishes under it.
        topicPrefix: config.topicPrefix,
      },
      permissions: [{ resourceType: "mqtt", resource: `${config.topicPrefix}/#`, operation: "readWrite" }],
      ...(credentials.tls === undefined ? {} : { csr: credentials.tls.csr }),
    };
  }
}

function reportKey(outcome: RegistrationOutcome): string {
  return outcome.kind === "transient" ? `transient:${outcome.reason}` : outcome.kind;
}

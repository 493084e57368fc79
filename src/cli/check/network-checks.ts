import { lookup } from "node:dns/promises";
import net, { isIP } from "node:net";
import tls from "node:tls";
import mqtt from "mqtt";
import { type AgentConfig, hostForUrl } from "../../config/config.js";
import type { StoredCredentials } from "../../storage/credential-store.js";
import { formatTime } from "../output.js";
import { type CheckResult, failed, ok, warning, withTimeout } from "./result.js";

/** A peer of the agent: the client registry (HTTP/HTTPS) or the broker (MQTT/MQTTS). */
export interface Peer {
  /** "registry" or "broker": prefix of the check names. */
  readonly role: "registry" | "broker";
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** The settings that decide host and port, named in hints. */
  readonly settings: string;
}

/** A certificate this close to its end is reported as a warning. */
const EXPIRY_WARNING_MS = 14 * 86_400_000;

export function registryPeer(config: AgentConfig): Peer {
  const url = config.registry.baseUrl;
  const isHttps = url.protocol === "https:";
  return {
    role: "registry",
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port === "" ? (isHttps ? 443 : 80) : Number(url.port),
    tls: isHttps,
    settings: "CW_AGENT_REGISTRY_URL or CYBUS_HOSTNAME_INGRESS",
  };
}

export function brokerPeer(config: AgentConfig): Peer {
  return {
    role: "broker",
    host: config.mqtt.host.replace(/^\[|\]$/g, ""),
    port: config.mqtt.port,
    tls: config.mqtt.scheme === "mqtts",
    settings: "CYBUS_MQTT_HOST, CYBUS_MQTT_PORT and CYBUS_MQTT_SCHEME",
  };
}

export async function checkDns(peer: Peer, timeoutMs: number): Promise<CheckResult> {
  const name = `${peer.role}-dns`;
  if (isIP(peer.host) !== 0) return ok(name, `${peer.host} is an IP address; nothing to resolve`);
  try {
    const addresses = await withTimeout(
      lookup(peer.host, { all: true }),
      timeoutMs,
      `resolving ${peer.host}`,
    );
    return ok(name, `${peer.host} resolves to ${addresses.map((entry) => entry.address).join(", ")}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    return failed(
      name,
      `${peer.host} does not resolve (${code})`,
      `check the host name in ${peer.settings} and the gateway's DNS (/etc/resolv.conf)`,
    );
  }
}

export function checkTcp(peer: Peer, timeoutMs: number): Promise<CheckResult> {
  const name = `${peer.role}-tcp`;
  const target = `${peer.host}:${peer.port}`;
  const socket = net.connect({ host: peer.host, port: peer.port });
  return probe(
    socket,
    timeoutMs,
    () =>
      failed(
        name,
        `no TCP connection to ${target} within ${timeoutMs} ms`,
        "a firewall may drop the packets, or the host is down",
      ),
    (finish) => {
      socket.once("connect", () => finish(ok(name, `TCP connection to ${target} established`)));
      socket.once("error", (error: NodeJS.ErrnoException) => {
        const code = error.code ?? "error";
        const hint =
          code === "ECONNREFUSED"
            ? `nothing listens there: is Connectware running, and are ${peer.settings} right?`
            : code === "EHOSTUNREACH" || code === "ENETUNREACH"
              ? "no route to the host: check the gateway's network and the address"
              : `check ${peer.settings} and the network`;
        finish(failed(name, `TCP connection to ${target} failed (${code})`, hint));
      });
    },
  );
}

/**
 * Resolves with the first result `listen` reports for `socket`, or with `onTimeout()` after
 * `timeoutMs`; the socket is destroyed and the timer cleared either way.
 */
function probe(
  socket: net.Socket,
  timeoutMs: number,
  onTimeout: () => CheckResult,
  listen: (finish: (result: CheckResult) => void) => void,
): Promise<CheckResult> {
  return new Promise((resolve) => {
    const finish = (result: CheckResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(onTimeout()), timeoutMs);
    listen(finish);
  });
}

const UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
]);

function tlsHint(code: string, peer: Peer): string {
  if (UNTRUSTED.has(code))
    return "set CW_AGENT_CA_FILE to the CA certificate that signed Connectware's server certificate";
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID")
    return "check the gateway's clock; if it is right, Connectware's certificate must be renewed";
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
    return `connect by a name the certificate lists (${peer.settings}), or reissue the certificate with this name`;
  return `is ${peer.host}:${peer.port} a TLS port? check ${peer.settings}`;
}

/**
 * Handshakes with verification switched off in Node, then judges the result the way the agent
 * would: chain trusted by CW_AGENT_CA_FILE (or the system store), certificate valid now, host
 * name matching. Node reports all three in `authorizationError` with its TLS error codes.
 */
export function checkTls(
  peer: Peer,
  config: AgentConfig,
  now: number,
  timeoutMs: number,
): Promise<CheckResult> {
  const name = `${peer.role}-tls`;
  const target = `${peer.host}:${peer.port}`;
  if (!peer.tls) {
    const broker = peer.role === "broker";
    return Promise.resolve(
      warning(
        name,
        `${broker ? "mqtt://" : "http://"} is configured: the ${broker ? "broker" : "registry"} gets the password in cleartext`,
        broker
          ? "set CYBUS_MQTT_SCHEME=mqtts (port 8883) and CW_AGENT_CA_FILE"
          : "use an https:// registry (CW_AGENT_REGISTRY_URL) and CW_AGENT_CA_FILE",
      ),
    );
  }
  const socket = tls.connect({
    host: peer.host,
    port: peer.port,
    ...(isIP(peer.host) === 0 ? { servername: peer.host } : {}),
    ca: config.tls.ca,
    rejectUnauthorized: false,
  });
  return probe(
    socket,
    timeoutMs,
    () =>
      failed(
        name,
        `no TLS handshake with ${target} within ${timeoutMs} ms`,
        `is ${target} a TLS port? check ${peer.settings}`,
      ),
    (finish) => {
      socket.once("secureConnect", () => {
        const certificate = socket.getPeerCertificate();
        const validTo = certificate.valid_to ? Date.parse(certificate.valid_to) : Number.NaN;
        const error = socket.authorizationError;
        if (!socket.authorized && error !== undefined) {
          const code =
            typeof error === "string" ? error : ((error as NodeJS.ErrnoException).code ?? error.message);
          const message = `certificate of ${target} rejected (${code})`;
          finish(
            config.tls.trustAllCerts
              ? warning(
                  name,
                  `${message}; the agent accepts it anyway because CYBUS_TRUST_ALL_CERTS=true`,
                  tlsHint(code, peer),
                )
              : failed(name, message, tlsHint(code, peer)),
          );
          return;
        }
        const expiry = Number.isNaN(validTo) ? "" : `, valid until ${formatTime(validTo)}`;
        if (!Number.isNaN(validTo) && validTo - now < EXPIRY_WARNING_MS) {
          finish(
            warning(
              name,
              `certificate of ${target} is trusted but expires soon${expiry}`,
              "renew Connectware's certificate",
            ),
          );
          return;
        }
        if (config.tls.trustAllCerts) {
          finish(
            warning(
              name,
              `certificate of ${target} is trusted${expiry}, but CYBUS_TRUST_ALL_CERTS=true disables verification`,
              "set CYBUS_TRUST_ALL_CERTS=false",
            ),
          );
          return;
        }
        finish(ok(name, `certificate of ${target} is trusted and names the host${expiry}`));
      });
      socket.once("error", (error: NodeJS.ErrnoException) => {
        const code = error.code ?? "error";
        finish(failed(name, `TLS handshake with ${target} failed (${code})`, tlsHint(code, peer)));
      });
    },
  );
}

/** CONNACK return codes (MQTT 3.1.1) and reason codes (MQTT 5) that reject a login. */
const BAD_CREDENTIALS = new Set([4, 0x86]);
const NOT_AUTHORIZED = new Set([5, 0x87]);

/**
 * Logs in with the stored credentials under another client id, so the broker does not take the
 * running agent's session over (MQTT 3.1.1 §3.1.4: a second CONNECT with the same id disconnects
 * the first), and disconnects at once.
 */
export function checkMqttLogin(
  config: AgentConfig,
  credentials: StoredCredentials,
  timeoutMs: number,
): Promise<CheckResult> {
  const name = "mqtt-login";
  const { scheme, host, port } = config.mqtt;
  const url = `${scheme}://${hostForUrl(host)}:${port}`;
  const clientId = `${config.agentName}-check`;
  const connectTimeout = Math.min(config.mqtt.connectTimeoutMs, timeoutMs);
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      clientId,
      username: credentials.username,
      password: credentials.password,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout,
      ...(scheme === "mqtts"
        ? {
            ca: config.tls.ca,
            rejectUnauthorized: !config.tls.trustAllCerts,
            ...(isIP(host) === 0 ? { servername: host } : {}),
          }
        : {}),
    });
    let settled = false;
    let lastError: unknown;
    const finish = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      resolve(result);
    };
    // mqtt.js closes on its own connectTimeout; this is the backstop for everything else.
    const timer = setTimeout(
      () =>
        finish(
          failed(name, `no CONNACK from ${url} within ${timeoutMs} ms`, "check the broker's load and logs"),
        ),
      timeoutMs + 500,
    );
    client.on("connect", () =>
      finish(ok(name, `${url} accepted "${credentials.username}" (client id ${clientId})`)),
    );
    client.on("error", (error) => {
      lastError = error;
      const code = (error as { code?: unknown }).code;
      if (typeof code === "number" && BAD_CREDENTIALS.has(code)) {
        finish(
          failed(
            name,
            `${url} rejected "${credentials.username}": bad user name or password (CONNACK ${code})`,
            "the user was deleted or its password changed in Connectware: run `cw-agent reset` and authorize the new pairing ID",
          ),
        );
      } else if (typeof code === "number" && NOT_AUTHORIZED.has(code)) {
        finish(
          failed(
            name,
            `${url} rejected "${credentials.username}": not authorized (CONNACK ${code})`,
            "the user lacks the permission to connect, or the registration was revoked: check the user in Connectware, or run `cw-agent reset`",
          ),
        );
      }
    });
    client.on("close", () => {
      const code = (lastError as NodeJS.ErrnoException | undefined)?.code;
      const reason =
        lastError === undefined
          ? "connection closed"
          : `${code ? `${String(code)}: ` : ""}${(lastError as Error).message}`;
      finish(
        failed(name, `MQTT login at ${url} failed (${reason.slice(0, 200)})`, "see the broker checks above"),
      );
    });
  });
}

import { lookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import net, { isIP } from "node:net";
import tls from "node:tls";
import { type AgentConfig, hostForUrl } from "../../config/config.js";
import type { HttpProxy } from "../../config/proxy.js";
import {
  brokerUrl,
  clientOptions,
  connectMqtt,
  loginRejection,
  type MqttClientFactory,
} from "../../mqtt/client.js";
import { certificateRefusal, clientCertificateOf } from "../../mqtt/client-certificate.js";
import {
  describeProxyError,
  type ProxyConnectEvent,
  proxyAgent,
  refusalAdvice,
  refusalStatus,
  TunnelRefusedError,
} from "../../registration/proxy-tunnel.js";
import type { StoredCredentials } from "../../storage/credential-store.js";
import { errorCode, errorMessage } from "../../util/errors.js";
import { formatTime } from "../output.js";
import { type CheckResult, failed, ok, warning, withTimeout } from "./result.js";

/** A peer of the agent: the client registry (HTTP/HTTPS), the broker (MQTT/MQTTS), or the HTTP(S) proxy on the way to the registry. */
export interface Peer {
  /** Prefix of the check names. */
  readonly role: "registry" | "broker" | "proxy";
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

export function proxyPeer(proxy: HttpProxy): Peer {
  return {
    role: "proxy",
    host: proxy.host,
    port: proxy.port,
    tls: proxy.url.protocol === "https:",
    settings: proxy.variable,
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
    const code = errorCode(error) ?? "error";
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
            ? peer.role === "proxy"
              ? `nothing listens there: is the proxy running, and is ${peer.settings} right?`
              : `nothing listens there: is Connectware running, and are ${peer.settings} right?`
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

function tlsHint(code: string, peer: Peer, tunnel?: Tunnel): string {
  if (UNTRUSTED.has(code) && tunnel !== undefined)
    return "set CW_AGENT_CA_FILE to the CA certificate that signed Connectware's server certificate; a proxy that inspects TLS shows its own certificate instead: then add the proxy's CA to that file, or bypass the proxy with NO_PROXY";
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
  tunnel?: Tunnel,
): Promise<CheckResult> {
  const name = `${peer.role}-tls`;
  const target = `${peer.host}:${peer.port}${tunnel ? ` (through proxy ${tunnel.proxy.address})` : ""}`;
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
  // Through a proxy, the tunnel's socket is already TLS: the handshake the agent's requests make.
  const socket =
    tunnel?.socket ??
    tls.connect({
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
        if (!(socket instanceof tls.TLSSocket)) return;
        const certificate = socket.getPeerCertificate();
        const validTo = certificate.valid_to ? Date.parse(certificate.valid_to) : Number.NaN;
        const error = socket.authorizationError;
        if (!socket.authorized && error !== undefined) {
          const code = typeof error === "string" ? error : (errorCode(error) ?? error.message);
          const message = `certificate of ${target} rejected (${code})`;
          finish(
            config.tls.trustAllCerts
              ? warning(
                  name,
                  `${message}; the agent accepts it anyway because CYBUS_TRUST_ALL_CERTS=true`,
                  tlsHint(code, peer, tunnel),
                )
              : failed(name, message, tlsHint(code, peer, tunnel)),
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
        finish(failed(name, `TLS handshake with ${target} failed (${code})`, tlsHint(code, peer, tunnel)));
      });
    },
  );
}

/** An open tunnel through the proxy to the registry; `close` ends it and the connection to the proxy. */
export interface Tunnel {
  readonly socket: net.Socket;
  readonly proxy: HttpProxy;
  close(): void;
}

/** Which proxy, if any, the registry requests take: its own line, so nobody has to guess. */
export function checkRegistryRoute(config: AgentConfig): CheckResult {
  const name = "registry-proxy";
  const route = config.registry.proxy;
  const host = config.registry.baseUrl.hostname;
  switch (route.kind) {
    case "direct":
      return ok(name, `none: ${route.variables.join(", ")} are not set; the registry is reached directly`);
    case "bypassed":
      return ok(
        name,
        `none: ${route.variable} entry "${route.entry}" names ${host}, so the registry is reached directly, not through the proxy of ${route.proxyVariable}`,
      );
    case "proxy":
      return ok(
        name,
        `through the HTTP proxy ${route.proxy.address} (${route.proxy.variable}${route.proxy.hasCredentials ? ", with user name and password" : ""}); MQTT does not use it`,
      );
  }
}

/**
 * Asks the proxy for the tunnel to the registry the way the agent does (same library, same
 * headers), without sending a request through it. When the proxy agrees, resolves with the socket
 * inside the tunnel as well: for an https:// registry a TLS socket whose handshake is under way.
 */
export function checkProxyConnect(
  proxy: HttpProxy,
  registry: Peer,
  config: AgentConfig,
  timeoutMs: number,
): Promise<{ result: CheckResult; tunnel?: Tunnel }> {
  const name = "proxy-connect";
  const target = `${hostForUrl(registry.host)}:${registry.port}`;
  const controller = new AbortController();
  const transport = registry.tls ? https : http;
  const request = transport.request({
    host: registry.host,
    port: registry.port,
    method: "HEAD",
    path: "/",
    agent: proxyAgent(proxy, controller.signal),
    ...(registry.tls ? { ca: config.tls.ca, rejectUnauthorized: false } : {}),
  });
  return new Promise((resolve) => {
    let done = false;
    const close = () => {
      controller.abort();
      request.destroy();
    };
    const finish = (result: CheckResult, socket?: net.Socket) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (socket === undefined) close();
      resolve(socket === undefined ? { result } : { result, tunnel: { socket, proxy, close } });
    };
    const timer = setTimeout(
      () =>
        finish(
          failed(
            name,
            `proxy ${proxy.address} did not answer CONNECT ${target} within ${timeoutMs} ms`,
            "check that it is an HTTP proxy and that it is not overloaded",
          ),
        ),
      timeoutMs,
    );
    request.on("proxyConnect", (connect: ProxyConnectEvent) => {
      if (connect.statusCode === 200) return;
      const refusal = new TunnelRefusedError(connect.statusCode, connect.statusText);
      finish(
        failed(
          name,
          `proxy ${proxy.address} refused the tunnel to ${target} (${refusalStatus(refusal)})`,
          refusalAdvice(refusal, proxy),
        ),
      );
    });
    // Nothing is written to the tunnel: the request is never ended, only its socket is used.
    request.on("socket", (socket: net.Socket) =>
      finish(ok(name, `proxy ${proxy.address} opened a tunnel to ${target}`), socket),
    );
    request.on("error", (error) =>
      finish(
        failed(
          name,
          `proxy ${proxy.address} failed on CONNECT ${target}: ${describeProxyError(error)}`,
          `check ${proxy.variable} and the proxy`,
        ),
      ),
    );
  });
}

/**
 * Logs in with the stored credentials under another client id, so the broker does not take the
 * running agent's session over (MQTT 3.1.1 §3.1.4: a second CONNECT with the same id disconnects
 * the first), and disconnects at once.
 */
export function checkMqttLogin(
  config: AgentConfig,
  credentials: StoredCredentials,
  timeoutMs: number,
  connect: MqttClientFactory = connectMqtt,
): Promise<CheckResult> {
  const name = "mqtt-login";
  const url = brokerUrl(config);
  const clientId = `${config.agentName}-check`;
  const connectTimeout = Math.min(config.mqtt.connectTimeoutMs, timeoutMs);
  return new Promise((resolve) => {
    const client = connect(
      url,
      clientOptions(
        config,
        { clientId, username: credentials.username, password: credentials.password },
        { connectTimeout },
        clientCertificateOf(credentials),
      ),
    );
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
      const rejection = loginRejection(error);
      if (certificateRefusal(error) !== undefined) {
        finish(
          failed(
            name,
            `${url} refused the client certificate of "${credentials.username}" (${String(code)})`,
            "the certificate is revoked, expired or from a CA the broker does not trust: run `cw-agent reset` to register with a new key",
          ),
        );
      } else if (rejection === "bad-credentials") {
        finish(
          failed(
            name,
            `${url} rejected "${credentials.username}": bad user name or password (CONNACK ${code})`,
            "the user was deleted or its password changed in Connectware: run `cw-agent reset` and authorize the new pairing ID",
          ),
        );
      } else if (rejection === "not-authorized") {
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
      const code = errorCode(lastError);
      const reason =
        lastError === undefined
          ? "connection closed"
          : `${code ? `${String(code)}: ` : ""}${errorMessage(lastError)}`;
      finish(
        failed(name, `MQTT login at ${url} failed (${reason.slice(0, 200)})`, "see the broker checks above"),
      );
    });
  });
}

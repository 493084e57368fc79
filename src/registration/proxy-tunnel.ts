import type http from "node:http";
import { HttpsProxyAgent } from "https-proxy-agent";
import type { HttpProxy } from "../config/proxy.js";
import { errorCode } from "../util/errors.js";
import { describeNetworkError } from "../util/network-error.js";

/**
 * An agent that opens one CONNECT tunnel through `proxy` (https-proxy-agent; TLS to the target
 * inside it for https://). The registry client and `cw-agent check` both go through it, so the
 * check tests the path the agent takes. `signal` also closes the connection to the proxy: the
 * library keeps it open while it waits for the answer to CONNECT, even after the request is gone.
 */
export function proxyAgent(proxy: HttpProxy, signal: AbortSignal): http.Agent {
  return new HttpsProxyAgent(proxy.url, { headers: proxy.connectHeaders(), signal });
}

/** What https-proxy-agent emits on the request once the proxy answered CONNECT. */
export interface ProxyConnectEvent {
  statusCode: number;
  statusText: string;
}

/** The proxy answered CONNECT with something other than 200: it will not reach the target for us. */
export class TunnelRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly statusText: string,
  ) {
    super(`CONNECT answered ${status}`);
    this.name = "TunnelRefusedError";
  }
}

/** "407 Proxy Authentication Required": the status and, cleaned and cut, the proxy's text. */
export function refusalStatus(refusal: TunnelRefusedError): string {
  const text = refusal.statusText.replace(/[^\x20-\x7e]/g, "").slice(0, 60);
  return `${refusal.status}${text ? ` ${text}` : ""}`;
}

/** What a refusal usually means and what to do about it. */
export function refusalAdvice(refusal: TunnelRefusedError, proxy: HttpProxy): string {
  switch (refusal.status) {
    case 407:
      return proxy.hasCredentials
        ? `the proxy did not accept the user name and password in ${proxy.variable}`
        : `the proxy wants a user name and password: set ${proxy.variable}=http://USER:PASSWORD@${proxy.address}`;
    case 403:
      return "the proxy does not allow a tunnel to this host and port: ask its administrator, or list the host in NO_PROXY";
    case 502:
    case 503:
    case 504:
      return "the proxy could not reach the registry: check the registry's address, and the proxy's log";
  }
  return "check the proxy's log, or list the registry's host in NO_PROXY if it is reached without the proxy";
}

/**
 * What went wrong reaching or talking to the proxy before the tunnel was open, in fixed words:
 * nothing the proxy sent is quoted, so nothing it echoes (our Proxy-Authorization) is shown.
 */
export function describeProxyError(error: unknown): string {
  const code = errorCode(error);
  if (code !== undefined && /CERT|TLS|SSL/.test(code)) {
    return `TLS handshake with the proxy failed (${code}); an https:// proxy needs a certificate the system trusts`;
  }
  if (code !== undefined) return describeNetworkError(error);
  if (error instanceof Error && error.message.startsWith("Proxy connection ended")) {
    return "it closed the connection without answering CONNECT";
  }
  return "it answered CONNECT with something that is not HTTP";
}

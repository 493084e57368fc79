import http from "node:http";
import https from "node:https";
import type { HttpProxy } from "../config/proxy.js";
import { describeNetworkError } from "../util/network-error.js";
import { scrubSecret } from "../util/scrub.js";
import {
  describeProxyError,
  type ProxyConnectEvent,
  proxyAgent,
  refusalAdvice,
  refusalStatus,
  TunnelRefusedError,
} from "./proxy-tunnel.js";

/**
 * [ours] The request body: the public docs stop before their example, so the field names are ours
 * (protocol contract §2). Kept in this one place so they can be changed if the real server differs.
 */
export const REGISTER_PATH = "/api/client-registry/register";

export interface RegistrationRequest {
  username: string;
  password: string;
  context: { pairingId: string; agentVersion: string; hostname: string; [key: string]: unknown };
  permissions: { resourceType: "mqtt"; resource: string; operation: "read" | "write" | "readWrite" }[];
  /** With mutual TLS: the PEM PKCS#10 request for the device key, CN = username (contract §2). */
  csr?: string;
}

export type RegistrationOutcome =
  /** `body` is the 201 body (scrubbed of the password): with a CSR it carries the certificate. */
  | { kind: "granted"; body: string }
  | { kind: "pending" }
  | { kind: "locked" }
  | { kind: "conflict"; serverMessage: string | undefined }
  /** Anything else: logged, retried with backoff, never a reason to drop credentials. */
  | { kind: "transient"; reason: string; retryAfterMs?: number };

export interface RegistryClientOptions {
  baseUrl: URL;
  timeoutMs: number;
  ca: string | undefined;
  trustAllCerts: boolean;
  /** The HTTP(S) proxy to tunnel through (CONNECT), or undefined to connect directly. */
  proxy?: HttpProxy | undefined;
  /** Bodies beyond this are cut off and treated as a bad response: a gateway has little memory. */
  maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

export class RegistryClient {
  private readonly maxBodyBytes: number;

  constructor(private readonly options: RegistryClientOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /**
   * The base URL with the register path appended. Set as a path on a copy of the base, never
   * resolved as a relative reference: a base path like `//evil.example` would otherwise turn into
   * another host, and the credentials would go there while logs and status name the configured one.
   */
  get endpoint(): URL {
    const base = this.options.baseUrl;
    const url = new URL(base.href);
    url.pathname = base.pathname.replace(/\/+$/, "") + REGISTER_PATH;
    url.search = "";
    url.hash = "";
    if (url.origin !== base.origin) throw new Error(`registry URL ${base.href} changes its host`);
    return url;
  }

  /** Sends one registration request. Never throws: every failure is an outcome. */
  async register(request: RegistrationRequest, signal?: AbortSignal): Promise<RegistrationOutcome> {
    let response: { status: number; headers: http.IncomingHttpHeaders; body: string };
    try {
      response = await this.post(JSON.stringify(request), signal);
    } catch (error) {
      return { kind: "transient", reason: describeFailure(error, this.endpoint, this.options.proxy) };
    }
    // Everything the peer sent is scrubbed before anything is parsed, cut or stored.
    const scrub = (text: string) => scrubSecret(text, request.password);
    const location = response.headers.location;
    const scrubbed = {
      status: response.status,
      headers: { ...response.headers, ...(location === undefined ? {} : { location: scrub(location) }) },
      body: scrub(response.body),
    };
    return withoutSecret(interpret(scrubbed, request.username), request.password);
  }

  private post(
    payload: string,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const url = this.endpoint;
    const isHttps = url.protocol === "https:";
    const transport = isHttps ? https : http;
    const { timeoutMs, proxy } = this.options;
    return new Promise((resolve, reject) => {
      // Node can destroy a request without emitting anything once a response has begun; settle
      // exactly once on every path, or the agent would wait forever on a dead exchange.
      let settled = false;
      // Until the proxy has answered CONNECT with 200, every failure is the proxy's.
      let tunnelOpen = proxy === undefined;
      const deadline = AbortSignal.timeout(timeoutMs);
      const aborted = signal ? AbortSignal.any([signal, deadline]) : deadline;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        request.destroy();
        // Aborting at the deadline also breaks the socket or cuts the body short: report the cause.
        const cause = deadline.aborted && !signal?.aborted ? new RegistryTimeoutError(timeoutMs) : error;
        reject(tunnelOpen || cause instanceof TunnelRefusedError ? cause : new ProxyFailure(cause));
      };
      const request = transport.request(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          "content-length": Buffer.byteLength(payload),
        },
        // One deadline for the whole exchange, not only for idle sockets: a server that trickles
        // a byte per second must not hold the agent forever.
        signal: aborted,
        timeout: timeoutMs,
        ...(isHttps ? { ca: this.options.ca, rejectUnauthorized: !this.options.trustAllCerts } : {}),
        // Through a proxy always a tunnel, for http:// too: the proxy then never sees the request
        // or the credentials in it, and what it answers is told apart from what the registry does.
        agent: proxy === undefined ? false : proxyAgent(proxy, aborted),
      });
      // Before the tunnel is open there is no socket, and with it no "timeout" or "error" of one.
      if (aborted.aborted) fail(abortReason(aborted));
      else aborted.addEventListener("abort", () => fail(abortReason(aborted)), { once: true });
      request.on("proxyConnect", (connect: ProxyConnectEvent) => {
        if (connect.statusCode === 200) tunnelOpen = true;
        else fail(new TunnelRefusedError(connect.statusCode, connect.statusText));
      });
      request.on("timeout", () => fail(new RegistryTimeoutError(timeoutMs)));
      request.on("error", fail);
      request.on("response", (response) => {
        const chunks: Buffer[] = [];
        let received = 0;
        response.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received > this.maxBodyBytes) fail(new ResponseTooLargeError(this.maxBodyBytes));
          else chunks.push(chunk);
        });
        response.on("end", () => {
          if (settled) return;
          settled = true;
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          });
        });
        response.on("error", fail);
        response.on("close", () => {
          if (!response.complete) fail(new IncompleteResponseError());
        });
      });
      request.end(payload);
    });
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
}

/** A failure before the tunnel through the proxy was open: reaching, or talking to, the proxy. */
class ProxyFailure extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
    this.name = "ProxyFailure";
  }
}

class RegistryTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no complete answer within ${timeoutMs} ms`);
    this.name = "RegistryTimeoutError";
  }
}

class IncompleteResponseError extends Error {
  constructor() {
    super("connection closed in the middle of the response");
    this.name = "IncompleteResponseError";
  }
}

class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`response body larger than ${limit} bytes`);
    this.name = "ResponseTooLargeError";
  }
}

/**
 * Server and proxy texts end up in logs, systemd STATUS, the database and on the display: one that
 * echoes the request body must not publish our password that way. The body was scrubbed already;
 * this also covers texts of our own that quote the peer (a network error naming what it received).
 */
function withoutSecret(outcome: RegistrationOutcome, password: string): RegistrationOutcome {
  const scrub = (text: string) => scrubSecret(text, password);
  if (outcome.kind === "transient") return { ...outcome, reason: scrub(outcome.reason) };
  if (outcome.kind === "conflict" && outcome.serverMessage !== undefined) {
    return { ...outcome, serverMessage: scrub(outcome.serverMessage) };
  }
  return outcome;
}

function interpret(
  response: { status: number; headers: http.IncomingHttpHeaders; body: string },
  username: string,
): RegistrationOutcome {
  const { status } = response;
  switch (status) {
    case 201: {
      // The public documentation does not say what a 201 body holds (only that it carries the
      // signed certificate when a CSR was sent), so any 201 is a grant, unless the body explicitly
      // names a different username: that one was meant for someone else.
      const named = parseJsonObject(response.body)?.username;
      if (typeof named === "string" && named !== username) {
        return { kind: "transient", reason: `201 for another username (${named.slice(0, 64)})` };
      }
      return { kind: "granted", body: response.body };
    }
    case 202:
      return { kind: "pending" };
    case 423:
      return { kind: "locked" };
    case 409: {
      const body = parseJsonObject(response.body);
      const text = body?.message ?? body?.error;
      const message = typeof text === "string" ? text.slice(0, 300) : undefined;
      return { kind: "conflict", serverMessage: message };
    }
  }
  const retryAfterMs = parseRetryAfter(response.headers["retry-after"]);
  const reason =
    status >= 300 && status < 400
      ? `HTTP ${status} redirect to ${response.headers.location ?? "?"} not followed (credentials are only sent to the configured registry)`
      : `HTTP ${status}${describeBody(response)}`;
  return retryAfterMs === undefined
    ? { kind: "transient", reason }
    : { kind: "transient", reason, retryAfterMs };
}

function describeBody(response: { headers: http.IncomingHttpHeaders; body: string }): string {
  const type = response.headers["content-type"] ?? "";
  if (type.includes("html")) return " (HTML error page, probably from a proxy)";
  const body = parseJsonObject(response.body);
  const message = body?.message ?? body?.error;
  return typeof message === "string" ? ` (${message.slice(0, 200)})` : "";
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function parseRetryAfter(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A reason that names the peer (the registry, or the proxy on the way to it) and the cause. */
function describeFailure(error: unknown, endpoint: URL, proxy: HttpProxy | undefined): string {
  if (proxy !== undefined && error instanceof TunnelRefusedError) {
    return `proxy ${proxy.address} refused the tunnel to ${endpoint.host} (${refusalStatus(error)}): ${refusalAdvice(error, proxy)}`;
  }
  if (proxy !== undefined && error instanceof ProxyFailure) {
    const cause = error.cause;
    const what =
      cause instanceof RegistryTimeoutError
        ? `no answer to CONNECT within ${cause.timeoutMs} ms`
        : describeProxyError(cause);
    return `proxy ${proxy.address} (on the way to ${endpoint.host}): ${what}`;
  }
  const peer = proxy === undefined ? endpoint.host : `${endpoint.host} via proxy ${proxy.address}`;
  return `${peer}: ${isOwnError(error) ? error.message : describeNetworkError(error)}`;
}

function isOwnError(error: unknown): error is Error {
  return (
    error instanceof RegistryTimeoutError ||
    error instanceof ResponseTooLargeError ||
    error instanceof IncompleteResponseError
  );
}

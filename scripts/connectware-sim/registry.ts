import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Server } from "node:net";
import { type CsrCheck, checkCsr, type IssuedCertificate, type TestCa } from "./ca.js";
import { parseJson, readBody, SocketTracker, sendJson } from "./http-util.js";
import { closeServer, listen } from "./listen.js";
import { expectedKeyPairingId, expectedPairingId } from "./pairing-id.js";
import type { KeyPair } from "./paths.js";
import {
  conflictBody,
  createdBody,
  LOCKED_BODY,
  MAX_REGISTER_BODY_BYTES,
  pendingBody,
  REGISTER_PATH,
  validateRegisterBody,
} from "./protocol.js";
import type { RegistryState } from "./registry-state.js";

export type Misbehaviour =
  | "refuse"
  | "hang"
  | "reset"
  | "http-500"
  | "http-503"
  | "html"
  | "malformed-json"
  | "wrong-json"
  | "huge-json"
  | "redirect"
  | "slow"
  | "untrusted-tls";

export const MISBEHAVIOURS: readonly Misbehaviour[] = [
  "refuse",
  "hang",
  "reset",
  "http-500",
  "http-503",
  "html",
  "malformed-json",
  "wrong-json",
  "huge-json",
  "redirect",
  "slow",
  "untrusted-tls",
];

export function isMisbehaviour(value: unknown): value is Misbehaviour {
  return typeof value === "string" && (MISBEHAVIOURS as readonly string[]).includes(value);
}

export interface RegisterCall {
  username: string;
  pairingId: string | undefined;
  /** the status code answered; 0 when the request got no answer (hang, reset) */
  status: number;
  at: number;
}

/** What a 413/400 or a misbehaving answer can still tell about who was asking. */
interface CallerIdentity {
  username: string;
  pairingId: string | undefined;
}

export const HUGE_JSON_BYTES = 8 * 1024 * 1024;
export const SLOW_BYTE_INTERVAL_MS = 1000;
export const RETRY_AFTER_SECONDS = 1;
/** `wrong-json` grants somebody else: the one 201 an agent must not take as its own grant. */
export const OTHER_USERNAME = "someone-else";

const PROXY_ERROR_PAGE =
  "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
  "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

function identityOf(body: Buffer | undefined): CallerIdentity {
  if (body === undefined) return { username: "", pairingId: undefined };
  const parsed = parseJson(body);
  if (!parsed.ok || typeof parsed.value !== "object" || parsed.value === null) {
    return { username: "", pairingId: undefined };
  }
  const { username, password, csr } = parsed.value as Record<string, unknown>;
  const csrCheck = typeof csr === "string" ? checkCsr(csr) : undefined;
  return {
    username: typeof username === "string" ? username : "",
    pairingId:
      typeof username !== "string"
        ? undefined
        : csrCheck?.ok
          ? expectedKeyPairingId(username, csrCheck.publicKeyInfo)
          : typeof password === "string"
            ? expectedPairingId(username, password)
            : undefined,
  };
}

export interface RegistryServersOptions {
  host: string;
  httpPort: number;
  httpsPort: number;
  serverKeyPair: KeyPair;
  untrustedKeyPair: KeyPair;
  state: RegistryState;
  /** signs the CSRs of requests with mutual TLS */
  ca: TestCa;
  /** told about every certificate the registry signed */
  onIssued: (username: string, issued: IssuedCertificate) => void;
  /** how long signed certificates are valid (ms from now); default a year */
  certificateLifetimeMs: () => number | undefined;
  /** where the `redirect` misbehaviour sends clients */
  redirectTarget: () => string;
  log: (message: string) => void;
}

/** The client registry's REST endpoint over HTTP and HTTPS, with switchable misbehaviours. */
export class RegistryServers {
  private readonly httpServer: Server;
  private readonly httpsServer: HttpsServer;
  private readonly httpSockets = new SocketTracker();
  private readonly httpsSockets = new SocketTracker();
  private readonly trickleTimers = new Set<NodeJS.Timeout>();
  private readonly calls: RegisterCall[] = [];
  private mode: Misbehaviour | null = null;
  private closed = false;
  private transition: Promise<void> = Promise.resolve();
  private httpPortInUse: number;
  private httpsPortInUse: number;

  constructor(private readonly options: RegistryServersOptions) {
    this.httpPortInUse = options.httpPort;
    this.httpsPortInUse = options.httpsPort;
    this.httpServer = createHttpServer((request, response) => this.dispatch(request, response));
    this.httpsServer = createHttpsServer(
      { cert: options.serverKeyPair.cert, key: options.serverKeyPair.key },
      (request, response) => this.dispatch(request, response),
    );
    this.httpServer.on("connection", this.httpSockets.track);
    this.httpsServer.on("connection", this.httpsSockets.track);
  }

  get httpPort(): number {
    return this.httpPortInUse;
  }

  get httpsPort(): number {
    return this.httpsPortInUse;
  }

  async start(): Promise<void> {
    await this.listenBoth();
  }

  misbehaviour(): Misbehaviour | null {
    return this.mode;
  }

  /**
   * Resolves once the listeners match the new mode (closed for `refuse`, open otherwise); never
   * rejects, since callers may treat this as fire-and-forget.
   */
  setMisbehaviour(mode: Misbehaviour | null): Promise<void> {
    const previous = this.mode;
    this.mode = mode;
    if (mode !== previous) {
      this.options.log(`registry misbehaviour: ${mode ?? "off"}`);
    }
    const keyPair = mode === "untrusted-tls" ? this.options.untrustedKeyPair : this.options.serverKeyPair;
    this.httpsServer.setSecureContext({ cert: keyPair.cert, key: keyPair.key });
    if (mode === "refuse") {
      // Synchronously, so the very next connection attempt is already refused.
      this.stopListening();
    }
    this.transition = this.transition
      .then(() => this.reopenUnlessRefusing())
      .catch((error: unknown) => {
        this.options.log(`registry: cannot listen again: ${error instanceof Error ? error.message : error}`);
      });
    return this.transition;
  }

  registerCalls(): RegisterCall[] {
    return this.calls.map((call) => ({ ...call }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.transition;
    const closing = [closeServer(this.httpServer), closeServer(this.httpsServer)];
    this.stopListening();
    await Promise.all(closing);
  }

  private async reopenUnlessRefusing(): Promise<void> {
    if (this.closed || this.mode === "refuse") return;
    await this.listenBoth();
  }

  private async listenBoth(): Promise<void> {
    if (!this.httpServer.listening) {
      this.httpPortInUse = await listen(this.httpServer, this.httpPortInUse, this.options.host);
    }
    if (!this.httpsServer.listening) {
      this.httpsPortInUse = await listen(this.httpsServer, this.httpsPortInUse, this.options.host);
    }
  }

  private stopListening(): void {
    for (const server of [this.httpServer, this.httpsServer]) {
      if (server.listening) server.close();
    }
    for (const timer of this.trickleTimers) clearInterval(timer);
    this.trickleTimers.clear();
    this.httpSockets.destroyAll();
    this.httpsSockets.destroyAll();
  }

  private dispatch(request: IncomingMessage, response: ServerResponse): void {
    this.handle(request, response).catch((error: unknown) => {
      this.options.log(`registry: ${error instanceof Error ? error.message : String(error)}`);
      if (!response.headersSent) {
        sendJson(response, 500, { error: "internal simulator error" });
      } else {
        response.destroy();
      }
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const pathname = new URL(request.url ?? "/", "http://registry.invalid").pathname;
    const isRegisterCall = pathname === REGISTER_PATH && request.method === "POST";
    const mode = this.mode;
    if (mode !== null && mode !== "untrusted-tls" && mode !== "refuse") {
      const read = await readBody(request, MAX_REGISTER_BODY_BYTES);
      const identity = identityOf(read.kind === "ok" ? read.body : undefined);
      const status = this.misbehave(mode, request, response, identity);
      if (isRegisterCall) this.record(identity, status);
      return;
    }

    if (pathname !== REGISTER_PATH) {
      request.resume();
      sendJson(response, 404, { error: `no such endpoint: ${pathname}` });
      return;
    }
    if (request.method !== "POST") {
      request.resume();
      sendJson(response, 405, { error: "only POST is allowed here" }, { allow: "POST" });
      return;
    }
    const read = await readBody(request, MAX_REGISTER_BODY_BYTES);
    if (read.kind === "too-large") {
      this.record({ username: "", pairingId: undefined }, 413);
      sendJson(response, 413, {
        error: `request body too large (limit ${MAX_REGISTER_BODY_BYTES} bytes)`,
        field: "body",
      });
      return;
    }
    const identity = identityOf(read.body);
    const parsed = parseJson(read.body);
    if (!parsed.ok) {
      this.record(identity, 400);
      sendJson(response, 400, { error: "the request body is not valid JSON", field: "body" });
      return;
    }
    const validation = validateRegisterBody(parsed.value);
    if (!validation.ok) {
      this.record(identity, 400);
      sendJson(response, 400, { error: validation.error, field: validation.field });
      return;
    }
    const { username, password, context, permissions, csr } = validation.body;
    let csrCheck: CsrCheck | undefined;
    if (csr !== undefined) {
      csrCheck = checkCsr(csr);
      const error = !csrCheck.ok
        ? csrCheck.error
        : csrCheck.commonName !== username
          ? `the csr's Common Name (${csrCheck.commonName.slice(0, 64)}) must equal the username`
          : undefined;
      if (error !== undefined) {
        this.record(identity, 400);
        sendJson(response, 400, { error, field: "csr" });
        return;
      }
    }
    const signedKey = csrCheck?.ok ? csrCheck : undefined;
    const outcome = this.options.state.handleRestRegistration(
      username,
      password,
      context,
      permissions,
      signedKey?.publicKeyInfo,
    );
    this.record(identity, outcome.status);
    switch (outcome.status) {
      case 201: {
        if (signedKey === undefined) {
          sendJson(response, 201, createdBody(outcome.username, outcome.permissions));
          return;
        }
        const lifetimeMs = this.options.certificateLifetimeMs();
        const now = Date.now();
        const issued = this.options.ca.issue(
          signedKey,
          lifetimeMs === undefined
            ? {}
            : { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + lifetimeMs) },
        );
        this.options.onIssued(outcome.username, issued);
        this.options.log(`signed a client certificate for "${outcome.username}" (serial ${issued.serial})`);
        sendJson(
          response,
          201,
          createdBody(outcome.username, outcome.permissions, {
            certificate: issued.pem,
            ca: this.options.ca.certificatePem,
          }),
        );
        return;
      }
      case 202:
        sendJson(response, 202, pendingBody(outcome.pairingId));
        return;
      case 409:
        sendJson(response, 409, conflictBody(outcome.username));
        return;
      case 423:
        sendJson(response, 423, LOCKED_BODY);
        return;
    }
  }

  private record(identity: CallerIdentity, status: number): void {
    this.calls.push({ ...identity, status, at: Date.now() });
  }

  /** Answers the way a broken server or proxy would; returns the status answered (0: none). */
  private misbehave(
    mode: Exclude<Misbehaviour, "refuse" | "untrusted-tls">,
    request: IncomingMessage,
    response: ServerResponse,
    identity: CallerIdentity,
  ): number {
    switch (mode) {
      case "hang":
        // The socket stays open until the client gives up or the simulator closes.
        return 0;
      case "reset":
        request.socket.destroy();
        return 0;
      case "http-500":
        sendJson(response, 500, { error: "internal server error (simulated)" });
        return 500;
      case "http-503":
        sendJson(
          response,
          503,
          { error: "service unavailable (simulated)" },
          { "retry-after": String(RETRY_AFTER_SECONDS) },
        );
        return 503;
      case "html":
        response.writeHead(502, {
          "content-type": "text/html",
          "content-length": String(Buffer.byteLength(PROXY_ERROR_PAGE)),
        });
        response.end(PROXY_ERROR_PAGE);
        return 502;
      case "malformed-json": {
        const text = `{"error": "bad request for ${identity.username ?? ""}", "details": [`;
        response.writeHead(400, { "content-type": "application/json" });
        response.end(text);
        return 400;
      }
      case "wrong-json":
        sendJson(response, 201, { username: OTHER_USERNAME, permissions: [] });
        return 201;
      case "huge-json":
        this.sendHugeJson(response, identity);
        return 201;
      case "redirect":
        response.writeHead(307, { location: this.options.redirectTarget(), "content-length": "0" });
        response.end();
        return 307;
      case "slow":
        this.trickle(response, JSON.stringify(pendingBody(identity.pairingId ?? "000000")));
        return 202;
    }
  }

  /**
   * Shaped like a real 201 answer plus padding, so a client that reads it without a size limit
   * would even take it for a success.
   */
  private sendHugeJson(response: ServerResponse, identity: CallerIdentity): void {
    const head = JSON.stringify({ username: identity.username, permissions: [] }).slice(0, -1);
    const paddingLength = HUGE_JSON_BYTES - head.length - ',"padding":""}'.length;
    const text = `${head},"padding":"${"x".repeat(Math.max(0, paddingLength))}"}`;
    response.writeHead(201, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text)),
    });
    response.end(text);
  }

  private trickle(response: ServerResponse, text: string): void {
    response.writeHead(202, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(text)),
    });
    response.flushHeaders();
    let index = 0;
    const timer = setInterval(() => {
      const byte = text[index];
      index += 1;
      if (byte === undefined || response.destroyed) {
        stop();
        return;
      }
      if (index >= text.length) {
        stop();
        response.end(byte);
      } else {
        response.write(byte);
      }
    }, SLOW_BYTE_INTERVAL_MS);
    const stop = (): void => {
      clearInterval(timer);
      this.trickleTimers.delete(timer);
    };
    this.trickleTimers.add(timer);
    response.on("close", stop);
  }
}

import { createServer, type IncomingMessage } from "node:http";
import net, { type AddressInfo } from "node:net";

/** One CONNECT the proxy received. */
export interface TunnelRequest {
  /** host:port as the client asked for it. */
  readonly target: string;
  readonly proxyAuthorization: string | undefined;
  /** The status the proxy answered with. */
  readonly status: number;
}

export interface ConnectProxy {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** Every CONNECT so far, in order. */
  readonly tunnels: TunnelRequest[];
  /** Requests that were not CONNECT (a forward-proxy request): the agent must never send one. */
  readonly otherRequests: string[];
  /** Connections from clients that are still open. */
  openConnections(): number;
  /** How the next CONNECTs are answered: a status to refuse with, "hang" to never answer, or null to tunnel. */
  refuse(answer: number | "hang" | null): void;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

const REASONS: Record<number, string> = {
  403: "Forbidden",
  407: "Proxy Authentication Required",
  502: "Bad Gateway",
};

/**
 * A small HTTP proxy on 127.0.0.1 that handles CONNECT by piping to the target, and records every
 * tunnel. It only tunnels to loopback: any other target is answered 403 and never contacted. With
 * `credentials` ("user:password") it answers 407 to a CONNECT without them. `port` 0 (default):
 * any free one.
 */
export async function startConnectProxy(
  options: { credentials?: string; port?: number } = {},
): Promise<ConnectProxy> {
  const tunnels: TunnelRequest[] = [];
  const otherRequests: string[] = [];
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let answer: number | "hang" | null = null;
  const expected =
    options.credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(options.credentials).toString("base64")}`;

  const server = createServer((request, response) => {
    otherRequests.push(`${request.method} ${request.url}`);
    response.writeHead(405).end();
  });
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    clients.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      clients.delete(socket);
    });
  });
  server.on("connect", (request: IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    // The server keeps a socket half-open after the client's FIN; a real proxy closes its side too.
    client.once("end", () => client.end());
    const target = request.url ?? "";
    const proxyAuthorization = request.headers["proxy-authorization"];
    const record = (status: number) => tunnels.push({ target, proxyAuthorization, status });
    const refuse = (status: number) => {
      record(status);
      client.end(`HTTP/1.1 ${status} ${REASONS[status] ?? "Refused"}\r\nContent-Length: 0\r\n\r\n`);
    };
    if (answer === "hang") {
      record(0);
      return;
    }
    if (answer !== null) return refuse(answer);
    if (expected !== undefined && proxyAuthorization !== expected) return refuse(407);
    const match = /^(.+):(\d+)$/.exec(target);
    if (!match?.[1] || !LOOPBACK.has(match[1])) return refuse(403);
    const upstream = net.connect({ host: match[1].replace(/^\[|\]$/g, ""), port: Number(match[2]) });
    sockets.add(upstream);
    upstream.once("close", () => sockets.delete(upstream));
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      record(200);
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => {
      if (connected) client.destroy();
      else refuse(502);
    });
    client.once("close", () => upstream.destroy());
  });

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    tunnels,
    otherRequests,
    openConnections: () => clients.size,
    refuse(next) {
      answer = next;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

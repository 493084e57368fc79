import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

export type BodyResult = { kind: "ok"; body: Buffer } | { kind: "too-large"; receivedBytes: number };

/**
 * Bodies over the limit are drained (up to a hard cap) rather than cut off, so the client reads
 * the 413 instead of a connection reset while it is still uploading.
 */
export function readBody(request: IncomingMessage, limitBytes: number): Promise<BodyResult> {
  const drainCapBytes = Math.max(limitBytes * 16, 16 * 1024 * 1024);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    let settled = false;
    const settle = (result: BodyResult): void => {
      if (!settled) {
        settled = true;
        resolve(result);
      }
    };
    request.on("data", (chunk: Buffer) => {
      receivedBytes += chunk.length;
      if (receivedBytes <= limitBytes) {
        chunks.push(chunk);
      } else if (receivedBytes > drainCapBytes) {
        request.pause();
        settle({ kind: "too-large", receivedBytes });
      }
    });
    request.on("end", () => {
      settle(
        receivedBytes <= limitBytes
          ? { kind: "ok", body: Buffer.concat(chunks) }
          : { kind: "too-large", receivedBytes },
      );
    });
    request.on("error", (error) => {
      if (!settled) {
        settled = true;
        reject(error);
      }
    });
  });
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  response.end(text);
}

export function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  if (body.length === 0) {
    return { ok: false };
  }
  try {
    return { ok: true, value: JSON.parse(body.toString("utf8")) };
  } catch {
    return { ok: false };
  }
}

/** Tracks the sockets of a server so they can all be destroyed when it closes. */
export class SocketTracker {
  private readonly sockets = new Set<Socket>();

  readonly track = (socket: Socket): void => {
    this.sockets.add(socket);
    socket.once("close", () => {
      this.sockets.delete(socket);
    });
  };

  destroyAll(): void {
    for (const socket of this.sockets) {
      socket.destroy();
    }
    this.sockets.clear();
  }
}

export function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** A wildcard bind address is not something a client can connect to; show loopback instead. */
export function connectableHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpRequestOptions {
  method?: string;
  /** sent as JSON unless it is already a string or Buffer */
  body?: unknown;
  headers?: Record<string, string>;
  /** PEM of the CA to trust for https URLs */
  ca?: string | Buffer;
  timeoutMs?: number;
}

/**
 * A deliberately plain HTTP(S) client for the admin CLI and the simulator's tests: no redirects
 * followed, no retries, the body read as text.
 */
export function httpRequestText(url: string, options: HttpRequestOptions = {}): Promise<HttpResult> {
  const target = new URL(url);
  const payload =
    options.body === undefined
      ? undefined
      : typeof options.body === "string" || Buffer.isBuffer(options.body)
        ? Buffer.from(options.body)
        : Buffer.from(JSON.stringify(options.body));
  const headers: Record<string, string> = { ...options.headers };
  if (payload !== undefined) {
    headers["content-length"] = String(payload.length);
    headers["content-type"] ??= "application/json";
  }
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      target,
      {
        method: options.method ?? (payload === undefined ? "GET" : "POST"),
        headers,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        timeout: options.timeoutMs ?? 10_000,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () =>
      request.destroy(new Error(`timed out after ${options.timeoutMs ?? 10_000} ms`)),
    );
    request.on("error", reject);
    request.end(payload);
  });
}

import net from "node:net";
import { type ControlAnswer, type ControlRequest, MAX_ANSWER_BYTES } from "./protocol.js";

/** The agent is not listening there: no socket file, or one left behind by a killed agent. */
export class AgentNotRunningError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(`no agent answers on ${path} (${code})`);
    this.name = "AgentNotRunningError";
  }
}

const NOT_LISTENING = new Set(["ENOENT", "ECONNREFUSED", "ENOTDIR"]);

/** Sends one request and resolves with the agent's answer; rejects after `timeoutMs`. */
export function sendControlRequest(
  path: string,
  request: ControlRequest,
  timeoutMs = 5_000,
): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (outcome: { answer: ControlAnswer } | { error: Error }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if ("answer" in outcome) resolve(outcome.answer);
      else reject(outcome.error);
    };
    const timer = setTimeout(
      () => settle({ error: new Error(`the agent did not answer on ${path} within ${timeoutMs} ms`) }),
      timeoutMs,
    );
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      const code = error.code ?? "error";
      if (NOT_LISTENING.has(code)) settle({ error: new AgentNotRunningError(path, code) });
      else if (code === "EACCES" || code === "EPERM")
        settle({
          error: new Error(
            `permission denied on ${path}: run this command as the agent's user (e.g. sudo -u cw-agent) or root`,
          ),
        });
      else settle({ error: new Error(`control socket ${path}: ${code}: ${error.message}`) });
    });
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_ANSWER_BYTES) {
        settle({ error: new Error(`the agent's answer on ${path} exceeds ${MAX_ANSWER_BYTES} bytes`) });
        return;
      }
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString("utf8");
      const newline = text.indexOf("\n");
      if (newline < 0) return;
      try {
        settle({ answer: JSON.parse(text.slice(0, newline)) as ControlAnswer });
      } catch {
        settle({ error: new Error(`the agent's answer on ${path} is not JSON`) });
      }
    });
    socket.on("close", () => settle({ error: new Error(`the agent closed ${path} without answering`) }));
  });
}

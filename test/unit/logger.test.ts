import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/logging/logger.js";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ level: "info", destination }) };
}

describe("logger", () => {
  it("writes pino JSON lines with level, time, msg, pid and hostname", () => {
    const { lines, logger } = capture();
    logger.info("Starting in distributed (edge) mode");
    const line = JSON.parse(lines[0] ?? "{}");
    expect(line).toMatchObject({ level: 30, msg: "Starting in distributed (edge) mode", pid: process.pid });
    expect(typeof line.time).toBe("number");
    expect(typeof line.hostname).toBe("string");
  });

  it("redacts passwords and keys even when a caller passes whole objects", () => {
    const { lines, logger } = capture();
    const secret = "hunter2-very-secret";
    logger.info(
      { password: secret, credentials: { username: "u", password: secret }, tls: { key: secret } },
      "x",
    );
    logger.info({ request: { body: { password: secret } } }, "nested");
    expect(lines.join("")).not.toContain(secret);
    expect(lines[0]).toContain("[redacted]");
  });
});

import { describe, expect, it } from "vitest";
import { colorsWanted, formatLogLine, prettyDestination } from "../../src/logging/pretty.js";

const TIME = new Date(2026, 10, 25, 8, 14, 2, 7).getTime();
const line = (fields: Record<string, unknown>) =>
  JSON.stringify({ level: 30, time: TIME, pid: 812, hostname: "gw-17", ...fields });

describe("formatLogLine", () => {
  it("shows time, level, component, message and the other fields; pid and hostname are left out", () => {
    expect(
      formatLogLine(
        line({ component: "agent", state: "pending", pairingId: "a82123", msg: "Waiting for authorization" }),
        { colors: false },
      ),
    ).toBe("08:14:02.007 INFO  [agent] Waiting for authorization  state=pending pairingId=a82123");
  });

  it("prefixes the date for `cw-agent logs`", () => {
    expect(formatLogLine(line({ msg: "x" }), { colors: false, date: true })).toBe(
      "2026-11-25 08:14:02.007 INFO  x",
    );
  });

  it("names every level, quotes values with spaces and prints objects as JSON", () => {
    const levels = [10, 20, 30, 40, 50, 60, 35].map(
      (level) => formatLogLine(line({ level, msg: "m" }), { colors: false }).split(" ")[1],
    );
    expect(levels).toEqual(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "L35"]);
    expect(
      formatLogLine(line({ msg: "m", hint: "add the user to i2c", code: null, n: 3, at: { a: 1 } }), {
        colors: false,
      }),
    ).toBe('08:14:02.007 INFO  m  hint="add the user to i2c" code=null n=3 at={"a":1}');
  });

  it("shows an error's message, and its stack only from level error up", () => {
    const err = {
      type: "Error",
      message: "connect ECONNREFUSED",
      stack: "Error: connect ECONNREFUSED\n    at a (b.js:1:2)",
    };
    expect(formatLogLine(line({ level: 40, err, msg: "retrying" }), { colors: false })).toBe(
      '08:14:02.007 WARN  retrying  err="connect ECONNREFUSED"',
    );
    expect(formatLogLine(line({ level: 50, err, msg: "failed" }), { colors: false })).toBe(
      '08:14:02.007 ERROR failed  err="connect ECONNREFUSED"\n    at a (b.js:1:2)',
    );
  });

  it("escapes control characters instead of sending them to the terminal", () => {
    const text = formatLogLine(line({ msg: "a\nb\x1b[31mc", body: "x\x07" }), { colors: false });
    expect(text).toBe("08:14:02.007 INFO  a\\nb\\u001b[31mc  body=x\\u0007");
    expect([...text].filter((char) => char.charCodeAt(0) < 0x20)).toEqual([]);
  });

  it("passes lines that are not pino JSON through unchanged", () => {
    for (const raw of [
      "plain text",
      "",
      "{not json",
      '{"msg":"no level"}',
      "[1,2]",
      "  at frame (x.js:1:1)",
    ]) {
      expect(formatLogLine(raw, { colors: true })).toBe(raw);
    }
  });

  it("colours the level by the usual conventions and dims time and fields", () => {
    const text = formatLogLine(line({ level: 40, component: "mqtt", msg: "m", x: 1 }), { colors: true });
    expect(text).toBe(
      "\x1b[2m08:14:02.007\x1b[0m \x1b[33mWARN \x1b[0m \x1b[36m[mqtt]\x1b[0m m  \x1b[2mx=1\x1b[0m",
    );
  });
});

describe("colorsWanted", () => {
  it.each([
    [{}, true, true],
    [{}, false, false],
    [{ NO_COLOR: "1" }, true, false],
    [{ NO_COLOR: "" }, true, true],
    [{ TERM: "dumb" }, true, false],
    [{ FORCE_COLOR: "1" }, false, true],
    [{ FORCE_COLOR: "" }, false, true],
    [{ FORCE_COLOR: "0" }, true, false],
    [{ FORCE_COLOR: "false" }, true, false],
    [{ FORCE_COLOR: "1", NO_COLOR: "1" }, false, true],
  ])("%j on a terminal: %s -> %s", (env, tty, expected) => {
    expect(colorsWanted(env, tty)).toBe(expected);
  });
});

describe("prettyDestination", () => {
  it("writes each pino line formatted, with an optional prefix from its level", () => {
    const written: string[] = [];
    const destination = prettyDestination(
      { write: (text: string) => void written.push(text) },
      { colors: false, prefix: (level) => `<${level}>` },
    );
    destination.write(`${line({ level: 40, msg: "careful" })}\n`);
    destination.write("not json\n");
    expect(written).toEqual(["<40>08:14:02.007 WARN  careful\n", "<30>not json\n"]);
  });
});

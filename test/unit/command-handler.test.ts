import type { IPublishPacket } from "mqtt";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/logging/logger.js";
import type { Publish } from "../../src/mqtt/session.js";
import { type Command, CommandError, CommandHandler } from "../../src/remote/command-handler.js";
import { buildCommands, type CommandDeps } from "../../src/remote/commands.js";
import { MAX_COMMAND_PAYLOAD_BYTES, parseRequest } from "../../src/remote/request.js";
import { commandName } from "../../src/remote/topics.js";

const PREFIX = "cw-agent/gw";

function packet(name: string, payload: string | Buffer, extra: Partial<IPublishPacket> = {}): IPublishPacket {
  return {
    cmd: "publish",
    topic: `${PREFIX}/cmd/${name}`,
    payload: typeof payload === "string" ? Buffer.from(payload) : payload,
    qos: 1,
    dup: false,
    retain: false,
    ...extra,
  };
}

function bed(commands: Record<string, Command>) {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger({
    level: "debug",
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  const replies: { topic: string; body: Record<string, unknown>; options: unknown }[] = [];
  const publish: Publish = async (topic, payload, options) => {
    replies.push({ topic, body: JSON.parse(payload), options });
  };
  const handler = new CommandHandler(PREFIX, commands, logger);
  // Lets every promise chain of the handler (command, reply, afterReply) run to its end.
  const settle = async () => {
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { handler, replies, lines, publish, settle };
}

describe("command requests", () => {
  it("parses {id, args} and refuses everything else with the id where it could be read", () => {
    expect(parseRequest(Buffer.from('{"id":"1","args":{"a":1}}'))).toEqual({
      ok: true,
      id: "1",
      args: { a: 1 },
    });
    expect(parseRequest(Buffer.from('{"id":"1"}'))).toEqual({ ok: true, id: "1", args: {} });
    expect(parseRequest(Buffer.from("[1]"))).toMatchObject({ ok: false, id: null });
    expect(parseRequest(Buffer.from('{"id":7}'))).toMatchObject({ ok: false, id: null });
    expect(parseRequest(Buffer.from(`{"id":"${"x".repeat(129)}"}`))).toMatchObject({ ok: false, id: null });
    expect(parseRequest(Buffer.from('{"id":"2","args":"x"}'))).toMatchObject({ ok: false, id: "2" });
    expect(parseRequest(Buffer.alloc(MAX_COMMAND_PAYLOAD_BYTES + 1, 0x20))).toMatchObject({
      ok: false,
      error: "payload larger than 4096 bytes",
    });
  });

  it("knows its request topics and nothing below them", () => {
    expect(commandName(PREFIX, `${PREFIX}/cmd/status`)).toBe("status");
    expect(commandName(PREFIX, `${PREFIX}/cmd/status/reply`)).toBeUndefined();
    expect(commandName(PREFIX, "cw-agent/other/cmd/status")).toBeUndefined();
  });
});

describe("CommandHandler", () => {
  it("replies on the MQTT 5 response topic with the correlation data when the request carries them", async () => {
    const { handler, replies, publish, settle } = bed({ ping: () => ({ result: "pong" }) });
    const correlationData = Buffer.from("c-1");
    handler.onMessage(
      packet("ping", '{"id":"p"}', { properties: { responseTopic: `${PREFIX}/replies/x`, correlationData } }),
      publish,
    );
    await settle();
    handler.onMessage(packet("ping", '{"id":"q"}'), publish);
    await settle();
    expect(replies).toEqual([
      {
        topic: `${PREFIX}/replies/x`,
        body: { id: "p", ok: true, result: "pong" },
        options: { qos: 1, retain: false, properties: { correlationData } },
      },
      {
        topic: `${PREFIX}/cmd/ping/reply`,
        body: { id: "q", ok: true, result: "pong" },
        options: { qos: 1, retain: false },
      },
    ]);
  });

  it("keeps one request per command in flight and answers the rest busy at once; other commands run", async () => {
    let release: () => void = () => {};
    const slow: Command = () => new Promise((resolve) => (release = () => resolve({ result: "done" })));
    const { handler, replies, publish, settle, lines } = bed({ slow, fast: () => ({ result: 1 }) });
    handler.onMessage(packet("slow", '{"id":"1"}'), publish);
    handler.onMessage(packet("slow", '{"id":"2"}'), publish);
    handler.onMessage(packet("slow", '{"id":"3"}'), publish);
    handler.onMessage(packet("fast", '{"id":"4"}'), publish);
    await settle();
    expect(replies.map((reply) => reply.body)).toEqual([
      { id: "2", ok: false, error: "busy: an earlier slow request is still running" },
      { id: "3", ok: false, error: "busy: an earlier slow request is still running" },
      { id: "4", ok: true, result: 1 },
    ]);
    expect(
      lines.filter((line) => line.level === 20 && line.msg.startsWith("Command refused: busy")),
    ).toHaveLength(2);
    release();
    await settle();
    expect(replies.at(-1)?.body).toEqual({ id: "1", ok: true, result: "done" });
    handler.onMessage(packet("slow", '{"id":"5"}'), publish);
    await settle();
    release();
    await settle();
    expect(replies.at(-1)?.body).toEqual({ id: "5", ok: true, result: "done" });
  });

  it("ignores retained requests, refuses unknown commands, reports refusals and failures, and acts after the reply", async () => {
    const order: string[] = [];
    const { handler, replies, publish, settle, lines } = bed({
      refuse: () => {
        throw new CommandError("not like this");
      },
      crash: () => {
        throw new Error("disk on fire");
      },
      act: () => ({ result: "ok", afterReply: () => order.push(`acted after ${replies.length} replies`) }),
    });
    handler.onMessage(packet("act", '{"id":"stale"}', { retain: true }), publish);
    handler.onMessage(packet("__proto__", '{"id":"u"}'), publish);
    handler.onMessage(packet("refuse", '{"id":"r"}'), publish);
    handler.onMessage(packet("crash", '{"id":"c"}'), publish);
    handler.onMessage(packet("act", '{"id":"a"}'), publish);
    await settle();
    expect(replies.map((reply) => reply.body)).toEqual([
      { id: "u", ok: false, error: 'unknown command "__proto__"; expected one of refuse, crash, act' },
      { id: "r", ok: false, error: "not like this" },
      { id: "c", ok: false, error: "failed: disk on fire" },
      { id: "a", ok: true, result: "ok" },
    ]);
    expect(order).toEqual(["acted after 4 replies"]);
    expect(lines.some((line) => line.msg.startsWith("Ignored a retained command message"))).toBe(true);
    expect(lines.some((line) => line.level === 40 && line.msg === "Command crash failed: disk on fire")).toBe(
      true,
    );
  });

  it("still acts when the reply cannot be sent", async () => {
    const acted: string[] = [];
    const { handler, settle } = bed({ act: () => ({ result: 1, afterReply: () => acted.push("yes") }) });
    handler.onMessage(packet("act", '{"id":"a"}'), () => Promise.reject(new Error("gone")));
    await settle();
    expect(acted).toEqual(["yes"]);
  });
});

describe("the commands", () => {
  function deps(overrides: Partial<CommandDeps> = {}): CommandDeps & { calls: string[] } {
    const calls: string[] = [];
    const logger = createLogger({ level: "silent", destination: { write: () => {} } });
    return {
      calls,
      logger,
      rootLogger: createLogger({ level: "info", destination: { write: () => {} } }),
      identifySeconds: 15,
      identifyTargets: () => ["status LED"],
      identify: (seconds) => calls.push(`identify ${seconds}`),
      liveStatus: () => {
        throw new Error("not used");
      },
      controlSocket: "/run/cw-agent/control.sock",
      runCheck: async () => ({ exitCode: 0, report: { checks: [], summary: {} } }),
      pairingId: () => "a82123",
      resetCredentials: () => calls.push("reset"),
      restart: () => calls.push("restart"),
      ...overrides,
    };
  }

  it("identify defaults to CW_AGENT_LED_IDENTIFY_S and falls back to the ACT LED only when it can", async () => {
    const plain = deps();
    expect(await buildCommands(plain).identify?.({})).toEqual({
      result: { seconds: 15, shownOn: ["status LED"] },
    });
    expect(plain.calls).toEqual(["identify 15"]);
    const act = { available: () => true, identify: (seconds: number) => seconds > 0 };
    const bare = deps({ identifyTargets: () => [], activityLed: act });
    expect(await buildCommands(bare).identify?.({ seconds: 2 })).toEqual({
      result: { seconds: 2, shownOn: ["ACT LED"] },
    });
    expect(bare.calls).toEqual([]);
    const nothing = deps({
      identifyTargets: () => [],
      activityLed: { available: () => false, identify: () => true },
    });
    expect(() => buildCommands(nothing).identify?.({})).toThrow(CommandError);
    expect(() => buildCommands(plain).identify?.({ seconds: 1.5 })).toThrow(
      "args.seconds must be an integer",
    );
  });

  it("re-pair needs the current pairing ID and acts only after the reply; restart likewise", async () => {
    const target = deps();
    const commands = buildCommands(target);
    expect(() => commands["re-pair"]?.({ confirm: "ffffff" })).toThrow("current pairing ID");
    expect(() =>
      buildCommands(deps({ pairingId: () => undefined }))["re-pair"]?.({ confirm: undefined }),
    ).toThrow(CommandError);
    const repair = await commands["re-pair"]?.({ confirm: "a82123" });
    expect(repair?.result).toEqual({ discardedPairingId: "a82123" });
    expect(target.calls).toEqual([]);
    repair?.afterReply?.();
    const restart = await commands.restart?.({});
    expect(restart?.result).toEqual({ restarting: true, exitCode: 75 });
    restart?.afterReply?.();
    expect(target.calls).toEqual(["reset", "restart"]);
  });

  it("log-level changes the root logger's level, which child loggers follow", async () => {
    const target = deps();
    const child = target.rootLogger.child({ component: "mqtt" });
    const result = await buildCommands(target)["log-level"]?.({ level: "debug" });
    expect(result?.result).toEqual({ previous: "info", level: "debug" });
    expect(child.isLevelEnabled("debug")).toBe(true);
    expect(() => buildCommands(target)["log-level"]?.({ level: "verbose" })).toThrow(
      "args.level must be one of",
    );
  });
});

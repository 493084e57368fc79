import type { IPublishPacket } from "mqtt";
import type { Logger } from "../logging/logger.js";
import type { MessageHandler, Publish } from "../mqtt/session.js";
import { errorMessage } from "../util/errors.js";
import { type CommandArgs, parseRequest } from "./request.js";
import { commandFilter, commandName, replyTopic } from "./topics.js";

/** A refusal the sender can act on: bad arguments, a wrong confirmation, nothing to show it on. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

export interface CommandOutcome {
  readonly result: unknown;
  /** Runs once the reply was sent (or could not be): restart and re-pair end the connection. */
  readonly afterReply?: () => void;
}

/** Throws CommandError for a request it refuses. */
export type Command = (args: CommandArgs) => CommandOutcome | Promise<CommandOutcome>;

/** docs/schemas/command-reply.schema.json */
export type CommandReply =
  | { readonly id: string; readonly ok: true; readonly result: unknown }
  | { readonly id: string | null; readonly ok: false; readonly error: string };

interface ReplyTo {
  readonly topic: string;
  readonly correlationData?: Buffer;
}

/**
 * Serves `<prefix>/cmd/<name>`: one reply per request, never a crash and never a queue. Retained
 * requests are ignored (a stale retained `restart` must not restart the gateway at every connect),
 * and at most one request per command is in flight; the others are answered "busy" at once.
 */
export class CommandHandler implements MessageHandler {
  readonly subscriptions: readonly string[];
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly prefix: string,
    private readonly commands: Readonly<Record<string, Command>>,
    private readonly logger: Logger,
    private readonly onLoginHook?: (publish: Publish) => void,
  ) {
    this.subscriptions = [commandFilter(prefix)];
  }

  onLogin(publish: Publish): void {
    this.onLoginHook?.(publish);
  }

  onMessage(packet: IPublishPacket, publish: Publish): void {
    const name = commandName(this.prefix, packet.topic);
    if (name === undefined) return;
    if (packet.retain) {
      this.logger.debug(
        { topic: packet.topic },
        "Ignored a retained command message: only requests sent while the agent is connected are served",
      );
      return;
    }
    const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
    const replyTo = this.replyDestination(packet, name);
    const request = parseRequest(payload);
    if (!request.ok) {
      this.refuse(publish, replyTo, name, { id: request.id, ok: false, error: request.error });
      return;
    }
    const command = Object.hasOwn(this.commands, name) ? this.commands[name] : undefined;
    if (command === undefined) {
      const known = Object.keys(this.commands).join(", ");
      this.refuse(publish, replyTo, name, {
        id: request.id,
        ok: false,
        error: `unknown command ${JSON.stringify(name.slice(0, 60))}; expected one of ${known}`,
      });
      return;
    }
    if (this.inFlight.has(name)) {
      this.refuse(publish, replyTo, name, {
        id: request.id,
        ok: false,
        error: `busy: an earlier ${name} request is still running`,
      });
      return;
    }
    this.inFlight.add(name);
    void this.serve(name, command, request.id, request.args, publish, replyTo).finally(() =>
      this.inFlight.delete(name),
    );
  }

  private async serve(
    name: string,
    command: Command,
    id: string,
    args: CommandArgs,
    publish: Publish,
    replyTo: ReplyTo,
  ): Promise<void> {
    let outcome: CommandOutcome;
    try {
      outcome = await command(args);
    } catch (error) {
      if (error instanceof CommandError) {
        this.refuse(publish, replyTo, name, { id, ok: false, error: error.message });
      } else {
        this.logger.warn({ err: error, command: name, id }, `Command ${name} failed: ${errorMessage(error)}`);
        await this.reply(publish, replyTo, { id, ok: false, error: `failed: ${errorMessage(error)}` });
      }
      return;
    }
    this.logger.info({ command: name, id }, `Command ${name} done (request ${id})`);
    await this.reply(publish, replyTo, { id, ok: true, result: outcome.result });
    outcome.afterReply?.();
  }

  private refuse(
    publish: Publish,
    replyTo: ReplyTo,
    name: string,
    reply: CommandReply & { ok: false },
  ): void {
    this.logger.debug(
      { command: name, id: reply.id, reason: reply.error },
      `Command refused: ${reply.error}`,
    );
    void this.reply(publish, replyTo, reply);
  }

  /** MQTT 5 request/response where the request carries a response topic, else the reply topic. */
  private replyDestination(packet: IPublishPacket, name: string): ReplyTo {
    const properties = packet.properties;
    const topic = properties?.responseTopic ?? replyTopic(this.prefix, name);
    return properties?.correlationData === undefined
      ? { topic }
      : { topic, correlationData: properties.correlationData };
  }

  private async reply(publish: Publish, replyTo: ReplyTo, reply: CommandReply): Promise<void> {
    try {
      await publish(replyTo.topic, JSON.stringify(reply), {
        qos: 1,
        retain: false,
        ...(replyTo.correlationData === undefined
          ? {}
          : { properties: { correlationData: replyTo.correlationData } }),
      });
    } catch (error) {
      this.logger.debug({ err: error, topic: replyTo.topic }, `Reply not sent: ${errorMessage(error)}`);
    }
  }
}

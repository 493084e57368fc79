import type { EventEmitter } from "node:events";
import { createServer as createNetServer, type Server } from "node:net";
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket } from "node:tls";
import { Aedes, type AuthenticateError, type Client } from "aedes";
import { SocketTracker } from "./http-util.js";
import { closeServer, listen } from "./listen.js";
import type { KeyPair } from "./paths.js";
import type { MqttPermission } from "./protocol.js";
import type { RegistryState } from "./registry-state.js";
import { mayPublish, maySubscribe } from "./topic-match.js";

/**
 * Refused publishes are rerouted here instead of being refused with an error, because aedes closes
 * the connection on an authorizePublish error and the simulator is meant to drop them silently.
 * Nothing is ever forwarded from this topic.
 */
const DROPPED_PUBLISH_TOPIC = "$SIM/dropped-publish";

const CONNACK_BAD_USERNAME_OR_PASSWORD = 4;
const CONNACK_NOT_AUTHORIZED = 5;

export interface MqttSession {
  clientId: string;
  username: string;
}

export interface SimulatedBrokerOptions {
  host: string;
  mqttPort: number;
  mqttsPort: number;
  serverKeyPair: KeyPair;
  /**
   * PEM CA whose client certificates the MQTTS listener requires (mutual TLS); the Common Name is
   * the user. Unset: no client certificates are asked for, and users log in with passwords.
   */
  clientCa?: string;
  state: RegistryState;
  log: (message: string) => void;
}

/** The Common Name (the user) and serial of the verified client certificate on this connection, if any. */
function certificateUser(client: Client): { username: string; serial: string } | undefined {
  const socket = client.conn as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== "function" || socket.authorized !== true) return undefined;
  const certificate = socket.getPeerCertificate();
  const cn = certificate.subject?.CN;
  const username = typeof cn === "string" ? cn : Array.isArray(cn) ? cn[0] : undefined;
  return username === undefined ? undefined : { username, serial: normalSerial(certificate.serialNumber) };
}

function normalSerial(serial: string): string {
  return serial.toLowerCase().replace(/^(00)+(?=.)/, "");
}

function refusal(returnCode: 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** aedes behind a plain and a TLS listener, authenticating against the simulated registry. */
export class SimulatedBroker {
  private readonly netServer: Server;
  private readonly tlsServer: Server;
  private readonly netSockets = new SocketTracker();
  private readonly tlsSockets = new SocketTracker();
  private readonly usernameOfClient = new WeakMap<Client, string>();
  /** so a session whose user was deleted can still publish its last will */
  private readonly permissionsAtConnect = new WeakMap<Client, MqttPermission[]>();
  private readonly sessions = new Set<Client>();
  private readonly retainedPayloads = new Map<string, Buffer>();
  private connectsToReject = 0;
  private readonly revokedSerials = new Set<string>();
  private plainPort: number;
  private tlsPort: number;

  private constructor(
    private readonly aedes: Aedes,
    private readonly options: SimulatedBrokerOptions,
  ) {
    this.plainPort = options.mqttPort;
    this.tlsPort = options.mqttsPort;
    this.netServer = createNetServer(aedes.handle);
    this.tlsServer = createTlsServer(this.secureContextOptions(), aedes.handle);
    this.netServer.on("connection", this.netSockets.track);
    this.tlsServer.on("connection", this.tlsSockets.track);
  }

  static async create(options: SimulatedBrokerOptions): Promise<SimulatedBroker> {
    let broker: SimulatedBroker | undefined;
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        if (broker === undefined) {
          done(refusal(CONNACK_NOT_AUTHORIZED, "broker is starting"), false);
          return;
        }
        broker.authenticate(client, username, password, done);
      },
      authorizePublish: (client, packet, done) => {
        broker?.authorizePublish(client, packet);
        done(null);
      },
      authorizeSubscribe: (client, subscription, done) => {
        done(null, broker?.mayClientSubscribe(client, subscription.topic) ? subscription : null);
      },
      authorizeForward: (_client, packet) => (packet.topic === DROPPED_PUBLISH_TOPIC ? null : packet),
    });
    broker = new SimulatedBroker(aedes, options);
    broker.observe();
    return broker;
  }

  get mqttPort(): number {
    return this.plainPort;
  }

  get mqttsPort(): number {
    return this.tlsPort;
  }

  isRunning(): boolean {
    return this.netServer.listening;
  }

  /** Listens on the ports given at creation, or on the same ports as before after a stop. */
  async start(): Promise<void> {
    if (!this.netServer.listening) {
      this.plainPort = await listen(this.netServer, this.plainPort, this.options.host);
    }
    if (!this.tlsServer.listening) {
      this.tlsPort = await listen(this.tlsServer, this.tlsPort, this.options.host);
    }
  }

  /** Closes the listeners and every MQTT connection; the broker state (retained messages) stays. */
  async stop(): Promise<void> {
    const closing = [closeServer(this.netServer), closeServer(this.tlsServer)];
    this.netSockets.destroyAll();
    this.tlsSockets.destroyAll();
    await Promise.all(closing);
  }

  async close(): Promise<void> {
    await this.stop();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }

  sessionsList(): MqttSession[] {
    return [...this.sessions].map((client) => ({
      clientId: client.id,
      username: this.usernameOfClient.get(client) ?? "",
    }));
  }

  /** Destroys the sockets of a user's sessions, as a network loss would; returns how many. */
  dropSessionsOf(username: string): number {
    let dropped = 0;
    for (const client of this.sessions) {
      if (this.usernameOfClient.get(client) === username) {
        client.conn.destroy();
        dropped += 1;
      }
    }
    if (dropped > 0) {
      this.options.log(`dropped ${dropped} MQTT session(s) of "${username}"`);
    }
    return dropped;
  }

  /**
   * Revokes client certificates by serial (hex): their CONNECTs are refused with "not authorized".
   * A Node TLS server ends a handshake with a refused certificate without a TLS alert, so the
   * alert itself is tested against Mosquitto with a CRL.
   */
  revokeSerials(serials: readonly string[]): void {
    for (const serial of serials) this.revokedSerials.add(normalSerial(serial));
  }

  private secureContextOptions(): SecureContextOptions & {
    requestCert?: boolean;
    rejectUnauthorized?: boolean;
  } {
    const { serverKeyPair, clientCa } = this.options;
    const base = { cert: serverKeyPair.cert, key: serverKeyPair.key };
    if (clientCa === undefined) return base;
    // Like Connectware's broker on 8883: at most TLS 1.2, only certificates of the trusted CA.
    return { ...base, ca: clientCa, requestCert: true, rejectUnauthorized: true, maxVersion: "TLSv1.2" };
  }

  rejectNextConnects(count: number): void {
    this.connectsToReject = Math.max(0, Math.floor(count));
  }

  retained(topic: string): string | undefined {
    return this.retainedPayloads.get(topic)?.toString("utf8");
  }

  private observe(): void {
    this.aedes.on("client", (client) => {
      if (this.usernameOfClient.has(client)) {
        this.sessions.add(client);
      }
    });
    this.aedes.on("clientDisconnect", (client) => {
      this.sessions.delete(client);
    });
    this.aedes.on("publish", (packet) => {
      if (!packet.retain || packet.topic === DROPPED_PUBLISH_TOPIC) return;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(String(packet.payload));
      if (payload.length === 0) {
        this.retainedPayloads.delete(packet.topic);
      } else {
        this.retainedPayloads.set(packet.topic, payload);
      }
    });
    // Typed without "error", but aedes emits it (for example when clearing stale wills fails).
    (this.aedes as EventEmitter).on("error", (error: Error) => {
      this.options.log(`broker error: ${error.message}`);
    });
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    if (this.connectsToReject > 0) {
      this.connectsToReject -= 1;
      this.options.log(`MQTT CONNECT of "${username ?? ""}" rejected on purpose (transient rejection)`);
      done(refusal(CONNACK_NOT_AUTHORIZED, "not authorized"), false);
      return;
    }
    const peer = this.options.clientCa === undefined ? undefined : certificateUser(client);
    if (peer !== undefined) {
      if (this.revokedSerials.has(peer.serial)) {
        this.options.log(`MQTT CONNECT of "${peer.username}" refused: its certificate is revoked`);
        done(refusal(CONNACK_NOT_AUTHORIZED, "not authorized"), false);
      } else if (this.options.state.handleCertificateLogin(peer.username) === "accepted") {
        this.usernameOfClient.set(client, peer.username);
        this.permissionsAtConnect.set(client, this.options.state.userPermissions(peer.username) ?? []);
        this.options.log(`MQTT client "${client.id}" connected as "${peer.username}" (client certificate)`);
        done(null, true);
      } else {
        this.options.log(`MQTT CONNECT with a certificate for unknown "${peer.username}" refused`);
        done(refusal(CONNACK_NOT_AUTHORIZED, "not authorized"), false);
      }
      return;
    }
    if (username === undefined || password === undefined) {
      this.options.log("MQTT CONNECT without username or password refused");
      done(refusal(CONNACK_NOT_AUTHORIZED, "not authorized"), false);
      return;
    }
    const outcome = this.options.state.handleMqttLogin(username, password.toString("utf8"));
    switch (outcome) {
      case "accepted":
        this.usernameOfClient.set(client, username);
        this.permissionsAtConnect.set(client, this.options.state.userPermissions(username) ?? []);
        this.options.log(`MQTT client "${client.id}" connected as "${username}"`);
        done(null, true);
        return;
      case "bad-password":
        this.options.log(`MQTT CONNECT of "${username}" refused: bad username or password`);
        done(refusal(CONNACK_BAD_USERNAME_OR_PASSWORD, "bad username or password"), false);
        return;
      case "unknown-user-recorded":
        this.options.log(`MQTT CONNECT of unknown "${username}" refused and recorded as a pending request`);
        done(refusal(CONNACK_NOT_AUTHORIZED, "not authorized"), false);
        return;
      case "unknown-user":
        this.options.log(`MQTT CONNECT of unknown "${username}" refused (registry locked)`);
        done(refusal(CONNACK_NOT_AUTHORIZED, "not authorized"), false);
        return;
    }
  }

  private permissionsOf(client: Client): MqttPermission[] {
    const username = this.usernameOfClient.get(client);
    const current = username === undefined ? undefined : this.options.state.userPermissions(username);
    return current ?? this.permissionsAtConnect.get(client) ?? [];
  }

  /** Reroutes a publish the client may not make to a topic nothing is forwarded from. */
  private authorizePublish(client: Client | null, packet: { topic: string; retain: boolean }): void {
    // aedes passes no client for its own publishes (such as wills of long-gone sessions).
    if (client === null) return;
    if (
      !packet.topic.startsWith("$SYS/") &&
      mayPublish(this.permissionsOf(client), packet.topic) &&
      this.underOwnPrefix(client, packet.topic)
    )
      return;
    this.options.log(
      `dropped publish of "${this.usernameOfClient.get(client) ?? ""}" to "${packet.topic}" (not permitted)`,
    );
    packet.topic = DROPPED_PUBLISH_TOPIC;
    packet.retain = false;
  }

  /**
   * An agent (a user that registered with a topic prefix) publishes only under that prefix, whatever
   * permissions it was granted: it can never send another agent a command.
   */
  private underOwnPrefix(client: Client, topic: string): boolean {
    const username = this.usernameOfClient.get(client);
    const prefix = username === undefined ? undefined : this.options.state.userTopicPrefix(username);
    return prefix === undefined || topic.startsWith(`${prefix}/`);
  }

  /**
   * Sends an agent a command as Connectware would, as a broker-side publish on
   * `<prefix>/cmd/<name>`, and resolves with the reply on `<prefix>/cmd/<name>/reply` that carries
   * the same id; rejects when none comes within `timeoutMs`.
   */
  command(
    prefix: string,
    name: string,
    body: { id: string; args?: unknown },
    timeoutMs: number,
  ): Promise<unknown> {
    const requestTopic = `${prefix}/cmd/${name}`;
    const replyTopic = `${requestTopic}/reply`;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const deliver = (packet: { payload: Buffer | string }, callback: () => void) => {
        callback();
        let reply: unknown;
        try {
          reply = JSON.parse(packet.payload.toString());
        } catch {
          return;
        }
        if ((reply as { id?: unknown } | null)?.id !== body.id) return;
        finish();
        resolve(reply);
      };
      const finish = () => {
        clearTimeout(timer);
        this.aedes.unsubscribe(replyTopic, deliver as never, () => {});
      };
      timer = setTimeout(() => {
        finish();
        reject(new Error(`no reply on ${replyTopic} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.aedes.subscribe(replyTopic, deliver as never, () => {
        this.aedes.publish(
          {
            cmd: "publish",
            topic: requestTopic,
            payload: Buffer.from(JSON.stringify(body)),
            qos: 1,
            retain: false,
            dup: false,
          },
          (error) => {
            if (error) {
              finish();
              reject(error);
            }
          },
        );
      });
    });
  }

  private mayClientSubscribe(client: Client, topicFilter: string): boolean {
    if (maySubscribe(this.permissionsOf(client), topicFilter)) return true;
    this.options.log(
      `refused subscription of "${this.usernameOfClient.get(client) ?? ""}" to "${topicFilter}" (not permitted)`,
    );
    return false;
  }
}

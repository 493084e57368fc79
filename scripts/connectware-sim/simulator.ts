import { randomUUID } from "node:crypto";
import { AdminServer, REDIRECT_TARGET_PATH } from "./admin-http.js";
import { SimulatedBroker } from "./broker.js";
import { TestCa } from "./ca.js";
import { connectableHost, urlHost } from "./http-util.js";
import { certificateFiles, loadKeyPair } from "./paths.js";
import { DEFAULT_UNLOCK_WINDOW_MS } from "./protocol.js";
import { type Misbehaviour, RegistryServers } from "./registry.js";
import { type RegistrationRequestView, RegistryState } from "./registry-state.js";

export type { Misbehaviour } from "./registry.js";
export { isMisbehaviour, MISBEHAVIOURS } from "./registry.js";
export type { RegistrationRequestView } from "./registry-state.js";
export { SimulatorError } from "./registry-state.js";

export interface SimulatorOptions {
  /** default "127.0.0.1" */
  host?: string;
  /** default 0 (a free port); HTTP registry */
  registryHttpPort?: number;
  /** default 0; HTTPS registry with the bundled server certificate */
  registryHttpsPort?: number;
  /** default 0; plain MQTT broker */
  mqttPort?: number;
  /** default 0; MQTT over TLS with the bundled server certificate */
  mqttsPort?: number;
  /** default 0; admin HTTP API, always well-behaved */
  adminPort?: number;
  /** default 300000 (five minutes, like Connectware); the registry locks itself afterwards */
  unlockWindowMs?: number;
  /** default: silent */
  log?: (message: string) => void;
  /**
   * default false; the MQTTS listener requires client certificates from the test CA (mutual TLS),
   * the Common Name naming the user, as Connectware's broker does on 8883 for certificate users
   */
  clientCertificates?: boolean;
}

/** A client certificate the registry signed. */
export interface IssuedCertificateView {
  username: string;
  serial: string;
  notAfter: Date;
}

/** A request that arrived at the admin server's redirect target (see the `redirect` misbehaviour). */
export interface RedirectHit {
  method: string;
  bodyBytes: number;
  /** whether the body carried a `"password"` field, i.e. the credentials were re-sent there */
  containedPassword: boolean;
  hadAuthorizationHeader: boolean;
  at: number;
}

export interface SimulatorStatus {
  unlocked: boolean;
  unlockedUntil: number | null;
  misbehaviour: Misbehaviour | null;
  brokerRunning: boolean;
  registryHttpUrl: string;
  registryHttpsUrl: string;
  mqttUrl: string;
  mqttsUrl: string;
  adminUrl: string;
  pendingRequests: number;
  users: number;
  mqttClients: number;
}

export interface RegisterCallView {
  username: string;
  pairingId: string | undefined;
  /** the status code answered; 0 when no answer was given (the `hang` and `reset` misbehaviours) */
  status: number;
  at: number;
}

export interface ConnectwareSimulator {
  readonly host: string;
  readonly registryHttpUrl: string;
  readonly registryHttpsUrl: string;
  readonly mqttPort: number;
  readonly mqttsPort: number;
  readonly adminUrl: string;
  /** absolute path of the bundled test CA PEM the agent should trust */
  readonly caFile: string;
  /** absolute path of a second CA that did NOT sign the server certificate */
  readonly otherCaFile: string;
  unlock(durationMs?: number): void;
  lock(): void;
  isUnlocked(): boolean;
  requests(): RegistrationRequestView[];
  /** every POST to the register endpoint, in order; passwords are never kept here */
  registerCalls(): RegisterCallView[];
  /** throws a SimulatorError if there is no such request */
  grant(usernameOrPairingId: string): void;
  deny(usernameOrPairingId: string): void;
  users(): { username: string; permissions: unknown[] }[];
  /** a pre-existing user (for 409 tests); replaces a user of the same name */
  addUser(username: string, password: string, permissions?: unknown[]): void;
  /** also disconnects that user's MQTT sessions at once; throws if there is no such user */
  deleteUser(username: string): void;
  /**
   * Takes effect for the next request at once; the returned promise resolves when the registry
   * listeners are closed (`refuse`) or open again (any other mode). It never rejects.
   */
  setMisbehaviour(mode: Misbehaviour | null): Promise<void>;
  misbehaviour(): Misbehaviour | null;
  mqttClients(): { clientId: string; username: string }[];
  /** abruptly destroys the sockets of one user's MQTT sessions (the broker publishes their last will) */
  dropMqttClient(username: string): void;
  /** rejects the next n CONNECTs with "not authorized" even for valid users (a transient rejection) */
  rejectNextConnects(n: number): void;
  /** closes both MQTT listeners and all MQTT sockets; retained messages are kept */
  stopBroker(): Promise<void>;
  /** listens again on the same ports */
  startBroker(): Promise<void>;
  isBrokerRunning(): boolean;
  /** every client certificate the registry signed, in order */
  issuedCertificates(): IssuedCertificateView[];
  /** revokes a user's client certificates: the broker refuses their CONNECTs (not authorized) */
  revokeCertificatesOf(username: string): void;
  /** the CRL of the test CA with every revoked certificate (PEM) */
  crl(): string;
  /** validity of the certificates signed from now on, from their signing; undefined: a year */
  setCertificateLifetime(ms: number | undefined): void;
  /** the test CA that signs client certificates */
  readonly testCa: TestCa;
  /** last retained payload on a topic, as a string, or undefined */
  retained(topic: string): string | undefined;
  /** requests that followed the `redirect` misbehaviour to the admin server */
  redirectHits(): RedirectHit[];
  /**
   * Sends agent `agent` (its username) the command `name` on `<prefix>/cmd/<name>` and resolves
   * with its reply; the prefix is the one the agent registered with, else `cw-agent/<agent>`.
   */
  command(agent: string, name: string, args?: unknown, timeoutMs?: number): Promise<unknown>;
  status(): SimulatorStatus;
  /** closes every listener, socket and timer */
  close(): Promise<void>;
}

class Simulator implements ConnectwareSimulator {
  readonly caFile: string;
  readonly otherCaFile: string;
  private admin!: AdminServer;
  private adminPort = 0;
  private closing: Promise<void> | undefined;
  readonly issued: IssuedCertificateView[] = [];
  private readonly revoked = new Set<string>();
  certificateLifetimeMs: number | undefined;

  constructor(
    readonly host: string,
    private readonly state: RegistryState,
    private readonly registry: RegistryServers,
    private readonly broker: SimulatedBroker,
    files: { caFile: string; otherCaFile: string },
    readonly testCa: TestCa,
  ) {
    this.caFile = files.caFile;
    this.otherCaFile = files.otherCaFile;
  }

  async startAdmin(port: number): Promise<void> {
    this.admin = new AdminServer(this, this.host, port);
    this.adminPort = await this.admin.start();
  }

  private get clientHost(): string {
    return urlHost(connectableHost(this.host));
  }

  get registryHttpUrl(): string {
    return `http://${this.clientHost}:${this.registry.httpPort}`;
  }

  get registryHttpsUrl(): string {
    return `https://${this.clientHost}:${this.registry.httpsPort}`;
  }

  get mqttPort(): number {
    return this.broker.mqttPort;
  }

  get mqttsPort(): number {
    return this.broker.mqttsPort;
  }

  get adminUrl(): string {
    return `http://${this.clientHost}:${this.adminPort}`;
  }

  unlock(durationMs?: number): void {
    this.state.unlock(durationMs);
  }

  lock(): void {
    this.state.lock();
  }

  isUnlocked(): boolean {
    return this.state.isUnlocked();
  }

  requests(): RegistrationRequestView[] {
    return this.state.requests();
  }

  registerCalls(): RegisterCallView[] {
    return this.registry.registerCalls();
  }

  grant(usernameOrPairingId: string): void {
    this.state.grant(usernameOrPairingId);
  }

  deny(usernameOrPairingId: string): void {
    this.state.deny(usernameOrPairingId);
  }

  users(): { username: string; permissions: unknown[] }[] {
    return this.state.listUsers();
  }

  addUser(username: string, password: string, permissions: unknown[] = []): void {
    this.state.addUser(username, password, permissions);
  }

  deleteUser(username: string): void {
    this.state.deleteUser(username);
  }

  setMisbehaviour(mode: Misbehaviour | null): Promise<void> {
    return this.registry.setMisbehaviour(mode);
  }

  misbehaviour(): Misbehaviour | null {
    return this.registry.misbehaviour();
  }

  mqttClients(): { clientId: string; username: string }[] {
    return this.broker.sessionsList();
  }

  dropMqttClient(username: string): void {
    this.broker.dropSessionsOf(username);
  }

  rejectNextConnects(n: number): void {
    this.broker.rejectNextConnects(n);
  }

  stopBroker(): Promise<void> {
    return this.broker.stop();
  }

  startBroker(): Promise<void> {
    return this.broker.start();
  }

  isBrokerRunning(): boolean {
    return this.broker.isRunning();
  }

  retained(topic: string): string | undefined {
    return this.broker.retained(topic);
  }

  issuedCertificates(): IssuedCertificateView[] {
    return this.issued.map((entry) => ({ ...entry }));
  }

  revokeCertificatesOf(username: string): void {
    for (const entry of this.issued) if (entry.username === username) this.revoked.add(entry.serial);
    this.broker.revokeSerials([...this.revoked]);
  }

  crl(): string {
    return this.testCa.crl([...this.revoked]);
  }

  setCertificateLifetime(ms: number | undefined): void {
    this.certificateLifetimeMs = ms;
  }

  redirectHits(): RedirectHit[] {
    return this.admin.redirectHits();
  }

  command(agent: string, name: string, args?: unknown, timeoutMs = 70_000): Promise<unknown> {
    const prefix = this.state.userTopicPrefix(agent) ?? `cw-agent/${agent}`;
    const body = { id: randomUUID(), ...(args === undefined ? {} : { args }) };
    return this.broker.command(prefix, name, body, timeoutMs);
  }

  redirectTargetUrl(): string {
    return `${this.adminUrl}${REDIRECT_TARGET_PATH}`;
  }

  status(): SimulatorStatus {
    const unlockedUntil = this.state.unlockedUntil();
    return {
      unlocked: this.state.isUnlocked(),
      unlockedUntil: unlockedUntil ?? null,
      misbehaviour: this.registry.misbehaviour(),
      brokerRunning: this.broker.isRunning(),
      registryHttpUrl: this.registryHttpUrl,
      registryHttpsUrl: this.registryHttpsUrl,
      mqttUrl: `mqtt://${this.clientHost}:${this.mqttPort}`,
      mqttsUrl: `mqtts://${this.clientHost}:${this.mqttsPort}`,
      adminUrl: this.adminUrl,
      pendingRequests: this.state.requests().filter((request) => request.status === "pending").length,
      users: this.state.listUsers().length,
      mqttClients: this.broker.sessionsList().length,
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state.dispose();
      await Promise.all([this.registry.close(), this.broker.close(), this.admin?.close()]);
    })();
    return this.closing;
  }
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<ConnectwareSimulator> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? (() => {});
  const files = certificateFiles();
  const serverKeyPair = loadKeyPair(files.serverCertFile, files.serverKeyFile);
  const untrustedKeyPair = loadKeyPair(files.otherServerCertFile, files.otherServerKeyFile);
  const testCa = TestCa.fromFiles(files.caFile, files.caKeyFile);

  let simulator: Simulator | undefined;
  let broker: SimulatedBroker | undefined;
  const state = new RegistryState(options.unlockWindowMs ?? DEFAULT_UNLOCK_WINDOW_MS, log, (username) =>
    broker?.dropSessionsOf(username),
  );
  const registry = new RegistryServers({
    host,
    httpPort: options.registryHttpPort ?? 0,
    httpsPort: options.registryHttpsPort ?? 0,
    serverKeyPair,
    untrustedKeyPair,
    state,
    ca: testCa,
    onIssued: (username, issued) =>
      simulator?.issued.push({ username, serial: issued.serial, notAfter: issued.notAfter }),
    certificateLifetimeMs: () => simulator?.certificateLifetimeMs,
    redirectTarget: () => simulator?.redirectTargetUrl() ?? "/",
    log,
  });
  broker = await SimulatedBroker.create({
    host,
    mqttPort: options.mqttPort ?? 0,
    mqttsPort: options.mqttsPort ?? 0,
    serverKeyPair,
    ...(options.clientCertificates === true ? { clientCa: testCa.certificatePem } : {}),
    state,
    log,
  });
  simulator = new Simulator(host, state, registry, broker, files, testCa);
  try {
    await registry.start();
    await broker.start();
    await simulator.startAdmin(options.adminPort ?? 0);
  } catch (error) {
    await Promise.allSettled([registry.close(), broker.close()]);
    state.dispose();
    throw error;
  }
  log(
    `Connectware simulator: registry ${simulator.registryHttpUrl} and ${simulator.registryHttpsUrl}, ` +
      `MQTT ${simulator.mqttPort}, MQTTS ${simulator.mqttsPort}, admin ${simulator.adminUrl}`,
  );
  return simulator;
}

import { timingSafeEqual } from "node:crypto";
import { expectedKeyPairingId, expectedPairingId } from "./pairing-id.js";
import { type MqttPermission, validatePermissions } from "./protocol.js";

export type RequestStatus = "pending" | "granted" | "denied";
export type RequestChannel = "rest" | "mqtt";

export interface RegistrationRequestView {
  username: string;
  pairingId: string;
  status: RequestStatus;
  via: RequestChannel;
  /** how many times this same request (same credentials) was received */
  requestCount: number;
  firstSeenAt: number;
  lastSeenAt: number;
  context?: unknown;
  permissions?: unknown;
}

interface StoredRequest extends RegistrationRequestView {
  password: string;
}

interface StoredUser {
  username: string;
  password: string;
  permissions: MqttPermission[];
  /** The topic prefix an agent named in its registration context: it may publish nowhere else. */
  topicPrefix?: string;
}

export interface UserView {
  username: string;
  permissions: unknown[];
}

export class SimulatorError extends Error {
  constructor(
    message: string,
    readonly kind: "not-found" | "conflict" | "invalid",
  ) {
    super(message);
    this.name = "SimulatorError";
  }
}

export type RestOutcome =
  | { status: 201; username: string; permissions: MqttPermission[] }
  | { status: 202; pairingId: string }
  | { status: 409; username: string }
  | { status: 423 };

export type MqttLoginOutcome = "accepted" | "bad-password" | "unknown-user-recorded" | "unknown-user";

function samePassword(expected: string, actual: string): boolean {
  const expectedBytes = Buffer.from(expected, "utf8");
  const actualBytes = Buffer.from(actual, "utf8");
  return expectedBytes.length === actualBytes.length && timingSafeEqual(expectedBytes, actualBytes);
}

function copyPermissions(permissions: readonly MqttPermission[]): MqttPermission[] {
  return permissions.map((permission) => ({ ...permission }));
}

/**
 * Users, registration requests and the lock of the client registry, shared by the REST registry
 * and the broker's implicit flow.
 */
export class RegistryState {
  private readonly users = new Map<string, StoredUser>();
  /** at most one request per username: a new request with other credentials replaces the old one */
  private readonly pendingByUsername = new Map<string, StoredRequest>();
  private unlockTimer: NodeJS.Timeout | undefined;
  private unlockedUntilMs: number | undefined;

  constructor(
    private readonly defaultUnlockWindowMs: number,
    private readonly log: (message: string) => void,
    private readonly onUserDeleted: (username: string) => void,
  ) {}

  unlock(durationMs: number = this.defaultUnlockWindowMs): void {
    if (!Number.isFinite(durationMs) || durationMs <= 0) {
      throw new SimulatorError("the unlock duration must be a positive number of milliseconds", "invalid");
    }
    this.clearUnlockTimer();
    this.unlockedUntilMs = Date.now() + durationMs;
    this.unlockTimer = setTimeout(() => {
      this.unlockTimer = undefined;
      this.unlockedUntilMs = undefined;
      this.log("client registry locked again (unlock window over)");
    }, durationMs);
    // The window must not keep a process (or a test run) alive on its own.
    this.unlockTimer.unref();
    this.log(`client registry unlocked for ${Math.round(durationMs / 1000)} s`);
  }

  lock(): void {
    this.clearUnlockTimer();
    this.unlockedUntilMs = undefined;
    this.log("client registry locked");
  }

  isUnlocked(): boolean {
    return this.unlockedUntilMs !== undefined;
  }

  unlockedUntil(): number | undefined {
    return this.unlockedUntilMs;
  }

  dispose(): void {
    this.clearUnlockTimer();
    this.unlockedUntilMs = undefined;
  }

  private clearUnlockTimer(): void {
    if (this.unlockTimer !== undefined) {
      clearTimeout(this.unlockTimer);
      this.unlockTimer = undefined;
    }
  }

  handleRestRegistration(
    username: string,
    password: string,
    context: unknown,
    permissions: MqttPermission[] | undefined,
    /** DER SubjectPublicKeyInfo of the CSR's key, when the request carried one (mutual TLS) */
    publicKeyInfo?: Buffer,
  ): RestOutcome {
    const user = this.users.get(username);
    if (user !== undefined) {
      if (samePassword(user.password, password)) {
        return { status: 201, username, permissions: copyPermissions(user.permissions) };
      }
      return { status: 409, username };
    }
    const now = Date.now();
    const existing = this.pendingByUsername.get(username);
    if (existing?.status === "pending" && samePassword(existing.password, password)) {
      existing.requestCount += 1;
      existing.lastSeenAt = now;
      existing.via = "rest";
      existing.context = context;
      existing.permissions = permissions ?? [];
      return { status: 202, pairingId: existing.pairingId };
    }
    if (!this.isUnlocked()) {
      return { status: 423 };
    }
    const request = this.recordNewRequest(username, password, "rest", now, publicKeyInfo);
    request.context = context;
    request.permissions = permissions ?? [];
    return { status: 202, pairingId: request.pairingId };
  }

  /** A CONNECT with a client certificate the TLS layer verified: its Common Name is the user. */
  handleCertificateLogin(username: string): "accepted" | "unknown-user" {
    return this.users.has(username) ? "accepted" : "unknown-user";
  }

  /** The implicit flow: a CONNECT with credentials that are not a user yet. */
  handleMqttLogin(username: string, password: string): MqttLoginOutcome {
    const user = this.users.get(username);
    if (user !== undefined) {
      return samePassword(user.password, password) ? "accepted" : "bad-password";
    }
    if (!this.isUnlocked()) {
      return "unknown-user";
    }
    const now = Date.now();
    const existing = this.pendingByUsername.get(username);
    if (existing?.status === "pending" && samePassword(existing.password, password)) {
      existing.requestCount += 1;
      existing.lastSeenAt = now;
    } else {
      this.recordNewRequest(username, password, "mqtt", now);
    }
    return "unknown-user-recorded";
  }

  private recordNewRequest(
    username: string,
    password: string,
    via: RequestChannel,
    now: number,
    publicKeyInfo?: Buffer,
  ): StoredRequest {
    const request: StoredRequest = {
      username,
      password,
      pairingId:
        publicKeyInfo === undefined
          ? expectedPairingId(username, password)
          : expectedKeyPairingId(username, publicKeyInfo),
      status: "pending",
      via,
      requestCount: 1,
      firstSeenAt: now,
      lastSeenAt: now,
    };
    this.pendingByUsername.set(username, request);
    this.log(`registration request from "${username}" (pairing ID ${request.pairingId}) via ${via}`);
    return request;
  }

  /** The prefix a user registered with as an agent; undefined for other users. */
  userTopicPrefix(username: string): string | undefined {
    return this.users.get(username)?.topicPrefix;
  }

  userPermissions(username: string): MqttPermission[] | undefined {
    return this.users.get(username)?.permissions;
  }

  requests(): RegistrationRequestView[] {
    return [...this.pendingByUsername.values()].map((request) => {
      const { password: _password, ...view } = request;
      return structuredClone(view);
    });
  }

  private findRequest(usernameOrPairingId: string): StoredRequest {
    const byName = this.pendingByUsername.get(usernameOrPairingId);
    if (byName !== undefined) {
      return byName;
    }
    const byPairingId = [...this.pendingByUsername.values()].filter(
      (request) => request.pairingId === usernameOrPairingId.toLowerCase(),
    );
    const pending = byPairingId.filter((request) => request.status === "pending");
    const candidates = pending.length > 0 ? pending : byPairingId;
    if (candidates.length > 1) {
      throw new SimulatorError(
        `pairing ID ${usernameOrPairingId} is ambiguous; use the username instead`,
        "conflict",
      );
    }
    const [found] = candidates;
    if (found === undefined) {
      throw new SimulatorError(`no registration request for "${usernameOrPairingId}"`, "not-found");
    }
    return found;
  }

  grant(usernameOrPairingId: string): RegistrationRequestView {
    const request = this.findRequest(usernameOrPairingId);
    const existingUser = this.users.get(request.username);
    if (request.status === "granted" && existingUser !== undefined) {
      return this.viewOf(request);
    }
    if (request.status === "denied") {
      throw new SimulatorError(`the request from "${request.username}" was denied`, "conflict");
    }
    if (existingUser !== undefined && !samePassword(existingUser.password, request.password)) {
      throw new SimulatorError(
        `a user named "${request.username}" already exists with other credentials; delete it first`,
        "conflict",
      );
    }
    request.status = "granted";
    const permissions = Array.isArray(request.permissions) ? (request.permissions as MqttPermission[]) : [];
    const topicPrefix = (request.context as { topicPrefix?: unknown } | undefined)?.topicPrefix;
    this.users.set(request.username, {
      username: request.username,
      password: request.password,
      permissions: copyPermissions(permissions),
      ...(typeof topicPrefix === "string" && topicPrefix.length > 0 ? { topicPrefix } : {}),
    });
    this.log(`granted "${request.username}" (pairing ID ${request.pairingId})`);
    return this.viewOf(request);
  }

  deny(usernameOrPairingId: string): RegistrationRequestView {
    const request = this.findRequest(usernameOrPairingId);
    if (request.status === "granted" && this.users.has(request.username)) {
      throw new SimulatorError(
        `the request from "${request.username}" was already granted; delete the user instead`,
        "conflict",
      );
    }
    request.status = "denied";
    this.log(`denied "${request.username}" (pairing ID ${request.pairingId})`);
    return this.viewOf(request);
  }

  private viewOf(request: StoredRequest): RegistrationRequestView {
    const { password: _password, ...view } = request;
    return structuredClone(view);
  }

  listUsers(): UserView[] {
    return [...this.users.values()].map((user) => ({
      username: user.username,
      permissions: copyPermissions(user.permissions),
    }));
  }

  addUser(username: string, password: string, permissions: unknown[] = []): void {
    if (username.length === 0 || password.length === 0) {
      throw new SimulatorError("username and password must not be empty", "invalid");
    }
    const validation = validatePermissions(permissions);
    if (!validation.ok) {
      throw new SimulatorError(validation.error, "invalid");
    }
    this.users.set(username, {
      username,
      password,
      permissions: copyPermissions(permissions as MqttPermission[]),
    });
    this.log(`user "${username}" added`);
  }

  deleteUser(username: string): void {
    if (!this.users.delete(username)) {
      throw new SimulatorError(`no user named "${username}"`, "not-found");
    }
    const request = this.pendingByUsername.get(username);
    if (request?.status === "granted") {
      this.pendingByUsername.delete(username);
    }
    this.log(`user "${username}" deleted`);
    this.onUserDeleted(username);
  }
}

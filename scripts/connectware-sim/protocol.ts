/**
 * Every [ours] choice of the protocol contract that the simulator depends on lives here (request
 * field names, response bodies, permission shape, limits), so it can be changed in one place if the
 * real Connectware turns out to differ. The [doc] parts (path, status codes, length rules) sit here
 * too because they travel together.
 */

export const REGISTER_PATH = "/api/client-registry/register";

export const MIN_USERNAME_LENGTH = 3;
export const MIN_PASSWORD_LENGTH = 5;
/** Not documented; generous, and only there so one request cannot make the registry store megabytes. */
export const MAX_USERNAME_LENGTH = 256;
export const MAX_REGISTER_BODY_BYTES = 64 * 1024;

export const DEFAULT_UNLOCK_WINDOW_MS = 5 * 60 * 1000;

export type PermissionOperation = "read" | "write" | "readWrite";

export interface MqttPermission {
  resourceType: "mqtt";
  /** an MQTT topic filter; `+` and `#` are wildcards */
  resource: string;
  operation: PermissionOperation;
}

export interface RegisterRequestBody {
  username: string;
  password: string;
  context?: Record<string, unknown>;
  permissions?: MqttPermission[];
  /** PEM PKCS#10; its Common Name must equal the username, and the 201 body carries the signed certificate */
  csr?: string;
}

export type ValidationResult =
  | { ok: true; body: RegisterRequestBody }
  | { ok: false; field: string; error: string };

const OPERATIONS: readonly string[] = ["read", "write", "readWrite"];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function validatePermissions(value: unknown): { ok: true } | { ok: false; error: string } {
  if (!Array.isArray(value)) {
    return { ok: false, error: "permissions must be an array" };
  }
  for (const [index, entry] of value.entries()) {
    if (!isPlainObject(entry)) {
      return { ok: false, error: `permissions[${index}] must be an object` };
    }
    if (entry.resourceType !== "mqtt") {
      return { ok: false, error: `permissions[${index}].resourceType must be "mqtt"` };
    }
    if (typeof entry.resource !== "string" || entry.resource.length === 0) {
      return { ok: false, error: `permissions[${index}].resource must be a non-empty topic filter` };
    }
    if (typeof entry.operation !== "string" || !OPERATIONS.includes(entry.operation)) {
      return {
        ok: false,
        error: `permissions[${index}].operation must be one of ${OPERATIONS.join(", ")}`,
      };
    }
  }
  return { ok: true };
}

export function validateRegisterBody(value: unknown): ValidationResult {
  if (!isPlainObject(value)) {
    return { ok: false, field: "body", error: "the request body must be a JSON object" };
  }
  const { username, password, context, permissions, csr } = value;
  if (typeof username !== "string") {
    return { ok: false, field: "username", error: "username must be a string" };
  }
  if (username.length < MIN_USERNAME_LENGTH || username.length > MAX_USERNAME_LENGTH) {
    return {
      ok: false,
      field: "username",
      error: `username must be ${MIN_USERNAME_LENGTH} to ${MAX_USERNAME_LENGTH} characters long`,
    };
  }
  if (typeof password !== "string") {
    return { ok: false, field: "password", error: "password must be a string" };
  }
  if (password.length < MIN_PASSWORD_LENGTH) {
    return {
      ok: false,
      field: "password",
      error: `password must be at least ${MIN_PASSWORD_LENGTH} characters long`,
    };
  }
  if (context !== undefined && !isPlainObject(context)) {
    return { ok: false, field: "context", error: "context must be a JSON object" };
  }
  if (permissions !== undefined) {
    const result = validatePermissions(permissions);
    if (!result.ok) {
      return { ok: false, field: "permissions", error: result.error };
    }
  }
  if (csr !== undefined && typeof csr !== "string") {
    return { ok: false, field: "csr", error: "csr must be a PEM string" };
  }
  const body: RegisterRequestBody = { username, password };
  if (context !== undefined) body.context = context as Record<string, unknown>;
  if (permissions !== undefined) body.permissions = permissions as MqttPermission[];
  if (csr !== undefined) body.csr = csr as string;
  return { ok: true, body };
}

/** [ours] With a CSR, the signed certificate is `certificate` and the issuing CA `ca` (both PEM). */
export function createdBody(
  username: string,
  permissions: readonly unknown[],
  signed?: { certificate: string; ca: string },
): unknown {
  return signed === undefined ? { username, permissions } : { username, permissions, ...signed };
}

export function pendingBody(pairingId: string): unknown {
  return { status: "pending", pairingId };
}

export const LOCKED_BODY = { status: "locked" } as const;

export function conflictBody(username: string): unknown {
  return {
    status: "conflict",
    error:
      `409 Conflict: a user named "${username}" already exists with other credentials. ` +
      "An administrator must delete that user (or the client must register under another name).",
  };
}

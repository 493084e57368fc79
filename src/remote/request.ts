/**
 * A command request: a JSON object `{ "id": "...", "args": { ... } }` of at most
 * MAX_COMMAND_PAYLOAD_BYTES (docs/schemas/command-request.schema.json).
 */

/** A gateway has little memory and no use for big requests: larger payloads are refused unread. */
export const MAX_COMMAND_PAYLOAD_BYTES = 4096;
export const MAX_ID_LENGTH = 128;

export type CommandArgs = Readonly<Record<string, unknown>>;

export type ParsedRequest =
  | { readonly ok: true; readonly id: string; readonly args: CommandArgs }
  /** `id` is the request's own when it could be read, so the sender can still match the error. */
  | { readonly ok: false; readonly id: string | null; readonly error: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function parseRequest(payload: Buffer): ParsedRequest {
  if (payload.length > MAX_COMMAND_PAYLOAD_BYTES) {
    return { ok: false, id: null, error: `payload larger than ${MAX_COMMAND_PAYLOAD_BYTES} bytes` };
  }
  let body: unknown;
  try {
    body = JSON.parse(payload.toString("utf8"));
  } catch {
    return { ok: false, id: null, error: "payload is not valid JSON" };
  }
  if (!isObject(body)) return { ok: false, id: null, error: 'payload must be a JSON object {"id", "args"}' };
  const { id, args } = body;
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
    return { ok: false, id: null, error: `"id" must be a string of 1 to ${MAX_ID_LENGTH} characters` };
  }
  if (args !== undefined && !isObject(args)) {
    return { ok: false, id, error: '"args" must be a JSON object when present' };
  }
  return { ok: true, id, args: args ?? {} };
}

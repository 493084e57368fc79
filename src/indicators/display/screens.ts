import type { AgentState, AgentStatus } from "../../lifecycle/lifecycle.js";
import { Bitmap, CELL_HEIGHT, charsThatFit, drawCentered, drawText } from "./bitmap.js";
import { toDisplayable } from "./font.js";

/** Local wall-clock time of the next attempt; injected so tests and the PNG script are stable. */
export type TimeFormatter = (epochMs: number) => string;

export const formatLocalTime: TimeFormatter = (epochMs) => {
  const date = new Date(epochMs);
  return [date.getHours(), date.getMinutes(), date.getSeconds()]
    .map((part) => String(part).padStart(2, "0"))
    .join(":");
};

/** The Connectware host of a `host:port` broker string (IPv6 keeps its brackets). */
export function brokerHost(broker: string): string {
  return broker.replace(/:\d+$/, "");
}

/** Shortens `text` to `max` characters, marking the cut with "..". */
export function truncate(text: string, max: number): string {
  const clean = toDisplayable(text);
  if (clean.length <= max) return clean;
  return max <= 2 ? clean.slice(0, max) : `${clean.slice(0, max - 2)}..`;
}

/** Word-wraps into at most `lines` lines of `width`, cutting the last one. */
export function wrap(text: string, width: number, lines: number): string[] {
  const words = toDisplayable(text).split(/\s+/).filter(Boolean);
  const result: string[] = [];
  let current = "";
  for (const word of words) {
    const candidate = current === "" ? word : `${current} ${word}`;
    if (candidate.length <= width) {
      current = candidate;
      continue;
    }
    if (current !== "") result.push(current);
    current = word;
    while (current.length > width) {
      result.push(current.slice(0, width));
      current = current.slice(width);
    }
  }
  if (current !== "") result.push(current);
  if (result.length > lines) {
    const kept = result.slice(0, lines);
    kept[lines - 1] = truncate(`${kept[lines - 1] ?? ""} ${result[lines] ?? ""}`, width);
    return kept;
  }
  return result;
}

/** Fills a row with `left` on the left and `right` on the right, shortening `left` if needed. */
export function spread(left: string, right: string, width: number): string {
  const room = width - right.length - 1;
  if (room <= 0) return truncate(right, width);
  const shown = truncate(left, room);
  return shown + " ".repeat(width - shown.length - right.length) + right;
}

const TITLES: Readonly<Record<AgentState, string>> = {
  starting: "STARTING",
  registering: "REGISTERING",
  "registry-locked": "REGISTRY LOCKED",
  pending: "WAITING FOR APPROVAL",
  conflict: "USERNAME CONFLICT",
  connecting: "CONNECTING",
  online: "ONLINE",
  reconnecting: "RECONNECTING",
  stopping: "STOPPING",
  stopped: "AGENT STOPPED",
  failed: "FAILED",
};

export const OLED_WIDTH = 128;
export const OLED_HEIGHT = 64;
const SMALL_CHARS = charsThatFit(OLED_WIDTH);
/** Baselines of the small text rows below the title bar. */
const ROW = [12, 21, 30, 39, 48, 56] as const;

/**
 * The OLED screen for a status. While the agent holds unapproved credentials the pairing ID is
 * the biggest thing on the screen (3x, 2x when it is long), because a person has to read it
 * across a cabinet and type it into the Client Registry.
 */
export function renderOledScreen(status: AgentStatus, formatTime: TimeFormatter = formatLocalTime): Bitmap {
  const bitmap = new Bitmap(OLED_WIDTH, OLED_HEIGHT);
  bitmap.fill(0, 0, OLED_WIDTH, CELL_HEIGHT + 1, true);
  drawCentered(bitmap, truncate(TITLES[status.state], SMALL_CHARS), 1, { inverse: true });
  const small = (text: string, row: number) => drawCentered(bitmap, truncate(text, SMALL_CHARS), row);
  const host = brokerHost(status.broker);

  switch (status.state) {
    case "registering":
    case "registry-locked":
    case "pending": {
      small(status.agentName, ROW[0]);
      if (status.pairingId !== undefined) {
        drawLarge(bitmap, status.pairingId, 23);
        small(instructionFor(status.state), ROW[5]);
      } else {
        small("Contacting the", ROW[2]);
        small("Client Registry", ROW[3]);
      }
      break;
    }
    case "conflict": {
      small("Delete this user in", ROW[0]);
      small("Connectware:", ROW[1]);
      if (status.username.length <= charsThatFit(OLED_WIDTH, 2)) {
        drawCentered(bitmap, status.username, 31, { scale: 2 });
      } else {
        wrap(status.username, SMALL_CHARS, 2).forEach((line, index) => {
          small(line, index === 0 ? ROW[2] + 2 : ROW[3] + 2);
        });
      }
      small(status.pairingId === undefined ? "then wait" : `then wait (ID ${status.pairingId})`, ROW[5]);
      break;
    }
    case "connecting":
      small(status.agentName, ROW[0]);
      small("Connecting to", ROW[2]);
      small(host, ROW[3]);
      break;
    case "online":
      if (status.agentName.length <= charsThatFit(OLED_WIDTH, 2)) {
        drawCentered(bitmap, status.agentName, 16, { scale: 2 });
      } else {
        wrap(status.agentName, SMALL_CHARS, 2).forEach((line, index) => {
          small(line, index === 0 ? ROW[0] + 2 : ROW[1] + 2);
        });
      }
      small("Connectware", ROW[4] - 6);
      small(host, ROW[5]);
      break;
    case "reconnecting":
      small(status.agentName, ROW[0]);
      small(host, ROW[1]);
      small(
        status.nextAttemptAt === undefined ? "Retrying" : `Next try ${formatTime(status.nextAttemptAt)}`,
        ROW[2] + 4,
      );
      wrap(status.lastError ?? "", SMALL_CHARS, 2).forEach((line, index) => {
        small(line, index === 0 ? ROW[4] - 2 : ROW[5]);
      });
      break;
    case "failed":
      small(status.agentName, ROW[0]);
      wrap(status.lastError ?? "unrecoverable error", SMALL_CHARS, 3).forEach((line, index) => {
        drawText(bitmap, line, 0, ROW[1] + 3 + index * 9);
      });
      small("see journalctl", ROW[5]);
      break;
    default:
      small(status.agentName, ROW[1] + 4);
      small(status.state === "stopped" ? "Not running" : "cw-agent", ROW[4]);
  }
  if (status.notice !== undefined) drawNotice(bitmap, status.notice, noticeRow(status.state));
  return bitmap;
}

/**
 * The row a notice takes over: the agent name's in most states, a label's where the name or an
 * instruction matters more.
 */
function noticeRow(state: AgentState): number {
  if (state === "online") return ROW[4] - 6;
  if (state === "conflict") return ROW[5];
  return ROW[0];
}

/** Inverted, like the title bar, so it reads as a warning rather than as part of the state. */
function drawNotice(bitmap: Bitmap, notice: string, y: number): void {
  bitmap.fill(0, y - 1, OLED_WIDTH, CELL_HEIGHT + 1, true);
  drawCentered(bitmap, truncate(notice, SMALL_CHARS), y, { inverse: true });
}

function instructionFor(state: "registering" | "registry-locked" | "pending"): string {
  if (state === "pending") return "Authorize this ID";
  if (state === "registry-locked") return "Unlock the registry";
  return "Registering...";
}

function drawLarge(bitmap: Bitmap, text: string, y: number): void {
  const scale =
    text.length <= charsThatFit(OLED_WIDTH, 3) ? 3 : text.length <= charsThatFit(OLED_WIDTH, 2) ? 2 : 1;
  const height = 7 * scale;
  // Centre vertically in the 24-pixel band whatever the scale.
  drawCentered(bitmap, truncate(text, charsThatFit(OLED_WIDTH, scale)), y + Math.floor((21 - height) / 2), {
    scale,
  });
}

/**
 * The character-LCD screen: 16x2 carries the essentials (state, pairing ID or host, name);
 * 20x4 adds the instruction. Lines are padded to the full width.
 */
export function renderLcdScreen(
  status: AgentStatus,
  columns: number,
  rows: number,
  formatTime: TimeFormatter = formatLocalTime,
): string[] {
  const host = brokerHost(status.broker);
  const id = status.pairingId ?? "";
  const next = status.nextAttemptAt === undefined ? "" : formatTime(status.nextAttemptAt);
  let two: [string, string];
  let four: [string, string, string, string];
  switch (status.state) {
    case "registering":
      two = [spread("REGISTER", id, columns), status.agentName];
      four = ["REGISTERING", id === "" ? "" : `Pairing ID ${id}`, status.agentName, "Contacting registry"];
      break;
    case "registry-locked":
      two = [spread("LOCKED", id, columns), status.agentName];
      four = ["REGISTRY LOCKED", `Pairing ID ${id}`, status.agentName, "Unlock the registry"];
      break;
    case "pending":
      two = [spread("PENDING", id, columns), status.agentName];
      four = ["WAITING FOR APPROVAL", `Pairing ID ${id}`, status.agentName, "Authorize this ID"];
      break;
    case "conflict":
      two = ["CONFLICT: delete", status.username];
      four = ["USERNAME CONFLICT", "Delete this user:", status.username, "in Connectware"];
      break;
    case "connecting":
      two = ["CONNECTING", host];
      four = ["CONNECTING", status.agentName, "to Connectware", host];
      break;
    case "online":
      two = [spread(status.agentName, "ONLINE", columns), host];
      four = ["ONLINE", status.agentName, "Connectware", host];
      break;
    case "reconnecting":
      two = [spread("RETRY", next, columns), host];
      four = ["RECONNECTING", status.agentName, host, next === "" ? "" : `Next try ${next}`];
      break;
    case "failed":
      two = ["FAILED", status.lastError ?? status.agentName];
      four = ["FAILED", status.agentName, ...padPair(wrap(status.lastError ?? "", columns, 2))];
      break;
    default:
      two = [TITLES[status.state], status.agentName];
      four = [TITLES[status.state], status.agentName, "", ""];
  }
  const lines: string[] = rows >= 4 ? four : two;
  // The line that names the agent (or a label): the notice matters more while it lasts.
  if (status.notice !== undefined) lines[rows >= 4 ? 2 : 1] = status.notice;
  return lines.map((line) => truncate(line, columns).padEnd(columns, " "));
}

function padPair(lines: string[]): [string, string] {
  return [lines[0] ?? "", lines[1] ?? ""];
}

/** Top of the IDENTIFY lettering (2x) on the identify screen. */
export const IDENTIFY_TEXT_Y = 10;

/**
 * The identify screen (`cw-agent identify`): the whole panel lit with IDENTIFY and the agent name
 * dark on it, inside a dark frame, so the one gateway meant stands out across a cabinet. An overlay
 * of the indicators, not a state: the state screen comes back when it ends.
 */
export function renderOledIdentifyScreen(agentName: string | undefined): Bitmap {
  const bitmap = new Bitmap(OLED_WIDTH, OLED_HEIGHT);
  bitmap.fill(0, 0, OLED_WIDTH, OLED_HEIGHT, true);
  bitmap.fill(2, 2, OLED_WIDTH - 4, 1, false);
  bitmap.fill(2, OLED_HEIGHT - 3, OLED_WIDTH - 4, 1, false);
  bitmap.fill(2, 2, 1, OLED_HEIGHT - 4, false);
  bitmap.fill(OLED_WIDTH - 3, 2, 1, OLED_HEIGHT - 4, false);
  drawCentered(bitmap, "IDENTIFY", IDENTIFY_TEXT_Y, { scale: 2, inverse: true });
  const name = toDisplayable(agentName ?? "");
  if (name.length <= charsThatFit(OLED_WIDTH - 8, 2)) {
    drawCentered(bitmap, name, 36, { scale: 2, inverse: true });
  } else {
    wrap(name, charsThatFit(OLED_WIDTH - 8), 2).forEach((line, index) => {
      drawCentered(bitmap, line, 35 + index * 10, { inverse: true });
    });
  }
  return bitmap;
}

/** The identify screen of a character LCD: IDENTIFY between stars, and the agent name. */
export function renderLcdIdentifyScreen(
  agentName: string | undefined,
  columns: number,
  rows: number,
): string[] {
  const stars = "*".repeat(columns);
  const centered = (text: string) => {
    const shown = truncate(text, columns);
    return " ".repeat(Math.floor((columns - shown.length) / 2)) + shown;
  };
  const side = "*".repeat(Math.max(0, Math.floor((columns - 10) / 2)));
  const banner = `${side} IDENTIFY ${side}`;
  const name = centered(agentName ?? "");
  const lines = rows >= 4 ? [stars, centered("IDENTIFY"), name, stars] : [banner, name];
  return lines.map((line) => truncate(line, columns).padEnd(columns, " "));
}

/** One status per state, for the PNG script, the benchmark and tests. */
export function sampleStatuses(now: number): AgentStatus[] {
  const base = {
    since: now,
    agentName: "press-line-4",
    username: "press-line-4",
    broker: "connectware.plant.local:1883",
    registry: "https://connectware.plant.local",
  };
  return [
    { ...base, state: "starting" },
    { ...base, state: "registering", pairingId: "7f3a9c" },
    { ...base, state: "registry-locked", pairingId: "7f3a9c", nextAttemptAt: now + 5000 },
    { ...base, state: "pending", pairingId: "7f3a9c", nextAttemptAt: now + 2000 },
    { ...base, state: "conflict", pairingId: "7f3a9c" },
    { ...base, state: "connecting" },
    { ...base, state: "online" },
    {
      ...base,
      state: "reconnecting",
      nextAttemptAt: now + 8000,
      lastError: "connection refused (ECONNREFUSED)",
    },
    { ...base, state: "stopping" },
    { ...base, state: "stopped" },
    { ...base, state: "failed", lastError: "state directory /var/lib/cw-agent is not writable (EACCES)" },
  ];
}

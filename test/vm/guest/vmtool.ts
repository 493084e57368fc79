/**
 * Small commands the guest's test driver (driver.sh) needs and a minimal Debian has no tool for:
 * talking to the simulator's admin API and reading the agent's database without changing it.
 * Output is one JSON line; secrets are reported only as hashes.
 */
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { renderOledScreen } from "../../../src/indicators/display/screens.js";
import { pairingIdOf } from "../../../src/storage/pairing-id.js";

const ADMIN_URL = "http://127.0.0.1:8099";
const SIM_USERS_FILE = "/var/lib/vmtest/sim-users.json";

async function admin(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${ADMIN_URL}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

interface Row {
  username: string;
  password: string;
  status: string;
}

/** Opens the database read-only; run as the agent's user so no file it owns changes hands. */
function readDatabase(stateDir: string): { integrity: string; credentials?: Row; corrupt: boolean } {
  const require = createRequire(import.meta.url);
  const Database = require("better-sqlite3") as new (
    path: string,
    options: { readonly: boolean; fileMustExist: boolean },
  ) => { prepare(sql: string): { get(): unknown; pluck(): { get(): unknown } }; close(): void };
  const db = new Database(join(stateDir, "cw-agent.db"), { readonly: true, fileMustExist: true });
  try {
    const integrity = String(db.prepare("PRAGMA integrity_check").pluck().get());
    const credentials = db.prepare("SELECT username, password, status FROM credentials WHERE id = 1").get() as
      | Row
      | undefined;
    return { integrity, ...(credentials ? { credentials } : {}), corrupt: false };
  } finally {
    db.close();
  }
}

function writeDurably(path: string, text: string): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, "w", 0o600);
  writeSync(fd, text);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temporary, path);
  const dir = openSync(join(path, ".."), "r");
  fsyncSync(dir);
  closeSync(dir);
}

/**
 * Rebuilds the SSD1306's display RAM from the kernel's record of every SMBus write to the chip
 * (tracefs event smbus/smbus_write): page and column commands on control byte 0x00, pixel data on
 * 0x40. i2c-stub itself keeps only the last write per register, not the picture.
 */
function oledRamFromTrace(trace: string, address: number): Uint8Array {
  const ram = new Uint8Array(128 * 8);
  let page = 0;
  let column = 0;
  const pattern = /smbus_write: i2c-\d+ a=([0-9a-f]+) f=[0-9a-f]+ c=([0-9a-f]+) (\S+) l=\d+ \[([0-9a-f-]*)\]/;
  for (const line of trace.split("\n")) {
    const match = pattern.exec(line);
    if (!match || Number.parseInt(match[1] ?? "", 16) !== address) continue;
    let bytes = (match[4] ?? "")
      .split("-")
      .filter(Boolean)
      .map((byte) => Number.parseInt(byte, 16));
    // Block transfers are recorded with their length byte first (the kernel copies data->block).
    if (match[3]?.includes("BLOCK") && bytes[0] === bytes.length - 1) bytes = bytes.slice(1);
    if (match[2] === "0") {
      // Only the page-addressing commands matter here; init commands are ignored.
      if (bytes.length === 3 && (bytes[0] ?? 0) >= 0xb0 && (bytes[0] ?? 0) <= 0xb7) {
        page = (bytes[0] ?? 0) & 0x07;
        column = ((bytes[1] ?? 0) & 0x0f) | (((bytes[2] ?? 0) & 0x0f) << 4);
      }
    } else if (match[2] === "40") {
      for (const byte of bytes) {
        if (column < 128) ram[page * 128 + column] = byte;
        column++;
      }
    }
  }
  return ram;
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

const [command, ...args] = process.argv.slice(2);
switch (command) {
  case "requests":
    console.log(JSON.stringify(await admin("GET", "/admin/requests")));
    break;
  case "register-calls":
    console.log(JSON.stringify(await admin("GET", "/admin/register-calls")));
    break;
  case "grant":
    console.log(JSON.stringify(await admin("POST", "/admin/grant", { id: args[0] })));
    break;
  case "users":
    console.log(JSON.stringify(await admin("GET", "/admin/users")));
    break;
  case "db": {
    const { integrity, credentials } = readDatabase(args[0] ?? "/var/lib/cw-agent");
    console.log(
      JSON.stringify({
        integrity,
        status: credentials?.status ?? "none",
        username: credentials?.username ?? "",
        secret: credentials ? sha(`${credentials.username}:${credentials.password}`) : "",
        pairingId: credentials ? pairingIdOf(credentials.username, credentials.password) : "",
      }),
    );
    break;
  }
  case "remember-users": {
    // Connectware keeps the users it granted; the simulator of the next boot reloads them.
    const stateDir = args[0] ?? "/var/lib/cw-agent";
    const { credentials } = readDatabase(stateDir);
    if (!credentials) throw new Error("no credentials to remember");
    const users = (await admin("GET", "/admin/users")) as { username: string; permissions: unknown[] }[];
    const granted = users.find((user) => user.username === credentials.username);
    if (!granted) throw new Error(`the simulator has no user ${credentials.username}`);
    const stored = [
      { username: credentials.username, password: credentials.password, permissions: granted.permissions },
    ];
    writeDurably(SIM_USERS_FILE, JSON.stringify(stored));
    console.log(JSON.stringify({ remembered: credentials.username }));
    break;
  }
  case "forget-users": {
    const users = (await admin("GET", "/admin/users")) as { username: string }[];
    for (const user of users) await admin("DELETE", `/admin/users/${encodeURIComponent(user.username)}`);
    writeDurably(SIM_USERS_FILE, "[]");
    console.log(JSON.stringify({ forgotten: users.length }));
    break;
  }
  case "remembered":
    try {
      const users = JSON.parse(readFileSync(SIM_USERS_FILE, "utf8")) as {
        username: string;
        password: string;
      }[];
      console.log(
        JSON.stringify(
          users.map((user) => ({
            username: user.username,
            secret: sha(`${user.username}:${user.password}`),
          })),
        ),
      );
    } catch {
      console.log("[]");
    }
    break;
  case "oled-pairing-id": {
    // The pairing ID is drawn large across pages 3 and 4; compare them with the agent's renderer.
    const [pairingId = "", agentName = "", tracePath = ""] = args;
    const ram = oledRamFromTrace(readFileSync(tracePath, "utf8"), 0x3c);
    const expected = renderOledScreen({
      state: "pending",
      since: 0,
      agentName,
      username: agentName,
      pairingId,
      broker: "",
      registry: "",
    });
    let differing = 0;
    let lit = 0;
    for (const page of [3, 4]) {
      const want = expected.page(page);
      for (let x = 0; x < 128; x++) {
        if (ram[page * 128 + x] !== want[x]) differing++;
        if (want[x]) lit++;
      }
    }
    console.log(JSON.stringify({ differing, lit }));
    process.exit(differing === 0 && lit > 0 ? 0 : 1);
    break;
  }
  case "oled-notice": {
    // Online, the notice takes the band of pages 4 and 5; compare it with the agent's renderer.
    const [notice = "", tracePath = ""] = args;
    const ram = oledRamFromTrace(readFileSync(tracePath, "utf8"), 0x3c);
    const expected = renderOledScreen({
      state: "online",
      since: 0,
      agentName: "",
      username: "",
      broker: "",
      registry: "",
      notice,
    });
    let differing = 0;
    for (const page of [4, 5]) {
      const want = expected.page(page);
      for (let x = 0; x < 128; x++) if (ram[page * 128 + x] !== want[x]) differing++;
    }
    console.log(JSON.stringify({ differing }));
    process.exit(differing === 0 ? 0 : 1);
    break;
  }
  case "led-blink": {
    // Samples an LED class device's brightness every 20 ms and reports how long each lit and dark
    // stretch lasted, so the driver can compare them with the state's pattern.
    const [name = "", secondsText = "6", onText = "1000", offText = "1000"] = args;
    const brightness = join("/sys/class/leds", name, "brightness");
    const trigger = readFileSync(join("/sys/class/leds", name, "trigger"), "utf8").match(/\[(\S+)\]/)?.[1];
    const stretches: { lit: boolean; ms: number }[] = [];
    const end = Date.now() + Number(secondsText) * 1000;
    let lit = readFileSync(brightness, "utf8").trim() !== "0";
    let since = Date.now();
    while (Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const now = readFileSync(brightness, "utf8").trim() !== "0";
      if (now === lit) continue;
      stretches.push({ lit, ms: Date.now() - since });
      lit = now;
      since = Date.now();
    }
    // The first stretch began before sampling did: only whole ones count.
    const whole = stretches.slice(1);
    const within = (ms: number, want: number) => Math.abs(ms - want) <= Math.max(250, want * 0.25);
    const on = whole.filter((stretch) => stretch.lit).map((stretch) => stretch.ms);
    const off = whole.filter((stretch) => !stretch.lit).map((stretch) => stretch.ms);
    const ok =
      on.length >= 2 &&
      off.length >= 2 &&
      on.every((ms) => within(ms, Number(onText))) &&
      off.every((ms) => within(ms, Number(offText)));
    console.log(JSON.stringify({ trigger, on, off }));
    process.exit(ok ? 0 : 1);
    break;
  }
  default:
    console.error(`unknown command ${command}`);
    process.exit(64);
}

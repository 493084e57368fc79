import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

const SEARCH_PATH = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];

function findTool(name: string): string | undefined {
  return SEARCH_PATH.map((dir) => join(dir, name)).find((path) => existsSync(path));
}

/** Both binaries of Debian's `mosquitto` package, or undefined where it is not installed. */
export function findMosquitto(): { broker: string; passwd: string } | undefined {
  const broker = findTool("mosquitto");
  const passwd = findTool("mosquitto_passwd");
  return broker && passwd ? { broker, passwd } : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

async function waitForPort(port: number, deadlineMs = 10_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: "127.0.0.1" });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() - start > deadlineMs) throw new Error(`mosquitto did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A real Mosquitto on a loopback port, with a password file, that can be killed and started again. */
export class Mosquitto {
  private process: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), "cw-agent-mosquitto-"));

  private constructor(
    private readonly binaries: { broker: string; passwd: string },
    readonly port: number,
  ) {}

  static async start(
    binaries: { broker: string; passwd: string },
    users: Record<string, string>,
  ): Promise<Mosquitto> {
    const broker = new Mosquitto(binaries, await freePort());
    const passwordFile = join(broker.dir, "passwd");
    writeFileSync(passwordFile, "", { mode: 0o600 });
    for (const [user, password] of Object.entries(users)) {
      execFileSync(binaries.passwd, ["-b", passwordFile, user, password]);
    }
    writeFileSync(
      join(broker.dir, "mosquitto.conf"),
      // Run as whoever runs the tests: as root, mosquitto would otherwise switch to its own user,
      // which cannot read a password file in our private temp dir.
      [
        `user ${userInfo().username}`,
        `listener ${broker.port} 127.0.0.1`,
        "allow_anonymous false",
        `password_file ${passwordFile}`,
        "persistence false",
        "",
      ].join("\n"),
    );
    await broker.launch();
    return broker;
  }

  async launch(): Promise<void> {
    this.process = spawn(this.binaries.broker, ["-c", join(this.dir, "mosquitto.conf")], { stdio: "ignore" });
    await waitForPort(this.port);
  }

  /** kill -9: the broker vanishes without closing anything. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
}

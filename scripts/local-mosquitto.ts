import { existsSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";

/** Where a real Mosquitto is found and how one is waited for: shared by the tests and the fleet benchmark. */
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

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { afterEach } from "vitest";

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/**
 * A TCP listener that records the first bytes of its first connection (an MQTT CONNECT), closed
 * after each test.
 */
export async function connectListener(host: string): Promise<{ port: number; connected: Promise<Buffer> }> {
  const server = createServer();
  servers.push(server);
  const connected = new Promise<Buffer>((resolve) =>
    server.once("connection", (socket: Socket) => {
      socket.once("data", (data: Buffer) => {
        resolve(data);
        socket.destroy();
      });
    }),
  );
  server.listen(0, host);
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { port: address.port, connected };
}

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

function hasCommand(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export const HAVE_PYTHON = hasCommand("python3", ["--version"]);
export const HAVE_SYSTEMD_NOTIFY = hasCommand("systemd-notify", ["--version"]);

/**
 * What the service manager does with $NOTIFY_SOCKET, in python3 (node has no AF_UNIX datagram
 * sockets): receive each datagram, close the file descriptors passed along (systemd-notify's
 * BARRIER=1 waits until its fd is closed, see sd_notify_barrier(3)) and print one JSON line per
 * datagram.
 */
const LISTENER = `
import array, json, os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
print(json.dumps({"listening": True}), flush=True)
while True:
    data, ancdata, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    fds = array.array("i")
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    for fd in fds:
        os.close(fd)
    print(json.dumps({"data": data.decode("utf-8", "replace"), "fds": len(fds)}), flush=True)
`;

export interface Datagram {
  data: string;
  fds: number;
}

export class NotifyListener {
  readonly datagrams: Datagram[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    readonly socketPath: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<NotifyListener> {
    const dir = mkdtempSync(join(tmpdir(), "cw-agent-notify-"));
    const socketPath = join(dir, "notify.sock");
    const child = spawn("python3", ["-c", LISTENER, socketPath], { stdio: ["ignore", "pipe", "inherit"] });
    const listener = new NotifyListener(socketPath, dir, child);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`notify listener exited with ${code}`)));
      lines.on("line", (line) => {
        const parsed = JSON.parse(line) as { listening?: boolean } & Datagram;
        if (parsed.listening) {
          resolve();
          return;
        }
        listener.datagrams.push({ data: parsed.data, fds: parsed.fds });
        for (const wake of listener.waiters.splice(0)) wake();
      });
    });
    child.removeAllListeners("exit");
    return listener;
  }

  /** The notification messages, without the BARRIER=1 datagrams systemd-notify adds after each. */
  get messages(): string[] {
    return this.datagrams.filter((d) => d.data !== "BARRIER=1").map((d) => d.data);
  }

  get barriers(): number {
    return this.datagrams.filter((d) => d.data === "BARRIER=1" && d.fds === 1).length;
  }

  /** Resolves once `predicate` holds for the received datagrams (output of a child arrives asynchronously). */
  async until(predicate: (listener: NotifyListener) => boolean): Promise<void> {
    while (!predicate(this)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill();
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

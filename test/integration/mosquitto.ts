import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort, portOpen } from "../../scripts/local-mosquitto.js";

export { findMosquitto } from "../../scripts/local-mosquitto.js";

async function waitForPort(port: number, deadlineMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await portOpen(port))) {
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

  /**
   * A Mosquitto that takes client certificates only, as a plant's PKI broker does: TLS 1.2,
   * `require_certificate true`, `use_identity_as_username true` (the CN is the user), optionally a
   * CRL. `writeCrl` replaces the CRL; it takes effect at the next `launch()`.
   */
  static async startMutualTls(
    binaries: { broker: string; passwd: string },
    files: { ca: string; cert: string; key: string; crl?: string },
  ): Promise<Mosquitto> {
    const broker = new Mosquitto(binaries, await freePort());
    const lines = [
      `user ${userInfo().username}`,
      `listener ${broker.port} 127.0.0.1`,
      `cafile ${files.ca}`,
      `certfile ${files.cert}`,
      `keyfile ${files.key}`,
      "tls_version tlsv1.2",
      "require_certificate true",
      "use_identity_as_username true",
      "allow_anonymous false",
      "persistence false",
    ];
    if (files.crl !== undefined) {
      broker.writeCrl(files.crl);
      lines.push(`crlfile ${join(broker.dir, "crl.pem")}`);
    }
    writeFileSync(join(broker.dir, "mosquitto.conf"), `${lines.join("\n")}\n`);
    await broker.launch();
    return broker;
  }

  writeCrl(crl: string): void {
    writeFileSync(join(this.dir, "crl.pem"), crl);
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

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The packages `npm run package` builds, by Debian architecture. */
export const PACKAGE_DIR = new URL("../../dist/packages/", import.meta.url).pathname;

export type DebArch = "amd64" | "arm64" | "armhf";

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export function packagePath(arch: DebArch, dir = PACKAGE_DIR): string | undefined {
  const path = join(dir, `cw-agent_${packageVersion()}_${arch}.deb`);
  return existsSync(path) ? path : undefined;
}

/** qemu-user registered with binfmt_misc for this CPU (`update-binfmts --enable qemu-aarch64`). */
export function emulationReady(qemuName: "qemu-aarch64" | "qemu-arm"): boolean {
  try {
    return readFileSync(`/proc/sys/fs/binfmt_misc/${qemuName}`, "utf8").startsWith("enabled");
  } catch {
    return false;
  }
}

export function extractPackage(deb: string): string {
  const root = mkdtempSync(join(tmpdir(), "cw-agent-pkg-"));
  execFileSync("dpkg-deb", ["-x", deb, root]);
  return root;
}

export function debField(deb: string, field: string): string {
  return execFileSync("dpkg-deb", ["-f", deb, field], { encoding: "utf8" }).trim();
}

/** Files of the package, as `dpkg-deb -c` lists them (./usr/bin/cw-agent ...). */
export function debContents(deb: string): string[] {
  return execFileSync("dpkg-deb", ["-c", deb], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((line) => line.slice(line.indexOf("./")));
}

/** The package again with another version number, to install over it as an upgrade. */
export function withVersion(deb: string, version: string): string {
  const work = mkdtempSync(join(tmpdir(), "cw-agent-pkg-next-"));
  execFileSync("dpkg-deb", ["-R", deb, join(work, "tree")]);
  const controlPath = join(work, "tree", "DEBIAN", "control");
  const control = readFileSync(controlPath, "utf8").replace(/^Version: .*$/m, `Version: ${version}`);
  execFileSync("sh", ["-c", 'cat >"$1"', "sh", controlPath], { input: control });
  const next = join(work, `cw-agent_${version}.deb`);
  execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", join(work, "tree"), next]);
  return next;
}

export function listFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

export interface LogLine {
  level: number;
  msg: string;
  state?: string;
  [key: string]: unknown;
}

/** A packaged `cw-agent run`, started by an arbitrary command (its node, qemu, chroot). */
export class PackagedAgent {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null | undefined;

  constructor(command: string[], env: Record<string, string>) {
    const [file, ...args] = command;
    if (!file) throw new Error("empty command");
    this.child = spawn(file, [...args, "run"], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buffered = "";
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        this.raw.push(line);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          // not JSON: kept in raw
        }
        newline = buffered.indexOf("\n");
      }
      this.wake();
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.raw.push(chunk);
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code) => {
        this.exitCode = code;
        this.wake();
        resolve(code);
      });
    });
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  waitFor(predicate: (line: LogLine) => boolean, what: string, timeoutMs = 60_000): Promise<LogLine> {
    let from = 0;
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = () => {
        for (; from < this.lines.length; from++) {
          const line = this.lines[from] as LogLine;
          if (predicate(line)) {
            finish();
            resolve(line);
            return;
          }
        }
        if (this.exitCode !== undefined) {
          finish();
          reject(
            new Error(`agent exited (${this.exitCode}) before ${what}:\n${this.raw.slice(-15).join("\n")}`),
          );
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out waiting for ${what}:\n${this.raw.slice(-15).join("\n")}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  waitForState(state: string, timeoutMs?: number): Promise<LogLine> {
    return this.waitFor((line) => line.state === state, `state ${state}`, timeoutMs);
  }

  /** SIGTERM, as systemd stops the service; resolves with the exit code. */
  stop(): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill("SIGTERM");
    return this.exited;
  }

  kill(): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill("SIGKILL");
    return this.exited;
  }
}

import { execFileSync } from "node:child_process";
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

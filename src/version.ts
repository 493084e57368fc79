import { readFileSync } from "node:fs";

/** The package version, read once from package.json (two levels up from both src/ and dist/src/). */
export const AGENT_VERSION: string = readVersion();

function readVersion(): string {
  for (const relative of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "cw-agent" && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return "0.0.0";
}

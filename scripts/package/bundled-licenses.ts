/**
 * Lists the npm packages esbuild put into the agent's bundle, from its metafile, one per line:
 * name, version, license and the path of the package's license file (empty when it has none),
 * separated by tabs. The package build copies those files next to the Debian copyright file.
 *
 *   node dist/scripts/package/bundled-licenses.js META.json NODE_MODULES_PARENT
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface Metafile {
  inputs: Record<string, unknown>;
}

export function bundledPackages(meta: Metafile): string[] {
  const names = new Set<string>();
  for (const input of Object.keys(meta.inputs)) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match?.[1]) names.add(match[1]);
  }
  return [...names].sort();
}

function licenseFile(dir: string): string {
  const file = readdirSync(dir).find((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name));
  return file ? join(dir, file) : "";
}

const [metaPath, root] = process.argv.slice(2);
if (!metaPath || !root) {
  process.stderr.write("usage: bundled-licenses META.json ROOT\n");
  process.exit(64);
}
const meta = JSON.parse(readFileSync(metaPath, "utf8")) as Metafile;
for (const name of bundledPackages(meta)) {
  const dir = join(root, "node_modules", name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    version?: string;
    license?: string;
  };
  process.stdout.write(`${name}\t${pkg.version ?? "?"}\t${pkg.license ?? "UNKNOWN"}\t${licenseFile(dir)}\n`);
}

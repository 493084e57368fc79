import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The repository root, found by walking up to the first directory with a package.json, so the
 * bundled certificates are found both from the TypeScript sources and from `dist/` after a build.
 */
export function repositoryRoot(startUrl: string = import.meta.url): string {
  let directory = dirname(fileURLToPath(startUrl));
  for (;;) {
    if (existsSync(join(directory, "package.json"))) {
      return directory;
    }
    const parent = dirname(directory);
    if (parent === directory) {
      throw new Error(`no package.json above ${fileURLToPath(startUrl)}`);
    }
    directory = parent;
  }
}

export interface CertificateFiles {
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  otherCaFile: string;
  otherServerCertFile: string;
  otherServerKeyFile: string;
}

export function certificateFiles(): CertificateFiles {
  const directory = join(repositoryRoot(), "scripts", "connectware-sim", "certs");
  return {
    caFile: join(directory, "ca.pem"),
    caKeyFile: join(directory, "ca-key.pem"),
    serverCertFile: join(directory, "server.pem"),
    serverKeyFile: join(directory, "server-key.pem"),
    otherCaFile: join(directory, "other-ca.pem"),
    otherServerCertFile: join(directory, "other-server.pem"),
    otherServerKeyFile: join(directory, "other-server-key.pem"),
  };
}

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export function loadKeyPair(certFile: string, keyFile: string): KeyPair {
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

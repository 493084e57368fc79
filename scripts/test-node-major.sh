#!/usr/bin/env bash
# Runs `npm ci` and `npm test` under another Node.js major line (22, 24...) in a copy of the tracked
# tree, with the native modules compiled against that Node's headers. The Node binary and headers
# come from the npm registry's node-linux-<arch> package, so no other download site is needed.
#
#   scripts/test-node-major.sh 24
set -euo pipefail
major="${1:?usage: scripts/test-node-major.sh MAJOR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
arch="$(node -p process.arch)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "node $major: fetching node-linux-$arch@$major from the npm registry"
if ! (cd "$work" && npm pack --silent "node-linux-$arch@$major" >/dev/null); then
  echo "node $major: SKIPPED, node-linux-$arch@$major could not be fetched" >&2
  exit 0
fi
tar -xzf "$work"/node-linux-*.tgz -C "$work"
node_home="$work/package"
[[ -x "$node_home/bin/node" && -d "$node_home/include/node" ]] || {
  echo "node $major: the package has no bin/node or include/node" >&2
  exit 1
}

mkdir "$work/tree"
git -C "$root" ls-files -z | (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$work/tree"
cd "$work/tree"
export PATH="$node_home/bin:$PATH"
# Native modules must be built against this Node's headers, not the system Node's.
export npm_config_nodedir="$node_home"
echo "node $major: $(node --version)"
npm ci --no-audit --no-fund
npm test

